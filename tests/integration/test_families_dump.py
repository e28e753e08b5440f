"""DUMP / RESTORE on a running 3-node cluster, interoperable with a real redis-server:
a value DUMPed by redis-server RESTOREs here with the same content, and one DUMPed here
RESTOREs into redis-server; errors compared reply for reply (RESP2 and RESP3)."""

from __future__ import annotations

import struct

import pytest
import redis

from raftredis.statemachine.rdbcodec import crc64
from tests.integration.families_support import family_fixture
from tests.integration.harness import wait_for

fam = family_fixture("dump")


def payload(body: bytes, version: int = 10) -> bytes:
    body += struct.pack("<H", version)
    return body + struct.pack("<Q", crc64(body))


HELLO = payload(b"\x00\x05hello")  # the string "hello", as Redis 7.0 dumps it
BAD_CRC = HELLO[:-1] + bytes([HELLO[-1] ^ 1])
FUTURE = payload(b"\x00\x05hello", version=12)
BAD_TYPE = payload(b"\x63\x05hello")
TRUNCATED = payload(b"\x00\x20hello")  # a 32-byte string in 15 bytes
READS_ON = payload(b"\x00\x09hello")  # Redis takes 4 bytes of the footer as the string

CASES = [
    [("DUMP", "missing")],
    [("RESTORE", "k", "0", HELLO), ("GET", "k"), ("DUMP", "k"), ("TTL", "k")],
    [("RESTORE", "k", "0", HELLO), ("RESTORE", "k", "0", HELLO)],
    [("SET", "k", "x"), ("RESTORE", "k", "0", HELLO, "REPLACE"), ("GET", "k")],
    [("RESTORE", "k", "100000", HELLO), ("TTL", "k")],
    [("RESTORE", "k", "1", HELLO, "ABSTTL"), ("EXISTS", "k")],
    [("SET", "k", "x"), ("RESTORE", "k", "1", HELLO, "ABSTTL", "REPLACE"), ("EXISTS", "k")],
    [("RESTORE", "k", "0", BAD_CRC)], [("RESTORE", "k", "0", FUTURE)],
    [("RESTORE", "k", "0", BAD_TYPE)], [("RESTORE", "k", "0", TRUNCATED)],
    [("RESTORE", "k", "0", READS_ON), ("STRLEN", "k")],
    [("SET", "k", "x"), ("RESTORE", "k", "-1", HELLO), ("RESTORE", "k", "x", HELLO, "REPLACE")],
    [("SET", "k", "x"), ("RESTORE", "k", "0", BAD_CRC, "REPLACE"), ("GET", "k")],
    [("RESTORE", "k", "0", HELLO, "IDLETIME", "x")],
    [("RESTORE", "k", "0", "garbage")], [("RESTORE", "k", "-1", HELLO)],
    [("RESTORE", "k", "x", HELLO)], [("RESTORE", "k", "0", HELLO, "BOGUS")],
    [("RESTORE", "k", "0", HELLO, "IDLETIME", "-1")],
    [("RESTORE", "k", "0", HELLO, "FREQ", "256")], [("RESTORE", "k", "0", HELLO, "FREQ")],
    [("RESTORE", "k", "0", HELLO, "IDLETIME", "10"), ("GET", "k")],
    [("SET", "k", "x"), ("RESTORE", "k", "x", BAD_CRC)],
    [("SET", "k", "x"), ("RESTORE", "k", "0", BAD_CRC)],
    [("RESTORE", "k")],
]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("case", [
    pytest.param(c, id=" | ".join(" ".join(a if isinstance(a, str) else "<payload>" for a in cmd)
                                  for cmd in c)) for c in CASES])
def test_same_replies_as_redis(fam, case, protocol):
    fam.diff(case, protocol)


