"""Sorted-set algebra, sampling and multi-key pops (ZUNION/ZINTER/ZDIFF[STORE],
ZINTERCARD, ZRANDMEMBER, ZMPOP, BZPOPMIN/BZPOPMAX/BZMPOP, LMPOP/BLMPOP) compared byte for
byte with a real redis-server, RESP2 and RESP3. A blocking pop that would wait gets a
short timeout, so redis-server answers the null array our one attempt answers."""

from __future__ import annotations

import pytest

from raftredis.reply import NULL_ARRAY
from raftredis.statemachine import StateMachine
from raftredis.statemachine.blocking import timeout_arg
from tests.unit.sm_redis import NOW, Ref, cases, redis_ref

ref = redis_ref()

Z1 = ("ZADD", "z1", "1", "a", "2", "b", "3", "c")
Z2 = ("ZADD", "z2", "10", "b", "20", "c", "30", "d")
S1 = ("SADD", "s1", "a", "d", "x")

ALGEBRA = [
    [Z1, Z2, ("ZUNIONSTORE", "out", "2", "z1", "z2"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
     ("ZINTERSTORE", "out", "2", "z1", "z2"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
     ("ZDIFFSTORE", "out", "2", "z1", "z2"), ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
     ("ZUNION", "2", "z1", "z2"), ("ZUNION", "2", "z1", "z2", "WITHSCORES"),
     ("ZINTER", "2", "z1", "z2", "WITHSCORES"), ("ZDIFF", "2", "z1", "z2", "WITHSCORES"),
     ("ZDIFF", "2", "z2", "z1"), ("ZINTERCARD", "2", "z1", "z2"),
     ("ZINTERCARD", "2", "z1", "z2", "LIMIT", "1"), ("ZINTERCARD", "2", "z1", "z2", "LIMIT", "0")],
    [Z1, Z2, ("ZUNIONSTORE", "out", "2", "z1", "z2", "WEIGHTS", "2", "0.5"),
     ("ZRANGE", "out", "0", "-1", "WITHSCORES"),
     ("ZUNION", "2", "z1", "z2", "AGGREGATE", "MIN", "WITHSCORES"),
     ("ZUNION", "2", "z1", "z2", "aggregate", "max", "withscores"),
     ("ZINTER", "2", "z1", "z2", "WEIGHTS", "1", "-1", "AGGREGATE", "SUM", "WITHSCORES"),
     ("ZINTERSTORE", "out", "2", "z1", "z2", "AGGREGATE", "MAX"), ("ZSCORE", "out", "c"),
     ("ZUNION", "2", "z1", "z2", "WEIGHTS", "1"), ("ZUNION", "2", "z1", "z2", "WEIGHTS", "1", "x"),
     ("ZUNION", "2", "z1", "z2", "AGGREGATE", "AVG"), ("ZUNION", "2", "z1", "z2", "AGGREGATE"),
     ("ZDIFF", "2", "z1", "z2", "WEIGHTS", "1", "1"), ("ZUNIONSTORE", "out", "2", "z1", "z2",
                                                         "WITHSCORES"),
     ("ZINTERCARD", "2", "z1", "z2", "WITHSCORES"), ("ZINTERCARD", "2", "z1", "z2", "LIMIT", "-1"),
     ("ZINTERCARD", "2", "z1", "z2", "LIMIT", "x"), ("ZINTERCARD", "2", "z1", "z2", "LIMIT")],
    [Z1, S1, ("ZUNION", "2", "z1", "s1", "WITHSCORES"), ("ZINTER", "2", "s1", "z1", "WITHSCORES"),
     ("ZDIFF", "2", "s1", "z1"), ("ZUNIONSTORE", "s1", "1", "s1"), ("TYPE", "s1"),
     ("ZRANGE", "s1", "0", "-1", "WITHSCORES"), ("SET", "str", "x"),
     ("ZUNION", "2", "z1", "str"), ("ZINTERSTORE", "out", "2", "nokey", "str"),
     ("ZUNION", "2", "nokey", "nokey2"), ("ZINTER", "2", "z1", "nokey"),
     ("ZINTERSTORE", "z1", "2", "z1", "nokey"), ("EXISTS", "z1"), ("ZDIFF", "1", "nokey"),
     ("ZDIFFSTORE", "out", "1", "nokey"), ("EXISTS", "out")],
    [Z1, ("ZUNION", "0", "z1"), ("ZUNION", "-1", "z1"), ("ZUNION", "x", "z1"),
     ("ZUNION", "3", "z1", "z2"), ("ZUNIONSTORE", "out", "0", "z1"), ("ZINTERSTORE", "o", "x", "z1"),
     ("ZDIFFSTORE", "out", "5", "z1"), ("ZINTERCARD", "0", "z1"), ("ZINTERCARD", "2", "z1"),
     ("ZDIFF", "0", "z1"), ("ZINTER", "1", "z1", "BOGUS"), ("ZUNION", "1")],
    # infinities: inf * 0 and inf + -inf become 0, as Redis does
    [("ZADD", "i", "inf", "a", "-inf", "b", "1", "c"), ("ZADD", "j", "-inf", "a", "inf", "b"),
     ("ZUNION", "2", "i", "j", "WITHSCORES"), ("ZUNION", "2", "i", "j", "WEIGHTS", "0", "1",
                                               "WITHSCORES"),
     ("ZINTER", "2", "i", "j", "AGGREGATE", "MIN", "WITHSCORES"),
     ("ZUNIONSTORE", "o", "1", "i", "WEIGHTS", "inf"), ("ZRANGE", "o", "0", "-1", "WITHSCORES")],
    # rounding follows Redis's order of summation (smallest input first)
    [("ZADD", "big", "1e16", "m"), ("ZADD", "one", "1", "m", "2", "n", "3", "o"),
     ("ZADD", "two", "1", "m", "5", "p"), ("ZUNION", "3", "big", "one", "two", "WITHSCORES"),
     ("ZUNION", "3", "one", "two", "big", "WITHSCORES"),
     ("ZINTER", "3", "one", "big", "two", "WITHSCORES"),
     ("ZINTER", "3", "two", "one", "big", "WEIGHTS", "1", "1", "1", "WITHSCORES")],
    [("ZADD", "z", "1", "a", "2", "b"), ("EXPIRE", "out", "100"), ("SET", "out", "x"),
     ("EXPIRE", "out", "100"), ("ZUNIONSTORE", "out", "1", "z"), ("TTL", "out"), ("TYPE", "out")],
]

RANDOM = [
    [("ZADD", "z", "1", "a", "2", "b", "3", "c"), ("ZRANDMEMBER", "z", "3"),
     ("ZRANDMEMBER", "z", "10", "WITHSCORES"), ("ZRANDMEMBER", "z", "0"),
     ("ZRANDMEMBER", "z", "0", "WITHSCORES"), ("ZRANDMEMBER", "nokey"),
     ("ZRANDMEMBER", "nokey", "5"), ("ZRANDMEMBER", "nokey", "-5", "WITHSCORES"),
     ("ZRANDMEMBER", "z", "x"), ("ZRANDMEMBER", "z", "1", "WITHSCORE"),
     ("ZRANDMEMBER", "z", "1", "WITHSCORES", "x"), ("ZRANDMEMBER", "z", "x", "y"),
     ("SET", "s", "v"), ("ZRANDMEMBER", "s"), ("ZRANDMEMBER", "s", "1"),
     ("ZRANDMEMBER", "s", "-9223372036854775808")],
]

POPS = [
    [Z1, Z2, ("ZMPOP", "2", "nokey", "z1", "MIN"), ("ZMPOP", "2", "z1", "z2", "MAX", "COUNT", "5"),
     ("EXISTS", "z1"), ("ZMPOP", "1", "z2", "min", "count", "2"), ("ZMPOP", "1", "z1", "MIN"),
     ("ZMPOP", "0", "z1", "MIN"), ("ZMPOP", "-1", "z1", "MIN"), ("ZMPOP", "x", "z1", "MIN"),
     ("ZMPOP", "2", "z1", "MIN"), ("ZMPOP", "1", "z1", "LEFT"), ("ZMPOP", "1", "z1", "MIN", "COUNT"),
     ("ZMPOP", "1", "z2", "MIN", "COUNT", "0"), ("ZMPOP", "1", "z2", "MIN", "COUNT", "x"),
     ("ZMPOP", "1", "z2", "MIN", "COUNT", "1", "COUNT", "1"), ("ZMPOP", "1", "z2", "MIN", "x"),
     ("SET", "s", "v"), ("ZMPOP", "2", "s", "z2", "MIN"), ("ZMPOP", "2", "z2", "s", "MAX")],
    [("ZADD", "z1", "1", "a", "2", "b", "3", "c", "4", "d"), ("BZPOPMIN", "nokey", "z1", "0"), ("BZPOPMAX", "z1", "0.5"), ("BZPOPMIN", "nokey", "0.01"),
     ("BZPOPMIN", "z1", "x"), ("BZPOPMIN", "z1", "-1"), ("BZMPOP", "0", "1", "z1", "MIN"),
     ("BZMPOP", "0", "2", "nokey", "z1", "MAX", "COUNT", "3"), ("EXISTS", "z1"),
     ("BZMPOP", "x", "1", "z1", "MIN"), ("BZMPOP", "-1", "1", "z1", "MIN"),
     ("BZMPOP", "0", "0", "z1", "MIN"), ("BZMPOP", "0", "1", "z1", "NOPE"),
     ("SET", "s", "v"), ("BZPOPMIN", "s", "0")],
    [("RPUSH", "l1", "a", "b", "c"), ("RPUSH", "l2", "x"), ("LMPOP", "2", "nokey", "l1", "LEFT"),
     ("LMPOP", "2", "l1", "l2", "RIGHT", "COUNT", "10"), ("EXISTS", "l1"),
     ("LMPOP", "1", "l2", "left", "count", "1"), ("LMPOP", "1", "l2", "LEFT"),
     ("LMPOP", "0", "l1", "LEFT"), ("LMPOP", "1", "l1", "MIN"), ("LMPOP", "1", "l1", "LEFT", "COUNT",
                                                                 "0"),
     ("LMPOP", "5", "l1", "LEFT"), ("RPUSH", "l3", "1", "2"), ("BLMPOP", "0", "1", "l3", "LEFT"),
     ("BLMPOP", "0.1", "2", "nokey", "l3", "RIGHT", "COUNT", "2"), ("BLMPOP", "0.01", "1", "nokey",
                                                                       "LEFT"),
     ("BLMPOP", "x", "1", "l3", "LEFT"), ("BLMPOP", "0", "x", "l3", "LEFT"),
     ("SET", "s", "v"), ("LMPOP", "1", "s", "LEFT"), ("BLMPOP", "0", "1", "s", "LEFT")],
]


@pytest.mark.parametrize("case", cases(ALGEBRA + POPS))
def test_like_redis(ref: Ref, case: list) -> None:
    ref.check(case)


@pytest.mark.parametrize("case", cases(RANDOM))
def test_zrandmember_deterministic_cases_like_redis(ref: Ref, case: list) -> None:
    ref.check(case)


def test_zrandmember_samples() -> None:
    sm = StateMachine()
    sm.apply([b"ZADD", b"z", *[x for i in range(20) for x in (b"%d" % i, b"m%d" % i)]], NOW)
    members = {b"m%d" % i for i in range(20)}
    for seed in range(20):
        picked = sm.apply([b"ZRANDMEMBER", b"z", b"5"], NOW, seed)
        assert len(set(picked)) == 5 and set(picked) <= members
        rep = sm.apply([b"ZRANDMEMBER", b"z", b"-30", b"WITHSCORES"], NOW, seed)
        assert len(rep) == 60 and all(float(rep[i + 1]) == int(rep[i][1:])
                                      for i in range(0, 60, 2))
    # the same seed picks the same members on every replica
    other = StateMachine()
    other.apply([b"ZADD", b"z", *[x for i in range(20) for x in (b"%d" % i, b"m%d" % i)]], NOW)
    assert sm.apply([b"ZRANDMEMBER", b"z", b"7"], NOW, 42) == \
        other.apply([b"ZRANDMEMBER", b"z", b"7"], NOW, 42)


def test_blocking_pops_answer_null_array_when_they_would_wait() -> None:
    sm = StateMachine()
    for cmd in ([b"BZPOPMIN", b"z", b"0"], [b"BZMPOP", b"0", b"1", b"z", b"MIN"],
                [b"BLMPOP", b"0", b"1", b"l", b"LEFT"]):
        assert sm.apply(cmd, NOW) is NULL_ARRAY


def test_timeout_arg_is_where_each_command_carries_it() -> None:
    assert timeout_arg([b"BZMPOP", b"1.5", b"1", b"z", b"MIN", b"COUNT", b"2"]) == b"1.5"
    assert timeout_arg([b"blmpop", b"2", b"1", b"l", b"LEFT"]) == b"2"
    assert timeout_arg([b"BZPOPMIN", b"a", b"b", b"3"]) == b"3"
    assert timeout_arg([b"BLPOP", b"a", b"4"]) == b"4"
