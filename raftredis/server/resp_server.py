"""RespServer: the client ports. Owns the listeners (plain, TLS, or both: one set of
connections and one maxclients for both, as in Redis), the connections, the
idle-timeout and output-buffer checks, live limits from CONFIG SET, the
file-descriptor limit behind maxclients, and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import time
from collections.abc import Callable

import raftredis.server.handlers  # noqa: F401  (registers the local handlers)
from raftredis.resp.parser import Limits
from raftredis.server.backend import Backend
from raftredis.server.cmdstats import ExecRecorder
from raftredis.server.dispatch import Dispatcher
from raftredis.server.instant import SAMPLE_PERIOD_S
from raftredis.server.protocol import RespProtocol
from raftredis.server.settings import ServerSettings
from raftredis.server.state import ServerState
from raftredis.server.tls_listener import TlsAccept, TlsListener

log = logging.getLogger(__name__)

_IDLE_CHECK_S = 1.0
# File descriptors kept for everything but clients (Redis's CONFIG_MIN_RESERVED_FDS).
RESERVED_FDS = 32


def fit_maxclients(maxclients: int,
                   getrlimit: Callable[[int], tuple[int, int]] = resource.getrlimit,
                   setrlimit: Callable[[int, tuple[int, int]], None] = resource.setrlimit,
                   ) -> int:
    """The maxclients this process can serve, decided as Redis's adjustOpenFilesLimit
    does: maxclients + 32 descriptors are needed; the soft RLIMIT_NOFILE is raised toward
    that, up to the hard limit (which is left alone), and if it still falls short
    maxclients becomes the soft limit minus 32. Says what it did, in Redis's words."""
    needed = maxclients + RESERVED_FDS
    try:
        soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError) as exc:
        log.warning("Unable to obtain the current NOFILE limit (%s), assuming 1024 and "
                    "setting the max clients configuration accordingly.", exc)
        return max(1, min(maxclients, 1024 - RESERVED_FDS))
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return maxclients
    original = soft
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    why = f"the hard limit is {hard}"
    if target > soft:
        try:
            setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError) as exc:
            why = f"of OS error: {os.strerror(exc.errno) if exc.errno else exc}" \
                if isinstance(exc, OSError) else f"of an error: {exc}"
    if soft >= needed:
        log.info("Increased maximum number of open files to %d (it was originally set to "
                 "%d).", needed, original)
        return maxclients
    fitted = soft - RESERVED_FDS
    log.warning("You requested maxclients of %d requiring at least %d max file descriptors.",
                maxclients, needed)
    log.warning("Server can't set maximum open files to %d because %s.", needed, why)
    if fitted < 1:
        log.error("Your current 'ulimit -n' of %d is not enough for the server to serve "
                  "clients. Please increase your open file limit to at least %d.", soft, needed)
        return 1
    log.warning("Current maximum open files is %d. maxclients has been reduced to %d to "
                "compensate for low ulimit. If you need higher maxclients increase "
                "'ulimit -n'.", soft, fitted)
    return fitted