def _fill(r) -> None:
    r.flushall()
    r.set("s:short", "hello")
    r.set("s:int", "12345")
    r.set("s:neg", "-7")
    r.set("s:long", "x" * 300 + "y" * 50)  # LZF-compressed by Redis
    r.set("s:bin", bytes(range(256)))
    r.rpush("l:small", "a", "b", "3", "-200", "70000", "9" * 30)
    r.rpush("l:big", *[str(i) * 10 for i in range(1000)])
    r.sadd("set:ints", "1", "2", "3", "-4")
    r.sadd("set:words", "a", "b", "c")
    r.hset("h:small", mapping={"f": "v", "n": "123"})
    r.hset("h:big", mapping={f"f{i}": "v" * 100 for i in range(600)})
    r.zadd("z:small", {"m": 1.5, "n": -2, "o": 1e300})
    r.zadd("z:big", {f"m{i}": i / 3 for i in range(300)})
    r.pexpire("s:short", 500_000)
    for i in range(250):  # several nodes, and entries whose fields differ from the master's
        r.xadd("x:big", {"a": str(i), "b": "v" * (i % 7)} if i % 3 else {"c": str(-i * 1000)},
               id=f"{1_700_000_000_000 + i // 4}-{i % 4}")
    r.xdel("x:big", "1700000000001-1")
    r.xgroup_create("x:big", "g1", id="0")
    r.xreadgroup("g1", "alice", {"x:big": ">"}, count=5)
    r.xreadgroup("g1", "bob", {"x:big": ">"}, count=2)
    r.xack("x:big", "g1", "1700000000000-1")
    r.xgroup_create("x:big", "g2", id="$")
    r.xgroup_createconsumer("x:big", "g2", "carol")
    r.xadd("x:emptied", {"f": "v"}, id="5-1")
    r.xdel("x:emptied", "5-1")
    r.xgroup_create("x:groupless", "g", id="$", mkstream=True)


def _content(r, key: str) -> object:
    t = r.type(key).decode()
    if t == "string":
        return r.get(key)
    if t == "list":
        return r.lrange(key, 0, -1)
    if t == "set":
        return sorted(r.smembers(key))
    if t == "hash":
        return sorted(r.hgetall(key).items())
    if t == "stream":
        return _stream_content(r, key)
    return r.zrange(key, 0, -1, withscores=True)


def _stream_content(r, key: str) -> object:
    """Entries, counters, groups, pending entries and consumers (not idle times)."""
    info = r.xinfo_stream(key)
    out: list[object] = [r.xrange(key), [info[k] for k in (
        "length", "last-generated-id", "max-deleted-entry-id", "entries-added",
        "recorded-first-entry-id", "groups")]]
    for g in r.xinfo_groups(key):
        name = g["name"]
        out.append(sorted(g.items()))
        out.append([(p["message_id"], p["consumer"], p["times_delivered"])
                    for p in r.xpending_range(key, name, "-", "+", 1000)])
        out.append([(c["name"], c["pending"]) for c in r.xinfo_consumers(key, name)])
    return out


KEYS = ["s:short", "s:int", "s:neg", "s:long", "s:bin", "l:small", "l:big", "set:ints",
        "set:words", "h:small", "h:big", "z:small", "z:big", "x:big", "x:emptied",
        "x:groupless"]


@pytest.mark.parametrize("direction", ["redis->raftredis", "raftredis->redis"])
def test_dump_restores_on_the_other_server(fam, direction):
    ref, raft = fam.ref_client(), fam.leader_client()
    src, dst = (ref, raft) if direction.startswith("redis") else (raft, ref)
    try:
        _fill(src)
        dst.flushall()
        for key in KEYS:
            blob = src.dump(key)
            ttl = max(src.pttl(key), 0)
            assert dst.restore(key, ttl, blob), key
            assert _content(dst, key) == _content(src, key), key
            assert dst.type(key) == src.type(key)
        assert 0 < dst.pttl("s:short") <= 500_000
        # And back again: what the other side dumps restores where it came from.
        for key in KEYS:
            assert src.restore(key + ":back", 0, dst.dump(key)), key
            assert _content(src, key + ":back") == _content(src, key), key
    finally:
        ref.close()
        raft.close()


def test_restore_reaches_every_node(fam):
    raft = fam.leader_client()
    try:
        raft.flushall()
        raft.rpush("repl:l", "a", "b")
        blob = raft.dump("repl:l")
        assert raft.restore("repl:copy", 0, blob)
        for i in fam.cluster.nodes:
            f = redis.Redis(port=fam.port(i), socket_timeout=15)
            try:
                f.execute_command("READONLY")
                wait_for(lambda f=f: f.lrange("repl:copy", 0, -1) == [b"a", b"b"], 10,
                         f"node{i} to apply the RESTORE")
            finally:
                f.close()
    finally:
        raft.close()
