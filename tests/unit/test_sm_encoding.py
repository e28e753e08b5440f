"""OBJECT ENCODING: Redis's names for the shape a value holds, with Redis's default
thresholds and its one-way conversions. Strings, hashes and sorted sets are compared
with a real redis-server; sets and lists follow Redis 7.2 (listpack sets and lists),
which the 7.0 test server predates, so they are checked here by hand."""

from __future__ import annotations

import io

import pytest

from raftredis.statemachine import StateMachine
from tests.unit.sm_redis import NOW, Ref, cases, redis_ref

ref = redis_ref()

ENC = ("OBJECT", "ENCODING")
LONG = "x" * 65

CASES = [
    [("SET", "s", "abc"), (*ENC, "s"), ("SET", "s", "12345"), (*ENC, "s"),
     ("SET", "s", "x" * 44), (*ENC, "s"), ("SET", "s", "x" * 45), (*ENC, "s"),
     ("SET", "s", "007"), (*ENC, "s"), ("SET", "s", "-9223372036854775808"), (*ENC, "s"),
     ("SET", "s", "9223372036854775808"), (*ENC, "s"), ("INCR", "n"), (*ENC, "n"),
     ("INCRBYFLOAT", "f", "1.5"), (*ENC, "f"), (*ENC, "nokey"), ("OBJECT", "HELP"),
     ("OBJECT", "HELP", "x"), ("OBJECT", "BOGUS", "x"), (*ENC, "s", "x")],
    # strings changed in place are raw, until a new value replaces them
    [("SET", "a", "12"), ("APPEND", "a", "3"), (*ENC, "a"), ("APPEND", "new", "v"), (*ENC, "new"),
     ("SETRANGE", "r", "0", "ab"), (*ENC, "r"), ("SET", "r2", "abc"), ("SETRANGE", "r2", "1", ""),
     (*ENC, "r2"), ("SETRANGE", "r2", "1", "z"), (*ENC, "r2"), ("SETBIT", "b", "1", "1"),
     (*ENC, "b"), ("BITFIELD", "bf", "SET", "u8", "0", "1"), (*ENC, "bf"),
     ("BITOP", "OR", "bo", "a"), (*ENC, "bo"), ("PFADD", "h", "x"), (*ENC, "h"),
     ("PFMERGE", "h2", "h"), (*ENC, "h2"), ("INCR", "a"), (*ENC, "a"), ("APPEND", "a", "x"),
     ("SET", "a", "v"), (*ENC, "a"), ("SETBIT", "c", "0", "1"), ("RENAME", "c", "d"),
     (*ENC, "d"), ("COPY", "d", "e"), (*ENC, "e"), ("GETSET", "e", "v"), (*ENC, "e")],
    # hashes: listpack up to 512 fields of up to 64 bytes, then hashtable for good
    [("HSET", "h", "f", "v"), (*ENC, "h"), ("HSET", "h", "g", LONG), (*ENC, "h"),
     ("HDEL", "h", "g"), (*ENC, "h"), ("HSET", "h2", "f", LONG), ("HSET", "h2", "f", "v"),
     (*ENC, "h2"), ("HSET", "h3", LONG, "v"), ("HDEL", "h3", LONG), ("HSET", "h3", "a", "b"),
     (*ENC, "h3"), ("HSET", "h4", "n", "1"), ("HINCRBY", "h4", "n", "5"), (*ENC, "h4"),
     ("HSET", "big", *[x for i in range(513) for x in (f"f{i}", "v")]), (*ENC, "big"),
     ("HDEL", "big", "f0", "f1"), (*ENC, "big"), ("COPY", "h2", "h5"), (*ENC, "h5"),
     ("HSET", "h6", *[x for i in range(512) for x in (f"f{i}", "v")]), (*ENC, "h6")],
    # sorted sets: listpack up to 128 members of up to 64 bytes, then skiplist for good
    [("ZADD", "z", "1", "a"), (*ENC, "z"), ("ZADD", "z", "2", LONG), (*ENC, "z"),
     ("ZREM", "z", LONG), (*ENC, "z"), ("ZADD", "y", *[x for i in range(129) for x in
                                                      (str(i), f"m{i}")]),
     (*ENC, "y"), ("ZPOPMIN", "y", "5"), (*ENC, "y"), ("ZADD", "w", "1", LONG),
     ("ZADD", "w", "1", "a"), ("ZREMRANGEBYSCORE", "w", "1", "1"), ("ZADD", "w", "1", "a"),
     (*ENC, "w"), ("ZADD", "v", "1", LONG, "2", "b"), ("ZMPOP", "1", "v", "MIN"),
     (*ENC, "v"), ("COPY", "z", "z2"), (*ENC, "z2"),
     ("ZUNIONSTORE", "u", "1", "z"), (*ENC, "u"), ("ZRANGESTORE", "rs", "y", "0", "1"),
     (*ENC, "rs")],
]


