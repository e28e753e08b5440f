"""The load tools: one measurement's command line, run under a deadline, output parsed.

`RedisBenchmark` drives every RESP target (redis-server, raftredis, PySyncObj behind
benchmarks/pysyncobj_server.py) with every workload; `EtcdLoad` drives etcd with the
workloads it has an equivalent for, through benchmarks/etcd_load.py.

Redis 7's redis-benchmark prints, with --csv, a header row
"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",... and one row per
test. It exits non-zero when the server answers an error, and it retries a refused
connection forever, so every run has a deadline.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# The numbers a cell of the table keeps; redis-benchmark's column for each.
COLUMNS = {"rps": "rps", "avg_ms": "avg_latency_ms", "p50_ms": "p50_latency_ms",
           "p99_ms": "p99_latency_ms", "max_ms": "max_latency_ms"}


class BenchError(RuntimeError):
    """redis-benchmark failed, timed out, or printed nothing we can read."""


@dataclass(frozen=True)
class Spec:
    """One workload: a redis-benchmark test at a client count and pipeline depth."""

    test: str  # SET, GET or INCR (redis-benchmark -t names, upper case)
    clients: int
    pipeline: int

    @property
    def label(self) -> str:
        return f"{self.test} -P {self.pipeline} -c {self.clients}"


# The matrix: throughput at -c 50 with and without pipelining, latency at -c 1.
SPECS: tuple[Spec, ...] = tuple(
    Spec(t, c, p) for (c, p) in ((50, 1), (50, 16), (1, 1)) for t in ("SET", "GET", "INCR"))


def argv(port: int, spec: Spec, requests: int, keyspace: int) -> list[str]:
    return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", spec.test.lower(),
            "-n", str(requests), "-c", str(spec.clients), "-P", str(spec.pipeline),
            "-r", str(keyspace), "--csv"]


def parse_csv(text: str) -> dict[str, dict[str, float]]:
    """Rows of redis-benchmark --csv output by test name, with the COLUMNS we keep.

    Lines that are not CSV rows (warnings) are skipped; a latency column that an
    older redis-benchmark does not print is simply absent from the row."""
    lines = [ln for ln in text.splitlines() if ln.startswith('"')]
    rows: dict[str, dict[str, float]] = {}
    header: list[str] | None = None
    for rec in csv.reader(io.StringIO("\n".join(lines))):
        if not rec:
            continue
        if rec[0] == "test":
            header = rec
            continue
        names = header or ["test", "rps"]  # Redis 6 prints no header: "SET","123.45"
        row: dict[str, float] = {}
        for key, col in COLUMNS.items():
            if col in names and names.index(col) < len(rec):
                try:
                    row[key] = float(rec[names.index(col)])
                except ValueError as exc:
                    raise BenchError(f"unreadable {col} value {rec!r}") from exc
        if "rps" not in row:
            raise BenchError(f"row without rps: {rec!r}")
        rows[rec[0].split(" ")[0].upper()] = row
    return rows


def run_tool(cmd: list[str], timeout: float, what: str) -> str:
    """Run a load tool to completion; its stdout. BenchError on a non-zero exit or
    when it outlives `timeout` (then it is killed, by its PID)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
        raise BenchError(f"{what} timed out after {timeout:.0f}s") from None
    errtext = err.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        raise BenchError(f"{what} exited {proc.returncode}: {errtext[-300:] or 'no message'}")
    return out.decode("utf-8", "replace")


def run(port: int, spec: Spec, requests: int, keyspace: int,
        timeout: float) -> dict[str, float]:
    """Run one redis-benchmark measurement; its row plus `seconds` (wall time) and
    `requests`."""
    started = time.monotonic()
    out = run_tool(argv(port, spec, requests, keyspace), timeout, f"redis-benchmark {spec.label}")
    seconds = time.monotonic() - started
    rows = parse_csv(out)
    if spec.test not in rows:
        raise BenchError(f"redis-benchmark printed no {spec.test} row: {out[-300:]!r}")
    row = dict(rows[spec.test])
    row["seconds"] = round(seconds, 3)
    row["requests"] = requests
    return row


class RedisBenchmark:
    """redis-benchmark: every workload, on any server that speaks RESP."""

    tool = "redis-benchmark"

    def supports(self, spec: Spec) -> bool:
        return True

    def run(self, port: int, spec: Spec, requests: int, keyspace: int,
            timeout: float) -> dict[str, float]:
        return run(port, spec, requests, keyspace, timeout)


# etcd's equivalents of the RESP workloads: a put, and a linearizable range of one key.
ETCD_OPS = {"SET": "put", "GET": "range"}
ETCD_LOAD = Path(__file__).resolve().parent / "etcd_load.py"


def etcd_argv(port: int, spec: Spec, requests: int, keyspace: int) -> list[str]:
    return [sys.executable, str(ETCD_LOAD), "--port", str(port), "--op", ETCD_OPS[spec.test],
            "--clients", str(spec.clients), "--requests", str(requests),
            "--keyspace", str(keyspace)]


def parse_etcd_output(text: str) -> dict[str, float]:
    """etcd_load.py's one JSON line, with the COLUMNS we keep."""
    try:
        data = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise BenchError(f"etcd_load printed no figures: {text[-300:]!r}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("rps"), int | float):
        raise BenchError(f"etcd_load printed no rps: {text[-300:]!r}")
    return {k: float(data[k]) for k in COLUMNS if isinstance(data.get(k), int | float)}


class EtcdLoad:
    """benchmarks/etcd_load.py: SET and GET without pipelining (etcd has none)."""

    tool = "etcd_load.py"

    def supports(self, spec: Spec) -> bool:
        return spec.test in ETCD_OPS and spec.pipeline == 1

    def run(self, port: int, spec: Spec, requests: int, keyspace: int,
            timeout: float) -> dict[str, float]:
        if not self.supports(spec):
            raise BenchError(f"etcd has no equivalent of {spec.label}")
        started = time.monotonic()
        out = run_tool(etcd_argv(port, spec, max(requests, spec.clients), keyspace), timeout,
                       f"etcd_load {spec.label}")
        row = parse_etcd_output(out)
        row["seconds"] = round(time.monotonic() - started, 3)
        row["requests"] = max(requests, spec.clients)
        return row
