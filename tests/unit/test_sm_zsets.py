"""Sorted set commands at the StateMachine level: behaviour, options, errors, snapshots."""

from __future__ import annotations

import io
import math

import pytest

from raftredis.reply import NULL_ARRAY, WRONGTYPE, Double, Error, Pairs, Status
from raftredis.statemachine import StateMachine

NOW = 1_000_000


def run(sm: StateMachine, *args: bytes | str) -> object:
    return sm.apply([a if isinstance(a, bytes) else a.encode() for a in args], NOW, 1)


def b(*xs: str) -> list[bytes]:
    return [x.encode() for x in xs]


@pytest.fixture
def sm() -> StateMachine:
    s = StateMachine()
    run(s, "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d")
    return s


def test_zadd_basics_and_order(sm: StateMachine) -> None:
    assert run(sm, "ZADD", "z", "0", "a", "2", "e") == 1  # a updated, e added
    assert run(sm, "ZRANGE", "z", "0", "-1") == b("a", "b", "e", "c", "d")  # ties by member bytes
    assert run(sm, "ZCARD", "z") == 5
    assert run(sm, "ZCARD", "none") == 0
    assert run(sm, "TYPE", "z") == Status("zset")
    r = run(sm, "ZSCORE", "z", "a")
    assert isinstance(r, Double) and r == 0.0
    assert run(sm, "ZSCORE", "z", "none") is None
    assert run(sm, "ZMSCORE", "z", "b", "x") == [2.0, None]
    assert run(sm, "ZMSCORE", "none", "b") == [None]


def test_zadd_flags(sm: StateMachine) -> None:
    assert run(sm, "ZADD", "z", "NX", "10", "a", "5", "n") == 1
    assert run(sm, "ZSCORE", "z", "a") == 1.0
    assert run(sm, "ZADD", "z", "XX", "10", "a", "5", "m") == 0
    assert run(sm, "ZSCORE", "z", "a") == 10.0 and run(sm, "ZSCORE", "z", "m") is None
    assert run(sm, "ZADD", "z", "XX", "CH", "11", "a", "2", "b") == 1  # b unchanged
    assert run(sm, "ZADD", "z", "GT", "CH", "5", "a", "9", "b", "7", "new") == 2
    assert run(sm, "ZSCORE", "z", "a") == 11.0 and run(sm, "ZSCORE", "z", "b") == 9.0
    assert run(sm, "ZADD", "z", "LT", "CH", "1", "a", "100", "b") == 1
    assert run(sm, "ZSCORE", "z", "a") == 1.0 and run(sm, "ZSCORE", "z", "b") == 9.0
    assert run(sm, "ZADD", "nokey", "XX", "1", "a") == 0
    assert run(sm, "EXISTS", "nokey") == 0


def test_zadd_incr(sm: StateMachine) -> None:
    assert run(sm, "ZADD", "z", "INCR", "2.5", "a") == 3.5
    assert run(sm, "ZADD", "z", "INCR", "1", "fresh") == 1.0
    assert run(sm, "ZADD", "z", "NX", "INCR", "1", "a") is None
    assert run(sm, "ZADD", "z", "XX", "INCR", "1", "nope") is None
    assert run(sm, "ZADD", "z", "GT", "INCR", "-1", "a") is None
    assert run(sm, "ZADD", "nokey", "XX", "INCR", "1", "a") is None


