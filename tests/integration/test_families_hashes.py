"""Hashes on a running 3-node cluster: replies compared with redis-server (RESP2 and
RESP3: HGETALL is a map in RESP3), redis-py shapes, HSCAN and HRANDFIELD."""

from __future__ import annotations

import pytest

from tests.integration.families_support import family_fixture, params

fam = family_fixture("hashes")

CASES = [
    [("HSET", "h", "a", "1", "b", "2"), ("HSET", "h", "a", "9", "c", "3"), ("HGET", "h", "a"),
     ("HGET", "h", "zz"), ("HGET", "nope", "a"), ("HLEN", "h"), ("HLEN", "nope"),
     ("HGETALL", "h"), ("HGETALL", "nope"), ("HKEYS", "h"), ("HVALS", "h"), ("HKEYS", "nope")],
    [("HMSET", "h", "a", "1", "b", "2"), ("HMGET", "h", "a", "x", "b"), ("HMGET", "nope", "a"),
     ("HMSET", "h", "a"), ("HSET", "h", "a"), ("HSET", "h"), ("HMGET", "h")],
    [("HSET", "h", "a", "1", "b", "2"), ("HDEL", "h", "a", "x", "a"), ("HEXISTS", "h", "a"),
     ("HEXISTS", "h", "b"), ("HEXISTS", "nope", "b"), ("HDEL", "h", "b"), ("EXISTS", "h"),
     ("HDEL", "h", "b"), ("HDEL", "h")],
    [("HSETNX", "h", "a", "1"), ("HSETNX", "h", "a", "2"), ("HGET", "h", "a"),
     ("HSETNX", "h", "a"), ("HSTRLEN", "h", "a"), ("HSTRLEN", "h", "x"),
     ("HSTRLEN", "nope", "x")],
    [("HINCRBY", "h", "n", "5"), ("HINCRBY", "h", "n", "-7"), ("HINCRBY", "h", "n", "x"),
     ("HINCRBY", "h", "n", "1.5"), ("HSET", "h", "s", "abc"), ("HINCRBY", "h", "s", "1"),
     ("HSET", "h", "big", "9223372036854775807"), ("HINCRBY", "h", "big", "1"),
     ("HGET", "h", "n")],
    [("HINCRBYFLOAT", "h", "f", "1.5"), ("HINCRBYFLOAT", "h", "f", "2.25"),
     ("HINCRBYFLOAT", "h", "f", "-0.75"), ("HINCRBYFLOAT", "h", "f", "x"),
     ("HSET", "h", "s", "abc"),
     ("HINCRBYFLOAT", "h", "s", "1"), ("HSET", "h", "i", "10"), ("HINCRBYFLOAT", "h", "i", "1e2"),
     ("HGET", "h", "f")],
    [("HINCRBYFLOAT", "h", "f", "inf")],
    [("SET", "s", "x"), ("HSET", "s", "a", "1"), ("HGET", "s", "a"), ("HGETALL", "s"),
     ("HDEL", "s", "a"), ("HLEN", "s"), ("HINCRBY", "s", "a", "1"), ("HKEYS", "s"),
     ("HRANDFIELD", "s"), ("HSCAN", "s", "0"), ("HSTRLEN", "s", "a"), ("HEXISTS", "s", "a")],
    # deterministic HRANDFIELD cases: empty key, and counts covering the whole hash
    [("HRANDFIELD", "nope"), ("HRANDFIELD", "nope", "3"), ("HSET", "h", "a", "1"),
     ("HRANDFIELD", "h"), ("HRANDFIELD", "h", "1"), ("HRANDFIELD", "h", "1", "WITHVALUES"),
     ("HRANDFIELD", "h", "0"), ("HRANDFIELD", "h", "-2", "WITHVALUES"),
     ("HRANDFIELD", "h", "x"), ("HRANDFIELD", "h", "1", "BOGUS")],
    [("HSET", "h", "a", "1", "b", "2", "c", "3"), ("~HRANDFIELD", "h", "10"),
     ("HSCAN", "h", "0"), ("HSCAN", "h", "0", "MATCH", "b*"), ("HSCAN", "h", "0", "COUNT", "1"),
     ("HSCAN", "nope", "0"), ("HSCAN", "h", "x"), ("HSCAN", "h", "0", "COUNT", "0"),
     ("HSCAN", "h", "0", "BOGUS", "1")],
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
        assert rc.hset("hp", mapping={"a": "1", "b": "2"}) == 2
        assert rc.hgetall("hp") == {b"a": b"1", b"b": b"2"}
        assert rc.hincrbyfloat("hp", "f", 0.5) == 0.5
        assert rc.hmget("hp", ["a", "zz"]) == [b"1", None]
        pairs = rc.hrandfield("hp", 3, withvalues=True)
        # RESP2 gives a flat list, RESP3 a list of [field, value] pairs.
        flat = [x for p in pairs for x in p] if protocol == 3 else pairs
        assert dict(zip(flat[::2], flat[1::2], strict=True)) == {
            b"a": b"1", b"b": b"2", b"f": b"0.5"}
        assert rc.hrandfield("hp") in {b"a", b"b", b"f"}
        assert len(rc.hrandfield("hp", -5)) == 5
        assert sorted(rc.hkeys("hp")) == [b"a", b"b", b"f"]
    finally:
        rc.close()


def test_hscan_walks_a_big_hash_once(fam):
    r = fam.leader_client()
    try:
        r.flushall()
        fields = {f"f{i}": i for i in range(500)}
        r.hset("big", mapping=fields)
        got = list(r.hscan_iter("big", count=37))
        assert len(got) == 500
        assert {k.decode(): int(v) for k, v in got} == fields
        assert {k for k, _ in r.hscan_iter("big", match="f4?")} == {
            f"f4{i}".encode() for i in range(10)}
        assert set(r.hscan_iter("big", match="f1", no_values=True)) == {b"f1"}
    finally:
        r.close()


def test_hrandfield_picks_distinct_fields_at_random(fam):
    """A positive count gives distinct fields; repeated calls do not always agree."""
    r = fam.leader_client()
    try:
        r.flushall()
        r.hset("rh", mapping={f"f{i}": i for i in range(50)})
        picks = {tuple(r.hrandfield("rh", 5)) for _ in range(5)}
        assert len(picks) > 1  # five identical picks of 5 from 50 would be absurd
        for p in picks:
            assert len(set(p)) == 5
    finally:
        r.close()
