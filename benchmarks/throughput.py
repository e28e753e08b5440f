"""The side-by-side throughput rounds: every workload on every target, interleaved.

Within a round each workload runs on all targets back to back, and the order of
the targets rotates from workload to workload and round to round, so a burst of
noise from the machine lands on every target alike rather than on one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from benchmarks import loadgen
from benchmarks.loadgen import BenchError, Spec
from benchmarks.resp_client import RespError
from benchmarks.servers import StartError


class Target(Protocol):
    def leader_port(self) -> int: ...


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
               warmup: bool, log: Callable[[str], None]) -> list[dict]:
    """All measurements of the run, one dict per (round, workload, target)."""
    estimate: dict[tuple[str, str], float] = {}
    names = list(targets)
    if warmup:
        # Not recorded: fills the keyspace a little, warms caches, estimates each rate.
        for spec in specs:
            for name in names:
                try:
                    row = loadgen.run(targets[name].leader_port(), spec,
                                      request_count(spec, None, seconds, floor, cap),
                                      keyspace, timeout)
                    estimate[(spec.label, name)] = row["rps"]
                except (BenchError, OSError, RespError, StartError) as exc:
                    log(f"  warmup {spec.label} on {name} failed: {exc}")
    runs: list[dict] = []
    for r, spec, order in plan(specs, names, rounds):
        for name in order:
            n = request_count(spec, estimate.get((spec.label, name)), seconds, floor, cap)
            rec: dict = {"round": r, "spec": spec.label, "test": spec.test,
                         "clients": spec.clients, "pipeline": spec.pipeline, "target": name}
            try:
                row = loadgen.run(targets[name].leader_port(), spec, n, keyspace, timeout)
                rec.update(row)
                estimate[(spec.label, name)] = row["rps"]
                log(f"  round {r + 1} {spec.label:<18} {name:<10} {row['rps']:>12,.0f} rps"
                    f"  p50 {row.get('p50_ms', float('nan')):.3f}"
                    f"  p99 {row.get('p99_ms', float('nan')):.3f} ms")
            except (BenchError, OSError, RespError, StartError) as exc:
                rec["error"] = str(exc)
                log(f"  round {r + 1} {spec.label:<18} {name:<10} FAILED: {exc}")
            runs.append(rec)
    return runs
