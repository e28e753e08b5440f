"""The cost of tls-cluster yes: a 3-node cluster (fsync always) under
`redis-benchmark -t set -P 16 -c 50 -n 200000` on the leader's plain port, with the peer
link plain (the secret's sealing only) and over mutual TLS (sealing inside TLS), rounds
alternating so the machine's noise hits both. Reports requests per second and the CPU
ticks (utime + stime from /proc/PID/stat) the three node processes spent in the run.

    python3 -m benchmarks.tls_cluster [--rounds 2] [-n 200000]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

from benchmarks.servers import RaftCluster, Registry
from tests.tlscerts import make_tls_files, serve_flags


def cpu_ticks(pid: int) -> int:
    # Fields after the command name (which is in parentheses and may hold spaces).
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def one_run(workdir: Path, name: str, extra: list[str], n: int) -> tuple[float, int]:
    registry = Registry()
    try:
        cluster = RaftCluster(registry, name, workdir, 3, extra=extra).start()
        port = cluster.leader_port()
        pids = [p.pid for p in cluster.procs.values()]
        before = sum(cpu_ticks(pid) for pid in pids)
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-P", "16",
                              "-c", "50", "-n", str(n), "-q"], capture_output=True,
                             text=True, timeout=600).stdout
        after = sum(cpu_ticks(pid) for pid in pids)
        rps = float(re.findall(r"SET: ([0-9.]+) requests per second", out.replace("\r", "\n"))[-1])
        return rps, after - before
    finally:
        registry.stop_all()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("-n", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tls-bench-") as tmp:
        work = Path(tmp)
        tls = ["--tls-cluster", "yes", *serve_flags(make_tls_files(work / "certs"))]
        results: dict[str, list[tuple[float, int]]] = {"plain": [], "tls": []}
        for r in range(args.rounds):
            for mode, extra in (("plain", []), ("tls", tls)):
                rps, ticks = one_run(work, f"{mode}{r}", extra, args.n)
                results[mode].append((rps, ticks))
                print(f"round {r + 1} tls-cluster {'yes' if mode == 'tls' else 'no '}: "
                      f"{rps:9.0f} rps, {ticks} CPU ticks on the 3 nodes", flush=True)
        for mode, runs in results.items():
            rps = [x for x, _ in runs]
            ticks = [t for _, t in runs]
            print(f"{mode:5}: rps {', '.join(f'{x:.0f}' for x in rps)} "
                  f"(mean {sum(rps) / len(rps):.0f}); ticks {', '.join(map(str, ticks))} "
                  f"(mean {sum(ticks) / len(ticks):.0f})")


if __name__ == "__main__":
    main()
