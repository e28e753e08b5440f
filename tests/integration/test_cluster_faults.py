"""Faults with real processes: kill -9 and SIGSTOP of the leader, a lagging follower
that must catch up by snapshot. Each test is bounded and waits on conditions."""

from __future__ import annotations

import socket
import threading
import time

import hiredis
import pytest
import redis
from redis.cluster import RedisCluster

from raftredis.miniclient import encode_command
from tests.integration.harness import Cluster, wait_for


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, extra=["--snapshot-threshold", "300"]).start()
    try:
        c.wait_leader(timeout=30)
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


class Writer(threading.Thread):
    """Writes unique keys through RedisCluster; remembers which writes were acknowledged."""

    def __init__(self, name: str, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.name_ = name
        self.port = port
        self.stop = stop
        self.acked: dict[str, int] = {}
        self.errors: list[str] = []

    def run(self) -> None:
        rc = RedisCluster(host="127.0.0.1", port=self.port, socket_timeout=2,
                          socket_connect_timeout=2)
        i = 0
        try:
            while not self.stop.is_set():
                key = f"{self.name_}:{i}"
                try:
                    if rc.set(key, i):
                        self.acked[key] = i
                except Exception as exc:  # outcome unknown: not counted as acknowledged
                    self.errors.append(repr(exc))
                    time.sleep(0.01)  # back off before the next attempt
                i += 1
        finally:
            rc.close()


def check_acked(c: Cluster, port: int, writers: list[Writer]) -> None:
    r = redis.Redis(port=port, socket_timeout=5)
    for w in writers:
        keys = list(w.acked)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            values = r.mget(chunk)
            for key, value in zip(chunk, values, strict=True):
                assert value is not None and int(value) == w.acked[key], f"lost acked write {key}"


def test_kill9_leader_under_load(cluster):
    old = cluster.wait_leader()
    seed = next(i for i in cluster.nodes if i != old)
    stop = threading.Event()
    writers = [Writer(f"w{k}", cluster.nodes[seed].port, stop) for k in range(4)]
    for w in writers:
        w.start()
    wait_for(lambda: all(len(w.acked) >= 50 for w in writers), 30, "writes before the kill")
    before = [len(w.acked) for w in writers]
    cluster.kill(old)
    new = cluster.wait_leader(timeout=20, exclude=old)
    assert new != old
    # Clients carry on by themselves after a short pause.
    wait_for(lambda: all(len(w.acked) >= b + 100 for w, b in zip(writers, before, strict=True)),
             40, "writes to continue after failover")
    stop.set()
    for w in writers:
        w.join(timeout=20)
    check_acked(cluster, cluster.nodes[new].port, writers)
    # The killed node restarts and catches up.
    cluster.start_node(old)
    target = cluster.commit_index(new)
    cluster.wait_applied(old, target, timeout=40)


def _read_reg(port: int, out: list) -> None:
    """GET reg; records the value, or the redirect/error text."""
    r = redis.Redis(port=port, socket_timeout=15)
    try:
        out.append(("value", r.get("reg")))
    except redis.exceptions.MovedError as exc:
        out.append(("moved", str(exc)))
    except redis.exceptions.ResponseError as exc:
        out.append(("error", str(exc)))


def test_sigstop_leader_no_stale_reads_no_lost_writes(cluster):
    old = cluster.wait_leader()
    others = [i for i in cluster.nodes if i != old]
    r_old = redis.Redis(port=cluster.nodes[old].port, socket_timeout=1)
    assert r_old.set("reg", 0)
    cluster.pause(old)
    stale_probe: list = []
    try:
        new = cluster.wait_leader(timeout=20, exclude=old)
        r_new = redis.Redis(port=cluster.nodes[new].port, socket_timeout=5)
        acked = 0
        for v in range(1, 51):
            assert r_new.set("reg", v)
            acked = v
        # A read sent to the paused old leader (the kernel queues it): it is handled only
        # after SIGCONT, when that node still believes it leads. It must not answer 0.
        probe = socket.create_connection(("127.0.0.1", cluster.nodes[old].port), timeout=20)
        probe.sendall(encode_command("GET", "reg"))
    finally:
        cluster.resume(old)
    with probe:
        reader = hiredis.Reader()
        while (reply := reader.gets()) is False:
            data = probe.recv(4096)
            assert data, "the old leader closed the connection without answering"
            reader.feed(data)
    stale_probe.append(reply)
    if isinstance(reply, hiredis.ReplyError):
        assert str(reply).startswith(("MOVED", "CLUSTERDOWN", "TRYAGAIN")), reply
    else:
        assert int(reply) == acked, f"stale read from the old leader: {reply!r}"
    # The old leader learns of the new term and steps down.
    wait_for(lambda: cluster.info(old)["raft_role"] == "follower", 20, "old leader steps down")
    for i in [old, *others]:
        out: list = []
        _read_reg(cluster.nodes[i].port, out)
        kind, value = out[0]
        if kind == "value":
            assert int(value) == acked, f"node{i} served a stale read {value!r}"
        else:
            assert kind == "moved", out
    # Nothing acknowledged was lost: the final leader still has the last value.
    lead = cluster.wait_leader()
    assert int(redis.Redis(port=cluster.nodes[lead].port).get("reg")) == acked


def test_lagging_follower_catches_up_by_snapshot(cluster):
    lead = cluster.wait_leader()
    lagger = next(i for i in cluster.nodes if i != lead)
    cluster.kill(lagger)
    r = redis.Redis(port=cluster.nodes[lead].port, socket_timeout=5)
    # Far more than the snapshot threshold (300 entries): sequential writes, one entry each.
    with r.pipeline(transaction=False) as p:
        for k in range(1000):
            p.set(f"snap:bulk:{k}", k)
        p.execute()
    for i in range(400):
        r.set(f"snap:marker:{i}", i)
    wait_for(lambda: int(cluster.info(lead)["raft_snapshot_index"]) > 0, 20,
             "the leader to take a snapshot")
    target = cluster.commit_index(lead)
    cluster.start_node(lagger)
    cluster.wait_applied(lagger, target, timeout=40)
    assert int(cluster.info(lagger)["raft_snapshots_installed"]) >= 1
    f = redis.Redis(port=cluster.nodes[lagger].port)
    f.execute_command("READONLY")
    assert int(f.get("snap:marker:399")) == 399
    assert int(f.get("snap:bulk:0")) == 0
    assert int(f.get("snap:bulk:999")) == 999


def test_cluster_failover_makes_a_follower_leader_without_losing_writes(cluster):
    old = cluster.wait_leader()
    target = next(i for i in cluster.nodes if i != old)
    r = redis.Redis(port=cluster.nodes[old].port, socket_timeout=5)
    for i in range(50):
        assert r.set(f"fo:{i}", i)
    cluster.wait_applied(target, cluster.commit_index(old))
    t = redis.Redis(port=cluster.nodes[target].port, socket_timeout=5)
    with pytest.raises(redis.ResponseError, match="send CLUSTER FAILOVER to a replica"):
        r.execute_command("CLUSTER", "FAILOVER")
    assert t.execute_command("CLUSTER", "FAILOVER") in (b"OK", "OK", True)
    wait_for(lambda: cluster.leader() == target, 10, "the follower to take over")
    assert [int(v) for v in t.mget([f"fo:{i}" for i in range(50)])] == list(range(50))
    assert t.set("fo:after", "1")


def test_without_a_majority_requests_wait_a_bounded_time_then_clusterdown(cluster):
    """cluster_down_wait_ms (1.5 s by default) bounds how long a request waits for an
    election that cannot happen; the answer says nothing was applied."""
    lead = cluster.wait_leader()
    survivor = next(i for i in cluster.nodes if i != lead)
    for i in cluster.nodes:
        if i != survivor:
            cluster.kill(i)
    r = redis.Redis(port=cluster.nodes[survivor].port, socket_timeout=10)
    # Once the survivor no longer trusts the dead leader, a write waits, then gives up.
    wait_for(lambda: cluster.info(survivor)["raft_leader_id"] == "0"
             or cluster.info(survivor)["raft_role"] != "follower", 10, "the leader to be gone")
    started = time.monotonic()
    with pytest.raises(redis.exceptions.ClusterDownError):
        r.set("nomajority", "1")
    waited = time.monotonic() - started
    assert 1.0 <= waited < 5.0, waited
    # Nothing was applied: once the others are back, the key is absent.
    for i in cluster.nodes:
        if i != survivor:
            cluster.start_node(i)
    lead = cluster.wait_leader(timeout=30)
    assert redis.Redis(port=cluster.nodes[lead].port).get("nomajority") is None
