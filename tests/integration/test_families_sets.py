"""Sets on a running 3-node cluster: replies compared with redis-server (RESP3 answers
SMEMBERS and friends with a set type), SPOP replicated identically, SSCAN."""

from __future__ import annotations

import pytest
import redis

from tests.integration.families_support import family_fixture, params
from tests.integration.harness import wait_for

fam = family_fixture("sets")

CASES = [
    [("SADD", "s", "a", "b", "a"), ("SADD", "s", "b", "c"), ("SCARD", "s"), ("SCARD", "nope"),
     ("~SMEMBERS", "s"), ("~SMEMBERS", "nope"), ("SISMEMBER", "s", "a"),
     ("SISMEMBER", "s", "z"), ("SISMEMBER", "nope", "a"), ("SMISMEMBER", "s", "a", "z", "c"),
     ("SMISMEMBER", "nope", "a")],
    [("SADD", "s", "1", "2", "3"), ("SREM", "s", "1", "9", "1"), ("SREM", "nope", "a"),
     ("SREM", "s", "2", "3"), ("EXISTS", "s"), ("SADD", "s"), ("SREM", "s")],
    [("SADD", "a", "1", "2", "3", "4"), ("SADD", "b", "3", "4", "5"), ("SADD", "c", "4", "9"),
     ("~SINTER", "a", "b"), ("~SINTER", "a", "b", "c"), ("~SINTER", "a", "nope"),
     ("~SUNION", "a", "b"), ("~SUNION", "nope"), ("~SDIFF", "a", "b"), ("~SDIFF", "a", "b", "c"),
     ("~SDIFF", "nope", "a"), ("SINTERCARD", "2", "a", "b"), ("SINTERCARD", "3", "a", "b", "c"),
     ("SINTERCARD", "2", "a", "b", "LIMIT", "1"), ("SINTERCARD", "2", "a", "b", "LIMIT", "0"),
     ("SINTERCARD", "0", "a"), ("SINTERCARD", "3", "a", "b"), ("SINTERCARD", "x", "a"),
     ("SINTERCARD", "1", "a", "LIMIT", "-1"), ("SINTERCARD", "1", "a", "BOGUS", "1")],
    [("SADD", "a", "1", "2", "3"), ("SADD", "b", "2", "3", "4"),
     ("SINTERSTORE", "d", "a", "b"), ("~SMEMBERS", "d"), ("SUNIONSTORE", "d", "a", "b"),
     ("SCARD", "d"), ("SDIFFSTORE", "d", "a", "b"), ("~SMEMBERS", "d"),
     ("SINTERSTORE", "d", "a", "nope"), ("EXISTS", "d"), ("SET", "d", "x"),
     ("SUNIONSTORE", "d", "a"), ("TYPE", "d"), ("SDIFFSTORE", "a", "a", "b"), ("~SMEMBERS", "a")],
    [("SADD", "src", "a", "b"), ("SADD", "dst", "c"), ("SMOVE", "src", "dst", "a"),
     ("SMOVE", "src", "dst", "zz"), ("SMOVE", "nope", "dst", "a"), ("SMOVE", "src", "dst", "b"),
     ("EXISTS", "src"), ("~SMEMBERS", "dst"), ("SMOVE", "dst", "dst", "c"),
     ("SET", "str", "x"), ("SMOVE", "dst", "str", "c"), ("SMOVE", "str", "dst", "c")],
    # deterministic SPOP/SRANDMEMBER cases (empty keys, counts covering the whole set)
    [("SPOP", "nope"), ("SPOP", "nope", "2"), ("SRANDMEMBER", "nope"),
     ("SRANDMEMBER", "nope", "3"), ("SADD", "s", "only"), ("SRANDMEMBER", "s"),
     ("SRANDMEMBER", "s", "-3"), ("SRANDMEMBER", "s", "0"), ("SPOP", "s", "0"), ("SPOP", "s"),
     ("EXISTS", "s"), ("SADD", "t", "a", "b", "c"), ("~SRANDMEMBER", "t", "5"),
     ("~SPOP", "t", "10"), ("EXISTS", "t"), ("SPOP", "t", "-1"), ("SPOP", "t", "x"),
     ("SRANDMEMBER", "t", "x"), ("SPOP", "t", "1", "2")],
    [("SADD", "s", "a", "b", "c"), ("SSCAN", "s", "0", "MATCH", "nomatch"),
     ("SSCAN", "nope", "0"), ("SSCAN", "s", "x"), ("SSCAN", "s", "0", "COUNT", "0"),
     ("SSCAN", "s", "0", "BOGUS", "1")],
    [("SET", "str", "x"), ("SADD", "str", "a"), ("SREM", "str", "a"), ("SMEMBERS", "str"),
     ("SISMEMBER", "str", "a"), ("SCARD", "str"), ("SINTER", "str"), ("SUNION", "str"),
     ("SDIFF", "str"), ("SPOP", "str"), ("SRANDMEMBER", "str"), ("SINTERCARD", "1", "str"),
     ("SMISMEMBER", "str", "a"), ("SINTERSTORE", "d", "str"), ("SADD",), ("SMISMEMBER", "s")],
]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("case", params(CASES))
def test_same_replies_as_redis(fam, case, protocol):
    fam.diff(case, protocol)


@pytest.mark.parametrize("protocol", [2, 3])
def test_redispy_shapes_through_follower(fam, protocol):
    rc = fam.cluster_client(protocol)
    try:
        rc.flushall()
        assert rc.sadd("st:{x}a", "1", "2", "3") == 3
        assert rc.smembers("st:{x}a") == {b"1", b"2", b"3"}
        assert rc.sinter("st:{x}a", "st:{x}b") == set()
        assert rc.smismember("st:{x}a", ["1", "9"]) == [1, 0]
        assert rc.sintercard(1, ["st:{x}a"], limit=2) == 2
        assert rc.srandmember("st:{x}a") in {b"1", b"2", b"3"}
        assert len(rc.srandmember("st:{x}a", -7)) == 7
        popped = rc.spop("st:{x}a", 2)
        assert len(popped) == 2 and set(popped) < {b"1", b"2", b"3"}
        assert rc.scard("st:{x}a") == 1
    finally:
        rc.close()


def test_spop_leaves_the_same_set_on_every_replica(fam):
    """SPOP's choice comes from the log entry, not from each node's random source."""
    r = fam.leader_client()
    try:
        r.flushall()
        r.sadd("pop", *range(200))
        for _ in range(10):
            r.spop("pop", 7)
        r.srem("pop", "nothing")  # a marker write after the pops
        r.set("pop:done", "1")
        want = r.smembers("pop")
        assert len(want) == 130
        for i in fam.cluster.nodes:
            if i == fam.leader():
                continue
            f = redis.Redis(port=fam.port(i), socket_timeout=15)
            try:
                f.execute_command("READONLY")
                wait_for(lambda f=f: f.get("pop:done") == b"1", 10, f"node{i} to catch up")
                assert f.smembers("pop") == want
            finally:
                f.close()
    finally:
        r.close()


def test_sscan_walks_a_big_set_once(fam):
    r = fam.leader_client()
    try:
        r.flushall()
        r.sadd("big", *[f"m{i}" for i in range(400)])
        got = list(r.sscan_iter("big", count=23))
        assert len(got) == 400 and set(got) == {f"m{i}".encode() for i in range(400)}
        assert set(r.sscan_iter("big", match="m39?")) == {f"m39{i}".encode() for i in range(10)}
    finally:
        r.close()
