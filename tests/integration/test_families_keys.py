"""Generic key commands and TTLs on a running 3-node cluster, compared with redis-server,
plus expiry that really happens (through the log) and SCAN over the wire."""

from __future__ import annotations

import pytest

from tests.integration.families_support import family_fixture, params
from tests.integration.harness import wait_for

fam = family_fixture("keys")

FAR = "99999999999"  # an absolute time far in the future (seconds)

CASES = [
    [("SET", "a", "1"), ("SET", "b", "2"), ("DEL", "a", "b", "c"), ("DEL", "a"),
     ("SET", "a", "1"), ("UNLINK", "a", "x"), ("EXISTS", "a")],
    [("SET", "a", "1"), ("EXISTS", "a", "a", "b"), ("TOUCH", "a", "b", "a"), ("EXISTS",),
     ("DEL",)],
    [("SET", "s", "1"), ("RPUSH", "l", "x"), ("HSET", "h", "f", "v"), ("SADD", "st", "m"),
     ("ZADD", "z", "1", "m"), ("TYPE", "s"), ("TYPE", "l"), ("TYPE", "h"), ("TYPE", "st"),
     ("TYPE", "z"), ("TYPE", "none")],
    [("SET", "a", "1"), ("RENAME", "a", "b"), ("GET", "b"), ("EXISTS", "a"),
     ("RENAME", "nope", "c"), ("SET", "c", "3"), ("RENAME", "b", "c"), ("GET", "c"),
     ("RENAME", "c", "c"), ("GET", "c"), ("RENAMENX", "c", "d"), ("SET", "e", "5"),
     ("RENAMENX", "d", "e"), ("RENAMENX", "missing", "z"), ("RENAMENX", "e", "e")],
    [("SET", "a", "1", "EX", "100"), ("RENAME", "a", "b"), ("TTL", "b"), ("RPUSH", "l", "x"),
     ("RENAME", "l", "b"), ("TYPE", "b"), ("TTL", "b")],
    [("SET", "a", "1", "EX", "100"), ("COPY", "a", "b"), ("GET", "b"), ("TTL", "b"),
     ("SET", "c", "3"), ("COPY", "a", "c"), ("COPY", "a", "c", "REPLACE"), ("GET", "c"),
     ("COPY", "missing", "z"), ("COPY", "a", "d", "BOGUS"), ("HSET", "h", "f", "v"),
     ("COPY", "h", "h2"), ("HGETALL", "h2"), ("COPY", "a", "a")],
    [("MSET", "one", "1", "two", "2", "three", "3", "four", "4", "h{llo", "x"),
     ("~KEYS", "*"), ("~KEYS", "t*"), ("~KEYS", "*o*"), ("~KEYS", "?wo"), ("~KEYS", "[ot]*"),
     ("~KEYS", "[^o]*"), ("~KEYS", "h\\{*"), ("~KEYS", "nomatch*"), ("DBSIZE",)],
    [("SET", "a", "1"), ("SET", "b", "2"), ("FLUSHDB",), ("DBSIZE",), ("SET", "a", "1"),
     ("FLUSHALL", "SYNC"), ("DBSIZE",), ("FLUSHALL", "ASYNC"), ("FLUSHALL", "BOGUS"),
     ("FLUSHDB", "SYNC")],
    [("RANDOMKEY",), ("SET", "only", "1"), ("RANDOMKEY",)],
    # TTL family
    [("SET", "k", "v"), ("TTL", "k"), ("PTTL", "k"), ("TTL", "missing"), ("PTTL", "missing"),
     ("EXPIRETIME", "k"), ("EXPIRETIME", "missing"), ("PEXPIRETIME", "k"),
     ("EXPIRE", "k", "100"), ("TTL", "k"), ("PERSIST", "k"), ("PERSIST", "k"), ("TTL", "k"),
     ("EXPIRE", "missing", "10"), ("PERSIST", "missing")],
    [("SET", "k", "v"), ("PEXPIRE", "k", "100000"), ("TTL", "k"), ("EXPIREAT", "k", FAR),
     ("EXPIRETIME", "k"), ("PEXPIREAT", "k", FAR + "000"), ("PEXPIRETIME", "k"),
     ("EXPIRETIME", "k")],
    [("SET", "k", "v"), ("EXPIRE", "k", "0"), ("EXISTS", "k"), ("SET", "k", "v"),
     ("EXPIRE", "k", "-10"), ("EXISTS", "k"), ("SET", "k", "v"), ("EXPIREAT", "k", "1"),
     ("EXISTS", "k"), ("SET", "k", "v"), ("PEXPIREAT", "k", "1000"), ("GET", "k")],
    [("SET", "k", "v"), ("EXPIRE", "k", "abc"), ("EXPIRE", "k", "1.5"), ("EXPIRE", "k"),
     ("EXPIRE", "k", "9223372036854775807"), ("PEXPIRE", "k", "9223372036854775807"),
     ("EXPIREAT", "k", "9223372036854775807"), ("TTL", "k")],
    [("SET", "k", "v"), ("EXPIRE", "k", "100", "XX"), ("EXPIRE", "k", "100", "NX"),
     ("EXPIRE", "k", "50", "NX"), ("EXPIRE", "k", "200", "XX"), ("TTL", "k"),
     ("EXPIRE", "k", "100", "GT"), ("EXPIRE", "k", "300", "GT"), ("TTL", "k"),
     ("EXPIRE", "k", "400", "LT"), ("EXPIRE", "k", "150", "LT"), ("TTL", "k"),
     ("EXPIRE", "k", "10", "NX", "XX"), ("EXPIRE", "k", "10", "GT", "LT"),
     ("EXPIRE", "k", "10", "NX", "GT"), ("EXPIRE", "k", "10", "BOGUS"), ("PERSIST", "k"),
     ("EXPIRE", "k", "10", "GT"), ("EXPIRE", "k", "10", "LT"), ("TTL", "k")],
    [("HSET", "h", "f", "v"), ("EXPIRE", "h", "100"), ("TTL", "h"), ("TYPE", "h"),
     ("PERSIST", "h"), ("TTL", "h")],
    # errors
    [("TYPE",), ("RENAME", "a"), ("TTL",), ("EXPIRE",), ("KEYS",), ("DBSIZE", "x"),
     ("OBJECT",), ("OBJECT", "BOGUS", "k"), ("RANDOMKEY", "x"), ("PERSIST",)],
    [("SET", "k", "v"), ("OBJECT", "REFCOUNT", "k"), ("OBJECT", "ENCODING", "missing")],
]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("case", params(CASES))
def test_same_replies_as_redis(fam, case, protocol):
    fam.diff(case, protocol)


