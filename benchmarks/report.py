"""Turning runs into figures: medians per cell, ratios to Redis, a text table, files.

Pure functions over plain dicts, apart from the three writers at the end.
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

# Display names of the four targets, in table order.
TARGETS = {
    "redis": "(a) redis-server, no persistence",
    "redis-aof": "(b) redis-server, appendfsync always",
    "raft-1": "(c) raftredis, one node",
    "raft-3": "(d) raftredis, 3-node leader",
}
BASELINES = ("redis", "redis-aof")
RAFT = ("raft-1", "raft-3")
METRICS = ("rps", "p50_ms", "p99_ms")


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

    For rps, above 1 means raftredis is faster; for latencies, above 1 means slower."""
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
            for m in METRICS:
                a, d = s.get(m), b.get(m)
                row[m] = round(a / d, 3) if a is not None and d else None
            out.append(row)
    # Grouped for reading: per workload, (c) before (d), each against (a) then (b).
    out.sort(key=lambda r: (r["target"], r["baseline"]))
    specs = list(dict.fromkeys(s["spec"] for s in summary))
    out.sort(key=lambda r: specs.index(r["spec"]))
    return out


def _fmt(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def table(summary: list[dict], ratio_rows: list[dict]) -> str:
    """Plain-text tables: figures per target, then the raftredis/Redis ratios."""
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
            if s is None or s.get("rps") is None:
                cells.append(f"{'failed':>30}")
            else:
                cells.append(f"{_fmt(s['rps']):>12} {_fmt(s['p50_ms'], 3):>8} "
                             f"{_fmt(s['p99_ms'], 3):>8}")
        lines.append(f"{spec:<20}" + "".join(cells))
    if ratio_rows:
        lines += ["", "raftredis / Redis (rps: higher is better; latency: lower is better)", ""]
        head = f"{'workload':<20}{'target':>8}{'vs':>11}{'rps':>8}{'p50':>8}{'p99':>8}"
        lines += [head, "-" * len(head)]
        for r in ratio_rows:
            lines.append(f"{r['spec']:<20}{r['target']:>8}{r['baseline']:>11}"
                         f"{_fmt(r['rps'], 3):>8}{_fmt(r['p50_ms'], 2):>8}"
                         f"{_fmt(r['p99_ms'], 2):>8}")
    lines += ["", *(f"{k:>10}: {v}" for k, v in TARGETS.items() if k in targets)]
    return "\n".join(lines)


def write_json(path: Path, results: dict) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")


def write_csv(path: Path, summary: list[dict]) -> None:
    cols = ["spec", "target", "rps", "p50_ms", "p99_ms", "rounds", "failed", "error"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for s in summary:
            w.writerow(s)


def write_chart(path: Path, summary: list[dict]) -> str:
    """A PNG: throughput per workload at -c 50 and -c 1 p50 latency, per target.
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
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / max(1, len(targets))
    for ax, group, metric, title in (
        (axes[0], thr, "rps", "requests/s at -c 50 (log scale)"),
        (axes[1], lat, "p50_ms", "p50 latency ms at -c 1 -P 1"),
    ):
        for k, t in enumerate(targets):
            vals = [(by_key.get((s, t)) or {}).get(metric) or 0 for s in group]
            ax.bar([i + k * width for i in range(len(group))], vals, width, label=TARGETS[t])
        ax.set_xticks([i + width * (len(targets) - 1) / 2 for i in range(len(group))])
        ax.set_xticklabels([s.replace(" -c 50", "").replace(" -c 1", "") for s in group],
                           rotation=30, ha="right")
        ax.set_title(title)
        if metric == "rps":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle("raftredis vs redis-server, same machine, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"chart written to {path}"


# The targets: (what, how to read it from the results, comparison, bound).
GOALS = (
    ("3-node SET -P 16 -c 50 rps / (b)", ("ratio", "SET -P 16 -c 50", "raft-3", "redis-aof", "rps"),
     ">=", 0.25),
    ("3-node SET -P 1 -c 50 rps / (b)", ("ratio", "SET -P 1 -c 50", "raft-3", "redis-aof", "rps"),
     ">=", 0.35),
    ("3-node GET -P 16 -c 50 rps / (a)", ("ratio", "GET -P 16 -c 50", "raft-3", "redis", "rps"),
     ">=", 0.30),
    ("3-node SET -c 1 -P 1 p50 ms", ("cell", "SET -P 1 -c 1", "raft-3", "p50_ms"), "<", 1.0),
    ("failover median ms", ("failover", "median_ms"), "<", 1000.0),
    ("memory bytes/key vs redis", ("memory", "ratio_to_redis"), "<=", 3.0),
    ("restart to serving s", ("memory", "restart"), "<=", 10.0),
)


def _goal_value(results: dict, where: tuple) -> float | None:
    kind = where[0]
    t = results.get("throughput") or {}
    if kind == "ratio":
        _, spec, target, base, metric = where
        rows = [r for r in t.get("ratios", []) if (r["spec"], r["target"], r["baseline"])
                == (spec, target, base)]
        return rows[0][metric] if rows else None
    if kind == "cell":
        _, spec, target, metric = where
        rows = [s for s in t.get("summary", []) if (s["spec"], s["target"]) == (spec, target)]
        return rows[0][metric] if rows else None
    if kind == "failover":
        return (results.get("failover") or {}).get("median_ms")
    m = results.get("memory") or {}
    if where[1] == "restart":
        return (m.get("raftredis") or {}).get("restart_to_serving_seconds")
    return m.get(where[1])


def goals(results: dict) -> list[dict]:
    """Each target of the issue with the measured value and whether it is met
    (None when this run did not measure it)."""
    out = []
    for name, where, op, bound in GOALS:
        v = _goal_value(results, where)
        met = None if v is None else {">=": v >= bound, "<": v < bound, "<=": v <= bound}[op]
        out.append({"goal": f"{name} {op} {bound:g}", "value": v, "met": met})
    return out


def goals_text(rows: list[dict]) -> str:
    lines = ["Targets of issue 7", ""]
    for r in rows:
        state = {True: "met", False: "NOT MET", None: "not measured"}[r["met"]]
        lines.append(f"  {r['goal']:<45} {_fmt(r['value'], 3):>10}  {state}")
    return "\n".join(lines)
