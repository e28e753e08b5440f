"""A listening socket and its accept loop, for the TLS listeners (client port and peer
port): they must own a connection before any byte of it is read, so its TLS handshake
can start under their admission rules (loop.connect_accepted_socket). Accepting on a
server's transport instead would let the event loop read the ClientHello into the
plain protocol before an upgrade could begin (uvloop starts reading at once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("raftredis.acceptor")

# After an accept error (out of descriptors...), wait this long before the next accept:
# the listening socket stays readable, so retrying at once would spin.
ACCEPT_ERROR_PAUSE = 0.1
_LOG_EVERY = 10.0


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """A non-blocking listening TCP socket on host:port (0: any free port)."""
    family, _, _, _, addr = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                               flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class Acceptor:
    """Accepts connections on host:port and hands each (socket, address) to `on_accept`,
    which owns the socket from then on."""

    def __init__(self, host: str, port: int, on_accept: Callable[[socket.socket, Any], None],
                 backlog: int = 1024) -> None:
        self._host = host
        self.port = port
        self._on_accept = on_accept
        self._backlog = backlog
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._logged = 0.0

    def start(self) -> None:
        """Bind and start accepting (OSError if the port cannot be bound)."""
        self._sock = listen(self._host, self.port, self._backlog)
        self.port = self._sock.getsockname()[1]
        self._task = asyncio.get_running_loop().create_task(self._accept_loop(self._sock),
                                                            name=f"accept-{self.port}")

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, addr = await loop.sock_accept(sock)
            except OSError as exc:
                now = time.monotonic()
                if now - self._logged > _LOG_EVERY:
                    self._logged = now
                    log.warning("accept on port %d failed: %s", self.port, exc)
                await asyncio.sleep(ACCEPT_ERROR_PAUSE)
                continue
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._on_accept(conn, addr)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
