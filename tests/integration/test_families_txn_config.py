"""MULTI/EXEC/WATCH and CONFIG on a running 3-node cluster: replies compared with
redis-server, a WATCHed key changed by another client aborts EXEC, CONFIG SET of a
cluster-wide setting reaches the followers."""

from __future__ import annotations

import pytest
import redis

from tests.integration.families_support import family_fixture, params
from tests.integration.harness import wait_for

fam = family_fixture("txn")

TXN_CASES = [
    [("MULTI",), ("SET", "a", "1"), ("INCR", "a"), ("RPUSH", "l", "x", "y"), ("GET", "a"),
     ("EXEC",), ("GET", "a")],
    [("MULTI",), ("EXEC",), ("EXEC",), ("DISCARD",)],
    [("MULTI",), ("SET", "a", "1"), ("DISCARD",), ("GET", "a"), ("MULTI",), ("MULTI",),
     ("DISCARD",)],
    # a runtime error inside EXEC fails only its own command
    [("SET", "s", "x"), ("MULTI",), ("INCR", "s"), ("SET", "t", "1"), ("LPUSH", "s", "a"),
     ("EXEC",), ("GET", "t")],
    # queue-time errors abort the whole transaction
    [("MULTI",), ("SET", "a", "1"), ("NOSUCHCMD",), ("EXEC",), ("GET", "a")],
    [("MULTI",), ("SET", "a"), ("SET", "b", "2"), ("EXEC",), ("EXISTS", "b")],
    [("MULTI",), ("WATCH", "a"), ("SET", "a", "1"), ("EXEC",)],
    [("WATCH", "a"), ("SET", "a", "mine"), ("MULTI",), ("GET", "a"), ("EXEC",)],
    [("WATCH", "a"), ("UNWATCH",), ("MULTI",), ("PING",), ("ECHO", "x"), ("EXEC",)],
    [("WATCH",), ("MULTI", "x"), ("DISCARD", "x")],
    [("MULTI",), ("SET", "a", "1"), ("EXEC", "x"), ("EXEC",), ("GET", "a")],
    # What breaks a WATCH, and what does not (Redis's signalModifiedKey)
    [("SET", "a", "1"), ("WATCH", "a"), ("SET", "a", "1"), ("MULTI",), ("EXEC",)],
    [("SET", "a", "1"), ("WATCH", "a"), ("INCR", "a"), ("MULTI",), ("PING",), ("EXEC",)],
    [("SET", "a", "1"), ("WATCH", "a"), ("FLUSHALL",), ("MULTI",), ("GET", "a"), ("EXEC",)],
    [("SET", "a", "1"), ("WATCH", "a"), ("FLUSHDB",), ("MULTI",), ("GET", "a"), ("EXEC",)],
    [("WATCH", "a"), ("FLUSHALL",), ("MULTI",), ("GET", "a"), ("EXEC",)],
    [("SET", "a", "1"), ("WATCH", "a"), ("EXPIRE", "a", "100"), ("MULTI",), ("GET", "a"),
     ("EXEC",)],
    [("SET", "a", "1"), ("WATCH", "a"), ("EXPIRE", "a", "100", "XX"), ("MULTI",),
     ("GET", "a"), ("EXEC",)],
    [("SET", "a", "1"), ("WATCH", "a"), ("EXPIRE", "a", "-1"), ("MULTI",), ("GET", "a"),
     ("EXEC",)],
    [("SET", "a", "1"), ("WATCH", "a"), ("PERSIST", "a"), ("MULTI",), ("GET", "a"), ("EXEC",)],
    [("WATCH", "a"), ("DEL", "a"), ("MULTI",), ("GET", "a"), ("EXEC",)],
    [("SADD", "s", "x"), ("WATCH", "s"), ("SADD", "s", "x"), ("MULTI",), ("SCARD", "s"),
     ("EXEC",)],
    [("SET", "a", "1"), ("WATCH", "a"), ("SET", "a", "2", "NX"), ("MULTI",), ("GET", "a"),
     ("EXEC",)],
    [("WATCH", "a"), ("SET", "a", "2", "GET"), ("MULTI",), ("GET", "a"), ("EXEC",)],
    # never queued
    [("MULTI",), ("SAVE",), ("SET", "a", "1"), ("EXEC",), ("GET", "a")],
    [("MULTI",), ("SHUTDOWN",), ("DISCARD",), ("MULTI",), ("SHUTDOWN", "NOSAVE"), ("EXEC",)],
]