def test_zadd_errors(sm: StateMachine) -> None:
    assert run(sm, "ZADD", "z", "NX", "XX", "1", "a") == Error("ERR XX and NX options at the same time are not compatible")
    msg = Error("ERR GT, LT, and/or NX options at the same time are not compatible")
    assert run(sm, "ZADD", "z", "GT", "LT", "1", "a") == msg
    assert run(sm, "ZADD", "z", "NX", "GT", "1", "a") == msg
    assert run(sm, "ZADD", "z", "INCR", "1", "a", "2", "b") == Error("ERR INCR option supports a single increment-element pair")
    assert run(sm, "ZADD", "z", "1", "a", "2") == Error("ERR syntax error")
    assert run(sm, "ZADD", "z", "CH", "NX") == Error("ERR syntax error")
    assert run(sm, "ZADD", "z", "1", "x", "abc", "y") == Error("ERR value is not a valid float")
    assert run(sm, "ZADD", "z", "nan", "x") == Error("ERR value is not a valid float")
    assert run(sm, "ZSCORE", "z", "x") is None  # nothing of a failed ZADD was applied
    run(sm, "ZADD", "z", "inf", "top")
    assert run(sm, "ZADD", "z", "INCR", "-inf", "top") == Error("ERR resulting score is not a number (NaN)")
    assert run(sm, "ZINCRBY", "z", "-inf", "top") == Error("ERR resulting score is not a number (NaN)")
    assert run(sm, "ZSCORE", "z", "top") == math.inf
    assert run(sm, "ZINCRBY", "z", "x", "a") == Error("ERR value is not a valid float")


def test_infinite_scores(sm: StateMachine) -> None:
    assert run(sm, "ZADD", "z", "-inf", "lo", "+inf", "hi") == 2
    assert run(sm, "ZRANGE", "z", "0", "0") == b("lo")
    assert run(sm, "ZRANGE", "z", "-1", "-1") == b("hi")
    assert run(sm, "ZCOUNT", "z", "-inf", "+inf") == 6
    assert run(sm, "ZCOUNT", "z", "(-inf", "(inf") == 4


def test_zincrby(sm: StateMachine) -> None:
    assert run(sm, "ZINCRBY", "z", "1.5", "a") == 2.5
    assert run(sm, "ZINCRBY", "new", "3", "m") == 3.0
    assert run(sm, "ZRANGE", "z", "0", "1") == b("b", "a")


def test_zrange_by_rank_with_scores(sm: StateMachine) -> None:
    r = run(sm, "ZRANGE", "z", "1", "2", "WITHSCORES")
    assert isinstance(r, Pairs) and r == [b"b", 2.0, b"c", 3.0]
    assert all(isinstance(x, Double) for x in r[1::2])
    assert run(sm, "ZRANGE", "z", "0", "1", "REV") == b("d", "c")
    assert run(sm, "ZREVRANGE", "z", "0", "-1") == b("d", "c", "b", "a")
    assert run(sm, "ZREVRANGE", "z", "1", "1", "WITHSCORES") == [b"c", 3.0]
    assert run(sm, "ZRANGE", "z", "5", "10") == []
    assert run(sm, "ZRANGE", "z", "-100", "0") == b("a")
    assert run(sm, "ZRANGE", "none", "0", "-1") == []
    assert run(sm, "ZRANGE", "z", "a", "1") == Error("ERR value is not an integer or out of range")


