"""CONFIG GET/SET on the cluster: real values, node-local fsync, cluster-wide settings
replicated through the log and kept across restarts."""

from __future__ import annotations

import pytest
import redis

from tests.integration.harness import Cluster, wait_for


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("config")).start()
    try:
        c.wait_leader(timeout=30)
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def test_config_get_shows_real_values(cluster):
    lead = cluster.wait_leader()
    r = redis.Redis(port=cluster.nodes[lead].port)
    assert r.config_get("appendonly") == {"appendonly": "yes"}
    assert r.config_get("appendfsync") == {"appendfsync": "always"}
    assert r.config_get("save") == {"save": ""}
    assert "maxmemory" in r.config_get("max*")
    assert len(r.config_get("*")) > 40
    with pytest.raises(redis.ResponseError, match="Unknown option"):
        r.config_set("no-such-option", "1")
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r.config_set("daemonize", "yes")


def test_fsync_policy_is_per_node(cluster):
    lead = cluster.wait_leader()
    r = redis.Redis(port=cluster.nodes[lead].port)
    assert r.config_set("appendfsync", "everysec")
    assert r.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert "raft_durability_warning" in r.info("persistence")
    assert r.set("k", "v")
    assert r.config_set("appendfsync", "always")
    assert "raft_durability_warning" not in r.info("persistence")
    with pytest.raises(redis.ResponseError):
        r.config_set("appendfsync", "sometimes")


def test_cluster_wide_setting_reaches_every_node_and_survives_restart(cluster):
    lead = cluster.wait_leader()
    r = redis.Redis(port=cluster.nodes[lead].port)
    assert r.config_set("raft-snapshot-threshold", "5000")
    for i, node in cluster.nodes.items():
        wait_for(lambda n=node: redis.Redis(port=n.port).config_get("raft-snapshot-threshold")
                 == {"raft-snapshot-threshold": "5000"}, 10, f"node{i} to apply the setting")
    # A follower redirects a cluster-wide CONFIG SET to the leader.
    follower = next(i for i in cluster.nodes if i != lead)
    with pytest.raises(redis.exceptions.MovedError):
        redis.Redis(port=cluster.nodes[follower].port).config_set("raft-snapshot-threshold", "7")
    cluster.kill(follower)
    cluster.start_node(follower)
    wait_for(lambda: redis.Redis(port=cluster.nodes[follower].port).config_get(
        "raft-snapshot-threshold") == {"raft-snapshot-threshold": "5000"}, 20,
        "the restarted node to keep the setting")


def test_requirepass_is_cluster_wide(cluster):
    lead = cluster.wait_leader()
    r = redis.Redis(port=cluster.nodes[lead].port)
    assert r.config_set("requirepass", "s3cret")
    try:
        for i, node in cluster.nodes.items():
            def needs_auth(n=node) -> bool:
                try:
                    redis.Redis(port=n.port).ping()
                except redis.exceptions.AuthenticationError:
                    return True
                return False

            wait_for(needs_auth, 10, f"node{i} to require a password")
            assert redis.Redis(port=node.port, password="s3cret").ping()
    finally:
        # (INFO-based leader discovery needs no password again after this.)
        redis.Redis(port=cluster.nodes[lead].port, password="s3cret").config_set(
            "requirepass", "")