CONFIG_CASES = [
    [("CONFIG",), ("CONFIG", "GET"), ("CONFIG", "SET", "maxclients"), ("CONFIG", "BOGUS"),
     ("CONFIG", "SET", "no-such-option", "1")],
    # settings without an effect here answer Redis's defaults
    *[[("CONFIG", "GET", name)] for name in (
        "list-max-listpack-size", "hash-max-listpack-value", "zset-max-listpack-entries",
        "zset-max-listpack-value", "set-max-intset-entries", "no-such-option",
        "proto-max-bulk-len", "list-compress-depth", "hz",
        "maxmemory-policy", "lua-time-limit", "timeout", "tcp-keepalive", "io-threads")],
    [("CONFIG", "GET", "hash-max-listpack-entries")],
]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("case", params(TXN_CASES + CONFIG_CASES))
def test_same_replies_as_redis(fam, case, protocol):
    fam.diff(case, protocol)


@pytest.mark.parametrize("protocol", [2, 3])
def test_watched_key_changed_by_another_client_aborts_exec(fam, protocol):
    r = fam.leader_client(protocol)
    other = fam.cluster_client(protocol)  # the change arrives through a follower's MOVED
    try:
        r.flushall()
        r.set("w:{k}", 1)
        with r.pipeline() as p:
            p.watch("w:{k}")
            assert other.incr("w:{k}") == 2
            p.multi()
            p.set("w:{k}", 100)
            p.set("w:{k}other", 1)
            with pytest.raises(redis.WatchError):
                p.execute()
        assert r.get("w:{k}") == b"2"
        assert r.exists("w:{k}other") == 0  # nothing of the aborted transaction ran
        # Unchanged, the same transaction commits.
        with r.pipeline() as p:
            p.watch("w:{k}")
            p.multi()
            p.incr("w:{k}")
            p.hset("w:{k}h", "f", "v")
            assert p.execute() == [3, 1]
    finally:
        other.close()
        r.close()


def test_watch_sees_changes_of_every_type(fam):
    """Creating the watched key as any type, deleting it or giving it a TTL all abort."""
    r = fam.leader_client()
    other = fam.leader_client()
    changes = {
        "rpush": (False, lambda: other.rpush("wt", "x")),
        "hset": (False, lambda: other.hset("wt", "f", "v")),
        "sadd": (False, lambda: other.sadd("wt", "m")),
        "zadd": (False, lambda: other.zadd("wt", {"m": 1})),
        "del": (True, lambda: other.delete("wt")),
        "expire": (True, lambda: other.expire("wt", 100)),
        "append": (True, lambda: other.append("wt", "x")),
    }
    try:
        for name, (exists, change) in changes.items():
            r.flushall()
            if exists:
                other.set("wt", "before")
            with r.pipeline() as p:
                p.watch("wt")
                change()
                p.multi()
                p.set("wt", "mine")
                with pytest.raises(redis.WatchError):
                    p.execute()
                    pytest.fail(f"EXEC ran after {name} changed the watched key")
    finally:
        other.close()
        r.close()


