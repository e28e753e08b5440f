"""A busy event loop does not cost a healthy node its role; a wedged one is replaced.

Real 3-node clusters. DEBUG SLEEP holds one node's event loop (as a long command or a
big entry would); the keep-alive side channel (replica/keepalive.py) vouches for it
while it is stalled, so no follower campaigns and the term does not move. A loop held
beyond `--stall-limit-ms` is treated as dead and a new leader takes over.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from raftredis.miniclient import call
from tests.integration.harness import Cluster, wait_for

DEBUG = ["--enable-debug-command", "yes"]
FAILOVER_RUNS = 5
FAILOVER_MEDIAN_S = 1.0  # issue 13's bound for kill -9 / SIGSTOP of the leader


def _sleep_on(c: Cluster, i: int, seconds: float) -> threading.Thread:
    def run() -> None:
        assert call("127.0.0.1", c.nodes[i].port, "DEBUG", "SLEEP", str(seconds),
                    timeout=seconds + 30) in (b"OK", "OK")
    t = threading.Thread(target=run)
    t.start()
    return t


@pytest.fixture
def cluster(tmp_path: Path):
    c = Cluster(tmp_path, extra=DEBUG).start()
    try:
        yield c
    finally:
        c.stop()


def _vouchable(c: Cluster, lead: int) -> None:
    """Every follower has heard the leader's helper say it leads: a stall of the leader
    can be vouched for only from then on (one wedged within ms of its election is not)."""
    c.wait_settled(lead)
    wait_for(lambda: all(c.info(i)["raft_keepalive_leader_heard"] == "1"
                         for i in c.nodes if i != lead), 10,
             "every follower to hear the leader's keep-alive notices")


def _writes_work(c: Cluster, lead: int, key: str) -> None:
    assert call("127.0.0.1", c.nodes[lead].port, "SET", key, "v", timeout=10) in (b"OK", "OK")


@pytest.mark.parametrize("who", ["leader", "follower"])
def test_a_two_second_stall_keeps_the_term(cluster: Cluster, who: str) -> None:
    c = cluster
    lead = c.wait_leader()
    _writes_work(c, lead, "before")
    # Every node has heard the others' notices before the stall starts.
    wait_for(lambda: all(c.info(i)["raft_keepalive"] == "1" for i in c.nodes), 10,
             "the keep-alive side channel on every node")
    _vouchable(c, lead)
    before = c.wait_settled(lead)
    target = lead if who == "leader" else next(i for i in c.nodes if i != lead)
    t = _sleep_on(c, target, 2)
    t.join(timeout=40)
    assert not t.is_alive()
    _writes_work(c, lead, "after")
    assert c.terms() == before, c.logs()
    assert c.leader() == lead
    others = [i for i in c.nodes if i != target]
    # Someone saw the stalled node's notices and used them (not a lucky quiet run).
    assert sum(int(c.info(i)["raft_keepalive_vouches"]) for i in others) > 0


def test_a_wedged_leader_is_replaced_after_the_stall_limit(tmp_path: Path) -> None:
    limit_s = 1.5
    c = Cluster(tmp_path, extra=[*DEBUG, "--stall-limit-ms", str(int(limit_s * 1000))]).start()
    try:
        lead = c.wait_leader()
        _writes_work(c, lead, "before")
        wait_for(lambda: all(c.info(i)["raft_keepalive"] == "1" for i in c.nodes), 10,
                 "the keep-alive side channel on every node")
        _vouchable(c, lead)  # else it would be replaced at once, as CI saw once
        t = _sleep_on(c, lead, 12)
        started = time.monotonic()
        others = [i for i in c.nodes if i != lead]

        def new_leader() -> int | None:
            for i in others:
                if c.info(i).get("raft_role") == "leader":
                    return i
            return None
        new = wait_for(new_leader, 20, "a new leader while the old one is wedged",
                       interval=0.05)
        took = time.monotonic() - started
        # Held off while the loop was merely stalled; replaced soon after the limit (plus
        # how long the last notice vouches, 1 s, and an election; loose for loaded CI).
        assert limit_s - 0.2 <= took <= limit_s + 1.0 + 4.0, took
        _writes_work(c, new, "during")
        t.join(timeout=40)
        # The old leader wakes, hears the new term and follows.
        wait_for(lambda: c.info(lead)["raft_role"] == "follower", 20, "the old leader to follow")
    finally:
        c.stop()


def test_debug_is_refused_unless_enabled(tmp_path: Path) -> None:
    c = Cluster(tmp_path, n=1).start()
    try:
        c.wait_leader()
        reply = call("127.0.0.1", c.nodes[1].port, "DEBUG", "SLEEP", "0", timeout=5)
        assert "DEBUG command not allowed" in str(reply)
    finally:
        c.stop()


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_a_dead_or_frozen_leader_is_replaced_quickly(tmp_path: Path, how: str) -> None:
    """kill -9 / SIGSTOP silence the keep-alive helper with the node, so nothing vouches
    and failover takes an election timeout (300-600 ms here). Issue 13: a new leader
    serves within 1 s, median of 5 runs."""
    c = Cluster(tmp_path).start()
    took = []
    try:
        for run in range(FAILOVER_RUNS):
            lead = c.wait_leader()
            wait_for(lambda: all(c.info(i)["raft_keepalive"] == "1" for i in c.nodes
                                 if c.nodes[i].alive()), 10, "the side channel")
            _writes_work(c, lead, f"before{run}")
            started = time.monotonic()
            if how == "kill":
                c.kill(lead)
            else:
                c.pause(lead)
            others = [i for i in c.nodes if i != lead]

            def served(others: list[int] = others, run: int = run) -> bool:
                for i in others:
                    try:
                        if call("127.0.0.1", c.nodes[i].port, "SET", "k", str(run),
                                timeout=0.5) in (b"OK", "OK"):
                            return True
                    except OSError:
                        pass
                return False
            wait_for(served, 20, "a new leader serving writes", interval=0.01)
            took.append(time.monotonic() - started)
            if how == "kill":
                c.start_node(lead)
            else:
                c.resume(lead)
            wait_for(lambda lead=lead: c.info(lead)["raft_role"] == "follower", 20, "rejoined")
        took.sort()
        print(f"failover after {how}: {[round(t, 3) for t in took]}")
        assert took[len(took) // 2] < FAILOVER_MEDIAN_S, took
    finally:
        c.stop()
