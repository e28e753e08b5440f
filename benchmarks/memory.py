"""Memory per key and restart-to-serving time, with N keys of 16 bytes and values of 32.

redis-server is measured by its own `used_memory` (what Redis reports to its users);
raftredis by the growth of the node process's resident set, which also counts the
Python objects, the Raft log held in memory and allocator slack: the honest cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from benchmarks.resp_client import RespClient, encode
from benchmarks.servers import RaftCluster, RedisServer, Registry, rss_bytes, wait_for

KEY_BYTES, VALUE_BYTES = 16, 32
MSET_BATCH = 100  # pairs per MSET: one log entry each on raftredis


def key(i: int) -> bytes:
    return b"k%015d" % i


def value(i: int) -> bytes:
    return b"v%031d" % i


def mset_commands(n: int, batch: int = MSET_BATCH) -> Iterator[bytes]:
    """Pre-encoded MSET commands covering keys 0..n-1 exactly once."""
    for start in range(0, n, batch):
        args: list[bytes] = [b"MSET"]
        for i in range(start, min(n, start + batch)):
            args += (key(i), value(i))
        yield encode(*args)


def load(port: int, n: int, timeout: float) -> float:
    """Write the n keys through one pipelined connection; seconds it took."""
    started = time.monotonic()
    with RespClient("127.0.0.1", port, timeout=timeout) as c:
        c.pipeline(mset_commands(n), window=32)
    return time.monotonic() - started


def _dbsize(port: int) -> int:
    with RespClient("127.0.0.1", port, timeout=5.0) as c:
        reply = c.call("DBSIZE")
    return reply if isinstance(reply, int) else -1


def _serves_last_key(port: int, n: int) -> bool:
    with RespClient("127.0.0.1", port, timeout=2.0) as c:
        return c.call("GET", key(n - 1)) == value(n - 1)


def measure_redis(registry: Registry, workdir: Path, port: int, n: int,
                  timeout: float) -> dict:
    srv = RedisServer(registry, "redis-mem", workdir, port, aof=False).start()
    try:
        before, rss0 = srv.used_memory(), rss_bytes(srv.proc.pid)
        secs = load(port, n, timeout)
        after, rss1 = srv.used_memory(), rss_bytes(srv.proc.pid)
        if _dbsize(port) != n:
            raise RuntimeError(f"redis-server holds {_dbsize(port)} keys, expected {n}")
        return {"keys": n, "load_seconds": round(secs, 2),
                "used_memory_delta": after - before,
                "bytes_per_key": round((after - before) / n, 1),
                "rss_bytes_per_key": round((rss1 - rss0) / n, 1)}
    finally:
        srv.proc.stop()


def measure_raft(registry: Registry, workdir: Path, n: int, timeout: float,
                 log: Callable[[str], None]) -> dict:
    cluster = RaftCluster(registry, "raft-mem", workdir, 1).start(timeout)
    proc, port = cluster.procs[1], cluster.ports[1]
    try:
        rss0 = rss_bytes(proc.pid)
        secs = load(port, n, timeout)
        rss1 = rss_bytes(proc.pid)
        size = _dbsize(port)
        if size < n:  # bench:ready is there too
            raise RuntimeError(f"raftredis holds {size} keys, expected {n}")
        out: dict = {"keys": n, "load_seconds": round(secs, 2), "rss_delta": rss1 - rss0,
                     "rss_bytes_per_key": round((rss1 - rss0) / n, 1)}
        log(f"  raftredis loaded {n:,} keys in {secs:.1f}s; "
            f"RSS +{(rss1 - rss0) / 2**20:.1f} MiB")
        # Crash and restart: time from spawning the process until it answers a read
        # of the last key written with its value (it has recovered all of them).
        proc.kill9()
        started = time.monotonic()
        proc.start()
        wait_for(lambda: _serves_last_key(port, n), timeout, "the restarted node to serve",
                 interval=0.01)
        out["restart_to_serving_seconds"] = round(time.monotonic() - started, 3)
        out["rss_after_restart_bytes_per_key"] = round((rss_bytes(proc.pid) - rss0) / n, 1)
        if _dbsize(port) < n:
            raise RuntimeError("the restarted node lost keys")
        return out
    finally:
        proc.stop()
