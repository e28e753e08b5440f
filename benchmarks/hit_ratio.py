"""Cache hit ratio under eviction: the same Zipf-distributed cache-aside workload against
redis-server and a 3-node raftredis cluster, with allkeys-lru and allkeys-lfu.

Each request GETs a key drawn from a Zipf distribution over `keys` distinct keys
(alpha 0.99, the ranks shuffled over the key names); a miss SETs the key with a
100-byte value, as a cache-aside client would. Requests go in pipelined batches (the
GETs of a batch, then the SETs of its misses), the same sequence for every target.
maxmemory is sized so each side holds about `capacity` of the keys: the two estimate
a key's bytes differently (raftredis models a Python process), so equal bytes would
compare memory models rather than eviction policies. The hit ratio counts the second
half of the requests (the first half warms the cache).

    python3 benchmarks/hit_ratio.py [--keys 100000] [--requests 400000] [--capacity 0.1]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.servers import RaftCluster, RedisServer, Registry, free_ports  # noqa: E402

VALUE = b"v" * 100
BATCH = 100


def zipf_sequence(keys: int, requests: int, alpha: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    weights = [1.0 / (r ** alpha) for r in range(1, keys + 1)]
    cum = list(itertools.accumulate(weights))
    ranks = rng.choices(range(keys), cum_weights=cum, k=requests)
    names = list(range(keys))
    rng.shuffle(names)  # the hottest keys are not the first ones written
    return [names[r] for r in ranks]


def bytes_per_key(r: redis.Redis, sample: int = 5000) -> tuple[int, float]:
    """(used_memory when empty, used_memory per key of this workload)."""
    r.flushall()
    before = int(r.info("memory")["used_memory"])
    p = r.pipeline(transaction=False)
    for i in range(sample):
        p.set(b"key:%d" % (10_000_000 + i), VALUE)
    p.execute()
    per_key = (int(r.info("memory")["used_memory"]) - before) / sample
    r.flushall()
    return before, per_key


def run_workload(r: redis.Redis, seq: list[int]) -> dict[str, float]:
    hits = misses = 0
    half = len(seq) // 2
    started = time.monotonic()
    for start in range(0, len(seq), BATCH):
        batch = seq[start:start + BATCH]
        p = r.pipeline(transaction=False)
        for k in batch:
            p.get(b"key:%d" % k)
        replies = p.execute()
        p = r.pipeline(transaction=False)
        missed = 0
        for k, v in zip(batch, replies, strict=True):
            if v is None:
                p.set(b"key:%d" % k, VALUE)
                missed += 1
        if missed:
            p.execute()
        if start >= half:
            misses += missed
            hits += len(batch) - missed
    took = time.monotonic() - started
    info = r.info()
    return {"hit_ratio": hits / (hits + misses), "seconds": round(took, 1),
            "evicted_keys": int(info["evicted_keys"]), "keys_held": int(r.dbsize()),
            "used_memory": int(info["used_memory"]), "maxmemory": int(info["maxmemory"])}


def measure(registry: Registry, workdir: Path, keys: int, requests: int, capacity: float,
            alpha: float, targets: list[str], log=print,
            policies: tuple[str, ...] = ("allkeys-lru", "allkeys-lfu"),
            lfu_decay_time: int = 1) -> dict:
    """Every target x policy on the same request sequence; results keyed "target policy".
    LFU counters decay per wall-clock minute (lfu-decay-time), and the two sides serve
    the sequence at different speeds: decay 0 compares the policies alone."""
    seq = zipf_sequence(keys, requests, alpha, seed=14)
    results: dict[str, dict] = {}
    for target in targets:
        if target == "redis":
            srv = RedisServer(registry, "hit-redis", workdir, free_ports(1)[0], aof=False)
            port = srv.start().port
        else:
            port = RaftCluster(registry, "hit-raft", workdir, 3, fsync="no").start().leader_port()
        r = redis.Redis(port=port, socket_timeout=60)
        # Redis counts its own ~1 MB of overhead in used_memory; raftredis starts at 0.
        empty, per_key = bytes_per_key(r)
        maxmemory = int(empty + per_key * keys * capacity)
        r.config_set("lfu-decay-time", lfu_decay_time)
        for policy in policies:
            r.flushall()
            r.config_set("maxmemory-policy", policy)
            r.config_set("maxmemory", maxmemory)
            before = int(r.info("stats")["evicted_keys"])
            m = run_workload(r, seq)
            m["evicted_keys"] -= before
            m["bytes_per_key"] = round(per_key, 1)
            results[f"{target} {policy}"] = m
            log(f"  {target:7} {policy:12} hit ratio {m['hit_ratio']:.4f}  ({m['keys_held']} "
                f"keys held, {m['evicted_keys']} evicted, {m['seconds']} s)")
            r.config_set("maxmemory", 0)
        r.close()
        registry.stop_all()
    return {"keys": keys, "requests": requests, "alpha": alpha, "capacity": capacity,
            "lfu_decay_time": lfu_decay_time, "results": results}


def summary_line(h: dict) -> str:
    cells = ", ".join(f"{name} {m['hit_ratio']:.4f}" for name, m in h["results"].items())
    return (f"hit ratio, Zipf {h['alpha']} over {h['keys']:,} keys, {h['requests']:,} "
            f"cache-aside requests, maxmemory holding {h['capacity']:.0%} of the keys: {cells}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=400_000)
    ap.add_argument("--capacity", type=float, default=0.1)
    ap.add_argument("--alpha", type=float, default=0.99)
    ap.add_argument("--targets", default="redis,raft-3")
    ap.add_argument("--policies", default="allkeys-lru,allkeys-lfu")
    ap.add_argument("--lfu-decay-time", type=int, default=1)
    ap.add_argument("--out", default="")
    a = ap.parse_args(argv)
    registry = Registry()
    with tempfile.TemporaryDirectory(prefix="hitratio-") as tmp:
        try:
            h = measure(registry, Path(tmp), a.keys, a.requests, a.capacity, a.alpha,
                        a.targets.split(","), policies=tuple(a.policies.split(",")),
                        lfu_decay_time=a.lfu_decay_time)
        finally:
            registry.stop_all()
    print(summary_line(h))
    if a.out:
        Path(a.out).write_text(json.dumps(h, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
