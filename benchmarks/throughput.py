"""The side-by-side throughput rounds: every workload on every target, interleaved.

Within a round each workload runs on all targets back to back, and the order of
the targets rotates from workload to workload and round to round, so a burst of
noise from the machine lands on every target alike rather than on one. A target
whose load tool has no equivalent of a workload (etcd has no pipelining, no INCR)
sits that workload out.

Around every measured run the CPU counters of the target's server processes (all
nodes, and what they fork) and of the load tool are read, so each record also says
how many microseconds of CPU the servers and the client spent per operation.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Sequence
from typing import Protocol

from benchmarks import cpu
from benchmarks.loadgen import BenchError, RedisBenchmark, Spec
from benchmarks.resp_client import RespError
from benchmarks.servers import StartError


class Target(Protocol):
    def leader_port(self) -> int: ...

    def pids(self) -> list[int]: ...


class Loader(Protocol):
    def supports(self, spec: Spec) -> bool: ...

    def run(self, port: int, spec: Spec, requests: int, keyspace: int,
            timeout: float) -> dict[str, float]: ...


def children_cpu_seconds() -> float:
    """CPU of this process's reaped children: a load tool's, once it has been waited for."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def per_op_us(seconds: float, ops: int) -> float | None:
    return round(seconds * 1e6 / ops, 2) if ops > 0 else None


def idle_cpu(targets: dict[str, Target], seconds: float,
             sleep: Callable[[float], None]) -> dict[str, float]:
    """CPU seconds per second each target spends with no load (timers, heartbeats),
    all sampled over the same `seconds`: what a slow run's CPU per op has in it."""
    pids = {name: t.pids() for name, t in targets.items()}
    before = {name: cpu.tree_seconds(p) for name, p in pids.items()}
    sleep(seconds)
    return {name: round((cpu.tree_seconds(p) - before[name]) / seconds, 3)
            for name, p in pids.items()}


def measure(target: Target, loader: Loader, spec: Spec, requests: int, keyspace: int,
            timeout: float) -> dict[str, float | None]:
    """One run of the load tool, with the CPU the servers and the tool spent on it."""
    port = target.leader_port()  # before the counters: finding the leader costs CPU too
    pids = target.pids()
    server0, client0 = cpu.tree_seconds(pids), children_cpu_seconds()
    row: dict[str, float | None] = dict(loader.run(port, spec, requests, keyspace, timeout))
    server1, client1 = cpu.tree_seconds(pids), children_cpu_seconds()
    ops = int(row.get("requests") or requests)
    row["server_cpu_s"] = round(server1 - server0, 3)  # in clock ticks: 0.01 s steps
    row["client_cpu_s"] = round(client1 - client0, 3)
    row["cpu_us_per_op"] = per_op_us(server1 - server0, ops)
    row["client_cpu_us_per_op"] = per_op_us(client1 - client0, ops)
    return row


def plan(specs: Sequence[Spec], targets: Sequence[str],
         rounds: int) -> list[tuple[int, Spec, list[str]]]:
    """(round, workload, targets in the order to run them) for the whole run."""
    out = []
    k = 0
    for r in range(rounds):
        for spec in specs:
            shift = k % len(targets)
            out.append((r, spec, list(targets[shift:]) + list(targets[:shift])))
            k += 1
    return out


def request_count(spec: Spec, est_rps: float | None, seconds: float, floor: int,
                  cap: int) -> int:
    """Requests for one run: enough for about `seconds` at the rate seen so far, so a
    slow target does not take minutes and a fast one is not over in a blink."""
    low = max(floor, spec.clients * spec.pipeline * 4)
    cap = max(cap, low)
    if est_rps is None:
        return low
    return int(min(cap, max(low, est_rps * seconds)))


def run_rounds(targets: dict[str, Target], specs: Sequence[Spec], rounds: int, *,
               seconds: float, floor: int, cap: int, keyspace: int, timeout: float,
               warmup: bool, log: Callable[[str], None],
               loaders: dict[str, Loader] | None = None) -> list[dict]:
    """All measurements of the run, one dict per (round, workload, target) that the
    target's loader (redis-benchmark unless `loaders` names another) supports."""
    estimate: dict[tuple[str, str], float] = {}
    names = list(targets)
    default = RedisBenchmark()
    loader = {name: (loaders or {}).get(name, default) for name in names}
    if warmup:
        # Not recorded: fills the keyspace a little, warms caches, estimates each rate.
        for spec in specs:
            for name in names:
                if not loader[name].supports(spec):
                    continue
                try:
                    row = loader[name].run(targets[name].leader_port(), spec,
                                           request_count(spec, None, seconds, floor, cap),
                                           keyspace, timeout)
                    estimate[(spec.label, name)] = row["rps"]
                except (BenchError, OSError, RespError, StartError) as exc:
                    log(f"  warmup {spec.label} on {name} failed: {exc}")
    runs: list[dict] = []
    for r, spec, order in plan(specs, names, rounds):
        for name in order:
            if not loader[name].supports(spec):
                continue
            n = request_count(spec, estimate.get((spec.label, name)), seconds, floor, cap)
            rec: dict = {"round": r, "spec": spec.label, "test": spec.test,
                         "clients": spec.clients, "pipeline": spec.pipeline, "target": name}
            try:
                row = measure(targets[name], loader[name], spec, n, keyspace, timeout)
                rec.update(row)
                estimate[(spec.label, name)] = float(row["rps"] or 0.0)
                log(f"  round {r + 1} {spec.label:<18} {name:<12} {row['rps']:>12,.0f} rps"
                    f"  p50 {row.get('p50_ms', float('nan')):.3f}"
                    f"  p99 {row.get('p99_ms', float('nan')):.3f} ms"
                    f"  cpu {_us(row['cpu_us_per_op'])} us/op"
                    f" (client {_us(row['client_cpu_us_per_op'])})")
            except (BenchError, OSError, RespError, StartError) as exc:
                rec["error"] = str(exc)
                log(f"  round {r + 1} {spec.label:<18} {name:<12} FAILED: {exc}")
            runs.append(rec)
    return runs


def _us(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"
