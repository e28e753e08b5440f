"""RespServer: the client port. Owns the listener, the connections, the idle-timeout
check, live limits from CONFIG SET, and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time

import raftredis.server.admin_commands  # noqa: F401  (registers handlers)
import raftredis.server.conn_commands  # noqa: F401
from raftredis.resp.parser import Limits
from raftredis.server.backend import Backend
from raftredis.server.dispatch import Dispatcher
from raftredis.server.protocol import RespProtocol
from raftredis.server.settings import ServerSettings
from raftredis.server.state import ServerState

_IDLE_CHECK_S = 1.0


class RespServer:
    def __init__(self, backend: Backend, settings: ServerSettings | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings = settings if settings is not None else ServerSettings()
        self.host = host
        self.state = ServerState(backend=backend, settings=self.settings, host=host, port=port)
        self.dispatcher = Dispatcher(self.state)
        self._server: asyncio.AbstractServer | None = None
        self._idle_task: asyncio.Task | None = None
        self._limits = Limits()
        self._sync_limits()
        self.settings.on_change(self._on_setting)

    @property
    def port(self) -> int:
        return self.state.port

    def _sync_limits(self) -> None:
        s = self.settings
        self._limits.proto_max_bulk_len = int(s["proto-max-bulk-len"])  # type: ignore[arg-type]
        self._limits.client_query_buffer_limit = int(s["client-query-buffer-limit"])  # type: ignore[arg-type]

    def _on_setting(self, name: str, value: object) -> None:
        # All parsers share one Limits object, so a change applies to every connection.
        if name in ("proto-max-bulk-len", "client-query-buffer-limit"):
            self._sync_limits()

    def _make_protocol(self) -> RespProtocol:
        return RespProtocol(self.state, self.dispatcher, lambda: self._limits)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._make_protocol, self.host, self.state.port, backlog=1024, reuse_address=True
        )
        sock = self._server.sockets[0]
        self.state.port = sock.getsockname()[1]
        with contextlib.suppress(KeyError):
            self.settings.set_value("port", self.state.port)
        self._idle_task = loop.create_task(self._idle_loop())

    async def _idle_loop(self) -> None:
        while True:
            await asyncio.sleep(_IDLE_CHECK_S)
            timeout = int(self.settings["timeout"])  # type: ignore[arg-type]
            if timeout <= 0:
                continue
            now = time.monotonic()
            for conn in list(self.state.clients.values()):
                if isinstance(conn, RespProtocol) and conn.idle_for(now) > timeout:
                    conn.kill()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let every connection finish its in-flight replies, close."""
        if self._idle_task is not None:
            self._idle_task.cancel()
        if self._server is not None:
            self._server.close()
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
