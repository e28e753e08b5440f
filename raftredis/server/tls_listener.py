"""The client port's TLS side: the TLS listener, with its bounded handshakes, and the
tls-* parameters as CONFIG GET shows them.

A connection to the TLS port takes a handshake slot when it is accepted, before any byte
is read from it, and the slots count against maxclients with the clients (as in Redis,
where a client exists from accept); a connection over the limit is closed at once. The
handshake then runs under a deadline (--tls-handshake-timeout-ms): a client that never
completes it, or speaks plain RESP to the TLS port, is closed by then. The handshake is
OpenSSL's work, a few round trips of the event loop, never a blocking call.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raftredis.acceptor import Acceptor
from raftredis.server.settings import BOOL, INT, STRING, ServerSettings

log = logging.getLogger(__name__)

# The TLS files and port of a running node are fixed: CONFIG SET says how to change them.
_RESTART = "the TLS settings of a running node are fixed (restart it with the new flags)"


@dataclass(frozen=True, slots=True)
class TlsAccept:
    """How the TLS port accepts: the server context and the handshake deadline (s)."""

    context: ssl.SSLContext
    handshake_timeout: float


class _Slot:
    """One pending handshake's place; given back once, when the connection is made or
    the handshake has failed."""

    __slots__ = ("_owner", "_held")

    def __init__(self, owner: TlsListener) -> None:
        self._owner = owner
        self._held = True
        owner.pending += 1

    def release(self) -> None:
        if self._held:
            self._held = False
            self._owner.pending -= 1


class TlsListener:
    """Accepts on the TLS port; `admit()` says whether one more connection fits (it also
    keeps the server's connection statistics); `make_protocol(on_made)` makes the
    protocol of a connection whose handshake succeeded, which calls `on_made` first."""

    def __init__(self, accept: TlsAccept, host: str, port: int,
                 make_protocol: Callable[[Callable[[], None]], asyncio.Protocol],
                 admit: Callable[[], bool]) -> None:
        self._accept = accept
        self._make_protocol = make_protocol
        self._admit = admit
        self._acceptor = Acceptor(host, port, self._on_accept)
        self._handshakes: set[asyncio.Task[None]] = set()
        self.pending = 0  # handshakes in progress

    @property
    def port(self) -> int:
        return self._acceptor.port

    def start(self) -> None:
        self._acceptor.start()

    def close(self) -> None:
        """Stop accepting and drop the handshakes in progress."""
        self._acceptor.close()
        for task in list(self._handshakes):
            task.cancel()

    def _on_accept(self, sock: socket.socket, addr: Any) -> None:
        if not self._admit():
            sock.close()  # (over maxclients: no TLS yet to say so in)
            return
        slot = _Slot(self)
        task = asyncio.get_running_loop().create_task(self._handshake(sock, addr, slot))
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, sock: socket.socket, addr: Any, slot: _Slot) -> None:
        loop = asyncio.get_running_loop()
        timeout = self._accept.handshake_timeout
        try:
            # The closing handshake gets the same bound: a client that never answers
            # close_notify must not hold its socket (asyncio's default is 30 s).
            await loop.connect_accepted_socket(
                lambda: self._make_protocol(slot.release), sock, ssl=self._accept.context,
                ssl_handshake_timeout=timeout, ssl_shutdown_timeout=timeout)
        except (OSError, ssl.SSLError) as exc:  # (a timeout is a ConnectionAbortedError)
            # The socket is closed by the loop. Anyone can provoke this: debug only.
            log.debug("TLS handshake with %s failed: %s", addr, exc)
        finally:
            slot.release()


@dataclass(frozen=True, slots=True)
class TlsParams:
    """What CONFIG GET tls-* shows (Redis's names and spellings)."""

    port: int = 0
    cert_file: str = ""
    key_file: str = ""
    ca_cert_file: str = ""
    auth_clients: str = "yes"
    cluster: bool = False


def define_params(settings: ServerSettings, tls: TlsParams) -> None:
    """Replace the stored placeholders (which CONFIG SET would have made cluster-wide)
    with this node's values, read-only."""
    for name, kind, value in (
            ("tls-port", INT, tls.port), ("tls-cert-file", STRING, tls.cert_file),
            ("tls-key-file", STRING, tls.key_file),
            ("tls-ca-cert-file", STRING, tls.ca_cert_file),
            ("tls-auth-clients", STRING, tls.auth_clients), ("tls-cluster", BOOL, tls.cluster)):
        settings.define(name, kind, value, settable=False, note=_RESTART)
