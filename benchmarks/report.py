"""Turning runs into figures: medians per cell, ratios to Redis, a text table, files.

Pure functions over plain dicts, apart from the three writers at the end.
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

# Display names of the targets, in table order.
TARGETS = {
    "redis": "(a) redis-server, no persistence",
    "redis-aof": "(b) redis-server, appendfsync always",
    "raft-1": "(c) raftredis, one node",
    "raft-3": "(d) raftredis, 3-node leader",
    "etcd-3": "(e) etcd, 3 members (HTTP/JSON gateway, WAL fsync)",
    "pysyncobj-3": "(f) PySyncObj KV, 3 nodes (RESP, journal not fsynced)",
}
BASELINES = ("redis", "redis-aof")
RAFT = ("raft-1", "raft-3")
PEERS = ("etcd-3", "pysyncobj-3")
# CPU figures: microseconds of CPU per operation, of the target's server processes
# summed (every node and what it forks), and of the load tool.
CPU_METRICS = ("cpu_us_per_op", "client_cpu_us_per_op")
METRICS = ("rps", "p50_ms", "p99_ms", *CPU_METRICS)
RATIO_METRICS = ("rps", "p50_ms", "p99_ms", "cpu_us_per_op")


def summarize(runs: list[dict]) -> list[dict]:
    """Median of each metric over the successful rounds of each (spec, target) cell."""
    cells: dict[tuple[str, str], list[dict]] = {}
    order: list[tuple[str, str]] = []
    for r in runs:
        key = (r["spec"], r["target"])
        if key not in cells:
            cells[key] = []
            order.append(key)
        cells[key].append(r)
    out = []
    for spec, target in order:
        group = cells[(spec, target)]
        ok = [r for r in group if "error" not in r]
        row: dict = {"spec": spec, "target": target, "rounds": len(ok),
                     "failed": len(group) - len(ok)}
        for m in METRICS:
            vals = [r[m] for r in ok if r.get(m) is not None]
            row[m] = round(statistics.median(vals), 3) if vals else None
        if not ok:
            row["error"] = group[-1].get("error", "no successful round")
        out.append(row)
    return out


def ratios(summary: list[dict]) -> list[dict]:
    """Each raftredis figure divided by the same figure of each Redis baseline.

    For rps, above 1 means raftredis is faster; for latencies and CPU per operation,
    above 1 means raftredis is slower or costlier."""
    by_key = {(s["spec"], s["target"]): s for s in summary}
    out = []
    for s in summary:
        if s["target"] not in RAFT:
            continue
        for base in BASELINES:
            b = by_key.get((s["spec"], base))
            if b is None:
                continue
            row = {"spec": s["spec"], "target": s["target"], "baseline": base}
            row.update(_divide(s, b))
            out.append(row)
    # Grouped for reading: per workload, (c) before (d), each against (a) then (b).
    out.sort(key=lambda r: (r["target"], r["baseline"]))
    specs = list(dict.fromkeys(s["spec"] for s in summary))
    out.sort(key=lambda r: specs.index(r["spec"]))
    return out


def _divide(a: dict, b: dict) -> dict:
    out = {}
    for m in RATIO_METRICS:
        x, y = a.get(m), b.get(m)
        out[m] = round(x / y, 3) if x is not None and y else None
    return out


def peer_cell(by_key: dict[tuple[str, str], dict], spec: str, peer: str) -> dict | None:
    """The peer's cell to set against raftredis's `spec`: the same workload, or, where
    the peer cannot pipeline, its unpipelined run at the same client count (its best
    at that concurrency)."""
    cell = by_key.get((spec, peer))
    if cell is None and " -P " in spec:
        test, rest = spec.split(" -P ", 1)
        clients = rest.split(" -c ", 1)[1] if " -c " in rest else ""
        cell = by_key.get((f"{test} -P 1 -c {clients}", peer))
    return cell


def peer_ratios(summary: list[dict]) -> list[dict]:
    """raftredis's 3-node figures divided by each peer's (etcd, PySyncObj), per workload.

    rps above 1: raftredis is that many times faster; latency or CPU per operation
    below 1: raftredis is quicker or cheaper. `peer_spec` names the peer's workload
    when it is not the same one (etcd has no pipelining)."""
    by_key = {(s["spec"], s["target"]): s for s in summary}
    out = []
    for s in summary:
        if s["target"] != "raft-3":
            continue
        for peer in PEERS:
            p = peer_cell(by_key, s["spec"], peer)
            if p is None:
                continue
            row = {"spec": s["spec"], "target": "raft-3", "peer": peer, "peer_spec": p["spec"]}
            row.update(_divide(s, p))
            out.append(row)
    return out


def _fmt(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def table(summary: list[dict], ratio_rows: list[dict],
          peer_rows: list[dict] | None = None) -> str:
    """Plain-text tables: figures per target, CPU per operation per target, then the
    raftredis/Redis ratios and the raftredis/peer ratios."""
    specs = list(dict.fromkeys(s["spec"] for s in summary))
    targets = [t for t in TARGETS if any(s["target"] == t for s in summary)]
    by_key = {(s["spec"], s["target"]): s for s in summary}
    lines = ["Requests per second, p50 / p99 latency in ms (median over rounds)", ""]
    head = f"{'workload':<20}" + "".join(f"{t:>30}" for t in targets)
    lines += [head, "-" * len(head)]
    for spec in specs:
        cells = []
        for t in targets:
            s = by_key.get((spec, t))
            if s is None:
                cells.append(f"{'n/a':>30}")  # the target's load tool has no such workload
            elif s.get("rps") is None:
                cells.append(f"{'failed':>30}")
            else:
                cells.append(f"{_fmt(s['rps']):>12} {_fmt(s['p50_ms'], 3):>8} "
                             f"{_fmt(s['p99_ms'], 3):>8}")
        lines.append(f"{spec:<20}" + "".join(cells))
    lines += ["", "CPU microseconds per operation: server processes summed (load tool's in "
              "parentheses)", ""]
    head = f"{'workload':<20}" + "".join(f"{t:>20}" for t in targets)
    lines += [head, "-" * len(head)]
    for spec in specs:
        cells = []
        for t in targets:
            s = by_key.get((spec, t))
            if s is None or s.get("rps") is None:
                cells.append(f"{'n/a' if s is None else 'failed':>20}")
            else:
                cells.append(f"{_fmt(s.get('cpu_us_per_op'), 1):>11} "
                             f"({_fmt(s.get('client_cpu_us_per_op'), 1):>6})")
        lines.append(f"{spec:<20}" + "".join(cells))
    if ratio_rows:
        lines += ["", "raftredis / Redis (rps: higher is better; latency and CPU/op: lower "
                  "is better)", ""]
        head = (f"{'workload':<20}{'target':>8}{'vs':>11}{'rps':>8}{'p50':>8}{'p99':>8}"
                f"{'cpu/op':>8}")
        lines += [head, "-" * len(head)]
        for r in ratio_rows:
            lines.append(f"{r['spec']:<20}{r['target']:>8}{r['baseline']:>11}"
                         f"{_fmt(r['rps'], 3):>8}{_fmt(r['p50_ms'], 2):>8}"
                         f"{_fmt(r['p99_ms'], 2):>8}{_fmt(r.get('cpu_us_per_op'), 2):>8}")
    if peer_rows:
        lines += ["", "raftredis 3 nodes / peer, 3 nodes (rps: times faster; latency and "
                  "CPU/op: below 1 is better)", ""]
        head = (f"{'workload':<20}{'vs':>13}{'peer workload':>18}{'rps':>9}{'p50':>8}"
                f"{'p99':>8}{'cpu/op':>8}")
        lines += [head, "-" * len(head)]
        for r in peer_rows:
            same = r["peer_spec"] == r["spec"]
            lines.append(f"{r['spec']:<20}{r['peer']:>13}{'same' if same else r['peer_spec']:>18}"
                         f"{_fmt(r['rps'], 2):>9}{_fmt(r['p50_ms'], 2):>8}"
                         f"{_fmt(r['p99_ms'], 2):>8}{_fmt(r.get('cpu_us_per_op'), 2):>8}")
    lines += ["", *(f"{k:>12}: {v}" for k, v in TARGETS.items() if k in targets)]
    return "\n".join(lines)


def write_json(path: Path, results: dict) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")


def write_csv(path: Path, summary: list[dict]) -> None:
    """One row per (workload, target): the medians, CPU per operation included."""
    cols = ["spec", "target", *METRICS, "rounds", "failed", "error"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for s in summary:
            w.writerow(s)


def write_ratios_csv(path: Path, ratio_rows: list[dict], peer_rows: list[dict]) -> None:
    """One row per ratio: raftredis against a Redis baseline or against a peer."""
    cols = ["spec", "target", "vs", "vs_spec", *RATIO_METRICS]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in ratio_rows:
            w.writerow({**r, "vs": r["baseline"], "vs_spec": r["spec"]})
        for r in peer_rows:
            w.writerow({**r, "vs": r["peer"], "vs_spec": r["peer_spec"]})


def write_chart(path: Path, summary: list[dict]) -> str:
    """A PNG: throughput and CPU per operation per workload at -c 50, and -c 1 p50
    latency, per target.
    Returns a message saying what was written or why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on a build machine
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install matplotlib)"
    targets = [t for t in TARGETS if any(s["target"] == t for s in summary)]
    by_key = {(s["spec"], s["target"]): s for s in summary}
    specs = list(dict.fromkeys(s["spec"] for s in summary))
    thr = [s for s in specs if not s.endswith("-c 1")]
    lat = [s for s in specs if s.endswith("-c 1")]
    fig, axes = plt.subplots(1, 3, figsize=(19, 5), gridspec_kw={"width_ratios": [2, 2, 1]})
    width = 0.8 / max(1, len(targets))
    for ax, group, metric, title in (
        (axes[0], thr, "rps", "requests/s at -c 50 (log scale)"),
        (axes[1], thr, "cpu_us_per_op", "server CPU us per operation at -c 50 (log scale)"),
        (axes[2], lat, "p50_ms", "p50 latency ms at -c 1 -P 1"),
    ):
        for k, t in enumerate(targets):
            xs = [i + k * width for i in range(len(group))]
            vals = [(by_key.get((s, t)) or {}).get(metric) for s in group]
            got = [(x, v) for x, v in zip(xs, vals, strict=True) if v]  # no bar where not run
            ax.bar([x for x, _ in got], [v for _, v in got], width, label=TARGETS[t])
        ax.set_xticks([i + width * (len(targets) - 1) / 2 for i in range(len(group))])
        ax.set_xticklabels([s.replace(" -c 50", "").replace(" -c 1", "") for s in group],
                           rotation=30, ha="right")
        ax.set_title(title)
        if metric != "p50_ms":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle("raftredis vs redis-server and peers, same machine, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"chart written to {path}"


# The issues' targets: (issue, what, how to read it from the results, comparison, bound).
# A bound of None is set at run time (the CPU row: half the ratio of a baseline run).
GOALS: tuple[tuple[int, str, tuple, str, float | None], ...] = (
    (20, "3-node SET -P 16 -c 50 rps / (b)",
     ("ratio", "SET -P 16 -c 50", "raft-3", "redis-aof", "rps"), ">=", 0.35),
    (20, "3-node SET -P 1 -c 50 rps / (b)",
     ("ratio", "SET -P 1 -c 50", "raft-3", "redis-aof", "rps"), ">=", 0.30),
    (20, "3-node linearizable GET -P 16 -c 50 rps / (a)",
     ("ratio", "GET -P 16 -c 50", "raft-3", "redis", "rps"), ">=", 0.35),
    (20, "3-node SET -c 1 p50 / (b)'s p50",
     ("ratio", "SET -P 1 -c 1", "raft-3", "redis-aof", "p50_ms"), "<=", 3.0),
    (20, "3-node CPU/op SET -P 16 -c 50 / (b)'s",
     ("ratio", "SET -P 16 -c 50", "raft-3", "redis-aof", "cpu_us_per_op"), "<=", None),
    (20, "3-node SET -P 1 -c 50 rps / etcd-3 put -c 50",
     ("peer", "SET -P 1 -c 50", "etcd-3", "rps"), ">=", 20.0),
    # The same 50 clients, each side at its best: etcd has no pipelining.
    (20, "3-node SET -P 16 -c 50 rps / etcd-3 put -c 50",
     ("peer", "SET -P 16 -c 50", "etcd-3", "rps"), ">=", 20.0),
    (7, "failover median ms", ("failover", "median_ms"), "<", 1000.0),
    (7, "memory bytes/key vs redis", ("memory", "ratio_to_redis"), "<=", 3.0),
    (7, "restart to serving s", ("memory", "restart"), "<=", 10.0),
)


def _goal_value(results: dict, where: tuple) -> float | None:
    kind = where[0]
    t = results.get("throughput") or {}
    if kind == "ratio":
        _, spec, target, base, metric = where
        rows = [r for r in t.get("ratios", []) if (r["spec"], r["target"], r["baseline"])
                == (spec, target, base)]
        return rows[0].get(metric) if rows else None
    if kind == "peer":
        _, spec, peer, metric = where
        rows = [r for r in t.get("peer_ratios", []) if (r["spec"], r["peer"]) == (spec, peer)]
        return rows[0].get(metric) if rows else None
    if kind == "cell":
        _, spec, target, metric = where
        rows = [s for s in t.get("summary", []) if (s["spec"], s["target"]) == (spec, target)]
        return rows[0].get(metric) if rows else None
    if kind == "failover":
        return (results.get("failover") or {}).get("median_ms")
    m = results.get("memory") or {}
    if where[1] == "restart":
        return (m.get("raftredis") or {}).get("restart_to_serving_seconds")
    return m.get(where[1])


def goals(results: dict, cpu_baseline: float | None = None) -> list[dict]:
    """Each target of the issues with the measured value and whether it is met (None
    when this run did not measure it, or, for the CPU row, when no `cpu_baseline` --
    the same ratio in the run to halve -- was given)."""
    out = []
    for issue, name, where, op, bound in GOALS:
        v = _goal_value(results, where)
        note = ""
        if bound is None:  # the CPU row: halve the baseline's ratio
            if cpu_baseline is not None:
                bound = round(cpu_baseline / 2, 3)
                note = f"half of the baseline's {cpu_baseline:g}"
            else:
                note = "no baseline given (--cpu-baseline)"
        met = None if v is None or bound is None else \
            {">=": v >= bound, "<": v < bound, "<=": v <= bound}[op]
        text = f"{name} {op} {bound:g}" if bound is not None else f"{name}: halve it"
        out.append({"issue": issue, "goal": text, "value": v, "met": met, "note": note})
    return out


def goals_text(rows: list[dict]) -> str:
    blocks = []
    for issue in dict.fromkeys(r.get("issue", 0) for r in rows):
        lines = [f"Targets of issue {issue}", ""]
        for r in (r for r in rows if r.get("issue", 0) == issue):
            state = {True: "MET", False: "NOT MET", None: "not measured"}[r["met"]]
            if r["met"] is None and r["value"] is not None:
                state = "measured"
            note = f"  ({r['note']})" if r.get("note") else ""
            lines.append(f"  {r['goal']:<52} {_fmt(r['value'], 3):>10}  {state}{note}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