def test_transaction_replicates_atomically(fam):
    """EXEC is one log entry: a follower shows all of it or none of it."""
    r = fam.leader_client()
    try:
        r.flushall()
        with r.pipeline(transaction=True) as p:
            p.set("tx:a", 1).rpush("tx:l", "a", "b").sadd("tx:s", "m").zadd("tx:z", {"m": 2})
            p.set("tx:done", 1)
            assert p.execute() == [True, 2, 1, 1, True]
        for i in fam.cluster.nodes:
            if i == fam.leader():
                continue
            f = redis.Redis(port=fam.port(i), socket_timeout=15)
            try:
                f.execute_command("READONLY")
                wait_for(lambda f=f: f.exists("tx:done"), 10, f"node{i} to apply the EXEC")
                assert f.get("tx:a") == b"1"
                assert f.lrange("tx:l", 0, -1) == [b"a", b"b"]
                assert f.smembers("tx:s") == {b"m"}
                assert f.zscore("tx:z", "m") == 2.0
            finally:
                f.close()
    finally:
        r.close()


def test_config_get_patterns_and_set(fam):
    r = fam.leader_client()
    try:
        everything = r.config_get("*")
        assert len(everything) > 40
        lists = r.config_get("list-*")
        assert lists and all(k.startswith("list-") for k in lists)
        assert lists == {k: v for k, v in everything.items() if k.startswith("list-")}
        # Values this server really uses (a replicated store with fsync, no RDB).
        assert r.config_get("appendonly") == {"appendonly": "yes"}
        assert r.config_get("save") == {"save": ""}
        assert r.config_get("databases") == {"databases": "1"}  # one keyspace, truthfully
        with pytest.raises(redis.ResponseError, match="Unknown option|unsupported"):
            r.config_set("no-such-option", "1")
        assert r.config_set("raft-snapshot-threshold", "2000")
        for i in fam.cluster.nodes:
            f = redis.Redis(port=fam.port(i), socket_timeout=15)
            try:
                wait_for(lambda f=f: f.config_get("raft-snapshot-threshold")
                         == {"raft-snapshot-threshold": "2000"}, 10, f"node{i} to apply it")
            finally:
                f.close()
    finally:
        r.close()


def test_watched_key_that_expires_in_between_aborts_exec(fam):
    r = fam.leader_client()
    other = fam.leader_client()
    try:
        r.flushall()
        r.set("we", 1, px=3000)  # (WATCH must come before it expires, even on a loaded box)
        with r.pipeline() as p:
            p.watch("we")
            wait_for(lambda: other.exists("we") == 0, 20, "the watched key to expire")
            p.multi()
            p.set("we:after", 1)
            with pytest.raises(redis.WatchError):
                p.execute()
        assert r.exists("we:after") == 0
        # Expired before WATCH: it was already missing, so the transaction runs, even
        # when the leader's expiry delete reaches the log after the WATCH (a race each
        # round: the delete comes within active_expire_ms).
        for _ in range(5):
            r.set("we", 1, px=1)
            wait_for(lambda: other.exists("we") == 0, 10, "the key to expire")
            with r.pipeline() as p:
                p.watch("we")
                p.multi()
                p.set("we:after", 1)
                assert p.execute() == [True]
    finally:
        other.close()
        r.close()


def test_stored_parameter_goes_through_the_log(fam):
    """A Redis parameter that only tunes Redis's encodings is accepted, validated as
    Redis does, and every node answers the new value, under both of its names."""
    r = fam.leader_client()
    try:
        with pytest.raises(redis.ResponseError, match="argument must be between 0 and"):
            r.config_set("hash-max-listpack-entries", "-1")
        assert r.config_set("hash-max-ziplist-entries", "77")
        for i in fam.cluster.nodes:
            f = redis.Redis(port=fam.port(i), socket_timeout=15, decode_responses=True)
            try:
                wait_for(lambda f=f: f.config_get("hash-max-listpack-entries")
                         == {"hash-max-listpack-entries": "77"}, 10, f"node{i} to apply it")
                assert f.config_get("hash-max-ziplist-entries") == {
                    "hash-max-ziplist-entries": "77"}
            finally:
                f.close()
    finally:
        r.config_set("hash-max-listpack-entries", "512")
        r.close()
