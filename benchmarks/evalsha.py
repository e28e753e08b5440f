"""EVALSHA of a small script with redis-benchmark: raftredis next to redis-server.

    python3 -m benchmarks.evalsha [--nodes 1] [-n 20000] [-P 16] [-c 50] [--rounds 3]

The script is INCR of one key (a write: every call is a log entry on raftredis). Each
target gets the same redis-benchmark run; rounds alternate between the targets so load
from elsewhere on the machine hits both alike. SET is measured too, as the reference
for what scripting adds. Prints requests/s per round, medians and the ratio.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks.resp_client import RespClient
from benchmarks.servers import RaftCluster, RedisServer, Registry, free_ports

SCRIPT = "return redis.call('incr', KEYS[1])"
_RPS = re.compile(r"^([A-Za-z_\"]+.*?): ([0-9.]+) requests per second", re.M)


def bench(port: int, sha: str, n: int, pipeline: int, clients: int) -> dict[str, float]:
    exe = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"
    out: dict[str, float] = {}
    for name, cmd in (("evalsha", ["evalsha", sha, "1", "bench:counter"]),
                      ("set", ["set", "bench:key", "value"])):
        text = subprocess.run([exe, "-p", str(port), "-n", str(n), "-P", str(pipeline),
                               "-c", str(clients), "-q", *cmd], capture_output=True,
                              text=True, timeout=600, check=True).stdout
        found = _RPS.findall(text.replace("\r", "\n"))
        if not found:
            raise RuntimeError(f"redis-benchmark printed no rate: {text[-300:]!r}")
        out[name] = float(found[-1][1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1)
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("-P", type=int, default=16)
    ap.add_argument("-c", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    registry = Registry()
    try:
        with tempfile.TemporaryDirectory() as work:
            redis = RedisServer(registry, "redis", Path(work), free_ports(1)[0], aof=False).start()
            raft = RaftCluster(registry, "raftredis", Path(work), args.nodes).start()
            targets = {"redis-server": redis.port, "raftredis": raft.leader_port()}
            shas = {}
            for name, port in targets.items():
                with RespClient("127.0.0.1", port, timeout=10.0) as c:
                    shas[name] = c.call("SCRIPT", "LOAD", SCRIPT).decode()
            results: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for r in range(args.rounds):
                for name, port in targets.items():
                    res = bench(port, shas[name], args.n, args.P, args.c)
                    results[name].append(res)
                    print(f"round {r + 1} {name:>12}: EVALSHA {res['evalsha']:>10.0f}/s  "
                          f"SET {res['set']:>10.0f}/s")
            med = {name: {k: statistics.median(x[k] for x in rs) for k in ("evalsha", "set")}
                   for name, rs in results.items()}
            ours, theirs = med["raftredis"], med["redis-server"]
            print(f"\nmedians: raftredis ({args.nodes} node{'s' if args.nodes > 1 else ''}, "
                  f"fsync always) EVALSHA {ours['evalsha']:.0f}/s, SET {ours['set']:.0f}/s; "
                  f"redis-server EVALSHA {theirs['evalsha']:.0f}/s, SET {theirs['set']:.0f}/s")
            print(f"ratio raftredis/redis-server: EVALSHA {ours['evalsha'] / theirs['evalsha']:.3f}"
                  f", SET {ours['set'] / theirs['set']:.3f}; within raftredis EVALSHA/SET "
                  f"{ours['evalsha'] / ours['set']:.3f}")
    finally:
        registry.stop_all()


if __name__ == "__main__":
    main()
