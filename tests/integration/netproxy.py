"""In-test TCP proxies that make network partitions between real node processes.

No root, no network namespaces: each directed link i -> j is one listening socket on
127.0.0.1 that forwards to j's real peer port, and node i is told (in `--peers`) that
j lives at that proxy. A raftredis node sends only on the connection it dialled and
receives only on connections peers dialled to it, so the proxy for i -> j carries
exactly what i says to j (plus the handshake reply), and cutting it silences i -> j
and nothing else.

A link is in one of three states:

- OPEN: bytes flow both ways.
- REFUSE: every connection is aborted (RST) and new ones are accepted and aborted at
  once, like a peer that resets — the dialer sees the failure quickly.
- BLACKHOLE: connections stay up but every byte is read and dropped, and new ones
  are accepted and never forwarded — like packets lost with no error, the dialer
  learns nothing until its own timeouts fire.

Leaving REFUSE or BLACKHOLE for OPEN aborts the link's connections: a stream that lost
bytes in the middle of a frame must not resume as if nothing happened (TCP never
delivers a stream with a hole), so the dialer reconnects.

A link may also carry a tamper function (`set_tamper`), called on the proxy's thread
with every chunk an OPEN link forwards: (connection number, "fwd" for src -> dst or
"back", bytes) -> the bytes to forward instead. `FrameTap` is one that cuts each stream
into the length-prefixed frames raftredis peers exchange and lets a test read, change,
drop, repeat or add whole frames: a man in the middle.

All sockets live on one asyncio loop in a daemon thread. The public methods are called
from the test thread, block until the loop has carried out the change (bounded by
OP_TIMEOUT), and after `set_state` returns no further byte of that link is forwarded.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

# (connection number on its link, "fwd" | "back", bytes) -> the bytes to forward.
Tamper = Callable[[int, str, bytes], bytes]

OPEN = "open"
REFUSE = "refuse"
BLACKHOLE = "blackhole"
STATES = (OPEN, REFUSE, BLACKHOLE)

OP_TIMEOUT = 5.0  # any call into the loop thread finishes within this or raises
CONNECT_TIMEOUT = 2.0  # dialling the real target
READ_CHUNK = 64 << 10
MAX_CONNS_PER_LINK = 64  # a dialer retrying in a loop cannot pile up sockets


def _abort(writer: asyncio.StreamWriter | None) -> None:
    """Close with RST (SO_LINGER 0): the other side sees a reset, not a polite EOF."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        writer.transport.abort()


@dataclass(eq=False)
class _Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    number: int = 0  # 1 for the link's first accepted connection, and so on

    def abort(self) -> None:
        _abort(self.client)
        _abort(self.upstream)
        for t in self.tasks:
            t.cancel()


@dataclass(eq=False)
class Link:
    """One directed link: what `src` sends to `dst` goes through `port`."""

    src: int
    dst: int
    port: int
    target: tuple[str, int]
    state: str = OPEN
    tamper: Tamper | None = None
    server: asyncio.Server | None = None
    conns: set[_Conn] = field(default_factory=set)
    # Counters, read by tests and printed in failure reports.
    accepted: int = 0
    refused: int = 0
    forwarded: int = 0  # bytes
    dropped: int = 0  # bytes read and thrown away in BLACKHOLE

    def describe(self) -> str:
        return (f"{self.src}->{self.dst} {self.state} conns={len(self.conns)} "
                f"accepted={self.accepted} refused={self.refused} "
                f"fwd={self.forwarded}B dropped={self.dropped}B")


