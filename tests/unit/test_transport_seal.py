"""Sealed records: round trips under any split, and every kind of tampering detected."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftredis.transport.framing import FrameError
from raftredis.transport.seal import (
    TAG_LEN,
    AuthError,
    Opener,
    Sealer,
    derive_keys,
    transcript_hash,
)

KEY = bytes(range(32))


def pair(max_message: int = 1000) -> tuple[Sealer, Opener]:
    return Sealer(KEY), Opener(KEY, max_message)


def opened(op: Opener, data: bytes) -> list[bytes]:
    return [bytes(m) for m in op.feed(data)]


def test_many_messages_in_records_come_out_in_order() -> None:
    s, o = pair()
    batches = [[b"a"], [b"bb", b"ccc"], [bytes(range(256)) * 3]]
    wire = b"".join(s.seal_messages(b) for b in batches)
    assert opened(o, wire) == [m for b in batches for m in b]
    assert o.buffered == 0 and o.counter == s.counter == 3


def test_one_byte_at_a_time_yields_nothing_until_the_last_byte_of_a_record() -> None:
    s, o = pair()
    records = [s.seal_messages([b"first", b"second"]), s.seal_messages([b"third"])]
    wire = b"".join(records)
    ends = {len(records[0]), len(wire)}
    got: list[bytes] = []
    for i in range(len(wire)):
        out = opened(o, wire[i : i + 1])
        assert bool(out) == (i + 1 in ends)
        got += out
    assert got == [b"first", b"second", b"third"]


@given(st.lists(st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=5),
                max_size=8), st.data())
@settings(max_examples=200)
def test_any_split_of_the_stream_gives_the_same_messages(batches, data) -> None:
    s, o = pair()
    wire = b"".join(s.seal_messages(b) for b in batches)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    got: list[bytes] = []
    prev = 0
    for c in [*cuts, len(wire)]:
        got += opened(o, wire[prev:c])
        prev = c
    assert got == [m for b in batches for m in b]


def test_the_plaintext_is_not_on_the_wire() -> None:
    s, _ = pair()
    value = b"a-stored-value-nobody-may-read"
    assert value not in s.seal_messages([b"SET k " + value])


def test_flipping_any_bit_of_any_byte_delivers_nothing() -> None:
    s, _ = pair()
    first = s.seal_messages([b"x" * 40])
    wire = first + s.seal_messages([b"y" * 30, b"z"])
    headers = set(range(4)) | set(range(len(first), len(first) + 4))
    for pos in range(len(wire)):
        for bit in (0x01, 0x80):
            bad = bytearray(wire)
            bad[pos] ^= bit
            o = Opener(KEY, 1000)
            try:
                got = [bytes(m) for m in o.feed(bytes(bad))]
            except FrameError:
                continue  # AuthError, or a length outside the limits
            # Only the untouched first record may come out: with the error noted when the
            # second is bad, or waiting for bytes that never come when a length grew.
            assert got == ([] if pos < len(first) else [b"x" * 40]), pos
            if o.error is None:
                assert pos in headers, f"flip at {pos} went unnoticed"
            else:
                with pytest.raises(FrameError):
                    o.feed(b"")


def test_replayed_reordered_dropped_and_forged_records_fail() -> None:
    s, _ = pair()
    r0, r1, r2 = (s.seal_messages([m]) for m in (b"zero", b"one", b"two"))
    o = Opener(KEY, 1000)
    assert opened(o, r0) == [b"zero"]
    with pytest.raises(AuthError):  # replay
        o.feed(r0)
    o = Opener(KEY, 1000)
    with pytest.raises(AuthError):  # reordered
        o.feed(r1 + r0)
    o = Opener(KEY, 1000)
    assert opened(o, r0) == [b"zero"]
    with pytest.raises(AuthError):  # r1 dropped, r2 arrives in its place
        o.feed(r2)
    o = Opener(KEY, 1000)
    with pytest.raises(AuthError):  # sealed with another key
        o.feed(Sealer(os.urandom(32)).seal_messages([b"forged"]))


def test_a_failed_opener_stays_failed() -> None:
    s, o = pair()
    good = s.seal_messages([b"ok"])
    with pytest.raises(AuthError):
        o.feed(b"\x00\x00\x00\x20" + b"\x00" * 32)
    with pytest.raises(AuthError):
        o.feed(good)


def test_the_length_is_checked_before_the_body_arrives() -> None:
    o = Opener(KEY, max_message=100)
    with pytest.raises(FrameError, match="record length"):
        o.feed(struct.pack(">I", 100 + 4 + TAG_LEN + 1))  # the header alone
    assert o.buffered == 0
    with pytest.raises(FrameError):
        Opener(KEY, 100).feed(b"\xff\xff\xff\xff" + b"x" * 10)
    with pytest.raises(FrameError):  # no room even for the tag
        Opener(KEY, 100).feed(struct.pack(">I", TAG_LEN) + b"x" * TAG_LEN)


def test_a_message_at_the_limit_fits_one_over_does_not() -> None:
    s, o = pair(max_message=100)
    assert opened(o, s.seal_messages([b"m" * 100])) == [b"m" * 100]
    s, o = pair(max_message=100)
    with pytest.raises(FrameError):
        o.feed(s.seal_messages([b"m" * 101]))


def test_bad_inner_framing_of_an_authentic_record_is_a_frame_error() -> None:
    for plain in (b"\x00\x00\x00\x05abc", b"\x00\x00\x00\x00", b"\x00\x01"):
        s, o = pair()
        with pytest.raises(FrameError) as info:
            o.feed(s.seal(plain))
        assert not isinstance(info.value, AuthError)


def _keys(**change: object) -> tuple[bytes, bytes]:
    args: dict[str, object] = dict(
        secret=b"s" * 16, protocol="raftredis-peer/2", dialer_id=1, acceptor_id=2,
        dialer_nonce=b"d" * 32, acceptor_nonce=b"a" * 32, hello=b"hello", body=b"body",
    )
    args.update(change)
    return derive_keys(**args)  # type: ignore[arg-type]


def test_keys_depend_on_every_input_and_differ_per_direction() -> None:
    base = _keys()
    assert base[0] != base[1] and all(len(k) == 32 for k in base)
    variants = [
        _keys(secret=b"t" * 16), _keys(protocol="raftredis-peer/3"),
        _keys(dialer_id=2, acceptor_id=1),  # roles swapped
        _keys(dialer_id=3), _keys(dialer_nonce=b"e" * 32), _keys(acceptor_nonce=b"b" * 32),
        _keys(hello=b"hellO"), _keys(body=b"bodY"),
        _keys(hello=b"hellob", body=b"ody"),  # a byte moved from one message to the other
    ]
    keys = {k for v in variants for k in v} | set(base)
    assert len(keys) == 2 * (len(variants) + 1)


def test_transcript_hash_separates_the_messages() -> None:
    assert transcript_hash(b"ab", b"c") != transcript_hash(b"a", b"bc")
