"""Redis payload codec (DUMP/RESTORE): CRC64 vector, round trips of every written type,
the encodings Redis writes that we only read, and malformed input refused cleanly."""

from __future__ import annotations

import contextlib
import random
import struct

import pytest

from raftredis.statemachine import rdbcodec as rc


def _payload(body: bytes, version: int = 10) -> bytes:
    body += struct.pack("<H", version)
    return body + struct.pack("<Q", rc.crc64(body))


def test_crc64_jones_check_value():
    assert rc.crc64(b"123456789") == 0xE9C6D914C4B8D9CA


@pytest.mark.parametrize(("kind", "plain"), [
    ("string", b""), ("string", b"hello"), ("string", bytes(range(256)) * 70),
    ("list", [b"a", b"", b"x" * 5000] + [str(i).encode() for i in range(300)]),
    ("set", [b"1", b"two", b"x" * 70]),
    ("hash", [b"f", b"v", b"n", b"1" * 20000]),
    ("zset", [b"m", 1.5, b"n", -2.0, b"inf", float("inf")]),
])
def test_round_trip(kind, plain):
    blob = rc.encode(kind, plain)
    assert rc.verify(blob)
    assert rc.decode(blob) == (kind, plain)


def test_reads_what_redis_writes_besides():
    intset = struct.pack("<II", 2, 3) + struct.pack("<hhh", 1, -2, 300)
    assert rc.decode(_payload(b"\x0b" + bytes([len(intset)]) + intset)) == (
        "set", [b"1", b"-2", b"300"])
    lp = rc.listpack([b"f", b"v"])
    assert rc.decode(_payload(b"\x10" + bytes([len(lp)]) + lp)) == ("hash", [b"f", b"v"])
    # integer-encoded strings
    assert rc.decode(_payload(b"\x00\xc0\x7f")) == ("string", b"127")
    assert rc.decode(_payload(b"\x00\xc1" + struct.pack("<h", -300))) == ("string", b"-300")
    assert rc.decode(_payload(b"\x00\xc2" + struct.pack("<i", 70000))) == ("string", b"70000")


def test_listpack_integer_entries():
    # 7-bit uint, 13-bit int, 16/24/32/64-bit ints, as Redis packs numbers
    entries = [b"\x05\x01", b"\xdf\xff\x02", b"\xf1" + struct.pack("<h", -5) + b"\x03",
               b"\xf2" + (-70000).to_bytes(3, "little", signed=True) + b"\x04",
               b"\xf3" + struct.pack("<i", 1 << 30) + b"\x05",
               b"\xf4" + struct.pack("<q", -(1 << 40)) + b"\x09"]
    body = b"".join(entries)
    blob = struct.pack("<IH", 6 + len(body) + 1, len(entries)) + body + b"\xff"
    assert rc.listpack_items(blob) == [b"5", b"-1", b"-5", b"-70000", str(1 << 30).encode(),
                                       str(-(1 << 40)).encode()]


def test_lzf():
    # literal "abc", then a back reference of length 3 at distance 3: "abcabc"
    assert rc.lzf_decompress(b"\x02abc\x20\x02", 6) == b"abcabc"
    with pytest.raises(rc.BadPayload):
        rc.lzf_decompress(b"\x20\x05", 3)  # reference before the start


def test_verify_and_bad_input():
    good = rc.encode("string", b"hello")
    assert not rc.verify(good[:-1] + bytes([good[-1] ^ 1]))
    assert not rc.verify(_payload(b"\x00\x05hello", version=12))
    assert not rc.verify(b"short")
    samples = {"list": [b"a", b"bb"] * 40, "hash": [b"f", b"v"], "zset": [b"m", 1.0],
               "set": [b"x", b"y"], "string": b"hello" * 9}
    rng = random.Random(7)
    for _ in range(5000):  # random damage: a clean BadPayload, never another exception
        kind = rng.choice(sorted(samples))
        blob = bytearray(rc.encode(kind, samples[kind]))
        blob[rng.randrange(len(blob) - 10)] = rng.randrange(256)
        with contextlib.suppress(rc.BadPayload):
            rc.decode(bytes(blob))