def test_object_encoding_names_are_redis_names(fam):
    """OBJECT ENCODING answers one of Redis's encoding names for each type (the exact
    choice is an implementation detail, so any of the names Redis could give passes)."""
    r = fam.leader_client()
    try:
        r.flushall()
        r.set("int", 12)
        r.set("str", "x" * 100)
        r.rpush("l", "a")
        r.hset("h", "f", "v")
        r.sadd("s", "m")
        r.zadd("z", {"m": 1})
        allowed = {
            "int": {b"int"}, "str": {b"raw", b"embstr"}, "l": {b"listpack", b"quicklist"},
            "h": {b"listpack", b"hashtable"}, "s": {b"intset", b"listpack", b"hashtable"},
            "z": {b"listpack", b"skiplist"},
        }
        for key, names in allowed.items():
            assert r.object("encoding", key) in names, key
    finally:
        r.close()


def test_ttl_expiry_really_removes_keys(fam):
    lead = fam.leader_client()
    rc = fam.cluster_client()
    try:
        lead.flushall()
        assert rc.set("exp:{t}a", "1", px=150)
        assert rc.set("exp:{t}b", "2")
        assert rc.pexpire("exp:{t}b", 150)
        rc.rpush("exp:{t}l", "x")
        assert rc.expire("exp:{t}l", 1)
        wait_for(lambda: rc.exists("exp:{t}a", "exp:{t}b", "exp:{t}l") == 0, 10,
                 "the keys to expire")
        assert rc.get("exp:{t}a") is None
        # The leader proposes the deletes through the log, so DBSIZE (which, as in
        # Redis, still counts expired keys not yet removed) drops to 0 on its own.
        wait_for(lambda: lead.dbsize() == 0, 10, "expired keys to be deleted")
        assert rc.ttl("exp:{t}a") == -2
    finally:
        rc.close()
        lead.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_scan_visits_every_key_once_with_match_count_type(fam, protocol):
    r = fam.leader_client(protocol)
    try:
        r.flushall()
        r.mset({f"scan:{i}": i for i in range(300)})
        for i in range(20):
            r.rpush(f"scanl:{i}", "x")
        seen = list(r.scan_iter(count=17))
        assert len(seen) == len(set(seen)) == 320
        assert set(r.scan_iter(match="scan:1*", count=50)) == {
            f"scan:{i}".encode() for i in range(300) if str(i).startswith("1")}
        assert set(r.scan_iter(_type="list")) == {f"scanl:{i}".encode() for i in range(20)}
        cursor, keys = r.scan(0, count=1000)
        assert cursor == 0 and len(keys) == 320
        with pytest.raises(Exception, match="invalid cursor"):
            r.execute_command("SCAN", "abc")
        with pytest.raises(Exception, match="syntax error"):
            r.execute_command("SCAN", "0", "COUNT", "0")
    finally:
        r.close()
