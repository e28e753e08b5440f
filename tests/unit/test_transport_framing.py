"""Length-prefixed framing: partial input, many frames per read, and limits enforced early."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftredis.transport.framing import DEFAULT_MAX_FRAME, FrameDecoder, FrameError, frame


def test_default_limit_is_64_mb() -> None:
    assert DEFAULT_MAX_FRAME == 64 << 20


def test_one_byte_at_a_time_yields_nothing_until_the_last_byte() -> None:
    payloads = [b"a", b"hello world", bytes(range(256)) * 3]
    wire = b"".join(frame(p) for p in payloads)
    dec = FrameDecoder()
    got: list[bytes] = []
    ends = set()
    total = 0
    for p in payloads:
        total += 4 + len(p)
        ends.add(total)
    for i in range(len(wire)):
        out = dec.feed(wire[i : i + 1])
        if i + 1 in ends:
            assert len(out) == 1
        else:
            assert out == []
        got += out
    assert got == payloads
    assert dec.buffered == 0


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=20), st.data())
@settings(max_examples=300)
def test_any_split_of_the_stream_gives_the_same_frames(payloads, data) -> None:
    wire = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    dec = FrameDecoder(1000)
    got: list[bytes] = []
    prev = 0
    for c in [*cuts, len(wire)]:
        got += dec.feed(wire[prev:c])
        prev = c
    assert got == payloads


def test_length_over_limit_fails_on_the_header_before_the_body_arrives() -> None:
    dec = FrameDecoder(max_frame=100)
    assert dec.feed(frame(b"x" * 100, 100)) == [b"x" * 100]
    with pytest.raises(FrameError, match="101"):
        dec.feed(struct.pack(">I", 101))  # only the header: no body was sent at all
    assert dec.buffered == 0


def test_huge_length_does_not_allocate() -> None:
    dec = FrameDecoder()
    with pytest.raises(FrameError):
        dec.feed(b"\xff\xff\xff\xff" + b"x" * 10)
    assert dec.buffered == 0


def test_zero_length_frame_is_an_error() -> None:
    with pytest.raises(FrameError):
        FrameDecoder().feed(b"\x00\x00\x00\x00")
    with pytest.raises(FrameError):
        frame(b"")


def test_frame_refuses_payload_over_limit() -> None:
    with pytest.raises(FrameError):
        frame(b"x" * 11, max_frame=10)
    assert frame(b"x" * 10, max_frame=10) == b"\x00\x00\x00\x0a" + b"x" * 10


def test_bad_limits_are_rejected() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(0)
    with pytest.raises(ValueError):
        FrameDecoder(1 << 32)


def test_frames_after_a_partial_body_keep_their_order() -> None:
    dec = FrameDecoder()
    wire = frame(b"first") + frame(b"second") + frame(b"third")
    assert dec.feed(wire[:12]) == [b"first"]
    assert dec.feed(wire[12:]) == [b"second", b"third"]
