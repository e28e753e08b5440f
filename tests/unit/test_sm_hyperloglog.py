"""HyperLogLog (PFADD, PFCOUNT, PFMERGE) compared byte for byte with a real redis-server:
the counts, the stored bytes (sparse, and dense after promotion), the errors."""

from __future__ import annotations

import pytest

from raftredis.statemachine.hyperloglog import murmur64a, pattern
from tests.unit.sm_redis import Ref, cases, redis_ref

ref = redis_ref()


def adds(key: str, start: int, stop: int, per: int = 200) -> list[tuple]:
    return [("PFADD", key, *[f"e{i}" for i in range(lo, min(lo + per, stop))])
            for lo in range(start, stop, per)]


CASES = [
    [("PFADD", "h", "a", "b", "c"), ("GET", "h"), ("PFCOUNT", "h"), ("PFADD", "h", "a"),
     ("PFADD", "h"), ("PFADD", "new"), ("GET", "new"), ("PFCOUNT", "new"), ("PFCOUNT", "nokey"),
     ("PFCOUNT", "h", "new", "nokey"), ("TYPE", "h"), ("STRLEN", "h")],
    [("PFADD", "a", "1", "2", "3"), ("PFADD", "b", "3", "4"), ("PFMERGE", "c", "a", "b"),
     ("GET", "c"), ("PFCOUNT", "c"), ("PFMERGE", "a", "b"), ("GET", "a"),
     ("PFMERGE", "d"), ("GET", "d"), ("PFMERGE", "e", "nokey"), ("EXISTS", "e"),
     ("SET", "x", "1"), ("EXPIRE", "x", "100"), ("DEL", "x"), ("PFADD", "t", "v"),
     ("EXPIRE", "t", "100"), ("PFADD", "t", "w"), ("TTL", "t"), ("PFMERGE", "t", "a"),
     ("TTL", "t")],
    # errors
    [("SET", "s", "not an hll"), ("PFADD", "s", "a"), ("PFCOUNT", "s"), ("PFMERGE", "d", "s"),
     ("PFMERGE", "s", "nokey"), ("LPUSH", "l", "x"), ("PFADD", "l", "a"), ("PFCOUNT", "l"),
     ("PFCOUNT", "nokey", "l"), ("PFMERGE", "l"), ("SET", "short", "HYLL"),
     ("PFCOUNT", "short"), ("SET", "dense", b"HYLL\x00" + bytes(11) + bytes(100)),
     ("PFADD", "dense", "x"), ("SET", "badenc", b"HYLL\x02" + bytes(11)), ("PFCOUNT", "badenc"),
     # a sparse HLL whose runs cover only 100 registers is corrupt
     ("SET", "corrupt", b"HYLL\x01" + bytes(11) + bytes([0x40, 99])),
     ("PFCOUNT", "corrupt"), ("PFADD", "corrupt", *[f"x{i}" for i in range(40)]),
     ("PFMERGE", "d", "corrupt"), ("PFCOUNT", "h", "corrupt")],
    # a cached cardinality in the header is answered as is
    [("SET", "c", b"HYLL\x01\x00\x00\x00\x2a\x00\x00\x00\x00\x00\x00\x00\x7f\xff"),
     ("PFCOUNT", "c"), ("PFCOUNT", "c", "nokey"),
     ("SET", "i", b"HYLL\x01\x00\x00\x00\x2a\x00\x00\x00\x00\x00\x00\x80\x7f\xff"),
     ("PFCOUNT", "i")],
]


@pytest.mark.parametrize("case", cases(CASES))
def test_hll_like_redis(ref: Ref, case: list) -> None:
    ref.check(case)


@pytest.mark.parametrize("n", [50, 700, 3000, 20000])
def test_counts_and_bytes_like_redis(ref: Ref, n: int) -> None:
    """Sparse updates, promotion to dense, then dense updates: same bytes, same counts."""
    cmds = adds("h", 0, n) + [("GET", "h"), ("PFCOUNT", "h"), ("STRLEN", "h")]
    ref.check(cmds, resps=(2,))


def test_merge_sparse_and_dense_like_redis(ref: Ref) -> None:
    cmds = (adds("small", 0, 300) + adds("other", 200, 500) + adds("big", 1000, 9000)
            + [("PFMERGE", "m1", "small", "other"), ("GET", "m1"), ("PFCOUNT", "m1"),
               ("PFMERGE", "m2", "small", "big"), ("GET", "m2"), ("PFCOUNT", "m2"),
               ("PFMERGE", "small", "other"), ("GET", "small"),
               ("PFCOUNT", "small", "other", "big"), ("PFMERGE", "big", "m1"), ("GET", "big")])
    ref.check(cmds, resps=(2,))


def test_register_pattern() -> None:
    # (the hash itself is checked by the byte-for-byte comparisons above)
    assert murmur64a(b"abc") != murmur64a(b"abd")
    index, count = pattern(b"hello")
    assert 0 <= index < 16384 and 1 <= count <= 51
    assert pattern(b"hello") == (index, count)  # deterministic everywhere
