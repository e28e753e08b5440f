"""MULTI/EXEC/WATCH and blocking list commands on a real one-node Raft server, and
transactions sent to a follower of a 3-node cluster."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.integration.harness import Cluster, wait_for


@pytest.fixture
def r(server):
    client = redis.Redis(host=server.host, port=server.port, socket_timeout=10)
    client.flushall()
    yield client
    client.close()


def test_multi_exec_is_atomic_and_ordered(r):
    p = r.pipeline(transaction=True)
    p.set("a", 1).incr("a").lpush("l", "x", "y").get("a")
    assert p.execute() == [True, 2, 2, b"2"]


def test_exec_after_watch_without_change_runs(r):
    r.set("w", 1)
    with r.pipeline() as p:
        p.watch("w")
        p.multi()
        p.incr("w")
        assert p.execute() == [2]


def test_exec_aborts_when_watched_key_changes(r, server):
    other = redis.Redis(host=server.host, port=server.port)
    r.set("w", 1)
    with r.pipeline() as p:
        p.watch("w")
        other.set("w", 5)  # a change between WATCH and EXEC
        p.multi()
        p.incr("w")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("w") == b"5"


def test_exec_aborts_when_watched_key_expires(r):
    r.set("ttl", 1, px=150)
    with r.pipeline() as p:
        p.watch("ttl")
        wait_for(lambda: r.exists("ttl") == 0, 5, "the key to expire")
        p.multi()
        p.set("ttl", 2)
        with pytest.raises(redis.WatchError):
            p.execute()


def test_unwatch_and_flush(r, server):
    other = redis.Redis(host=server.host, port=server.port)
    r.set("u", 1)
    with r.pipeline() as p:
        p.watch("u")
        other.flushall()
        p.multi()
        p.set("u", 2)
        with pytest.raises(redis.WatchError):
            p.execute()
    with r.pipeline() as p:
        p.watch("u")
        p.unwatch()
        other.set("u", 3)
        p.multi()
        p.set("u", 4)
        assert p.execute() == [True]


def test_queue_errors_give_execabort(r):
    r.execute_command("MULTI")
    r.execute_command("SET", "q", "1")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
        r.execute_command("SET", "q")
    with pytest.raises(redis.exceptions.ExecAbortError):
        r.execute_command("EXEC")
    assert r.get("q") is None


def test_blpop_waits_for_a_push(r, server):
    got: list = []
    blocked = redis.Redis(host=server.host, port=server.port, socket_timeout=20)

    def waiter() -> None:
        got.append(blocked.blpop(["bq1", "bq2"], timeout=10))

    t = threading.Thread(target=waiter)
    t.start()
    # The waiter is blocked once the server counts it (INFO clients); then a push releases it.
    wait_for(lambda: r.info("clients")["blocked_clients"] == 1, 5, "the waiter to block")
    assert t.is_alive()
    r.rpush("bq2", "hello")
    t.join(timeout=15)
    assert got == [(b"bq2", b"hello")]
    assert r.llen("bq2") == 0


def test_blpop_times_out_with_null(r):
    start = time.monotonic()
    assert r.blpop(["nothing-here"], timeout=0.2) is None
    assert time.monotonic() - start >= 0.19
    assert r.blmove("nothing-here", "dst", 0.1) is None


def test_blocking_argument_errors(r):
    with pytest.raises(redis.ResponseError, match="timeout is not a float or out of range"):
        r.execute_command("BLPOP", "k", "abc")
    with pytest.raises(redis.ResponseError, match="timeout is negative"):
        r.execute_command("BLPOP", "k", "-1")


def test_blpop_returns_at_once_when_data_exists(r):
    r.rpush("ready", "a", "b")
    assert r.brpop(["ready"], timeout=1) == (b"ready", b"b")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("txn")).start()
    try:
        c.wait_leader(timeout=30)
        yield c
    finally:
        c.stop()


def test_transaction_on_follower_is_redirected_before_anything_runs(cluster):
    lead = cluster.wait_leader()
    follower = next(i for i in cluster.nodes if i != lead)
    wait_for(lambda: cluster.info(follower)["raft_leader_id"] == str(lead), 10, "leader known")
    f = redis.Redis(port=cluster.nodes[follower].port)
    f.execute_command("MULTI")
    with pytest.raises(redis.exceptions.MovedError):
        f.execute_command("SET", "txkey", "1")
    with pytest.raises(redis.exceptions.ExecAbortError):
        f.execute_command("EXEC")
    with pytest.raises(redis.exceptions.MovedError):
        f.execute_command("WATCH", "txkey")
    assert redis.Redis(port=cluster.nodes[lead].port).get("txkey") is None
