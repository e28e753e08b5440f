"""Online membership changes on real processes (issue 15): a node joins with --join and
is promoted once caught up, CLUSTER FORGET removes followers and the leader, a killed
node is replaced by a new id; every acknowledged write is on every voter afterwards,
and a removed node never answers with data.

    python3 -m pytest -q tests/integration/test_membership.py            # the short ones
    python3 -m pytest -q -m slow tests/integration/test_membership.py    # under load
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, MovedError

from raftredis.admin import member_command
from raftredis.miniclient import call
from tests.integration.harness import Cluster, wait_for

# Default timing (a 300-600 ms election timeout): two cores shared by several test runs
# stall nodes now and then, and a leader must not lose its quorum to that.
FAST: list[str] = []


@pytest.fixture
def cluster(tmp_path: Path):
    c = Cluster(tmp_path, n=3, extra=list(FAST)).start()
    try:
        c.wait_leader(timeout=30)
        yield c
    finally:
        c.stop()


def members(c: Cluster, i: int) -> tuple[set[int], set[int]]:
    f = c.info(i)
    ids = lambda s: {int(x) for x in s.split(",") if x}  # noqa: E731
    return ids(f.get("raft_voters", "")), ids(f.get("raft_learners", ""))


def admin(c: Cluster, via: int, *args: str | int) -> object:
    return member_command(f"127.0.0.1:{c.nodes[via].port}", *args, deadline_s=30)


def follower_of(c: Cluster, lead: int) -> int:
    return next(i for i, n in c.nodes.items() if i != lead and n.alive() and not n.join)


def assert_on_node(c: Cluster, i: int, expected: dict[str, str]) -> None:
    """Node i (a voter, caught up to the leader's commit) holds every expected key."""
    lead = c.wait_leader()
    c.wait_applied(i, c.commit_index(lead), timeout=30)
    r = redis.Redis(port=c.nodes[i].port, socket_timeout=10)
    try:
        r.execute_command("READONLY")
        keys = sorted(expected)
        for k in range(0, len(keys), 500):
            chunk = keys[k:k + 500]
            got = r.mget(chunk)
            missing = [key for key, v in zip(chunk, got, strict=True)
                       if v is None or v.decode() != expected[key]]
            assert not missing, f"node{i} lacks acknowledged writes {missing[:5]}"
    finally:
        r.close()


def assert_no_data(c: Cluster, i: int) -> None:
    """A removed node answers a redirect or an error, never a value."""
    r = redis.Redis(port=c.nodes[i].port, socket_timeout=10)
    try:
        for readonly in (False, True):
            if readonly:
                r.execute_command("READONLY")
            with pytest.raises(redis.ResponseError) as ei:
                r.execute_command("GET", "k1")
            # redis-py turns CLUSTERDOWN into ClusterDownError (without the prefix)
            assert isinstance(ei.value, ClusterDownError | MovedError) or \
                str(ei.value).startswith(("MOVED", "CLUSTERDOWN")), repr(ei.value)
    finally:
        r.close()


class Writer(threading.Thread):
    """Writes w:<n> = <n> through a RedisCluster client; remembers what was acknowledged."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.acked: dict[str, str] = {}
        self.errors = 0
        self.stop_ev = threading.Event()

    def run(self) -> None:
        rc = RedisCluster(host="127.0.0.1", port=self.port, socket_timeout=5,
                          cluster_error_retry_attempts=10)
        n = 0
        try:
            while not self.stop_ev.is_set():
                n += 1
                key = f"w:{n}"
                try:
                    if rc.set(key, str(n)):
                        self.acked[key] = str(n)
                except Exception:  # outcome unknown: not counted as acknowledged
                    self.errors += 1
                    time.sleep(0.05)
        finally:
            rc.close()

    def finish(self) -> dict[str, str]:
        self.stop_ev.set()
        self.join(timeout=30)
        return self.acked


def join_node(c: Cluster, i: int, via: int) -> float:
    """Start node i with --join via member `via`; returns seconds until it is a voter."""
    c.add_node(i, join_via=via)
    c.start_node(i)
    # Timed from when its client port answers (Python's start-up is not the join's).
    wait_for(lambda: c.info(i), 60, f"node{i} to answer")
    t0 = time.monotonic()
    wait_for(lambda: i in members(c, c.wait_leader())[0], 60, f"node{i} promoted to voter")
    return time.monotonic() - t0


def test_join_is_promoted_then_forget_removes_it(cluster: Cluster) -> None:
    c = cluster
    lead = c.wait_leader()
    r = redis.Redis(port=c.nodes[lead].port)
    data = {f"k{i}": f"v{i}" for i in range(300)}
    r.mset(data)
    r.close()
    took = join_node(c, 4, via=follower_of(c, lead))
    print(f"--join to promotion: {took:.2f} s")
    assert members(c, c.wait_leader()) == ({1, 2, 3, 4}, set())
    assert_on_node(c, 4, data)
    # CLUSTER NODES lists it; the transport learned its address (it acks: commit moves)
    nodes = redis.Redis(port=c.nodes[lead].port).execute_command("CLUSTER", "NODES")
    text = nodes.decode() if isinstance(nodes, bytes) else str(nodes)
    assert f"127.0.0.1:{c.nodes[4].port}@{c.nodes[4].peer_port}" in text
    # FORGET sent to a follower: redirected to the leader, committed there.
    assert admin(c, follower_of(c, lead), "CLUSTER", "FORGET", 4) in (b"OK", "OK")
    wait_for(lambda: members(c, 4)[0] == {1, 2, 3}, 10, "node4 to hold its removal")
    assert members(c, c.wait_leader()) == ({1, 2, 3}, set())
    assert_no_data(c, 4)
    r = redis.Redis(port=c.nodes[c.wait_leader()].port)
    assert r.set("after", "1")
    r.close()


def test_persisted_membership_wins_over_peers_at_restart(cluster: Cluster) -> None:
    c = cluster
    lead = c.wait_leader()
    join_node(c, 4, via=lead)
    # Node 4 restarts with --join still given: it is a member already, and stays a voter.
    c.kill(4)
    c.start_node(4)
    wait_for(lambda: c.info(4), 60, "node4 to answer again")
    # An original node restarts with --peers that never named node 4; it must still reach
    # node 4 (its address comes from the persisted configuration): once it leads, a
    # write commits only with node 4's ack or two others, and node 4 applies it.
    old = follower_of(c, c.wait_leader())
    c.kill(old)
    c.start_node(old)
    wait_for(lambda: c.info(old).get("raft_leader_id", "0") != "0", 30, "restarted node to follow")
    assert members(c, old) == ({1, 2, 3, 4}, set())
    def leads() -> bool:
        if c.leader() == old:
            return True
        call("127.0.0.1", c.nodes[old].port, "CLUSTER", "FAILOVER")
        return False

    wait_for(leads, 30, "the restarted node to lead", interval=0.3)
    r = redis.Redis(port=c.nodes[old].port)
    assert r.set("from-restarted", "1")
    r.close()
    assert_on_node(c, 4, {"from-restarted": "1"})
    f = c.info(old)
    assert "raft_peer4" in f and "active=1" in f["raft_peer4"], f


def test_addlearner_stays_a_learner_until_promoted_by_hand(cluster: Cluster) -> None:
    c = cluster
    lead = c.wait_leader()
    via = follower_of(c, lead)
    # Node 4 need not run: a learner counts for nothing, so the three voters go on.
    assert admin(c, via, "CLUSTER", "ADDLEARNER", 4, "127.0.0.1:1", "127.0.0.1:2") \
        in (b"OK", "OK")
    assert members(c, lead) == ({1, 2, 3}, {4})
    r = redis.Redis(port=c.nodes[lead].port)
    assert r.set("with-learner", "1")
    nodes = r.execute_command("CLUSTER", "NODES")
    line = next(ln for ln in (nodes.decode() if isinstance(nodes, bytes) else str(nodes))
                .splitlines() if "127.0.0.1:2@1" in ln)
    assert "nofailover" in line
    # COMMAND lists the new subcommands (flattened: their names appear in the reply).
    info = call("127.0.0.1", c.nodes[lead].port, "COMMAND", "INFO", "cluster")

    def flat(x: object) -> list:
        return [y for z in x for y in flat(z)] if isinstance(x, list) else [x]

    for sub in (b"cluster|join", b"cluster|addlearner", b"cluster|promote", b"cluster|forget"):
        assert sub in flat(info), sub
    r.close()
    assert admin(c, via, "CLUSTER", "PROMOTE", 4) in (b"OK", "OK")
    assert members(c, lead) == ({1, 2, 3, 4}, set())
    assert admin(c, via, "CLUSTER", "FORGET", 4) in (b"OK", "OK")
    assert members(c, c.wait_leader()) == ({1, 2, 3}, set())


def test_removing_the_leader_hands_over_fast(cluster: Cluster) -> None:
    c = cluster
    lead = c.wait_leader()
    r = redis.Redis(port=c.nodes[lead].port)
    data = {f"k{i}": f"v{i}" for i in range(100)}
    r.mset(data)
    r.close()
    t0 = time.monotonic()
    assert admin(c, follower_of(c, lead), "CLUSTER", "FORGET", lead) in (b"OK", "OK")
    new = c.wait_leader(exclude=lead, timeout=10)
    r = redis.Redis(port=c.nodes[new].port)
    assert r.set("after-removal", "1")
    took = time.monotonic() - t0
    r.close()
    print(f"FORGET of the leader to a write acknowledged by the next: {took:.3f} s")
    assert took < 5
    others = [i for i in c.nodes if i != lead]
    for i in others:
        assert members(c, i)[0] == set(others)
        assert_on_node(c, i, data | {"after-removal": "1"})
    assert_no_data(c, lead)


@pytest.mark.slow
def test_grow_to_five_under_load_then_shrink_and_replace(tmp_path: Path) -> None:
    c = Cluster(tmp_path, n=3, extra=list(FAST)).start()
    try:
        lead = c.wait_leader(timeout=30)
        w = Writer(c.nodes[follower_of(c, lead)].port)
        w.start()
        wait_for(lambda: len(w.acked) > 200, 30, "writes acknowledged")
        for i in (4, 5):
            took = join_node(c, i, via=follower_of(c, c.wait_leader()))
            print(f"node{i}: --join to promotion under load: {took:.2f} s")
        assert members(c, c.wait_leader()) == ({1, 2, 3, 4, 5}, set())
        wait_for(lambda: len(w.acked) > 600, 60, "writes acknowledged after growing")
        # Remove two followers (not the leader), one at a time, under the load.
        lead = c.wait_leader()
        gone = [i for i in (1, 2, 3) if i != lead][:2]
        for i in gone:
            assert admin(c, lead, "CLUSTER", "FORGET", i) in (b"OK", "OK")
        voters = {1, 2, 3, 4, 5} - set(gone)
        assert members(c, c.wait_leader())[0] == voters
        # kill -9 a voter, forget it, replace it by a new id that joins
        victim = next(i for i in voters if i != c.wait_leader())
        c.kill(victim)
        assert admin(c, c.wait_leader(), "CLUSTER", "FORGET", victim) in (b"OK", "OK")
        join_node(c, 6, via=c.wait_leader())
        voters = voters - {victim} | {6}
        wait_for(lambda: len(w.acked) > 1000, 60, "writes acknowledged after replacing")
        acked = w.finish()
        assert members(c, c.wait_leader())[0] == voters
        for i in sorted(voters):
            assert_on_node(c, i, acked)
        for i in gone:
            assert_no_data(c, i)
    finally:
        c.stop()