def test_zrange_by_score(sm: StateMachine) -> None:
    assert run(sm, "ZRANGE", "z", "2", "3", "BYSCORE") == b("b", "c")
    assert run(sm, "ZRANGE", "z", "(2", "3", "BYSCORE") == b("c")
    assert run(sm, "ZRANGE", "z", "2", "(3", "BYSCORE") == b("b")
    assert run(sm, "ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2") == b("b", "c")
    assert run(sm, "ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "-1") == b("b", "c", "d")
    assert run(sm, "ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "2") == []
    assert run(sm, "ZRANGE", "z", "3", "1", "BYSCORE", "REV") == b("c", "b", "a")
    assert run(sm, "ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2", "WITHSCORES") == [b"c", 3.0, b"b", 2.0]
    assert run(sm, "ZRANGEBYSCORE", "z", "1.5", "3.5", "WITHSCORES") == [b"b", 2.0, b"c", 3.0]
    assert run(sm, "ZREVRANGEBYSCORE", "z", "(4", "2") == b("c", "b")
    assert run(sm, "ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "0", "1") == b("d")
    assert run(sm, "ZRANGEBYSCORE", "z", "x", "2") == Error("ERR min or max is not a float")
    assert run(sm, "ZRANGEBYSCORE", "z", "1", "2", "BYLEX") == Error("ERR syntax error")
    assert run(sm, "ZRANGE", "z", "1", "2", "BYSCORE", "BYLEX") == Error("ERR syntax error")
    assert run(sm, "ZRANGE", "z", "1", "2", "LIMIT", "0", "1") == Error(
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    )
    assert run(sm, "ZRANGE", "z", "1", "2", "BYSCORE", "LIMIT", "0") == Error("ERR syntax error")
    assert run(sm, "ZCOUNT", "z", "2", "+inf") == 3
    assert run(sm, "ZCOUNT", "z", "3", "2") == 0
    assert run(sm, "ZCOUNT", "none", "0", "1") == 0


def test_by_lex() -> None:
    sm = StateMachine()
    run(sm, "ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e")
    assert run(sm, "ZRANGEBYLEX", "l", "-", "[c") == b("a", "b", "c")
    assert run(sm, "ZRANGEBYLEX", "l", "(a", "(c") == b("b")
    assert run(sm, "ZRANGEBYLEX", "l", "[b", "+", "LIMIT", "1", "2") == b("c", "d")
    assert run(sm, "ZREVRANGEBYLEX", "l", "+", "(c") == b("e", "d")
    assert run(sm, "ZRANGE", "l", "[d", "[b", "BYLEX", "REV") == b("d", "c", "b")
    assert run(sm, "ZRANGE", "l", "+", "-", "BYLEX") == []
    assert run(sm, "ZLEXCOUNT", "l", "[b", "(e") == 3
    assert run(sm, "ZRANGEBYLEX", "l", "a", "[c") == Error("ERR min or max not valid string range item")
    assert run(sm, "ZRANGE", "l", "-", "+", "BYLEX", "WITHSCORES") == Error(
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    )
    assert run(sm, "ZREMRANGEBYLEX", "l", "[b", "[c") == 2
    assert run(sm, "ZRANGE", "l", "0", "-1") == b("a", "d", "e")


def test_zrank(sm: StateMachine) -> None:
    assert run(sm, "ZRANK", "z", "a") == 0
    assert run(sm, "ZREVRANK", "z", "a") == 3
    assert run(sm, "ZRANK", "z", "c", "WITHSCORE") == [2, 3.0]
    assert run(sm, "ZRANK", "z", "x") is None
    assert run(sm, "ZRANK", "z", "x", "WITHSCORE") is NULL_ARRAY
    assert run(sm, "ZRANK", "none", "x") is None
    assert run(sm, "ZRANK", "z", "a", "BOGUS") == Error("ERR syntax error")


def test_zrem_and_range_removals(sm: StateMachine) -> None:
    assert run(sm, "ZREM", "z", "a", "x") == 1
    assert run(sm, "ZREMRANGEBYSCORE", "z", "(2", "3") == 1
    assert run(sm, "ZRANGE", "z", "0", "-1") == b("b", "d")
    assert run(sm, "ZREMRANGEBYRANK", "z", "-1", "-1") == 1
    assert run(sm, "ZREMRANGEBYRANK", "z", "0", "-1") == 1
    assert run(sm, "EXISTS", "z") == 0
    assert run(sm, "ZREM", "z", "a") == 0
    assert run(sm, "ZREMRANGEBYSCORE", "z", "x", "1") == Error("ERR min or max is not a float")
    assert run(sm, "ZREMRANGEBYRANK", "none", "0", "1") == 0


def test_pops(sm: StateMachine) -> None:
    assert run(sm, "ZPOPMIN", "z") == [b"a", 1.0]
    r = run(sm, "ZPOPMAX", "z", "2")
    assert isinstance(r, Pairs) and r == [b"d", 4.0, b"c", 3.0]
    assert run(sm, "ZPOPMIN", "z", "0") == []
    assert run(sm, "ZPOPMIN", "z", "5") == [b"b", 2.0]
    assert run(sm, "EXISTS", "z") == 0
    assert run(sm, "ZPOPMIN", "z") == []
    assert run(sm, "ZPOPMAX", "z", "-1") == Error("ERR value is out of range, must be positive")


def test_zrangestore(sm: StateMachine) -> None:
    assert run(sm, "ZRANGESTORE", "dst", "z", "1", "2") == 2
    assert run(sm, "ZRANGE", "dst", "0", "-1", "WITHSCORES") == [b"b", 2.0, b"c", 3.0]
    assert run(sm, "ZRANGESTORE", "dst", "z", "(1", "+inf", "BYSCORE", "LIMIT", "0", "1") == 1
    assert run(sm, "ZRANGE", "dst", "0", "-1") == b("b")
    assert run(sm, "ZRANGESTORE", "dst", "z", "+inf", "3", "BYSCORE", "REV") == 2
    assert run(sm, "ZRANGE", "dst", "0", "-1") == b("c", "d")
    assert run(sm, "ZRANGESTORE", "dst", "z", "10", "20") == 0
    assert run(sm, "EXISTS", "dst") == 0
    assert run(sm, "ZRANGESTORE", "dst", "z", "0", "1", "WITHSCORES") == Error("ERR syntax error")
    run(sm, "SET", "str", "x")
    assert run(sm, "ZRANGESTORE", "dst", "str", "0", "1") == WRONGTYPE


def test_zscan(sm: StateMachine) -> None:
    run(sm, "ZADD", "z", "1.5", "half", "-inf", "neg")
    r = run(sm, "ZSCAN", "z", "0")
    assert r == [b"0", [b"a", b"1", b"b", b"2", b"c", b"3", b"d", b"4", b"half", b"1.5", b"neg", b"-inf"]]
    assert run(sm, "ZSCAN", "z", "0", "MATCH", "h*") == [b"0", [b"half", b"1.5"]]
    assert run(sm, "ZSCAN", "none", "0") == [b"0", []]
    run(sm, "ZADD", "big", *[x for i in range(300) for x in (str(i), f"m{i}")])
    seen: list[bytes] = []
    cursor = b"0"
    for _ in range(1000):
        reply = run(sm, "ZSCAN", "big", cursor, "COUNT", "25")
        assert isinstance(reply, list)
        cursor, got = reply
        seen.extend(got[0::2])
        if cursor == b"0":
            break
    assert sorted(seen) == sorted(f"m{i}".encode() for i in range(300))


def test_wrongtype(sm: StateMachine) -> None:
    run(sm, "SET", "str", "x")
    for cmd in (
        ("ZADD", "str", "1", "a"), ("ZINCRBY", "str", "1", "a"), ("ZREM", "str", "a"),
        ("ZSCORE", "str", "a"), ("ZMSCORE", "str", "a"), ("ZCARD", "str"), ("ZCOUNT", "str", "0", "1"),
        ("ZRANGE", "str", "0", "1"), ("ZRANGEBYSCORE", "str", "0", "1"), ("ZREVRANGE", "str", "0", "1"),
        ("ZRANK", "str", "a"), ("ZPOPMIN", "str"), ("ZREMRANGEBYRANK", "str", "0", "1"),
        ("ZSCAN", "str", "0"), ("ZLEXCOUNT", "str", "-", "+"),
    ):
        assert run(sm, *cmd) == WRONGTYPE, cmd
    assert run(sm, "LPUSH", "z", "a") == WRONGTYPE


def test_snapshot_copy_encoding(sm: StateMachine) -> None:
    run(sm, "ZADD", "z", "-inf", "lo", "1e300", "hi", "0.1", "tenth")
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    other = StateMachine()
    other.restore_snapshot(io.BytesIO(buf.getvalue()))
    assert run(other, "ZRANGE", "z", "0", "-1", "WITHSCORES") == run(sm, "ZRANGE", "z", "0", "-1", "WITHSCORES")
    assert run(other, "ZADD", "z", "5", "x") == 1
    assert run(sm, "COPY", "z", "z2") == 1
    run(sm, "ZADD", "z2", "100", "a")
    assert run(sm, "ZSCORE", "z", "a") == 1.0
    assert run(sm, "OBJECT", "ENCODING", "z") == b"listpack"
    run(sm, "ZADD", "z", "1", "m" * 100)
    assert run(sm, "OBJECT", "ENCODING", "z") == b"skiplist"
