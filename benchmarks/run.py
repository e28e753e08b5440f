"""raftredis against redis-server on this machine, side by side, in one run.

    python3 benchmarks/run.py                 # full run, results in benchmarks/results/
    python3 benchmarks/run.py --quick --out /tmp/bench   # tiny: seconds, for the tests

Sections (--sections, default all):
  throughput  redis-benchmark SET/GET/INCR at -c 50 -P 1, -c 50 -P 16 and -c 1 -P 1
              against (a) redis-server without persistence, (b) redis-server with
              appendfsync always, (c) a one-node raftredis, (d) the leader of a local
              3-node raftredis (fsync always), and the peers (e) a 3-member etcd
              (benchmarks/etcd_load.py: SET and GET without pipelining) and (f) a
              3-node PySyncObj store (benchmarks/pysyncobj_server.py); rounds
              alternate the targets. Every run also reads the CPU counters of the
              target's processes and the load tool: CPU microseconds per operation.
              A peer that is not installed is skipped with a line saying so; --quick
              leaves the peers out unless --targets names them.
  failover    kill -9 the leader of a 3-node cluster under write load; median time to
              the next acknowledged write.
  memory      bytes per key with N keys (16-byte keys, 32-byte values), redis-server
              used_memory against raftredis RSS growth; restart-to-serving time.
  hitratio    cache hit ratio of a Zipf cache-aside workload under allkeys-lru and
              allkeys-lfu, redis-server and a 3-node raftredis side by side
              (benchmarks/hit_ratio.py); left out of --quick runs, as a cache needs
              many requests to warm up before its ratio means anything.

Needs redis-server and redis-benchmark (Debian: redis-server, redis-tools). The chart
needs matplotlib, a benchmark-only dependency: `pip install matplotlib`; without it
the chart is skipped with a message. Exit status 0 only if every section produced
its figures.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `raftredis` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import (  # noqa: E402
    failover,
    hit_ratio,
    loadgen,
    memory,
    peers,
    report,
    servers,
    throughput,
)
from benchmarks.servers import (  # noqa: E402
    RaftCluster,
    RedisServer,
    Registry,
    StartError,
    free_ports,
)

SECTIONS = ("throughput", "failover", "memory", "hitratio")


def log(msg: str) -> None:
    print(msg, flush=True)


def _cmd_output(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_server": _cmd_output(["redis-server", "--version"]),
        "git_commit": _cmd_output(["git", "-C", str(servers.REPO_ROOT), "rev-parse",
                                   "--short", "HEAD"]),
        "raftredis_tree": str(servers.REPO_ROOT),
        "command": " ".join(["python3", "benchmarks/run.py", *sys.argv[1:]]),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny everything (a few seconds per section), for the test suite")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                   help="where results.json, results.csv, chart.png and summary.txt go")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help="comma-separated subset of: " + ", ".join(SECTIONS))
    p.add_argument("--targets", default=None,
                   help="throughput targets, subset of: " + ", ".join(report.TARGETS)
                        + " (default: all; with --quick, all but the peers)")
    p.add_argument("--etcd", default="etcd", help="the etcd binary (default: etcd on PATH)")
    p.add_argument("--cpu-baseline", type=float, default=None,
                   help="a baseline run's 3-node/(b) CPU-per-SET ratio; the CPU target is "
                        "half of it")
    p.add_argument("--rounds", type=int, default=None, help="throughput rounds (default 3)")
    p.add_argument("--seconds", type=float, default=None,
                   help="aim for this many seconds per redis-benchmark run (default 3)")
    p.add_argument("--keys", type=int, default=None, help="memory section keys (default 1e6)")
    p.add_argument("--failover-runs", type=int, default=None, help="default 5")
    p.add_argument("--workdir", type=Path, default=None,
                   help="data directories (default: a new temp dir, removed at the end); "
                        "must be on a real disk for fsync figures to mean anything")
    p.add_argument("--keep-workdir", action="store_true")
    a = p.parse_args(argv)
    q = a.quick
    a.rounds = a.rounds or (1 if q else 3)
    a.seconds = a.seconds or (0.2 if q else 3.0)
    a.keys = a.keys or (2000 if q else 1_000_000)
    a.failover_runs = a.failover_runs or (1 if q else 5)
    a.sections = [s.strip() for s in a.sections.split(",") if s.strip()]
    if q and a.sections == list(SECTIONS):  # the default, in a quick run: see the docstring
        a.sections.remove("hitratio")
    if a.targets is None:
        a.targets = ",".join(t for t in report.TARGETS if not (q and t in report.PEERS))
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    bad = [s for s in a.sections if s not in SECTIONS] + \
          [t for t in a.targets if t not in report.TARGETS]
    if bad:
        p.error(f"unknown section or target: {', '.join(bad)}")
    for name in ("rounds", "failover_runs", "keys"):
        if not 1 <= getattr(a, name) <= 10_000_000:
            p.error(f"--{name.replace('_', '-')} out of range")
    if a.cpu_baseline is not None and not 0 < a.cpu_baseline < 1000:
        p.error("--cpu-baseline must be a positive ratio")
    return a


def peer_missing(name: str, a: argparse.Namespace) -> str | None:
    """Why a peer target cannot run on this machine, or None."""
    if name == "etcd-3":
        return peers.etcd_missing(a.etcd)
    if name == "pysyncobj-3":
        return peers.pysyncobj_missing()
    return None


def start_target(name: str, a: argparse.Namespace, registry: Registry, workdir: Path,
                 port: int, timeout: float) -> throughput.Target:
    if name in ("redis", "redis-aof"):
        return RedisServer(registry, name, workdir, port, aof=name == "redis-aof").start()
    if name in ("raft-1", "raft-3"):
        n = 1 if name == "raft-1" else 3
        return RaftCluster(registry, name, workdir, n, "always").start(timeout)
    if name == "etcd-3":
        return peers.EtcdCluster(registry, name, workdir, 3, a.etcd).start(timeout)
    return peers.PySyncObjCluster(registry, name, workdir, 3).start(timeout)


def run_throughput(a: argparse.Namespace, registry: Registry, workdir: Path) -> dict:
    timeout = 60.0 if a.quick else 300.0
    targets: dict[str, throughput.Target] = {}
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    ports = free_ports(len(a.targets))
    try:
        for name, port in zip(a.targets, ports, strict=True):
            why = peer_missing(name, a)
            if why is not None:
                skipped[name] = why
                log(f"skipping {name}: {why}")
                continue
            log(f"starting {name}: {report.TARGETS[name]}")
            try:
                targets[name] = start_target(name, a, registry, workdir, port, timeout)
            except StartError as exc:
                if name not in report.PEERS:
                    raise
                # An installed peer that does not come up is a failure of the run,
                # but not a reason to lose the other targets' figures.
                failed[name] = str(exc)
                log(f"{name} FAILED to start: {exc}")
        idle = throughput.idle_cpu(targets, 0.5 if a.quick else 3.0, time.sleep)
        log("idle CPU, s/s: " + ", ".join(f"{k} {v}" for k, v in idle.items()))
        runs = throughput.run_rounds(
            targets, loadgen.SPECS, a.rounds, seconds=a.seconds,
            floor=200 if a.quick else 500, cap=2000 if a.quick else 2_000_000,
            keyspace=100_000, timeout=timeout, warmup=not a.quick, log=log,
            loaders={"etcd-3": loadgen.EtcdLoad()})
    finally:
        for t in targets.values():
            t.stop()
    summary = report.summarize(runs)
    return {"runs": runs, "summary": summary, "ratios": report.ratios(summary),
            "peer_ratios": report.peer_ratios(summary), "idle_cpu": idle, "skipped": skipped,
            "failed_to_start": failed}


def run_failover(a: argparse.Namespace, registry: Registry, workdir: Path) -> dict:
    timeout = 20.0 if a.quick else 30.0
    cluster = RaftCluster(registry, "raft-failover", workdir, 3, "always").start(timeout)
    try:
        return failover.measure(cluster, a.failover_runs, 0.2 if a.quick else 2.0,
                                timeout, log)
    finally:
        for proc in cluster.procs.values():
            proc.stop()


def run_memory(a: argparse.Namespace, registry: Registry, workdir: Path) -> dict:
    timeout = 30.0 if a.quick else 300.0
    out: dict = {"keys": a.keys, "key_bytes": memory.KEY_BYTES,
                 "value_bytes": memory.VALUE_BYTES}
    out["redis"] = memory.measure_redis(registry, workdir, free_ports(1)[0], a.keys, timeout)
    log(f"  redis-server: {out['redis']['bytes_per_key']} bytes/key (used_memory)")
    out["raftredis"] = memory.measure_raft(registry, workdir, a.keys, timeout, log)
    r, b = out["raftredis"]["rss_bytes_per_key"], out["redis"]["bytes_per_key"]
    out["ratio_to_redis"] = round(r / b, 2) if b else None
    log(f"  raftredis: {r} bytes/key RSS ({out['ratio_to_redis']}x redis); restart to "
        f"serving {out['raftredis']['restart_to_serving_seconds']} s")
    return out


def run_hitratio(a: argparse.Namespace, registry: Registry, workdir: Path) -> dict:
    return hit_ratio.measure(registry, workdir, 100_000, 400_000, 0.1, 0.99,
                             ["redis", "raft-3"], log)


def summary_text(results: dict) -> str:
    parts = ["machine: " + ", ".join(f"{k}={v}" for k, v in results["machine"].items())]
    if "throughput" in results and "summary" in results["throughput"]:
        t = results["throughput"]
        parts.append(report.table(t["summary"], t["ratios"], t.get("peer_ratios")))
        if t.get("idle_cpu"):
            parts.append("idle CPU before the rounds (CPU seconds per second, server processes "
                         "summed): " + ", ".join(f"{k} {v}" for k, v in t["idle_cpu"].items()))
    for name, why in (results.get("throughput") or {}).get("skipped", {}).items():
        parts.append(f"{name} skipped: {why}")
    f = results.get("failover")
    if f and "median_ms" in f:
        parts.append(f"failover (kill -9 leader -> next acknowledged write): median "
                     f"{f['median_ms']} ms, max {f['max_ms']} ms, runs {f['runs_ms']}")
    m = results.get("memory")
    if m and "raftredis" in m:
        parts.append(f"memory, {m['keys']:,} keys of {m['key_bytes']} B + values of "
                     f"{m['value_bytes']} B: redis-server {m['redis']['bytes_per_key']} B/key "
                     f"(used_memory), raftredis {m['raftredis']['rss_bytes_per_key']} B/key "
                     f"(RSS growth) = {m['ratio_to_redis']}x; raftredis restart to serving "
                     f"{m['raftredis']['restart_to_serving_seconds']} s")
    h = results.get("hitratio")
    if h and h.get("results"):
        parts.append(hit_ratio.summary_line(h))
    parts.append(report.goals_text(results["goals"]))
    for name, err in results.get("errors", {}).items():
        parts.append(f"{name} FAILED: {err}")
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    for tool in ("redis-server", "redis-benchmark"):
        if shutil.which(tool) is None:
            log(f"{tool} not found: install Debian's redis-server and redis-tools")
            return 2
    # SIGTERM unwinds like Ctrl-C, so the finally below stops every process we started.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    a.out.mkdir(parents=True, exist_ok=True)
    own_workdir = a.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="raftredis-bench-")) if own_workdir else a.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    registry = Registry()
    results: dict = {"machine": machine(), "quick": a.quick, "errors": {}}
    runners = {"throughput": run_throughput, "failover": run_failover, "memory": run_memory,
               "hitratio": run_hitratio}
    started = time.monotonic()
    try:
        for section in a.sections:
            log(f"== {section}")
            t0 = time.monotonic()
            try:
                results[section] = runners[section](a, registry, workdir)
            except (StartError, OSError, RuntimeError) as exc:
                results["errors"][section] = str(exc)
                log(f"{section} FAILED: {exc}")
            registry.stop_all()  # nothing of one section competes with the next
            log(f"   ({time.monotonic() - t0:.1f} s)")
    finally:
        registry.stop_all()
        if own_workdir and not a.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = round(time.monotonic() - started, 1)
    t = results.get("throughput", {})
    failed_cells = [s for s in t.get("summary", []) if s.get("rps") is None]
    for s in failed_cells:
        results["errors"][f"throughput {s['spec']} on {s['target']}"] = s.get("error", "")
    for name, err in t.get("failed_to_start", {}).items():
        results["errors"][f"throughput {name} start"] = err
    f = results.get("failover")
    if f is not None and "median_ms" not in f:
        results["errors"]["failover"] = "; ".join(f["errors"]) or "no run succeeded"
    results["goals"] = report.goals(results, a.cpu_baseline)
    report.write_json(a.out / "results.json", results)
    text = summary_text(results)
    (a.out / "summary.txt").write_text(text)
    if "summary" in t:
        report.write_csv(a.out / "results.csv", t["summary"])
        report.write_ratios_csv(a.out / "ratios.csv", t["ratios"], t["peer_ratios"])
        log(report.write_chart(a.out / "chart.png", t["summary"]))
    log("\n" + text)
    log(f"results in {a.out}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
