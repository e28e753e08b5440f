"""PeerTransport: the node's peer port — authenticated connections carrying Raft messages.

Shape (simple and symmetric): every node dials every peer and *sends* only on the
connection it dialled; it *receives* only on connections peers dialled to it. So
each direction of each pair is one TCP stream with one writer, and a peer's
messages always arrive on the connection that peer authenticated as itself.

Per peer there is one bounded queue and one task that connects (resolving the
host name afresh each time, with capped exponential backoff and jitter), runs the
handshake, then drains the queue in batches (many frames per write). `send()` only
appends to a queue, so it never blocks, and a dead or slow peer stalls nobody but
itself; when a queue is full the message is dropped and counted (Raft resends).

After the handshake every frame is a sealed record (seal.py): encrypted and
authenticated with per-connection, per-direction keys and an implicit counter, so a relay
can neither read nor alter, replay, reorder, drop or inject a frame unnoticed. Anything
wrong on an inbound connection (failed handshake, a record that fails authentication,
an undecodable message) closes that connection only; the dialer then reconnects.

The peer port is open to anyone who can reach it, so unauthenticated connections are
kept cheap: each handshake read has a short deadline (`step_timeout`), a bounded number
of handshakes may be pending per source address and in all, and when a bound is reached
the oldest pending handshake is evicted rather than the newest refused, so a flood of
silent connections cannot keep a restarted peer out. The victim is the oldest that has sent
no byte at all, else the oldest without a well-formed HELLO, else the oldest: a genuine
dialer sends its HELLO at once, and whether bytes have arrived is known when they reach the
connection's reader, before its task has run to read them (under a flood, hundreds of
newer connections are admitted in that gap, so judging by the HELLO alone evicted the real
peer's connection more often than not). Log lines that anyone can provoke are rate-limited
(ratelog.py).

With `tls` (the node's `tls-cluster yes`) each connection is first upgraded to mutual TLS
with the cluster CA (raftredis/tls.py), then runs the same handshake and sealing inside
it: TLS keeps a node without a CA-signed certificate off the link, the secret's handshake
still says which node is at the other end. An inbound connection takes its handshake slot
before its TLS handshake, so silent TLS connections are evicted like silent plain ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import random
import socket
import ssl
import struct
import termios
from collections import deque
from collections.abc import Callable
from typing import Any

from raftredis.acceptor import Acceptor
from raftredis.raft.messages import Message
from raftredis.tls import PeerTls
from raftredis.transport.codec import CodecError, Encoder, decode
from raftredis.transport.framing import DEFAULT_MAX_FRAME, FrameError
from raftredis.transport.handshake import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_STEP_TIMEOUT,
    HandshakeError,
    Session,
    accept_handshake,
    check_meta,
    dial_handshake,
)
from raftredis.transport.ratelog import DEFAULT_INTERVAL, RateLimitedLog
from raftredis.transport.seal import AuthError, Sealer

log = logging.getLogger("raftredis.transport")

BACKOFF_MIN = 0.05
BACKOFF_MAX = 1.0
CONNECT_TIMEOUT = 2.0
# A peer that accepts no bytes for this long is treated as gone and redialled.
WRITE_TIMEOUT = 10.0
# Pending (unauthenticated) handshakes: a slot is a task, a socket and at most 4 KiB, so
# the bounds can be generous; the per-address one keeps a flood from one host from
# evicting the handshakes of peers on other hosts.
MAX_PENDING_HANDSHAKES = 256
MAX_PENDING_PER_HOST = 32
LISTEN_BACKLOG = 1024
BATCH_BYTES = 4 << 20  # at most this much encoded data per write (and per record)
READ_CHUNK = 256 << 10
PLAIN_READ_LIMIT = 64 << 10  # asyncio.start_server's default stream limit


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class HeardReader(asyncio.StreamReader):
    """A StreamReader that remembers whether any byte has reached it (`heard`)."""

    heard = False

    def feed_data(self, data: Any) -> None:  # (typeshed says Iterable[SupportsIndex])
        if data:
            self.heard = True
        super().feed_data(data)


def _bytes_waiting(fd: int) -> bool:
    """Whether the kernel holds unread bytes for socket `fd` (FIONREAD: nothing consumed)."""
    if fd < 0:
        return False
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0] > 0
    except OSError:  # the socket is gone
        return False


class _Pending:
    """One inbound connection still in its handshake."""

    __slots__ = ("host", "writer", "reader", "fd", "hello")

    def __init__(self, host: str, writer: asyncio.StreamWriter | None,
                 reader: HeardReader | None, fd: int) -> None:
        self.host = host
        self.writer = writer
        self.reader = reader  # set once its stream exists (after TLS, for a TLS one)
        self.fd = fd  # its socket, to see bytes the loop has not yet read
        self.hello = False  # sent a well-formed HELLO for a known node id

    def spoke(self) -> bool:
        """Whether any byte has come from the other end: a silent socket has sent none.
        Bytes count from when they reach the kernel, not when a task reads them."""
        if self.hello or (self.reader is not None and self.reader.heard):
            return True
        return _bytes_waiting(self.fd)


class _Peer:
    """Everything the transport holds about one peer."""

    __slots__ = (
        "id", "host", "port", "queue", "wake", "redial", "task", "writer", "inbound",
        "connected", "broken", "backoff", "sent", "received", "dropped", "rejected",
        "connects", "last_error", "failing", "auth_failures", "bytes_sent", "bytes_received",
    )

    def __init__(self, node_id: int, host: str, port: int) -> None:
        self.id = node_id
        self.host = host
        self.port = port
        self.queue: deque[Message] = deque()
        self.wake = asyncio.Event()  # set when the queue gets work or the link breaks
        self.redial = asyncio.Event()  # set to cut a backoff short (address changed)
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None  # our outgoing connection
        self.inbound: asyncio.StreamWriter | None = None  # the connection it dialled to us
        self.connected = False
        self.broken = False
        self.backoff = BACKOFF_MIN
        self.sent = 0
        self.received = 0
        self.bytes_sent = 0  # sealed records written, framing included (metrics)
        self.bytes_received = 0
        self.dropped = 0
        self.rejected = 0  # inbound messages with a wrong src/dst
        self.auth_failures = 0  # inbound records that failed authentication
        self.connects = 0
        self.last_error = ""
        self.failing = False  # log the first failure of a streak only


class PeerTransport:
    def __init__(
        self,
        node_id: int,
        secret: bytes,
        listen_host: str,
        listen_port: int,
        peers: dict[int, tuple[str, int]],
        on_message: Callable[[Message], None],
        meta: dict[str, str] | None = None,
        on_peer_meta: Callable[[int, dict[str, str]], None] | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
        queue_limit: int = 4096,
        handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        step_timeout: float = DEFAULT_STEP_TIMEOUT,
        max_pending_handshakes: int = MAX_PENDING_HANDSHAKES,
        max_pending_per_host: int = MAX_PENDING_PER_HOST,
        log_interval: float = DEFAULT_INTERVAL,
        tls: PeerTls | None = None,
    ) -> None:
        if node_id < 1:
            raise ValueError("node ids start at 1")
        if not secret:
            raise ValueError("the cluster secret must not be empty")
        if queue_limit < 1 or max_frame < 1:
            raise ValueError("queue_limit and max_frame must be positive")
        if max_pending_handshakes < 1 or max_pending_per_host < 1:
            raise ValueError("the pending handshake bounds must be positive")
        self.node_id = node_id
        self._secret = bytes(secret)
        self._listen_host = listen_host
        self.listen_port = listen_port
        self._on_message = on_message
        self._meta = check_meta(dict(meta or {}))
        self._on_peer_meta = on_peer_meta
        # Decides on an authenticated peer id not in the table (None: refuse them all).
        self._admission: Callable[[int, dict[str, str]], tuple[str, int] | None] | None = None
        self.max_frame = max_frame
        self.queue_limit = queue_limit
        self.handshake_timeout = handshake_timeout
        self.connect_timeout = connect_timeout
        self.step_timeout = min(step_timeout, handshake_timeout)
        self.max_pending_handshakes = max_pending_handshakes
        self.max_pending_per_host = max_pending_per_host
        self._tls = tls
        self._ratelog = RateLimitedLog(log, log_interval)
        self._encoder = Encoder()
        self._rng = random.Random()
        self._peers: dict[int, _Peer] = {}
        for pid, (host, port) in peers.items():
            if pid != node_id:
                self._peers[pid] = _Peer(pid, host, port)
        self._server: asyncio.Server | None = None
        self._acceptor: Acceptor | None = None  # the listener with tls (it owns sockets)
        self._inbound_tasks: set[asyncio.Task[Any]] = set()
        # Pending handshakes, oldest first: task -> _Pending. Insertion order is age.
        self._pending: dict[asyncio.Task[Any], _Pending] = {}
        self._pending_per_host: dict[str, int] = {}
        self._started = False
        self._closing = False
        self.dropped_unknown = 0  # messages sent to an id that is not a peer
        self.handshakes_evicted = 0

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        # A deep accept queue: under a flood of connections, a peer's SYN waits in it a
        # moment rather than being dropped and retried a second later.
        if self._tls is not None:
            self._acceptor = Acceptor(self._listen_host, self.listen_port, self._accept_tls,
                                      backlog=LISTEN_BACKLOG)
            self._acceptor.start()
            self.listen_port = self._acceptor.port
        else:
            loop = asyncio.get_running_loop()
            # (start_server's own wiring, with a reader that tells eviction it has data)
            self._server = await loop.create_server(
                lambda: asyncio.StreamReaderProtocol(
                    HeardReader(limit=PLAIN_READ_LIMIT, loop=loop), self._serve_inbound,
                    loop=loop),
                self._listen_host, self.listen_port, reuse_address=True,
                backlog=LISTEN_BACKLOG,
            )
            self.listen_port = self._server.sockets[0].getsockname()[1]
        self._started = True
        for p in self._peers.values():
            self._spawn(p)
        log.info("node %d peer port listening on %s:%d", self.node_id, self._listen_host,
                 self.listen_port)

    async def stop(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._acceptor is not None:
            self._acceptor.close()
        tasks: list[asyncio.Task[Any]] = []
        for p in self._peers.values():
            if p.task is not None:
                p.task.cancel()
                tasks.append(p.task)
            self._close_writer(p.writer)
            self._close_writer(p.inbound)
        for t in list(self._inbound_tasks):
            t.cancel()
            tasks.append(t)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None
        self._ratelog.flush_all()  # what a flood suppressed is still said once

    # ---- the API the node calls -----------------------------------------------------------

    def send(self, msg: Message) -> None:
        """Queue `msg` for `msg.dst`. Never blocks; drops (and counts) when the queue is full."""
        p = self._peers.get(msg.dst)
        if p is None:
            self.dropped_unknown += 1
            return
        q = p.queue
        if len(q) >= self.queue_limit:
            p.dropped += 1
            return
        q.append(msg)
        if not p.wake.is_set():
            p.wake.set()

    def set_peer(self, node_id: int, host: str, port: int) -> None:
        """Add a peer, or point an existing one at a new address (redials at once)."""
        if node_id == self.node_id:
            raise ValueError("a node is not its own peer")
        p = self._peers.get(node_id)
        if p is None:
            p = self._peers[node_id] = _Peer(node_id, host, port)
            if self._started and not self._closing:
                self._spawn(p)
            return
        if (p.host, p.port) == (host, port):
            return
        log.info("node %d: peer %d moves from %s:%d to %s:%d", self.node_id, node_id,
                 p.host, p.port, host, port)
        p.host, p.port = host, port
        p.backoff = BACKOFF_MIN
        if self._started and not self._closing:
            # A fresh task: the old one may be stuck connecting to, or writing to, the old address.
            if p.task is not None:
                p.task.cancel()
            self._close_writer(p.writer)
            self._spawn(p)

    def set_admission(self, admit: Callable[[int, dict[str, str]], tuple[str, int] | None]
                      ) -> None:
        """`admit(peer_id, meta)` is asked, once the peer has proved the secret, about an
        id this transport does not know: the address to dial it at, or None to refuse."""
        self._admission = admit

    def remove_peer(self, node_id: int) -> None:
        p = self._peers.pop(node_id, None)
        if p is None:
            return
        if p.task is not None:
            p.task.cancel()
        self._close_writer(p.writer)
        self._close_writer(p.inbound)
        p.dropped += len(p.queue)
        p.queue.clear()

    def status(self) -> dict[int, dict[str, Any]]:
        return {
            pid: {
                "address": f"{p.host}:{p.port}",
                "connected": p.connected,
                "inbound": p.inbound is not None,
                "queued": len(p.queue),
                "sent": p.sent,
                "received": p.received,
                "bytes_sent": p.bytes_sent,
                "bytes_received": p.bytes_received,
                "dropped": p.dropped,
                "rejected": p.rejected,
                "auth_failures": p.auth_failures,
                "reconnects": max(0, p.connects - 1),
                "last_error": p.last_error,
            }
            for pid, p in self._peers.items()
        }

    @property
    def pending_handshakes(self) -> int:
        return len(self._pending)

    # ---- outgoing side --------------------------------------------------------------------

    def _spawn(self, p: _Peer) -> None:
        p.task = asyncio.get_running_loop().create_task(
            self._run_outbound(p), name=f"raft-peer-{self.node_id}->{p.id}"
        )

    @staticmethod
    def _close_writer(w: asyncio.StreamWriter | None) -> None:
        if w is not None:
            with contextlib.suppress(Exception):
                w.close()

    def _note_failure(self, p: _Peer, what: str, exc: BaseException) -> None:
        p.last_error = f"{what}: {_describe(exc)}"
        # A down peer fails every backoff period: log the start of a streak, not each try;
        # and a link someone on the path keeps cutting logs a few lines per interval.
        if not p.failing:
            p.failing = True
            self._ratelog.event(f"down:{p.id}", logging.WARNING,
                                f"node {self.node_id}: peer {p.id} at {p.host}:{p.port} "
                                f"{p.last_error}")
        else:
            log.debug("node %d: peer %d %s", self.node_id, p.id, p.last_error)

    async def _run_outbound(self, p: _Peer) -> None:
        me = asyncio.current_task()
        while not self._closing and p.task is me:
            try:
                reader, writer, session = await self._dial(p)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._note_failure(p, "connect failed", exc)
                await self._sleep_backoff(p)
                continue
            p.writer = writer
            p.connected = True
            p.broken = False
            p.connects += 1
            p.backoff = BACKOFF_MIN
            if p.failing:
                self._ratelog.event(f"up:{p.id}", logging.INFO, f"node {self.node_id}: peer "
                                    f"{p.id} connected at {p.host}:{p.port}")
            p.failing = False
            try:
                await self._pump(p, reader, writer, session.sealer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._note_failure(p, "connection lost", exc)
            finally:
                if p.writer is writer:
                    p.writer = None
                    p.connected = False
                self._close_writer(writer)
            await self._sleep_backoff(p)

    async def _dial(
        self, p: _Peer
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Session]:
        # The name is resolved on every dial: container addresses change.
        if self._tls is not None:  # the TLS handshake has its own bound within
            async with asyncio.timeout(self.connect_timeout + self.handshake_timeout):
                # (the closing handshake bounded too: asyncio waits 30 s by default for
                # a gone peer's close_notify, holding the socket)
                reader, writer = await _open_resolved(
                    p.host, p.port, ssl=self._tls.client, server_hostname=p.host,
                    ssl_handshake_timeout=self.handshake_timeout,
                    ssl_shutdown_timeout=self.handshake_timeout)
        else:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await _open_resolved(p.host, p.port)
        try:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                # Keepalive finds a peer that vanished without a FIN; best effort only.
                with contextlib.suppress(OSError, AttributeError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            session = await dial_handshake(
                reader, writer, self.node_id, p.id, self._secret, self._meta,
                self.handshake_timeout,
            )
        except BaseException:
            self._close_writer(writer)
            raise
        self._tell_meta(p.id, session.peer_meta)
        return reader, writer, session

    async def _sleep_backoff(self, p: _Peer) -> None:
        delay = p.backoff * self._rng.uniform(0.5, 1.0)
        p.backoff = min(p.backoff * 2, BACKOFF_MAX)
        p.redial.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await p.redial.wait()

    async def _pump(
        self, p: _Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
        sealer: Sealer,
    ) -> None:
        # The acceptor never writes after the handshake: a read finishing means EOF/reset
        # (or bytes injected on the way, which is no better).
        def on_closed(_: asyncio.Future[bytes]) -> None:
            p.broken = True
            p.wake.set()

        watcher = asyncio.ensure_future(reader.read(1))
        watcher.add_done_callback(on_closed)
        encode = self._encoder.encode
        queue = p.queue
        max_frame = self.max_frame
        # One record holds messages up to this many bytes with their inner length prefixes
        # (the receiver takes one message of max_frame, so one record of max_frame + 4).
        record_cap = max_frame + 4
        try:
            while True:
                if p.broken:
                    raise ConnectionError("closed by peer")
                if not queue:
                    p.wake.clear()
                    await p.wake.wait()
                    continue
                records: list[bytes] = []
                batch: list[bytes] = []
                rec_size = 0
                size = 0
                n = 0
                while queue and size < BATCH_BYTES:
                    msg = queue.popleft()
                    try:
                        data = encode(msg)
                    except CodecError as exc:
                        p.dropped += 1
                        log.error("node %d: cannot encode message for peer %d: %s",
                                  self.node_id, p.id, exc)
                        continue
                    if len(data) > max_frame:
                        p.dropped += 1
                        log.error("node %d: %s of %d bytes for peer %d exceeds max_frame %d",
                                  self.node_id, type(msg).__name__, len(data), p.id, max_frame)
                        continue
                    if batch and rec_size + 4 + len(data) > record_cap:
                        records.append(sealer.seal_messages(batch))
                        batch, rec_size = [], 0
                    batch.append(data)
                    rec_size += 4 + len(data)
                    size += 4 + len(data)
                    n += 1
                if batch:
                    records.append(sealer.seal_messages(batch))
                if records:
                    if len(records) == 1:
                        writer.write(records[0])
                    else:
                        writer.writelines(records)
                    p.sent += n
                    p.bytes_sent += sum(map(len, records))
                    if writer.transport.get_write_buffer_size():
                        # The kernel did not take it all: wait for room, bounded. When it
                        # did (the usual case), drain() could not block, and arming a
                        # timeout for it cost a timer per write.
                        async with asyncio.timeout(WRITE_TIMEOUT):
                            await writer.drain()
        finally:
            watcher.remove_done_callback(on_closed)
            watcher.cancel()

    # ---- incoming side --------------------------------------------------------------------

    def _may_admit(self, peer_id: int, meta: dict[str, str]) -> bool:
        """At the hello, before any proof: would admission take this unknown id? A no is
        said at once, so a removed node's dialer backs off instead of redialling."""
        return self._admission is not None and self._admission(peer_id, meta) is not None

    def _tell_meta(self, peer_id: int, meta: dict[str, str]) -> None:
        if self._on_peer_meta is None:
            return
        try:
            self._on_peer_meta(peer_id, meta)
        except Exception:
            log.exception("node %d: on_peer_meta callback failed", self.node_id)

    async def _serve_inbound(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._inbound_tasks.add(task)
        try:
            await self._inbound(reader, writer)
        except asyncio.CancelledError:
            pass
        finally:
            self._inbound_tasks.discard(task)
            self._close_writer(writer)

    # ---- admission of unauthenticated connections ----------------------------------------

    def _admit(self, task: asyncio.Task[Any], addr: Any, writer: asyncio.StreamWriter | None,
               reader: asyncio.StreamReader | None, fd: int) -> None:
        """Take a handshake slot for `task`, evicting an older pending handshake if a bound
        is reached: the newest connection always gets its chance."""
        host = str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)
        if self._pending_per_host.get(host, 0) >= self.max_pending_per_host:
            self._evict(host, addr)
        elif len(self._pending) >= self.max_pending_handshakes:
            self._evict(None, addr)
        heard = reader if isinstance(reader, HeardReader) else None
        self._pending[task] = _Pending(host, writer, heard, fd)
        self._pending_per_host[host] = self._pending_per_host.get(host, 0) + 1

    def _evict(self, host: str | None, addr: Any) -> None:
        # The oldest that has sent nothing, else the oldest without a HELLO, else the
        # oldest: a genuine dialer sends its HELLO at once, so silent sockets go first.
        victim: asyncio.Task[Any] | None = None
        unproven: asyncio.Task[Any] | None = None
        for t, cand in self._pending.items():
            if host is not None and cand.host != host:
                continue
            if not cand.spoke():
                victim = t
                break
            if unproven is None and not cand.hello:
                unproven = t
            if victim is None:
                victim = t
        else:
            victim = unproven or victim
        if victim is None:
            return
        silent = not self._pending[victim].spoke()
        pend = self._release(victim)
        victim.cancel()
        if pend is not None:
            self._close_writer(pend.writer)
        self.handshakes_evicted += 1
        scope = f"from {host}" if host is not None else "in all"
        self._ratelog.event(
            "evict", logging.WARNING,
            f"node {self.node_id}: too many pending peer handshakes {scope}: dropped "
            f"the oldest{' silent' if silent else ''} one "
            f"(from {pend.host if pend else '?'}) for a new connection from {addr}",
        )

    def _release(self, task: asyncio.Task[Any]) -> _Pending | None:
        pend = self._pending.pop(task, None)
        if pend is not None:
            left = self._pending_per_host[pend.host] - 1
            if left:
                self._pending_per_host[pend.host] = left
            else:
                del self._pending_per_host[pend.host]
        return pend

    def _on_hello(self, task: asyncio.Task[Any]) -> None:
        pend = self._pending.get(task)
        if pend is not None:
            pend.hello = True

    def _accept_tls(self, sock: socket.socket, addr: Any) -> None:
        asyncio.get_running_loop().create_task(self._serve_tls(sock, addr))

    async def _serve_tls(self, sock: socket.socket, addr: Any) -> None:
        assert self._tls is not None
        if self._closing:
            sock.close()
            return
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        writer: asyncio.StreamWriter | None = None
        # (Registered once running: a task cancelled before its first step would never
        # run its finally, and the socket would stay open.)
        self._inbound_tasks.add(task)
        # The slot is taken before the TLS handshake: silent TLS connections are evicted
        # like silent plain ones.
        self._admit(task, addr, None, None, sock.fileno())
        try:
            reader = HeardReader(limit=READ_CHUNK, loop=loop)
            # (kept here: uvloop returns its TLS protocol, not this one)
            protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
            try:
                transport, _ = await loop.connect_accepted_socket(
                    lambda: protocol, sock, ssl=self._tls.server,
                    ssl_handshake_timeout=self.handshake_timeout,
                    ssl_shutdown_timeout=self.handshake_timeout)
            except (OSError, ssl.SSLError) as exc:  # the loop has closed the socket
                self._release(task)
                # (a certificate not signed by the cluster CA, plain bytes, a timeout)
                self._ratelog.event("refused:tls", logging.WARNING, f"node {self.node_id}: "
                                    f"peer TLS handshake from {addr} refused: {_describe(exc)}")
                return
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            pend = self._pending.get(task)
            if pend is not None:
                pend.writer = writer
                pend.reader = reader
            await self._inbound(reader, writer, admitted=True)
        except asyncio.CancelledError:
            pass
        finally:
            self._release(task)
            self._inbound_tasks.discard(task)
            self._close_writer(writer)

    async def _inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       admitted: bool = False) -> None:
        addr = writer.get_extra_info("peername")
        if self._closing:
            return
        task = asyncio.current_task()
        assert task is not None
        if not admitted:
            sock = writer.get_extra_info("socket")
            self._admit(task, addr, writer, reader, sock.fileno() if sock is not None else -1)
        try:
            session = await accept_handshake(
                reader, writer, self.node_id, self._secret, self._meta,
                self._peers.__contains__, self.handshake_timeout,
                step_timeout=self.step_timeout, on_hello=lambda _pid: self._on_hello(task),
                may_admit=self._may_admit,
            )
        except (HandshakeError, TimeoutError) as exc:
            reason = "handshake timed out" if isinstance(exc, TimeoutError) else str(exc)
            # Anyone can provoke these, so each kind is rate-limited. A bare connect-and-close
            # (port probe, a peer stopping mid-dial) or a silent socket is no attack by itself.
            if reason == "connection closed during hello" or "timed out" in reason:
                key, level = "refused:quiet", logging.INFO
            elif "authenticat" in reason:
                key, level = "refused:auth", logging.WARNING
            else:
                key, level = "refused:protocol", logging.WARNING
            self._ratelog.event(key, level, f"node {self.node_id}: peer handshake from {addr} "
                                f"refused: {reason}")
            return
        except (ConnectionError, OSError) as exc:
            self._ratelog.event("refused:lost", logging.INFO, f"node {self.node_id}: peer "
                                f"connection from {addr} lost in handshake: {_describe(exc)}")
            return
        finally:
            self._release(task)
        with contextlib.suppress(Exception):
            await writer.drain()

        peer_id = session.peer_id
        p = self._peers.get(peer_id)
        if p is None and self._admission is not None and not self._closing:
            dial = self._admission(peer_id, session.peer_meta)
            if dial is None:
                self._ratelog.event("refused:unknown", logging.WARNING,
                                    f"node {self.node_id}: authenticated peer {peer_id} from "
                                    f"{addr} not admitted (removed, or no address given)")
                return
            if dial[0] in ("", "0.0.0.0", "::") and isinstance(addr, tuple):
                dial = (str(addr[0]), dial[1])  # it listens everywhere: where it came from
            self.set_peer(peer_id, *dial)
            self._ratelog.event(f"admit:{peer_id}", logging.INFO,
                                f"node {self.node_id}: admitted peer {peer_id} at "
                                f"{dial[0]}:{dial[1]}, new to this node")
            p = self._peers.get(peer_id)
        if p is None or self._closing:  # removed while we were shaking hands
            return
        if p.inbound is not None and p.inbound is not writer:
            # The newer connection wins: the peer restarted or lost the old one.
            self._close_writer(p.inbound)
        p.inbound = writer
        self._tell_meta(peer_id, session.peer_meta)
        self._ratelog.event(f"in:{peer_id}", logging.INFO,
                            f"node {self.node_id}: peer {peer_id} connected in from {addr}")
        try:
            await self._receive(p, reader, addr, session)
        finally:
            if p.inbound is writer:
                p.inbound = None

    async def _receive(self, p: _Peer, reader: asyncio.StreamReader, addr: Any,
                       session: Session) -> None:
        opener = session.opener(self.max_frame)
        on_message = self._on_message
        me = self.node_id
        pid = p.id
        while True:
            try:
                data = await reader.read(READ_CHUNK)
            except (ConnectionError, OSError) as exc:
                self._ratelog.event(f"inlost:{pid}", logging.INFO, f"node {me}: inbound "
                                    f"from peer {pid} ({addr}) lost: {_describe(exc)}")
                return
            if not data:
                return
            p.bytes_received += len(data)
            try:
                batch = opener.feed(data)
            except FrameError as exc:
                self._bad_record(p, addr, exc)
                return
            for raw in batch:
                try:
                    msg = decode(raw)
                except CodecError as exc:
                    self._ratelog.event(f"inbound:{pid}", logging.WARNING,
                                        f"node {me}: closing inbound from peer {pid} ({addr}): "
                                        f"undecodable message: {exc}")
                    return
                if msg.src != pid or msg.dst != me:
                    p.rejected += 1
                    continue
                p.received += 1
                try:
                    on_message(msg)
                except Exception:
                    log.exception("node %d: on_message failed for %s from peer %d", me,
                                  type(msg).__name__, pid)
            if opener.error is not None:
                # The records before the bad one were authentic and are delivered; nothing
                # of it, or after it, is.
                self._bad_record(p, addr, opener.error)
                return

    def _bad_record(self, p: _Peer, addr: Any, exc: FrameError) -> None:
        if isinstance(exc, AuthError):
            p.auth_failures += 1
        self._ratelog.event(f"inbound:{p.id}", logging.WARNING,
                            f"node {self.node_id}: closing inbound from peer {p.id} ({addr}): "
                            f"{exc}")


async def _open_resolved(host: str, port: int, **kw: Any) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    """open_connection to the first of `host`'s addresses that answers. The name is
    resolved here rather than inside open_connection: uvloop's create_connection, when
    cancelled (a dial timing out, a node stopping) while it resolves, leaves the
    resolver's failure in a future no one reads ("Future exception was never
    retrieved ... gaierror"); getaddrinfo on its own is cancelled cleanly."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                          type=socket.SOCK_STREAM)
    last: OSError = OSError(f"no address for {host}")
    for family, _, _, _, sockaddr in infos:
        try:
            return await asyncio.open_connection(sockaddr[0], sockaddr[1], family=family, **kw)
        except OSError as exc:
            last = exc
    raise last
