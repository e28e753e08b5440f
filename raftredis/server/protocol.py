"""One client connection: an asyncio Protocol adapting the transport to the sans-I/O
parser, the dispatcher and the encoder. Replies go out in request order, all the
ready ones of a batch in one transport.write."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from raftredis.reply import Error
from raftredis.resp.encoder import encode_into
from raftredis.resp.parser import ProtocolError, RequestParser
from raftredis.server.client import ClientState, next_client_id
from raftredis.server.dispatch import NO_REPLY, Dispatcher
from raftredis.server.flow import FlowControl
from raftredis.server.state import ServerState

log = logging.getLogger(__name__)

MAXCLIENTS_ERR = b"-ERR max number of clients reached\r\n"


def _addr(sockname: object) -> str:
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return f"{sockname[0]}:{sockname[1]}"
    return str(sockname or "")


class RespProtocol(asyncio.Protocol):
    def __init__(self, srv: ServerState, dispatcher: Dispatcher, limits_source) -> None:
        self.srv = srv
        self.dispatcher = dispatcher
        self._limits_source = limits_source
        self.transport: asyncio.Transport | None = None
        self.client: ClientState | None = None  # type: ignore[assignment]
        self.parser: RequestParser | None = None
        self.flow: FlowControl | None = None
        self._pending: deque[object] = deque()  # replies (or Futures) not yet written
        self._closing = False  # no more commands: close once pending replies are out
        self._eof = False
        self._waiting_on: object = None  # the head Future we asked to call _flush
        self.closed = asyncio.get_event_loop().create_future()

    # -- asyncio callbacks ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        srv = self.srv
        srv.stats.total_connections_received += 1
        if len(srv.clients) >= int(srv.settings["maxclients"]):  # type: ignore[arg-type]
            srv.stats.rejected_connections += 1
            transport.write(MAXCLIENTS_ERR)
            transport.close()
            return
        self.client = ClientState(
            id=next_client_id(),
            addr=_addr(transport.get_extra_info("peername")),
            laddr=_addr(transport.get_extra_info("sockname")),
            authenticated=not srv.auth_required(),
        )
        self.parser = RequestParser(self._limits_source())
        self.parser.auth_required = not self.client.authenticated
        self.flow = FlowControl(transport)
        srv.clients[self.client.id] = self

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            self.client.closed = True
            self.srv.clients.pop(self.client.id, None)
        self._closing = True
        for item in self._pending:
            if isinstance(item, asyncio.Future) and not item.done():
                item.cancel()
        self._pending.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        if self.flow is not None:
            self.flow.pause_writing()

    def resume_writing(self) -> None:
        if self.flow is not None:
            self.flow.resume_writing()

    def eof_received(self) -> bool:
        # Half-closed: answer what was asked, then close.
        self._eof = True
        self._closing = True
        if not self._pending and self.transport is not None:
            self.transport.close()
        return True

    def data_received(self, data: bytes) -> None:
        if self._closing or self.parser is None:
            return
        client = self.client
        parser = self.parser
        self.srv.stats.total_net_input_bytes += len(data)
        dispatch = self.dispatcher.dispatch
        pending = self._pending
        try:
            parser.feed(data)
            if parser.auth_required:
                # One at a time: AUTH changes the limits for what follows it.
                while not self._closing:
                    cmd = parser.get_command()
                    if cmd is None:
                        break
                    pending.append(dispatch(client, cmd))
                    self._after_command()
            else:
                for cmd in parser.get_commands():
                    pending.append(dispatch(client, cmd))
                    if client.close_after_reply:
                        self._closing = True
                        break
                else:
                    # A protocol error after these commands surfaces on the next call.
                    if parser._error is not None:  # noqa: SLF001
                        raise parser._error  # noqa: SLF001
                if not client.authenticated:
                    parser.auth_required = True  # e.g. RESET with a password set
        except ProtocolError as e:
            self._closing = True
            if e.send_reply:
                pending.append(Error("ERR " + e.message))
            else:
                log.warning("closing client %s: %s", client.addr, e.message)
        client.last_interaction = time.monotonic()
        self._flush()

    def _after_command(self) -> None:
        client = self.client
        if client.close_after_reply:
            self._closing = True
        self.parser.auth_required = not client.authenticated

    # -- output -------------------------------------------------------------------------------
    def _flush(self, _f: object = None) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        pending = self._pending
        resp = self.client.resp
        parts: list[bytes] = []
        while pending:
            item = pending[0]
            if isinstance(item, asyncio.Future):
                if not item.done():
                    if self._waiting_on is not item:
                        self._waiting_on = item
                        item.add_done_callback(self._flush)
                    break
                item = item.result() if not item.cancelled() else Error("ERR request cancelled")
            pending.popleft()
            if item is NO_REPLY:
                continue
            try:
                encode_into(parts, item, resp)
            except Exception:
                log.exception("cannot encode reply %r", item)
                encode_into(parts, Error("ERR internal error while encoding the reply"), resp)
            if type(item) is Error:
                self.srv.stats.total_error_replies += 1
        if parts:
            out = b"".join(parts)
            self.srv.stats.total_net_output_bytes += len(out)
            transport.write(out)
        if self.flow is not None:
            self.flow.pending_changed(len(pending))
        if self._closing and not pending:
            transport.close()

    # -- used by the server and by CLIENT commands ----------------------------------------------
    def kill(self) -> None:
        """CLIENT KILL / idle timeout: close now, dropping unsent replies."""
        self._closing = True
        if self.transport is not None:
            self.transport.abort()

    def close_gracefully(self) -> None:
        """Shutdown: no new commands; close once in-flight replies are written."""
        self._closing = True
        if self.transport is not None and not self._pending:
            self.transport.close()

    def query_buffered(self) -> int:
        return self.parser.buffered if self.parser is not None else 0

    def pending_replies(self) -> int:
        return len(self._pending)

    def idle_for(self, now: float) -> float:
        if self._pending or self.client is None:
            return 0.0
        return now - self.client.last_interaction
