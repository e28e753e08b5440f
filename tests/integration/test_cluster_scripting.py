"""Lua scripting on a real 3-node cluster: a runaway script is stopped by the
deterministic budget at the same point on every replica while the cluster keeps
serving; scripts route by their first key; read-only scripts are reads; scripts and
functions survive a restart of every node (from snapshot and log tail); EVAL through
the session client is applied exactly once across leader kills."""

from __future__ import annotations

import random
import threading
import time

import pytest
import redis

from raftredis.commands.slots import key_slot
from raftredis.statemachine.scripting.engine import KILLED
from tests.integration.harness import Cluster, wait_for
from tests.integration.test_client_sessions import SEED, Incrementer, check_counters, run_chaos

RUNAWAY = "while true do redis.call('incr', KEYS[1]) end"
LIB = """#!lua name=counters
redis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)
redis.register_function{function_name='peek', callback=function(keys)
  return redis.call('get', keys[1]) end, flags={'no-writes'}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # A low snapshot threshold, so the restart test recovers from a snapshot too.
    c = Cluster(tmp_path_factory.mktemp("scripting"), extra=["--snapshot-threshold", "40"])
    c.start()
    try:
        c.wait_leader(timeout=30)
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def client(c: Cluster, i: int, **kw) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=c.nodes[i].port, socket_timeout=10, **kw)


def replica_value(c: Cluster, i: int, key: str) -> bytes | None:
    r = client(c, i)
    r.execute_command("READONLY")
    return r.get(key)


def wait_all_applied(c: Cluster, lead: int) -> None:
    index = c.commit_index(lead)
    for i in c.nodes:
        c.wait_applied(i, index)


def test_runaway_script_is_stopped_identically_everywhere(cluster: Cluster) -> None:
    lead = cluster.wait_leader()
    r = client(cluster, lead)
    term = cluster.info(lead)["raft_term"]
    started = time.monotonic()
    with pytest.raises(redis.ResponseError) as err:
        r.eval(RUNAWAY, 1, "runaway")
    took = time.monotonic() - started
    assert KILLED.removeprefix("ERR ") in str(err.value)
    # The cluster keeps serving: writes and reads go through right after.
    assert r.set("after", "ok") is True and r.get("after") == b"ok"
    wait_all_applied(cluster, lead)
    values = {i: replica_value(cluster, i, "runaway") for i in cluster.nodes}
    assert len(set(values.values())) == 1, values  # the same number of INCRs everywhere
    assert int(values[lead] or 0) > 100
    print(f"runaway script stopped after {took:.3f}s, {values[lead]!r} increments, "
          f"term {term} -> {cluster.info(lead)['raft_term']}")


def test_followers_redirect_scripts_by_their_first_key(cluster: Cluster) -> None:
    lead = cluster.wait_leader()
    follower = next(i for i in cluster.nodes if i != lead)
    wait_for(lambda: cluster.info(follower)["raft_leader_id"] == str(lead), 10,
             "follower sees leader")
    with pytest.raises(redis.ResponseError) as err:
        client(cluster, follower).eval("return redis.call('get', KEYS[1])", 1, "{user1}x")
    assert isinstance(err.value, redis.exceptions.MovedError)  # redis-py strips "MOVED "
    assert str(err.value) == f"{key_slot(b'{user1}x')} 127.0.0.1:{cluster.nodes[lead].port}"


def test_read_only_scripts_are_reads_without_log_entries(cluster: Cluster) -> None:
    lead = cluster.wait_leader()
    r = client(cluster, lead)
    r.set("ro", "v")
    sha = r.script_load("#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])")
    wait_all_applied(cluster, lead)
    before = cluster.commit_index(lead)
    for _ in range(30):
        assert r.eval_ro("return redis.call('get', KEYS[1])", 1, "ro") == b"v"
        assert r.evalsha(sha, 1, "ro") == b"v"
        assert r.eval("#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", 1, "ro") == b"v"
    # 90 read-only scripts; an idle cluster's leader proposes nothing else meanwhile
    # (a log entry each would have added 90).
    assert cluster.commit_index(lead) - before < 10
    with pytest.raises(redis.ResponseError, match="Write commands are not allowed"):
        r.eval_ro("return redis.call('set', KEYS[1], 'x')", 1, "ro")
    # A READONLY follower runs it on its own (possibly stale) copy.
    follower = next(i for i in cluster.nodes if i != lead)
    f = client(cluster, follower)
    f.execute_command("READONLY")
    assert f.eval_ro("return redis.call('get', KEYS[1])", 1, "ro") == b"v"


def test_scripts_inside_multi_and_watch(cluster: Cluster) -> None:
    lead = cluster.wait_leader()
    r = client(cluster, lead)
    r.delete("m")
    with r.pipeline(transaction=True) as p:
        p.set("m", 1)
        p.eval("return redis.call('incrby', KEYS[1], ARGV[1])", 1, "m", 5)
        p.get("m")
        assert p.execute() == [True, 6, b"6"]
    # WATCH sees a script's write as a change of the key.
    w = client(cluster, lead)
    with w.pipeline(transaction=True) as p:
        p.watch("m")
        r.eval("return redis.call('incr', KEYS[1])", 1, "m")
        p.multi()
        p.set("m", "lost")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("m") == b"7"


def test_scripts_and_functions_survive_a_restart(cluster: Cluster) -> None:
    lead = cluster.wait_leader()
    r = client(cluster, lead)
    sha = r.script_load("return 'loaded ' .. ARGV[1]")
    r.function_load(LIB, replace=True)
    for _ in range(60):  # past the snapshot threshold: the state comes back from a snapshot
        r.fcall("bump", 1, "fn")
    wait_all_applied(cluster, lead)
    for i in cluster.nodes:
        cluster.kill(i)
    cluster.start()
    lead = cluster.wait_leader(timeout=30)
    r = client(cluster, lead)
    assert wait_for(lambda: r.evalsha(sha, 0, "x"), 20, "EVALSHA after restart") == b"loaded x"
    assert r.fcall("bump", 1, "fn") == 61
    assert r.fcall_ro("peek", 1, "fn") == b"61"
    assert r.script_exists(sha) == [True]
    (lib,) = r.function_list()  # RESP2: [b"library_name", b"counters", ...]
    assert lib[:2] == [b"library_name", b"counters"]


EVAL_INCR = "return redis.call('incr', KEYS[1])"


@pytest.fixture
def chaos_cluster(tmp_path):
    c = Cluster(tmp_path, extra=["--snapshot-threshold", "400"]).start()
    try:
        c.wait_leader(timeout=30)
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def test_exactly_once_eval_incr_while_leader_is_killed(chaos_cluster: Cluster) -> None:
    """EVAL INCRs through the session client while the leader is killed -9: no
    acknowledged increment lost, none applied twice (the script is one logged command,
    so the session table dedups its retry like any other)."""
    rng = random.Random(SEED)
    stop = threading.Event()
    workers = [Incrementer(i, chaos_cluster, stop, 300) for i in range(3)]
    for w in workers:
        client = w.client
        client.incr = lambda key, c=client: c.execute("EVAL", EVAL_INCR, 1, key)  # type: ignore[method-assign]
        w.start()
    try:
        events = run_chaos(chaos_cluster, 2, rng, workers)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=60)
    assert not any(w.is_alive() for w in workers)
    summary = check_counters(chaos_cluster, workers)
    print(f"EVAL INCR under kills {events}: per client (ok, doubt, not applied, value)={summary}")
    assert len(events) == 2
