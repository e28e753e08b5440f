"""Strings on a running 3-node cluster: the same replies as redis-server for each
command sequence (RESP2 and RESP3), plus redis-py through a follower (MOVED)."""

from __future__ import annotations

import pytest

from tests.integration.families_support import family_fixture, params

fam = family_fixture("strings")

CASES = [
    # SET and its options
    [("SET", "k", "v"), ("GET", "k"), ("GET", "missing"), ("STRLEN", "k"), ("STRLEN", "nx")],
    [("SET", "k", "v", "NX"), ("SET", "k", "w", "NX"), ("SET", "k", "w", "XX"),
     ("SET", "n", "w", "XX"), ("GET", "k"), ("EXISTS", "n")],
    [("SET", "k", "v", "GET"), ("SET", "k", "w", "GET"), ("SET", "k", "x", "NX", "GET"),
     ("SET", "k", "y", "XX", "GET"), ("GET", "k")],
    [("SET", "k", "v", "EX", "100"), ("TTL", "k"), ("SET", "k", "v", "KEEPTTL"), ("TTL", "k"),
     ("SET", "k", "v"), ("TTL", "k"), ("SET", "k", "v", "PX", "100000"), ("TTL", "k"),
     ("SET", "k", "v", "EXAT", "99999999999"), ("EXPIRETIME", "k")],
    [("SET", "k", "v", "NX", "XX"), ("SET", "k", "v", "EX", "10", "PX", "100"),
     ("SET", "k", "v", "EX", "0"), ("SET", "k", "v", "EX", "-5"), ("SET", "k", "v", "EX", "abc"),
     ("SET", "k", "v", "KEEPTTL", "EX", "5"), ("SET", "k", "v", "BOGUS"), ("SET", "k"),
     ("SET", "k", "v", "EX"), ("EXISTS", "k")],
    [("SET", "k", "v", "PX", "9223372036854775807"), ("SET", "k", "v", "EX", "9223372036854775"),
     ("EXISTS", "k")],
    [("SETNX", "k", "1"), ("SETNX", "k", "2"), ("GET", "k"), ("SETEX", "k", "100", "x"),
     ("TTL", "k"), ("GET", "k"), ("PSETEX", "k", "100000", "y"), ("TTL", "k"),
     ("SETEX", "k", "0", "x"), ("SETEX", "k", "abc", "x"), ("PSETEX", "k", "-1", "x")],
    [("GETSET", "k", "1"), ("GETSET", "k", "2"), ("GETDEL", "k"), ("GETDEL", "k"),
     ("EXISTS", "k")],
    [("SET", "k", "v", "EX", "100"), ("GETEX", "k"), ("TTL", "k"), ("GETEX", "k", "PERSIST"),
     ("TTL", "k"), ("GETEX", "k", "EX", "50"), ("TTL", "k"), ("GETEX", "k", "PX", "70000"),
     ("TTL", "k"), ("GETEX", "k", "EXAT", "99999999999"), ("GETEX", "missing", "EX", "5"),
     ("GETEX", "k", "EX", "5", "PX", "10"), ("GETEX", "k", "EX", "0"), ("GETEX", "k", "FOO"),
     ("GETEX", "k", "PERSIST", "EX", "10")],
    # multi-key
    [("MSET", "a", "1", "b", "2"), ("MGET", "a", "b", "c"), ("MSET", "a"),
     ("MSETNX", "c", "3", "a", "9"), ("MSETNX", "c", "3", "d", "4"), ("MGET", "a", "c", "d"),
     ("MSETNX", "x")],
    # counters
    [("INCR", "n"), ("INCRBY", "n", "10"), ("DECR", "n"), ("DECRBY", "n", "5"),
     ("INCRBY", "n", "-3"), ("GET", "n"), ("INCRBY", "n", "1.5"), ("INCRBY", "n", "x"),
     ("DECRBY", "n", "")],
    [("SET", "n", "9223372036854775807"), ("INCR", "n"), ("SET", "n", "-9223372036854775808"),
     ("DECR", "n"), ("DECRBY", "n", "-9223372036854775808"), ("GET", "n")],
    [("SET", "n", "abc"), ("INCR", "n"), ("SET", "n", " 1"), ("INCR", "n"), ("SET", "n", "01"),
     ("INCR", "n"), ("SET", "n", "1.0"), ("INCR", "n"), ("SET", "n", "+1"), ("INCR", "n"),
     ("SET", "n", "10"), ("INCR", "n"), ("GET", "n")],
    [("INCRBYFLOAT", "f", "1.5"), ("INCRBYFLOAT", "f", "0.1"), ("INCRBYFLOAT", "f", "-1.6"),
     ("GET", "f"), ("INCRBYFLOAT", "f", "5.0e3"), ("INCRBYFLOAT", "f", "abc"),
     ("INCRBYFLOAT", "f", "inf"), ("SET", "g", "x"), ("INCRBYFLOAT", "g", "1"),
     ("SET", "g", "3"), ("INCRBYFLOAT", "g", "1"), ("INCRBYFLOAT", "g", "1.10000")],
    [("SET", "n", "5", "EX", "100"), ("INCR", "n"), ("TTL", "n"), ("INCRBYFLOAT", "n", "1"),
     ("TTL", "n")],
    # byte ranges
    [("APPEND", "k", "Hello"), ("APPEND", "k", " World"), ("GET", "k"), ("STRLEN", "k"),
     ("GETRANGE", "k", "0", "4"), ("GETRANGE", "k", "-5", "-1"), ("GETRANGE", "k", "5", "2"),
     ("GETRANGE", "k", "-100", "100"), ("GETRANGE", "k", "20", "30"),
     ("GETRANGE", "missing", "0", "-1"), ("SUBSTR", "k", "0", "2"), ("GETRANGE", "k", "a", "1")],
    [("SETRANGE", "k", "5", "abc"), ("GET", "k"), ("SETRANGE", "k", "0", "XY"), ("GET", "k"),
     ("SETRANGE", "k", "-1", "x"), ("SETRANGE", "e", "0", ""), ("EXISTS", "e"),
     ("SETRANGE", "k", "536870912", "x"), ("SETRANGE", "k", "2", ""), ("STRLEN", "k")],
    # wrong types and arity
    [("RPUSH", "l", "a"), ("GET", "l"), ("SET", "l", "x", "GET"), ("INCR", "l"),
     ("APPEND", "l", "x"), ("STRLEN", "l"), ("GETRANGE", "l", "0", "1"),
     ("SETRANGE", "l", "0", "x"), ("GETDEL", "l"), ("GETEX", "l"), ("MGET", "l", "x"),
     ("SET", "l", "x"), ("GET", "l")],
    [("GET",), ("GET", "a", "b"), ("MGET",), ("INCR",), ("APPEND", "k"), ("STRLEN",),
     ("SETNX", "k"), ("GETRANGE", "k", "0"), ("NOSUCHCOMMAND", "x"), ("get", "k")],
    # binary-safe values
    [("SET", "bin", "a\x00b\r\nc"), ("GET", "bin"), ("STRLEN", "bin"), ("SET", "", "empty"),
     ("GET", "")],
]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("case", params(CASES))
def test_same_replies_as_redis(fam, case, protocol):
    fam.diff(case, protocol)