class RespServer:
    def __init__(self, backend: Backend, settings: ServerSettings | None = None,
                 host: str = "127.0.0.1", port: int | None = 0, tls: TlsAccept | None = None,
                 tls_port: int = 0) -> None:
        """`port` 0 takes any free port; None listens on no plain port (then `tls` must be
        given). With `tls`, a TLS listener on `tls_port` too (0: any free port)."""
        if port is None and tls is None:
            raise ValueError("a server needs a plain port or a TLS port")
        self.settings = settings if settings is not None else ServerSettings()
        self.host = host
        self._plain = port is not None
        self.state = ServerState(backend=backend, settings=self.settings, host=host,
                                 port=port or 0)
        self._tls: TlsListener | None = None
        if tls is not None:
            self._tls = TlsListener(tls, host, tls_port, self._make_protocol,
                                    self._admit_tls)
            listener = self._tls
            self.state.handshaking = lambda: listener.pending
        self.dispatcher = Dispatcher(self.state)
        attach = getattr(backend, "attach_events", None)
        if attach is not None:  # the backend feeds pub/sub, notifications, tracking
            attach(self.state.events)
        attach_exec = getattr(backend, "attach_exec_sink", None)
        if attach_exec is not None:  # it times the commands it runs after dispatch
            attach_exec(ExecRecorder(self.state))
        self._server: asyncio.AbstractServer | None = None  # the plain port's
        self._idle_task: asyncio.Task | None = None
        self._instant_handle: asyncio.TimerHandle | None = None
        self._limits = Limits()
        self._sync_limits()
        self._fit_maxclients()
        self.settings.on_change(self._on_setting)

    @property
    def port(self) -> int:
        return self.state.port

    @property
    def tls_port(self) -> int:
        return self._tls.port if self._tls is not None else 0

    def _sync_limits(self) -> None:
        s = self.settings
        self._limits.proto_max_bulk_len = int(s["proto-max-bulk-len"])  # type: ignore[arg-type]
        self._limits.client_query_buffer_limit = int(s["client-query-buffer-limit"])  # type: ignore[arg-type]

    def _fit_maxclients(self) -> None:
        # A local correction: the log carries what was asked, each node serves what its
        # own descriptor limit allows (and CONFIG GET shows that, as in Redis).
        wanted = int(self.settings["maxclients"])  # type: ignore[arg-type]
        fitted = fit_maxclients(wanted)
        if fitted != wanted:
            self.settings.adjust("maxclients", fitted)

    def _on_setting(self, name: str, value: object) -> None:
        # All parsers share one Limits object, so a change applies to every connection.
        if name in ("proto-max-bulk-len", "client-query-buffer-limit"):
            self._sync_limits()
        elif name == "maxclients":
            self._fit_maxclients()
        elif name == "client-output-buffer-limit":
            for conn in list(self.state.clients.values()):
                if isinstance(conn, RespProtocol):
                    conn.apply_output_limits()

    def _make_protocol(self, on_made: Callable[[], None] | None = None) -> RespProtocol:
        return RespProtocol(self.state, self.dispatcher, lambda: self._limits, on_made)

    def _admit_tls(self) -> bool:
        """A connection accepted on the TLS port: does it fit under maxclients, with the
        clients and the other handshakes in progress?"""
        srv = self.state
        srv.stats.total_connections_received += 1
        if len(srv.clients) + srv.handshaking() >= int(self.settings["maxclients"]):  # type: ignore[arg-type]
            srv.stats.rejected_connections += 1
            return False
        return True

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._plain:
            self._server = await loop.create_server(
                self._make_protocol, self.host, self.state.port, backlog=1024,
                reuse_address=True)
            self.state.port = self._server.sockets[0].getsockname()[1]
        if self._tls is not None:
            self._tls.start()
        with contextlib.suppress(KeyError):
            self.settings.set_value("port", self.state.port)
        if self._tls is not None:
            with contextlib.suppress(KeyError):
                self.settings.adjust("tls-port", self.tls_port)
        self._idle_task = loop.create_task(self._idle_loop())
        self._sample_instant()

    def _sample_instant(self) -> None:
        """INFO's instantaneous_* rates: one sample every 100 ms, as Redis's cron."""
        st = self.state.stats
        st.instant.sample(time.monotonic(), st.total_commands_processed,
                          st.total_net_input_bytes, st.total_net_output_bytes)
        self._instant_handle = asyncio.get_running_loop().call_later(
            SAMPLE_PERIOD_S, self._sample_instant)

    async def _idle_loop(self) -> None:
        while True:
            await asyncio.sleep(_IDLE_CHECK_S)
            timeout = int(self.settings["timeout"])  # type: ignore[arg-type]
            now = time.monotonic()
            for conn in list(self.state.clients.values()):
                if not isinstance(conn, RespProtocol):
                    continue
                # A client over its soft output limit may get no more writes (reading
                # is paused): its time above the limit is checked here.
                if conn.check_output_limits(now):
                    continue
                if timeout > 0 and conn.idle_for(now) > timeout:
                    conn.kill()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let every connection finish its in-flight replies, close."""
        if self._idle_task is not None:
            self._idle_task.cancel()
        if self._instant_handle is not None:
            self._instant_handle.cancel()
        if self._server is not None:
            self._server.close()
        if self._tls is not None:
            self._tls.close()
        conns = [c for c in self.state.clients.values() if isinstance(c, RespProtocol)]
        for conn in conns:
            conn.close_gracefully()
        if conns:
            _, still_open = await asyncio.wait([c.closed for c in conns], timeout=grace)
            for conn in conns:
                if not conn.closed.done():
                    conn.kill()
            if still_open:
                await asyncio.wait([c.closed for c in conns], timeout=1.0)
        if self._server is not None:
            await self._server.wait_closed()
