"""Limits of what one replicated command may carry: a command too big for a log entry
is refused with a clear error and the cluster keeps working; a large one that fits is
replicated to every node."""

from __future__ import annotations

import pytest
import redis

from tests.integration.harness import Cluster, wait_for


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("limits")).start()
    try:
        c.wait_leader(timeout=30)
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def test_oversized_command_is_refused_and_cluster_keeps_working(cluster):
    lead = cluster.wait_leader()
    r = redis.Redis(port=cluster.nodes[lead].port, socket_timeout=60)
    big = b"x" * (70 << 20)  # past the 48 MB a single replicated command may carry
    with pytest.raises(redis.ResponseError, match="too large for the replicated log"):
        r.set("huge", big)
    # Nothing was logged for it, and the cluster still commits and replicates.
    assert r.get("huge") is None
    assert r.set("after", "1")
    commit = cluster.commit_index(lead)
    for i in cluster.nodes:
        cluster.wait_applied(i, commit, timeout=20)


def test_large_command_within_the_limit_replicates(cluster):
    lead = cluster.wait_leader()
    r = redis.Redis(port=cluster.nodes[lead].port, socket_timeout=60)
    value = bytes(range(256)) * (16 << 12)  # 16 MB
    assert r.set("large", value)
    commit = cluster.commit_index(lead)
    follower = next(i for i in cluster.nodes if i != lead)
    cluster.wait_applied(follower, commit, timeout=30)
    f = redis.Redis(port=cluster.nodes[follower].port, socket_timeout=60)
    f.execute_command("READONLY")
    wait_for(lambda: f.strlen("large") == len(value), 10, "the follower to hold the value")
    assert f.get("large") == value
