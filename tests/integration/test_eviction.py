"""maxmemory and eviction on a real 3-node cluster (issue 14).

A writer puts 4x maxmemory of data in through the leader. Per policy: used_memory (the
deterministic estimate) stays at or under maxmemory plus one pipeline batch, every
node's RSS stays bounded, all three nodes end with the same keys and the same
used_memory, evicted_keys counts what went, and volatile-* only removes keys with a TTL.
noeviction refuses writes with Redis's exact OOM error while reads and DEL still work.

The default run writes 2x of an 8mb maxmemory so the suite stays fast; `-m slow` runs
every policy with 4x of 64mb, as issue 14 asks. Measured here (loaded 2-core VM): at
8mb each node's RSS 72-81 MB, at 64mb 144-159 MB (the interpreter alone is ~60 MB);
used_memory peaked at most 3% above maxmemory (one pipeline batch of 200 SETs) and
settled under it.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import hiredis
import pytest
import redis

from raftredis.miniclient import call
from tests.integration.harness import Cluster, wait_for

OOM = "OOM command not allowed when used memory > 'maxmemory'."
OOM_PY = "OutOfMemoryError: " + OOM[4:]  # how redis-py shows it (the code becomes the class)
BATCH = 200  # commands per pipeline: the bound allows one batch past maxmemory
VALUE = b"v" * 1000  # big values: fewer commands for the same bytes keep the run short
BATCH_BYTES = BATCH * (len(VALUE) + 500)  # a key with a TTL costs ~1.3 kB here
RSS_BOUND = 400 * 1024 * 1024  # generous: a node's RSS measured ~80 MB at 8mb, ~190 at 64mb


def _client(c: Cluster, i: int) -> redis.Redis:
    r = redis.Redis(port=c.nodes[i].port, socket_timeout=30)
    r.execute_command("READONLY")
    return r


def _leader_client(c: Cluster) -> redis.Redis:
    return redis.Redis(port=c.nodes[c.wait_leader()].port, socket_timeout=30)


def _writable_leader_client(c: Cluster) -> redis.Redis:
    """After an election refused a batch: a client of the leader once it takes writes
    (the node that calls itself leader may not have committed its first entry yet)."""
    def ready() -> redis.Redis | None:
        r = _leader_client(c)
        try:
            r.delete("evict:probe")  # a write through the log that leaves no key behind
            return r
        except (redis.ConnectionError, redis.ResponseError):
            return None
    return wait_for(ready, 30, "a leader that takes writes", interval=0.1)


def _not_applied(reply: object) -> bool:
    """Errors that say an election refused the command (it was not applied)."""
    if isinstance(reply, redis.exceptions.TryAgainError | redis.exceptions.ClusterDownError
                  | redis.exceptions.MovedError):
        return True
    return isinstance(reply, redis.ResponseError) and str(reply).startswith(("MOVED", "TRYAGAIN"))


def _write(c: Cluster, total: int, ttl: bool = False, start: int = 0
           ) -> tuple[int, int, list[str]]:
    """Write `total` bytes of SETs of keys k:<start>, k:<start + 1>, ... (with a TTL if
    `ttl`); returns (next key number, max used_memory seen, error texts).
    A batch refused as a whole by an election (TRYAGAIN, MOVED, a dropped link) is sent
    again to the new leader: those errors say the commands were not applied."""
    n, written, max_used = start, 0, 0
    errors: list[str] = []
    r = _leader_client(c)
    while written < total:
        batch = []
        for _ in range(BATCH):
            batch.append(f"k:{n}")
            n += 1
        deadline = time.monotonic() + 60  # elections on a loaded box: retry for a while
        while True:
            p = r.pipeline(transaction=False)
            for key in batch:
                p.set(key, VALUE, ex=100_000 if ttl else None)
            try:
                replies = p.execute(raise_on_error=False)
            except redis.ConnectionError:
                replies = [redis.exceptions.TryAgainError()] * len(batch)
            retry = [cmd for cmd, rep in zip(batch, replies, strict=True) if _not_applied(rep)]
            errors += [f"{type(rep).__name__}: {rep}" for rep in replies
                       if isinstance(rep, Exception) and not _not_applied(rep)]
            if not retry:
                break
            assert time.monotonic() < deadline, f"writes still refused: {retry[:3]}"
            batch = retry
            r = _writable_leader_client(c)
        written += BATCH * (len(VALUE) + 10)
        max_used = max(max_used, int(r.info("memory")["used_memory"]))
    return n, max_used, errors


def _digest(r: redis.Redis) -> str:
    return hashlib.sha256(b"\n".join(sorted(r.scan_iter(count=1000)))).hexdigest()


def _node_state(c: Cluster, i: int) -> tuple[int, int, str]:
    r = _client(c, i)
    return (int(r.info("memory")["used_memory"]), int(r.info("stats")["evicted_keys"]),
            _digest(r))


def _settled(c: Cluster, limit: int, nodes: list[int] | None = None
             ) -> dict[int, tuple[int, int, str]]:
    """Once writes stopped, the leader's periodic round brings memory under the limit
    and every node applies the same entries: (used_memory, evicted_keys, key digest)."""
    def agree() -> dict[int, tuple[int, int, str]] | None:
        state = {i: _node_state(c, i) for i in (nodes or c.nodes)}
        values = set(state.values())
        return state if len(values) == 1 and values.pop()[0] <= limit else None

    return wait_for(agree, 30, "all nodes agree, under maxmemory", interval=0.5)


def _run_policy(tmp_path: Path, policy: str, maxmemory_mb: int, times: int) -> None:
    """Write `times` x maxmemory under `policy` and check the bound and the replicas."""
    limit = maxmemory_mb * 1024 * 1024
    c = Cluster(tmp_path, extra=["--maxmemory", f"{maxmemory_mb}mb", "--maxmemory-policy",
                                 policy, "--fsync", "no"]).start()
    try:
        lead = c.wait_leader()
        r = redis.Redis(port=c.nodes[lead].port, socket_timeout=30)
        assert r.config_get("maxmemory") == {"maxmemory": str(limit)}
        # Under volatile-*, a quarter of maxmemory in keys without a TTL first: they must
        # all survive 4x maxmemory of keys with one.
        volatile = policy.startswith("volatile-")
        kept = 0
        if volatile:
            kept, _, errors = _write(c, limit // 4)
            assert not errors, errors[:3]
        n, max_used, errors = _write(c, times * limit, volatile, kept)
        assert not errors, errors[:3]
        # At most one batch past the limit (the writes proposed before their entry applied).
        assert max_used <= limit + BATCH_BYTES, (max_used, limit)
        lead = c.wait_leader()
        r = redis.Redis(port=c.nodes[lead].port, socket_timeout=30)
        used, evicted, _ = _settled(c, limit)[lead]
        assert used <= limit
        remaining = r.dbsize()
        assert evicted == n - remaining > 0
        rss = {i: int(_client(c, i).info("memory")["used_memory_rss"]) for i in c.nodes}
        print(f"\n{policy} maxmemory {maxmemory_mb}mb: {n} keys written, {remaining} kept, "
              f"max used_memory seen {max_used}, final {used}, RSS per node (MB) "
              f"{[round(v / 2**20) for v in rss.values()]}")
        assert max(rss.values()) < RSS_BOUND, rss
        if volatile:  # only keys with a TTL were evicted: every key without one is there
            assert r.exists(*(f"k:{k}" for k in range(kept))) == kept
    finally:
        c.stop()


EVICTING = ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu",
            "volatile-random", "volatile-ttl"]


@pytest.mark.parametrize("policy", EVICTING)
def test_eviction_keeps_memory_bounded_and_nodes_identical(tmp_path: Path, policy: str) -> None:
    _run_policy(tmp_path, policy, 8, 2)  # 2x: every key written once is evicted about once


@pytest.mark.slow
@pytest.mark.parametrize("policy", EVICTING)
def test_eviction_at_64mb_with_4x_the_data(tmp_path: Path, policy: str) -> None:
    _run_policy(tmp_path, policy, 64, 4)


def test_noeviction_refuses_writes_with_redis_oom(tmp_path: Path) -> None:
    c = Cluster(tmp_path, extra=["--maxmemory", "2mb", "--fsync", "no"]).start()
    try:
        lead = c.wait_leader()
        r = redis.Redis(port=c.nodes[lead].port, socket_timeout=30)
        _, _, errors = _write(c, 4 * 2 * 1024 * 1024)
        assert errors and set(errors) == {OOM_PY}
        lead = c.wait_leader()
        r = redis.Redis(port=c.nodes[lead].port, socket_timeout=30)
        info = r.info("memory")
        assert int(info["used_memory"]) <= 2 * 1024 * 1024 + BATCH_BYTES
        assert (info["maxmemory"], info["maxmemory_human"], info["maxmemory_policy"]) == \
            (2 << 20, "2.00M", "noeviction")
        ratio = info["used_memory_rss"] / info["used_memory"]
        assert abs(float(info["mem_fragmentation_ratio"]) - ratio) < 0.5  # read moments apart
        applied = int(c.info(lead)["raft_applied_index"])
        reply = call("127.0.0.1", c.nodes[lead].port, "SET", "one-more", "x", timeout=10)
        assert isinstance(reply, hiredis.ReplyError) and str(reply) == OOM  # the wire text
        assert int(c.info(lead)["raft_applied_index"]) == applied  # nothing was logged
        assert r.get("k:0") == VALUE  # reads still work
        # EXECABORT (redis-py drops the code): a MULTI with a denyoom command is refused.
        with pytest.raises(redis.ResponseError, match="discarded because of: OOM command"), \
                r.pipeline(transaction=True) as p:
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


def test_kill9_of_the_leader_during_eviction(tmp_path: Path) -> None:
    """No acknowledged write is lost except by a logged eviction, the new leader keeps
    memory under the limit, and the restarted old leader ends with the same keys."""
    limit_mb = 4
    limit = limit_mb << 20
    c = Cluster(tmp_path, extra=["--maxmemory", f"{limit_mb}mb", "--maxmemory-policy",
                                 "allkeys-lru", "--fsync", "always"]).start()
    try:
        first = c.wait_leader()
        acked: dict[str, bytes] = {}
        n = 0
        killed = False
        r = _leader_client(c)
        while n < 4 * limit // len(VALUE):
            keys = [f"k:{i}" for i in range(n, n + BATCH)]
            n += BATCH
            p = r.pipeline(transaction=False)
            for k in keys:
                p.set(k, VALUE + k.encode())
            try:
                replies = p.execute(raise_on_error=False)
            except (redis.ConnectionError, redis.TimeoutError):
                replies = [None] * len(keys)  # outcome unknown: not counted as acknowledged
            for k, rep in zip(keys, replies, strict=True):
                if rep is True:
                    acked[k] = VALUE + k.encode()
            if not killed and n >= 2 * limit // len(VALUE):  # eviction is well under way
                assert int(r.info("stats")["evicted_keys"]) > 0
                c.kill(first)
                killed = True
            if any(rep is not True for rep in replies):
                r = _leader_client(c)
        lead = c.wait_leader()
        assert lead != first
        state = _settled(c, limit, [i for i in c.nodes if i != first])
        r = redis.Redis(port=c.nodes[lead].port, socket_timeout=30)
        _, evicted, digest = state[lead]
        p = r.pipeline(transaction=False)
        for k in acked:
            p.get(k)
        values = dict(zip(acked, p.execute(), strict=True))
        wrong = [k for k, v in values.items() if v is not None and v != acked[k]]
        missing = [k for k, v in values.items() if v is None]
        assert not wrong
        assert len(missing) <= evicted  # every acknowledged key that is gone was evicted
        assert r.dbsize() <= n
        c.start_node(first)  # the old leader catches up: no evicted key comes back
        wait_for(lambda: _node_state(c, first)[2] == digest, 60, "the old leader caught up")
    finally:
        c.stop()
