"""Pub/sub and keyspace notifications across a real 3-node cluster: a message published
on a follower reaches subscribers on the leader and on the other follower (through the
log), and an expired key's notification is seen on every node exactly once."""

from __future__ import annotations

import time

import pytest
import redis

from tests.integration.harness import Cluster, wait_for


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("pubsub")).start()
    try:
        lead = c.wait_leader(timeout=30)
        for i in c.nodes:
            if i != lead:
                wait_for(lambda i=i: c.info(i)["raft_leader_id"] == str(lead), 15,
                         f"node {i} sees the leader")
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def _subscriber(port: int, *channels: str, patterns: tuple[str, ...] = ()):
    r = redis.Redis(port=port, socket_timeout=10)
    p = r.pubsub()
    if channels:
        p.subscribe(*channels)
    if patterns:
        p.psubscribe(*patterns)
    # Subscribed once the confirmations are read (the server answered).
    for _ in range(len(channels) + len(patterns)):
        m = p.get_message(timeout=5)
        assert m is not None and m["type"] in ("subscribe", "psubscribe"), m
    return r, p


def _collect(p, until, timeout: float) -> list[dict]:
    """Messages until `until(messages)` holds (or the deadline: the caller asserts)."""
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(got):
        m = p.get_message(timeout=0.2)
        if m is not None:
            got.append(m)
    return got


def test_publish_on_a_follower_reaches_every_node(cluster: Cluster) -> None:
    lead = cluster.wait_leader()
    f1, f2 = [i for i in cluster.nodes if i != lead]
    subs = {i: _subscriber(cluster.nodes[i].port, "news") for i in (lead, f1, f2)}
    pub = redis.Redis(port=cluster.nodes[f1].port, socket_timeout=10)
    # The follower's own subscriber counts: the reply is the answering node's receivers.
    assert pub.publish("news", "from-a-follower") == 1
    for i in (lead, f1, f2):
        got = _collect(subs[i][1], lambda g: len(g) >= 1, 10)
        assert [(m["channel"], m["data"]) for m in got] == [(b"news", b"from-a-follower")], i
    # Order across publishers on different nodes is the log's, the same everywhere.
    pub_leader = redis.Redis(port=cluster.nodes[lead].port, socket_timeout=10)
    pub_f2 = redis.Redis(port=cluster.nodes[f2].port, socket_timeout=10)
    for n in range(10):
        (pub_leader if n % 2 else pub_f2).publish("news", str(n))
    orders = {}
    for i in (lead, f1, f2):
        got = _collect(subs[i][1], lambda g: len(g) >= 10, 10)
        orders[i] = [m["data"] for m in got]
        assert sorted(orders[i]) == sorted(str(n).encode() for n in range(10)), i
    assert orders[lead] == orders[f1] == orders[f2]
    for r, p in subs.values():
        p.close()
        r.close()


def test_expired_key_notified_once_on_every_node(cluster: Cluster) -> None:
    lead = cluster.wait_leader()
    leader = redis.Redis(port=cluster.nodes[lead].port, socket_timeout=10)
    assert leader.config_set("notify-keyspace-events", "Ex")
    # The setting goes through the log: every node applies it.
    for i in cluster.nodes:
        r = redis.Redis(port=cluster.nodes[i].port, socket_timeout=10)
        wait_for(lambda r=r: r.config_get("notify-keyspace-events")["notify-keyspace-events"]
                 == "xE", 10, f"node {i} has the setting")
    subs = {i: _subscriber(cluster.nodes[i].port, "__keyevent@0__:expired")
            for i in cluster.nodes}
    leader.set("short-lived", "v", px=200)
    for i, (_, p) in subs.items():
        got = _collect(p, lambda g: len(g) >= 1, 10)
        assert [m["data"] for m in got] == [b"short-lived"], i
    # Exactly once: a second short-lived key is a barrier. Any duplicate expiry of the
    # first would come from an entry proposed before the first deletion applied, so it
    # is earlier in the log than the barrier's expiry, and would arrive before it.
    leader.set("barrier", "v", px=100)
    for i, (_, p) in subs.items():
        got = _collect(p, lambda g: any(m["data"] == b"barrier" for m in g), 10)
        assert [m["data"] for m in got] == [b"barrier"], i
    for r, p in subs.values():
        p.close()
        r.close()