class NetProxy:
    """A set of directed links, run on a private event loop in a background thread."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.links: dict[tuple[int, int], Link] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="netproxy", daemon=True)
        self._started = False
        self._stopped = False

    # ---- lifecycle (test thread) ----------------------------------------------------------

    def start(self) -> NetProxy:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def stop(self) -> None:
        """Abort every connection, close every listener, end the thread (bounded)."""
        if not self._started or self._stopped:
            return
        with contextlib.suppress(Exception):
            self._call(self._close_all())
        self._stopped = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=OP_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if not self._started or self._stopped:
            coro.close()
            raise RuntimeError("the proxy is not running")
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout=OP_TIMEOUT)
        except TimeoutError:
            fut.cancel()
            raise

    # ---- the API (test thread) ------------------------------------------------------------

    def add_link(self, src: int, dst: int, target: tuple[str, int]) -> int:
        """Listen for src -> dst traffic on a fresh port (bound here, so no race for it)
        and forward it to `target`. Returns the port to give src as dst's address."""
        if (src, dst) in self.links:
            raise ValueError(f"link {src}->{dst} exists")
        return self._call(self._add_link(src, dst, target))

    def set_state(self, src: int, dst: int, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}, not {state!r}")
        self._call(self._set_state(self.links[(src, dst)], state))

    def set_states(self, changes: dict[tuple[int, int], str]) -> None:
        """Several links at once, in one step of the loop: a partition has no moment where
        half of it is in place."""
        for key, state in changes.items():
            if state not in STATES:
                raise ValueError(f"state must be one of {STATES}, not {state!r}")
            if key not in self.links:
                raise KeyError(f"no link {key[0]}->{key[1]}")
        self._call(self._set_many(changes))

    def heal_all(self) -> None:
        self.set_states({key: OPEN for key in self.links})

    def set_tamper(self, src: int, dst: int, fn: Tamper | None) -> None:
        """Pass every chunk of link src -> dst (both ways) through `fn`; None: stop."""
        self._call(self._set_tamper(self.links[(src, dst)], fn))

    def state(self, src: int, dst: int) -> str:
        return self.links[(src, dst)].state

    def describe(self) -> str:
        return "\n".join(link.describe() for link in self.links.values())

    # ---- loop side ------------------------------------------------------------------------

    async def _add_link(self, src: int, dst: int, target: tuple[str, int]) -> int:
        link = Link(src, dst, 0, target)

        async def on_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(link, reader, writer)

        link.server = await asyncio.start_server(on_accept, self.host, 0)
        link.port = link.server.sockets[0].getsockname()[1]
        self.links[(src, dst)] = link
        return link.port

    async def _set_state(self, link: Link, state: str) -> None:
        old, link.state = link.state, state
        # A black hole keeps the streams up (the sender must notice nothing); any other
        # change starts them afresh: REFUSE resets them, and leaving a black hole must not
        # resume a stream with a hole in it (see the module notes).
        if old != state and not (old == OPEN and state == BLACKHOLE):
            for conn in list(link.conns):
                conn.abort()
            link.conns.clear()

    async def _set_tamper(self, link: Link, fn: Tamper | None) -> None:
        link.tamper = fn

    async def _set_many(self, changes: dict[tuple[int, int], str]) -> None:
        for key, state in changes.items():
            await self._set_state(self.links[key], state)

    async def _close_all(self) -> None:
        for link in self.links.values():
            for conn in list(link.conns):
                conn.abort()
            link.conns.clear()
            if link.server is not None:
                link.server.close()
        # Every connection task ends here, so none is left pending on a closed loop.
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        for link in self.links.values():
            if link.server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(link.server.wait_closed(), 1.0)

    async def _serve(self, link: Link, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        link.accepted += 1
        if link.state == REFUSE or len(link.conns) >= MAX_CONNS_PER_LINK:
            link.refused += 1
            _abort(writer)
            return
        conn = _Conn(writer, number=link.accepted)
        link.conns.add(conn)
        try:
            if link.state == BLACKHOLE:
                await self._drop(link, reader)  # never dial the target
                return
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    up_reader, up_writer = await asyncio.open_connection(*link.target)
            except (OSError, TimeoutError):
                return  # target down: the dialer sees a closed connection, as it would
            if conn not in link.conns:  # cut while we were dialling
                _abort(up_writer)
                return
            conn.upstream = up_writer
            forward = asyncio.create_task(self._pipe(link, conn, reader, up_writer, "fwd"))
            backward = asyncio.create_task(self._pipe(link, conn, up_reader, writer, "back"))
            conn.tasks += [forward, backward]
            # Either direction ending (EOF, reset, abort) ends the whole connection.
            await asyncio.wait(conn.tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass
        finally:
            link.conns.discard(conn)
            conn.abort()

    async def _pipe(self, link: Link, conn: _Conn, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter, direction: str = "fwd") -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                data = await reader.read(READ_CHUNK)
                if not data:
                    return
                if link.state != OPEN or conn not in link.conns:
                    link.dropped += len(data)
                    continue
                if link.tamper is not None:
                    data = link.tamper(conn.number, direction, data)
                    if not data:
                        continue
                link.forwarded += len(data)
                writer.write(data)
                await writer.drain()

    async def _drop(self, link: Link, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(READ_CHUNK):
                link.dropped += len(data)


# (connection number, "fwd" | "back", index of the frame in that stream, the whole frame
# with its 4-byte length) -> the frames to send in its place (None: the frame itself).
OnFrame = Callable[[int, str, int, bytes], "list[bytes] | None"]


class FrameTap:
    """A tamper function that works in whole frames (4-byte big-endian length, then the
    body), the unit of everything raftredis peers send, handshake included. It keeps a
    copy of every byte it saw (`seen`) and hands each frame to `on_frame`, if given.
    Called on the proxy thread; `seen` and `frames` may be read from the test thread."""

    def __init__(self, on_frame: OnFrame | None = None) -> None:
        self.on_frame = on_frame
        self.seen = bytearray()
        self.frames: dict[tuple[int, str], list[bytes]] = {}  # as received, per stream
        self._bufs: dict[tuple[int, str], bytearray] = {}
        self._lock = threading.Lock()

    def __call__(self, conn: int, direction: str, data: bytes) -> bytes:
        with self._lock:
            self.seen += data
            buf = self._bufs.setdefault((conn, direction), bytearray())
            buf += data
            got = self.frames.setdefault((conn, direction), [])
            out: list[bytes] = []
            while len(buf) >= 4:
                end = 4 + int.from_bytes(buf[:4], "big")
                if len(buf) < end:
                    break
                fr = bytes(buf[:end])
                del buf[:end]
                got.append(fr)
                emit = None if self.on_frame is None else self.on_frame(conn, direction,
                                                                        len(got) - 1, fr)
                out.extend([fr] if emit is None else emit)
            return b"".join(out)

    def captured(self) -> bytes:
        with self._lock:
            return bytes(self.seen)
