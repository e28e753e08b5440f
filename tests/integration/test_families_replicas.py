"""Every data type read back from followers of a running 3-node cluster: READONLY
reads (possibly stale, so we wait for a marker), and a snapshot + restart round trip
(a follower restarted from its own snapshot, and one that was down while the leader
compacted its log)."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import LoadBalancingStrategy, RedisCluster

from tests.integration.families_support import family_fixture
from tests.integration.harness import wait_for

fam = family_fixture("replicas", with_ref=False)

FAR = 99_999_999_999  # an absolute expiry far in the future (seconds)


def populate(r: redis.Redis, tag: str) -> None:
    """One key of every type (and shapes within types), plus a marker written last."""
    r.set(f"{tag}:str", "hello \x00 world")
    r.set(f"{tag}:int", 42)
    r.set(f"{tag}:ttl", "v")
    r.expireat(f"{tag}:ttl", FAR)
    r.rpush(f"{tag}:list", *[f"e{i}" for i in range(20)], "dup", "dup")
    r.hset(f"{tag}:hash", mapping={f"f{i}": i for i in range(15)})
    r.hset(f"{tag}:hash", "bin", b"\xff\xfe")
    r.sadd(f"{tag}:iset", *range(10))
    r.sadd(f"{tag}:set", *[f"m{i}" for i in range(12)])
    r.zadd(f"{tag}:zset", {f"z{i}": i * 1.5 for i in range(12)} | {"neg": -0.25, "inf": "inf"})
    r.pexpireat(f"{tag}:zset", FAR * 1000)
    r.set(f"{tag}:done", 1)


def read_all(r: redis.Redis, tag: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in ("str", "int", "ttl", "list", "hash", "iset", "set", "zset", "missing"):
        out[f"type:{key}"] = r.type(f"{tag}:{key}")
        out[f"expiretime:{key}"] = r.expiretime(f"{tag}:{key}")
    out["str"] = r.get(f"{tag}:str")
    out["int"] = r.get(f"{tag}:int")
    out["strlen"] = r.strlen(f"{tag}:str")
    out["list"] = r.lrange(f"{tag}:list", 0, -1)
    out["lindex"] = r.lindex(f"{tag}:list", -1)
    out["lpos"] = r.lpos(f"{tag}:list", "dup", count=0)
    out["hash"] = r.hgetall(f"{tag}:hash")
    out["hmget"] = r.hmget(f"{tag}:hash", ["f3", "nope"])
    out["iset"] = r.smembers(f"{tag}:iset")
    out["set"] = r.smembers(f"{tag}:set")
    out["sismember"] = r.smismember(f"{tag}:set", ["m1", "zz"])
    out["zset"] = [tuple(p) for p in r.zrange(f"{tag}:zset", 0, -1, withscores=True)]
    out["zscore"] = r.zscore(f"{tag}:zset", "z3")
    out["zrank"] = r.zrank(f"{tag}:zset", "z5")
    out["zbyscore"] = r.zrangebyscore(f"{tag}:zset", 3, 9)
    return out


def follower_client(fam, i: int, protocol: int = 2) -> redis.Redis:
    f = redis.Redis(port=fam.port(i), protocol=protocol, socket_timeout=15)
    assert f.execute_command("READONLY") in (True, b"OK", "OK")
    return f


def wait_marker(f: redis.Redis, tag: str, node: int) -> None:
    wait_for(lambda: f.get(f"{tag}:done") == b"1", 15, f"node{node} to apply the {tag} writes")


@pytest.mark.parametrize("protocol", [2, 3])
def test_readonly_follower_serves_every_type(fam, protocol):
    tag = f"ro{protocol}"
    lead = fam.leader_client(protocol)
    try:
        populate(lead, tag)
        want = read_all(lead, tag)
        assert want["expiretime:ttl"] == FAR and want["expiretime:zset"] == FAR
        for i in fam.cluster.nodes:
            if i == fam.leader():
                continue
            f = follower_client(fam, i, protocol)
            try:
                wait_marker(f, tag, i)
                assert read_all(f, tag) == want
                # Without READONLY the follower redirects reads to the leader.
                f.execute_command("READWRITE")
                with pytest.raises(redis.exceptions.MovedError):
                    f.get(f"{tag}:str")
            finally:
                f.close()
        rc = RedisCluster(host="127.0.0.1", port=fam.port(fam.follower()), protocol=protocol,
                          load_balancing_strategy=LoadBalancingStrategy.ROUND_ROBIN_REPLICAS,
                          socket_timeout=15)
        try:
            wait_for(lambda: rc.get(f"{tag}:done") == b"1", 15, "cluster client replica read")
            assert rc.lrange(f"{tag}:list", 0, 2) == [b"e0", b"e1", b"e2"]
            assert rc.hget(f"{tag}:hash", "f7") == b"7"
        finally:
            rc.close()
    finally:
        lead.close()


def _info(fam, i: int) -> dict[str, str]:
    return fam.cluster.info(i)


def test_snapshot_and_restart_keep_every_type(fam):
    lead = fam.leader_client()
    try:
        assert lead.config_set("raft-snapshot-threshold", "25")
        populate(lead, "snap")
        # Enough further entries for several snapshots on every node.
        for n in range(60):
            lead.incr("snap:counter")
            if n % 20 == 0:
                lead.rpush("snap:list", f"late{n}")
        populate(lead, "snap2")
        want = read_all(lead, "snap")
        want2 = read_all(lead, "snap2")
        counter = lead.get("snap:counter")
        follower = fam.follower()
        wait_for(lambda: int(_info(fam, follower)["raft_snapshot_index"]) > 0, 15,
                 f"node{follower} to take a snapshot")
        wait_for(lambda: int(_info(fam, follower)["raft_applied_index"])
                 >= int(_info(fam, fam.leader())["raft_commit_index"]), 15, "follower caught up")
        fam.cluster.kill(follower)
        fam.cluster.start_node(follower)
        f = redis.Redis(port=fam.port(follower), socket_timeout=15)
        try:
            wait_for(lambda: f.execute_command("READONLY") and f.get("snap2:done") == b"1", 30,
                     f"restarted node{follower} to serve its data")
            assert read_all(f, "snap") == want
            assert read_all(f, "snap2") == want2
            assert f.get("snap:counter") == counter
            assert int(_info(fam, follower)["raft_snapshot_index"]) > 0
        finally:
            f.close()
    finally:
        lead.close()


def test_follower_down_during_compaction_catches_up(fam):
    """A follower down while the leader snapshots catches up (from the log tail the
    leader kept, or by InstallSnapshot: the log is dropped in whole segments, so small
    runs like this one keep the tail); every type arrives intact."""
    lead = fam.leader_client()
    try:
        assert lead.config_set("raft-snapshot-threshold", "25")
        down = fam.follower()
        fam.cluster.kill(down)
        populate(lead, "late")
        for _ in range(80):
            lead.incr("late:counter")
        leader = fam.leader()
        wait_for(lambda: int(_info(fam, leader)["raft_snapshot_index"])
                 > int(_info(fam, leader)["raft_commit_index"]) - 80, 15,
                 "the leader to snapshot past the missed entries")
        want = read_all(lead, "late")
        fam.cluster.start_node(down)
        f = redis.Redis(port=fam.port(down), socket_timeout=15)
        try:
            wait_for(lambda: f.execute_command("READONLY") and f.get("late:counter") == b"80",
                     30, f"node{down} to catch up")
            assert read_all(f, "late") == want
        finally:
            f.close()
    finally:
        lead.close()
