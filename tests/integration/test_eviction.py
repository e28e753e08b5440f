"""maxmemory and eviction on a real 3-node cluster (issue 14).

A writer puts 4x maxmemory of data in through the leader. Per policy: used_memory (the
deterministic estimate) stays at or under maxmemory plus one pipeline batch, every
node's RSS stays bounded, all three nodes end with the same keys and the same
used_memory, evicted_keys counts what went, and volatile-* only removes keys with a TTL.
noeviction refuses writes with Redis's exact OOM error while reads and DEL still work.

The default run uses 8mb so the suite stays fast; `-m slow` adds the 64mb runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import redis

from tests.integration.harness import Cluster, wait_for

OOM = "OOM command not allowed when used memory > 'maxmemory'."
BATCH = 500  # commands per pipeline: the bound allows one batch past maxmemory
VALUE = b"v" * 100
RSS_BOUND = 400 * 1024 * 1024  # generous: a node's RSS measured ~80 MB at 8mb, ~190 at 64mb


def _client(c: Cluster, i: int) -> redis.Redis:
    r = redis.Redis(port=c.nodes[i].port, socket_timeout=30)
    r.execute_command("READONLY")
    return r


def _write(r: redis.Redis, total: int, volatile_share: bool) -> tuple[int, int, list[str], int]:
    """Write `total` bytes of SETs (every other one with a TTL if volatile_share);
    returns (keys written, max used_memory seen, error texts, keys given a TTL)."""
    n = written = max_used = with_ttl = 0
    errors: list[str] = []
    while written < total:
        p = r.pipeline(transaction=False)
        for _ in range(BATCH):
            if volatile_share and n % 2 == 0:
                p.set(f"k:{n}", VALUE, ex=100_000)
                with_ttl += 1
            else:
                p.set(f"k:{n}", VALUE)
            n += 1
        errors += [str(e) for e in p.execute(raise_on_error=False) if isinstance(e, Exception)]
        written += BATCH * (len(VALUE) + 10)
        max_used = max(max_used, int(r.info("memory")["used_memory"]))
    return n, max_used, errors, with_ttl


def _digest(r: redis.Redis) -> str:
    return hashlib.sha256(b"\n".join(sorted(r.scan_iter(count=1000)))).hexdigest()


def _settled(c: Cluster) -> dict[int, tuple[int, int, str]]:
    """Once every node has applied the same index: (used_memory, evicted_keys, digest)."""
    def same_applied() -> bool:
        return len({int(c.info(i)["raft_applied_index"]) for i in c.nodes}) == 1

    wait_for(same_applied, 30, "all nodes applied the same index")
    out = {}
    for i in c.nodes:
        r = _client(c, i)
        out[i] = (int(r.info("memory")["used_memory"]), int(r.info("stats")["evicted_keys"]),
                  _digest(r))
    return out


def _run_policy(tmp_path: Path, policy: str, maxmemory_mb: int) -> None:
    limit = maxmemory_mb * 1024 * 1024
    c = Cluster(tmp_path, extra=["--maxmemory", f"{maxmemory_mb}mb", "--maxmemory-policy",
                                 policy, "--fsync", "no"]).start()
    try:
        lead = c.wait_leader()
        r = redis.Redis(port=c.nodes[lead].port, socket_timeout=30)
        assert r.config_get("maxmemory") == {"maxmemory": str(limit)}
        volatile = policy.startswith("volatile-")
        n, max_used, errors, with_ttl = _write(r, 4 * limit, volatile)
        assert not errors, errors[:3]
        # At most one batch past the limit (the writes proposed before their entry applied).
        assert max_used <= limit + BATCH * 400, (max_used, limit)
        state = _settled(c)
        used = {s[0] for s in state.values()}
        assert len(used) == 1 and used.pop() <= limit, state
        assert len({s[2] for s in state.values()}) == 1, "nodes hold different keys"
        evicted = {s[1] for s in state.values()}
        assert len(evicted) == 1
        remaining = r.dbsize()
        assert evicted.pop() == n - remaining > 0
        for i in c.nodes:
            rss = int(_client(c, i).info("memory")["used_memory_rss"])
            assert rss < RSS_BOUND, (i, rss)
        if volatile:  # only keys with a TTL were evicted: every key without one is there
            p = r.pipeline(transaction=False)
            for k in range(1, n, 2):
                p.exists(f"k:{k}")
            assert all(p.execute())
            assert n - remaining <= with_ttl
    finally:
        c.stop()


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random",
                                    "volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_eviction_keeps_memory_bounded_and_nodes_identical(tmp_path: Path, policy: str) -> None:
    _run_policy(tmp_path, policy, 8)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "volatile-ttl"])
def test_eviction_at_64mb(tmp_path: Path, policy: str) -> None:
    _run_policy(tmp_path, policy, 64)


def test_noeviction_refuses_writes_with_redis_oom(tmp_path: Path) -> None:
    c = Cluster(tmp_path, extra=["--maxmemory", "2mb", "--fsync", "no"]).start()
    try:
        lead = c.wait_leader()
        r = redis.Redis(port=c.nodes[lead].port, socket_timeout=30)
        n, _, errors, _ = _write(r, 4 * 2 * 1024 * 1024, False)
        assert errors and set(errors) == {OOM}
        info = r.info("memory")
        assert int(info["used_memory"]) <= 2 * 1024 * 1024 + BATCH * 400
        applied = int(c.info(lead)["raft_applied_index"])
        with pytest.raises(redis.ResponseError, match=r"^OOM command not allowed"):
            r.set("one-more", "x")
        assert int(c.info(lead)["raft_applied_index"]) == applied  # nothing was logged
        assert r.get("k:0") == VALUE  # reads still work
        with pytest.raises(redis.ResponseError, match="EXECABORT"):
            with r.pipeline(transaction=True) as p:
                p.set("in-multi", "x")
                p.execute()
        assert r.delete("k:0", "k:1") == 2  # DEL needs no memory
        assert r.info("stats")["evicted_keys"] == 0
        # Raising maxmemory through the log lets writes in again, on every node.
        assert r.config_set("maxmemory", "64mb")
        assert r.set("one-more", "x")
        wait_for(lambda: all(_client(c, i).config_get("maxmemory")["maxmemory"] == str(64 << 20)
                             for i in c.nodes), 10, "maxmemory applied on every node")
    finally:
        c.stop()


def test_object_freq_and_idletime_follow_the_policy(tmp_path: Path) -> None:
    c = Cluster(tmp_path, extra=["--fsync", "no"]).start()
    try:
        lead = c.wait_leader()
        r = redis.Redis(port=c.nodes[lead].port, socket_timeout=10)
        r.set("k", "v")
        assert r.object("idletime", "k") == 0
        with pytest.raises(redis.ResponseError, match="An LFU maxmemory policy is not selected"):
            r.object("freq", "k")
        r.config_set("maxmemory-policy", "allkeys-lfu")
        for _ in range(20):
            r.get("k")
        assert r.object("freq", "k") >= 5
        with pytest.raises(redis.ResponseError, match="An LFU maxmemory policy is selected"):
            r.object("idletime", "k")
        stats = r.info("stats")
        assert stats["keyspace_hits"] >= 20
        r.get("missing")
        assert r.info("stats")["keyspace_misses"] >= 1
    finally:
        c.stop()
