"""RespProtocol's backlog against a scripted transport: whatever the split of the
input and wherever the output fills and drains, every reply comes out once, in
order, the output never grows past its high-water mark by more than a chunk and a
reply, and reading is paused exactly while something holds it."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftredis.server.local_backend import LocalBackend
from raftredis.server.protocol import WRITE_CHUNK, RespProtocol
from raftredis.server.resp_server import RespServer


class ScriptedTransport:
    """Keeps what is written until drain(); pauses the protocol above `high`."""

    def __init__(self, high: int) -> None:
        self.high = high
        self.buffered = bytearray()
        self.sent = bytearray()
        self.protocol: RespProtocol | None = None
        self.paused = False
        self.reading = True
        self.closed = False
        self.peak = 0

    # -- the asyncio.Transport surface RespProtocol uses --
    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 1)

    def write(self, data: bytes) -> None:
        self.buffered += data
        self.peak = max(self.peak, len(self.buffered))
        if not self.paused and len(self.buffered) > self.high:
            self.paused = True
            self.protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        return len(self.buffered)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    # -- the test's side --
    def drain(self) -> None:
        self.sent += self.buffered
        self.buffered.clear()
        if self.paused:
            self.paused = False
            self.protocol.resume_writing()


def echo(i: int, size: int) -> tuple[bytes, bytes]:
    arg = b"%06d" % i + b"x" * size
    return (b"*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n" % (len(arg), arg),
            b"$%d\r\n%s\r\n" % (len(arg), arg))


def connect(high: int) -> tuple[RespProtocol, ScriptedTransport]:
    srv = RespServer(LocalBackend())
    proto = RespProtocol(srv.state, srv.dispatcher, lambda: srv._limits)  # noqa: SLF001
    t = ScriptedTransport(high)
    t.protocol = proto
    proto.connection_made(t)  # type: ignore[arg-type]
    return proto, t


def test_a_long_pipeline_stops_dispatching_once_the_output_is_full() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        proto, t = connect(1024)
        pairs = [echo(i, 100) for i in range(5000)]
        proto.data_received(b"".join(p for p, _ in pairs))  # one read, 600 KB
        assert t.paused and not t.reading
        assert proto.pending_replies() <= 256  # the rest waits in the backlog, not dispatched
        assert len(t.buffered) <= 1024 + WRITE_CHUNK
        while t.paused:
            t.drain()
        assert bytes(t.sent) == b"".join(r for _, r in pairs) and t.reading
    finally:
        loop.close()
        asyncio.set_event_loop(None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.sampled_from([0, 10, 300, 5000, 40000]), min_size=1, max_size=1200),
    cuts=st.lists(st.integers(min_value=1, max_value=200_000), min_size=1, max_size=10),
    drains=st.lists(st.booleans(), min_size=1, max_size=10),
    high=st.sampled_from([1024, 64 * 1024, 1 << 20]),
)
def test_replies_complete_in_order_whatever_the_output_does(
        sizes: list[int], cuts: list[int], drains: list[bool], high: int) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        proto, t = connect(high)
        pairs = [echo(i, n) for i, n in enumerate(sizes)]
        stream = b"".join(p for p, _ in pairs)
        want = b"".join(r for _, r in pairs)
        i = k = 0
        biggest = max(len(r) for _, r in pairs)
        while i < len(stream):
            if t.reading:
                n = cuts[k % len(cuts)]
                proto.data_received(stream[i : i + n])
                i += n
            if drains[k % len(drains)] or not t.reading:
                t.drain()
            k += 1
            assert len(t.buffered) <= high + WRITE_CHUNK + biggest
            # Dispatching stops within a flush interval (256 commands) of a full output.
            assert proto.pending_replies() <= 2 * 256
            # Never reading while the output is full or commands wait for it.
            assert not t.reading or (not t.paused and proto._backlog is None)  # noqa: SLF001
        for _ in range(len(pairs) + 2):
            t.drain()
        assert bytes(t.sent) == want
        assert proto._backlog is None and t.reading  # noqa: SLF001
        assert t.peak <= high + WRITE_CHUNK + biggest
    finally:
        loop.close()
        asyncio.set_event_loop(None)