@pytest.mark.parametrize("protocol", [2, 3])
def test_redispy_cluster_client_through_follower(fam, protocol):
    rc = fam.cluster_client(protocol)
    try:
        rc.flushall()
        assert rc.set("s:{x}a", "1") is True
        assert rc.set("s:{x}a", "2", nx=True) is None
        assert rc.set("s:{x}a", "3", xx=True, get=True) == b"1"
        assert rc.mset({"s:{x}b": "b", "s:{x}c": "c"}) is True
        assert rc.mget("s:{x}a", "s:{x}b", "s:{x}c", "s:{x}d") == [b"3", b"b", b"c", None]
        assert rc.incrbyfloat("s:{x}f", 2.5) == 2.5
        assert rc.incrby("s:{x}n", 7) == 7
        assert rc.getrange("s:{x}b", 0, -1) == b"b"
        assert rc.set("s:{x}t", "v", ex=100) is True
        assert 0 < rc.ttl("s:{x}t") <= 100
        assert rc.getdel("s:{x}a") == b"3"
        assert rc.get("s:{x}a") is None
    finally:
        rc.close()


def test_pttl_counts_down_in_milliseconds(fam):
    r = fam.leader_client()
    try:
        assert r.set("ms", "v", px=60_000)
        pttl = r.pttl("ms")
        assert 50_000 < pttl <= 60_000
        assert r.pexpiretime("ms") > 0
        assert r.getex("ms", px=5_000) == b"v"
        assert 0 < r.pttl("ms") <= 5_000
    finally:
        r.close()
