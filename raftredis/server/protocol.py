"""One client connection: an asyncio Protocol adapting the transport to the sans-I/O
parser, the dispatcher and the encoder. Replies go out in request order, all the
ready ones of a batch in one transport.write.

Output is bounded (see flow.py): while the transport's write buffer is full the
connection dispatches no more commands (they wait in a backlog, reading paused) and
encodes no more replies; client-output-buffer-limit closes a client of a limited
class whose unsent output reaches the hard limit or stays above the soft one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from raftredis.reply import Error
from raftredis.resp.encoder import encode_into
from raftredis.resp.parser import ProtocolError, RequestParser
from raftredis.server.client import ClientState, next_client_id
from raftredis.server.dispatch import NO_REPLY, Dispatcher
from raftredis.server.flow import FlowControl
from raftredis.server.settings import OutputBufferLimit
from raftredis.server.state import ServerState

log = logging.getLogger(__name__)

MAXCLIENTS_ERR = b"-ERR max number of clients reached\r\n"
# Write (and look at the output's size) at least this often while encoding a batch.
WRITE_CHUNK = 64 * 1024
# Flush after this many commands of one read, so a long pipeline notices a full output
# (only a flush writes, so only a flush can fill the output: no check in between).
FLUSH_EVERY = 256


def _addr(sockname: object) -> str:
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return f"{sockname[0]}:{sockname[1]}"
    return str(sockname or "")


class RespProtocol(asyncio.Protocol):
    def __init__(self, srv: ServerState, dispatcher: Dispatcher, limits_source,
                 on_made: Callable[[], None] | None = None) -> None:
        self.srv = srv
        # A TLS connection: gives back its handshake slot once it is made (tls_listener.py).
        self._on_made = on_made
        self.dispatcher = dispatcher
        self._limits_source = limits_source
        self.transport: asyncio.Transport | None = None
        self.client: ClientState | None = None  # type: ignore[assignment]
        self.parser: RequestParser | None = None
        self.flow: FlowControl | None = None
        self._pending: deque[object] = deque()  # replies (or Futures) not yet written
        # Parsed commands not dispatched yet because the output was full: (list, next).
        self._backlog: tuple[list[list[bytes]], int] | None = None
        self._closing = False  # no more commands: close once pending replies are out
        self._eof = False  # the client half-closed: answer what it sent, then close
        self._waiting_on: object = None  # the head Future we asked to call _flush
        self._dispatching = False  # inside _dispatch: a flush must not close yet
        self._obuf: OutputBufferLimit | None = None  # the client's class limit, if any
        self._obuf_high = 0  # the write buffer's high-water mark we set (0: default)
        self.obuf_soft_since = 0.0  # when the output last went over the soft limit
        self.closed = asyncio.get_event_loop().create_future()

    # -- asyncio callbacks ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        srv = self.srv
        if self._on_made is not None:
            self._on_made()
            self._on_made = None
        else:  # (a TLS connection was counted when the listener accepted it)
            srv.stats.total_connections_received += 1
        # Connections still in their TLS handshake count too, as in Redis.
        if len(srv.clients) + srv.handshaking() >= int(srv.settings["maxclients"]):  # type: ignore[arg-type]
            srv.stats.rejected_connections += 1
            transport.write(MAXCLIENTS_ERR)
            transport.close()
            return
        self.client = ClientState(
            id=next_client_id(),
            addr=_addr(transport.get_extra_info("peername")),
            laddr=_addr(transport.get_extra_info("sockname")),
            authenticated=not srv.auth_required(),
            tls=transport.get_extra_info("ssl_object") is not None,
        )
        self.client.set_user(srv.acl.default)
        self.parser = RequestParser(self._limits_source())
        self.parser.auth_required = not self.client.authenticated
        self.flow = FlowControl(transport)
        srv.clients[self.client.id] = self
        self.apply_output_limits()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            self.client.closed = True
            self.srv.clients.pop(self.client.id, None)
            self.srv.events.drop(self)  # out of the pub/sub index and the tracking table
        self._closing = True
        self._backlog = None
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
        if self.flow is None:
            return
        self.flow.resume_writing()
        self._flush()  # replies held back while the output was full
        if not self._closing:
            try:
                self._run()
            except ProtocolError as e:
                self._protocol_error(e)
            self._flush()

    def eof_received(self) -> bool:
        # Half-closed: answer what was asked, then close.
        self._eof = True
        if not self._pending and self._backlog is None and self.transport is not None:
            self._closing = True
            self.transport.close()
        return True

    def data_received(self, data: bytes) -> None:
        if self._closing or self.parser is None:
            return
        parser = self.parser
        client = self.client
        self.srv.stats.total_net_input_bytes += len(data)
        try:
            parser.feed(data)
            if self._backlog is not None or parser.auth_required:
                self._run()
            else:
                # The common case, inline: one batch of commands while the output has room.
                cmds = parser.get_commands()
                if len(cmds) > FLUSH_EVERY or self.flow.write_paused:
                    if self._dispatch(cmds, 0):
                        self._after_batch()
                else:
                    pending, dispatch = self._pending, self.dispatcher.dispatch
                    for cmd in cmds:
                        pending.append(dispatch(client, cmd))
                        if client.close_after_reply:
                            self._closing = True
                            break
                    else:
                        if parser._error is not None or not client.authenticated:  # noqa: SLF001
                            self._after_batch()
        except ProtocolError as e:
            self._protocol_error(e)
        client.last_interaction = time.monotonic()
        self._flush()

    # -- input ----------------------------------------------------------------------------------
    def _run(self) -> None:
        """Dispatch what has been parsed, while the output has room."""
        parser = self.parser
        if self._backlog is not None:
            cmds, i = self._backlog
            self._backlog = None
            if not self._dispatch(cmds, i):
                return
            self.flow.set_backlog(False)
        if parser.auth_required:
            # One at a time: AUTH changes the limits for what follows it.
            client, pending, dispatch = self.client, self._pending, self.dispatcher.dispatch
            flow = self.flow
            while not self._closing and not flow.write_paused:
                cmd = parser.get_command()
                if cmd is None:
                    break
                pending.append(dispatch(client, cmd))
                if client.close_after_reply:
                    self._closing = True
                parser.auth_required = not client.authenticated
            return
        if self._dispatch(parser.get_commands(), 0):
            self._after_batch()

    def _after_batch(self) -> None:
        parser = self.parser
        if parser._error is not None:  # noqa: SLF001
            # A protocol error after these commands: its reply comes after theirs.
            raise parser._error  # noqa: SLF001
        if not self.client.authenticated:
            parser.auth_required = True  # e.g. RESET with a password set

    def _dispatch(self, cmds: list[list[bytes]], i: int) -> bool:
        """Dispatch cmds[i:]. False if it stopped: the connection is closing, or the
        output filled up (the rest then waits in the backlog, reading paused)."""
        pending, client, dispatch = self._pending, self.client, self.dispatcher.dispatch
        n = len(cmds)
        if i == 0 and n <= FLUSH_EVERY:  # the common case: one batch, no flush inside
            if self.flow.write_paused and n:
                return self._stash(cmds, 0)
            for cmd in cmds:
                pending.append(dispatch(client, cmd))
                if client.close_after_reply:
                    self._closing = True
                    return False
            return True
        self._dispatching = True
        try:
            while i < n:
                if self.flow.write_paused:
                    return self._stash(cmds, i)
                stop = min(n, i + FLUSH_EVERY)
                for j in range(i, stop):
                    pending.append(dispatch(client, cmds[j]))
                    if client.close_after_reply:
                        self._closing = True
                        return False
                i = stop
                if i < n:
                    self._flush()
            return True
        finally:
            self._dispatching = False

    def _stash(self, cmds: list[list[bytes]], i: int) -> bool:
        self._backlog = (cmds, i)
        self.flow.set_backlog(True)
        return False

    def _protocol_error(self, e: ProtocolError) -> None:
        self._closing = True
        self._backlog = None
        if e.send_reply:
            self._pending.append(Error("ERR " + e.message))
        else:
            log.warning("closing client %s: %s", self.client.addr, e.message)

    # -- output -------------------------------------------------------------------------------
    def _flush(self, _f: object = None) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        pending = self._pending
        flow = self.flow
        resp = self.client.resp
        parts: list[bytes] = []
        size = counted = 0  # bytes in parts, and how many parts they cover
        while pending and not flow.write_paused:
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
                del parts[counted:]
                encode_into(parts, Error("ERR internal error while encoding the reply"), resp)
            if type(item) is Error:
                self.srv.stats.total_error_replies += 1
                self.srv.stats.note_error(item)
            if pending:  # more may follow: keep what one write carries bounded
                k = len(parts)
                size += len(parts[-1]) if k == counted + 1 else sum(map(len, parts[counted:]))
                counted = k
                if size >= WRITE_CHUNK:  # write now: a full transport stops the loop
                    if not self._write(parts):
                        return
                    parts = []
                    size = counted = 0
        if parts:
            out = b"".join(parts)
            self.srv.stats.total_net_output_bytes += len(out)
            transport.write(out)
            if self._obuf is not None and self.check_output_limits():
                return
        flow.pending_changed(len(pending))
        if not pending and not self._dispatching and (
                self._closing or (self._eof and self._backlog is None)):
            self._closing = True
            transport.close()

    def _write(self, parts: list[bytes]) -> bool:
        """Write a chunk; False if that closed the client (over its output limit)."""
        out = b"".join(parts)
        self.srv.stats.total_net_output_bytes += len(out)
        self.transport.write(out)
        return self._obuf is None or not self.check_output_limits()

    def settle_replies(self) -> None:
        """Encode and write the replies that are ready, now: HELLO and RESET call it
        before they change the protocol version, so earlier replies keep theirs."""
        self._flush()

    def push(self, value: object) -> None:
        """An out-of-band message (pub/sub, keyspace event, invalidation). It queues
        behind the replies already due, so a reply and what follows it keep their order."""
        if self._closing or self.transport is None or self.transport.is_closing():
            return
        self._pending.append(value)
        if not self._dispatching:
            self._flush()

    # -- client-output-buffer-limit -------------------------------------------------------------
    def apply_output_limits(self) -> None:
        """Take the client's class limit from the settings (at connect and on CONFIG SET).
        A limited class pauses only at its limit, so the limit is what stops it."""
        if self.client is None or self.transport is None or self.transport.is_closing():
            return
        limits = self.srv.settings["client-output-buffer-limit"]
        lim = limits[self.client.output_class()]  # type: ignore[index]
        self._obuf = lim if lim.limited else None
        high = 0 if self._obuf is None else (lim.hard or lim.soft)
        if high != self._obuf_high:
            self._obuf_high = high
            if high:
                self.transport.set_write_buffer_limits(high=high, low=high // 4)
            else:
                self.transport.set_write_buffer_limits()  # the transport's defaults
        self.obuf_soft_since = 0.0
        self.check_output_limits()

    def output_buffered(self) -> int:
        """Bytes of replies handed to the transport and not yet sent (Redis's omem)."""
        t = self.transport
        return t.get_write_buffer_size() if t is not None and not t.is_closing() else 0

    def check_output_limits(self, now: float | None = None) -> bool:
        """Close the client if its output is over its class's limit (after writes, and
        every second from the server for the soft limit's time). True if it closed."""
        lim = self._obuf
        if lim is None or self.transport is None or self.transport.is_closing():
            return False
        used = self.transport.get_write_buffer_size()
        if lim.hard and used >= lim.hard:
            return self._close_for_output(used)
        if lim.soft and used >= lim.soft:
            now = time.monotonic() if now is None else now
            if not self.obuf_soft_since:
                self.obuf_soft_since = now
            elif now - self.obuf_soft_since > lim.soft_seconds:
                return self._close_for_output(used)
        else:
            self.obuf_soft_since = 0.0
        return False

    def _close_for_output(self, used: int) -> bool:
        # Redis's wording (networking.c); its reply list is dropped, as here.
        log.warning("Client %s scheduled to be closed ASAP for overcoming of output buffer "
                    "limits.", self.client.info_line(time.monotonic(), self.query_buffered(),
                                                     len(self._pending)))
        self.srv.stats.client_output_buffer_limit_disconnections += 1
        self.kill()
        return True

    # -- used by the server and by CLIENT commands ----------------------------------------------
    def kill(self) -> None:
        """CLIENT KILL / idle timeout: close now, dropping unsent replies."""
        self._closing = True
        self._backlog = None
        if self.transport is not None:
            self.transport.abort()

    def close_gracefully(self) -> None:
        """Shutdown: no new commands; close once in-flight replies are written."""
        self._closing = True
        self._backlog = None
        if self.transport is not None and not self._pending:
            self.transport.close()

    def query_buffered(self) -> int:
        return self.parser.buffered if self.parser is not None else 0

    def pending_replies(self) -> int:
        return len(self._pending)

    def idle_for(self, now: float) -> float:
        # A subscriber waits for messages, not commands: the idle timeout spares it, as
        # Redis's does.
        if self._pending or self.client is None or self.client.in_pubsub():
            return 0.0
        return now - self.client.last_interaction