@pytest.mark.parametrize("case", cases(CASES))
def test_encodings_like_redis(ref: Ref, case: list) -> None:
    ref.check(case)


def _enc(sm: StateMachine, key: str) -> bytes:
    return sm.read([b"OBJECT", b"ENCODING", key.encode()], NOW)  # type: ignore[return-value]


def run(sm: StateMachine, *args: str) -> object:
    return sm.apply([a.encode() for a in args], NOW)


def test_sets_follow_redis_72() -> None:
    sm = StateMachine()
    run(sm, "SADD", "s", *[str(i) for i in range(512)])
    assert _enc(sm, "s") == b"intset"
    run(sm, "SADD", "s", "512")
    assert _enc(sm, "s") == b"hashtable"  # too many for an intset (and for a listpack)
    run(sm, "SREM", "s", "0", "1")
    assert _enc(sm, "s") == b"hashtable"
    run(sm, "SADD", "t", "1", "2", "a")
    assert _enc(sm, "t") == b"listpack"
    run(sm, "SREM", "t", "a")
    assert _enc(sm, "t") == b"listpack"  # never back to an intset
    run(sm, "SADD", "t", "x" * 65)
    assert _enc(sm, "t") == b"hashtable"
    run(sm, "SPOP", "t")
    run(sm, "SREM", "t", "x" * 65)
    assert _enc(sm, "t") == b"hashtable"
    run(sm, "SADD", "u", *[f"m{i}" for i in range(129)])
    assert _enc(sm, "u") == b"hashtable"
    run(sm, "SREM", "u", "m0")
    assert _enc(sm, "u") == b"hashtable"
    run(sm, "SADD", "v", "a", *[str(i) for i in range(128)])  # 129 members, one not a number
    run(sm, "SREM", "v", "0")  # an int leaves a hashtable of 129: still a hashtable
    assert _enc(sm, "v") == b"hashtable"
    run(sm, "COPY", "t", "t2")
    assert _enc(sm, "t2") == b"hashtable"


def test_lists_follow_redis_72() -> None:
    sm = StateMachine()
    run(sm, "RPUSH", "l", "a", "b")
    assert _enc(sm, "l") == b"listpack"
    run(sm, "RPUSH", "l", "x" * 9000)
    assert _enc(sm, "l") == b"quicklist"


def test_a_restore_reencodes_as_redis_rdb_load_does() -> None:
    sm = StateMachine()
    run(sm, "HSET", "h", "f", "x" * 65)
    run(sm, "HSET", "h", "f", "v")
    run(sm, "APPEND", "a", "1")
    run(sm, "APPEND", "a", "2")
    assert _enc(sm, "h") == b"hashtable" and _enc(sm, "a") == b"raw"
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    other = StateMachine()
    buf.seek(0)
    other.restore_snapshot(buf)
    assert _enc(other, "h") == b"listpack" and _enc(other, "a") == b"int"


SCANS = [
    # A listpack hash (up to 512 fields) comes back whole from one HSCAN, as in Redis
    [("HSET", "h", *[x for i in range(300) for x in (f"f{i:03}", "v")]),
     ("~HSCAN", "h", "0", "COUNT", "5"), ("~HSCAN", "h", "123", "COUNT", "1")],
    [("ZADD", "z", *[x for i in range(100) for x in (str(i), f"m{i}")]),
     ("ZSCAN", "z", "0", "COUNT", "3"), ("ZSCAN", "z", "7")],
    [("SADD", "s", *[str(i) for i in range(400)]), ("~SSCAN", "s", "0", "COUNT", "2")],
]


@pytest.mark.parametrize("case", cases(SCANS))
def test_compact_containers_scan_whole_like_redis(ref: Ref, case: list) -> None:
    ref.check(case, resps=(2,))
