"""benchmarks/run.py in its tiny --quick mode, as a real process, so the harness keeps working.

Speed is never asserted here: only that every section produced well-formed figures.
The harness stops its own servers by PID; on a timeout the test sends it SIGTERM
(which it turns into that same cleanup) before resorting to SIGKILL.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-benchmark") is None,
    reason="redis-server / redis-benchmark not installed (Debian: redis-server, redis-tools)")


def run_bench(out: Path, *args: str, timeout: float) -> tuple[int, str]:
    proc = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick",
                             "--out", str(out), *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        text, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            text, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            text, _ = proc.communicate(timeout=10)
        pytest.fail(f"benchmarks/run.py --quick took over {timeout}s:\n{text[-3000:]}")
    return proc.returncode, text


def check_cells(results: dict, targets: list[str]) -> None:
    summary = results["throughput"]["summary"]
    assert {(s["spec"], s["target"]) for s in summary} == {
        (spec, t) for spec in {s["spec"] for s in summary} for t in targets}
    assert len({s["spec"] for s in summary}) == 9
    for s in summary:
        assert s["rps"] > 0, s
        assert 0 <= s["p50_ms"] <= s["p99_ms"], s


@needs_redis
@pytest.mark.timeout(90)
def test_quick_run_against_redis_server_only_skips_a_peer_that_is_not_installed(tmp_path):
    rc, text = run_bench(tmp_path, "--sections", "throughput", "--targets",
                         "redis,redis-aof,etcd-3", "--etcd", str(tmp_path / "no-such-etcd"),
                         timeout=60)
    assert rc == 0, text[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True and results["errors"] == {}
    check_cells(results, ["redis", "redis-aof"])
    assert results["throughput"]["ratios"] == []  # no raftredis target, nothing to divide
    assert "no-such-etcd not found" in results["throughput"]["skipped"]["etcd-3"]
    for s in results["throughput"]["summary"]:
        assert s["cpu_us_per_op"] >= 0 and s["client_cpu_us_per_op"] >= 0, s
    csv_lines = (tmp_path / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("spec,target,rps") and len(csv_lines) == 1 + 18
    assert "cpu_us_per_op" in csv_lines[0]
    summary = (tmp_path / "summary.txt").read_text()
    assert "SET -P 16 -c 50" in summary and "etcd-3 skipped: " in summary
    assert "Targets of issue 20" in summary


peers_installed = pytest.mark.skipif(
    shutil.which("etcd") is None or importlib.util.find_spec("pysyncobj") is None,
    reason="peers not installed (apt-get install etcd-server; pip install pysyncobj)")


@needs_redis
@peers_installed
@pytest.mark.timeout(120)
def test_quick_run_with_the_peers_gives_their_cells_and_ratios(tmp_path):
    rc, text = run_bench(tmp_path, "--sections", "throughput", "--targets",
                         "raft-3,etcd-3,pysyncobj-3", timeout=90)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["errors"] == {}, text[-3000:]
    assert rc == 0, text[-3000:]
    cells = {(s["spec"], s["target"]): s for s in results["throughput"]["summary"]}
    assert len([k for k in cells if k[1] == "pysyncobj-3"]) == 9  # RESP: every workload
    # etcd: SET and GET without pipelining only.
    assert {k[0] for k in cells if k[1] == "etcd-3"} == {
        "SET -P 1 -c 50", "GET -P 1 -c 50", "SET -P 1 -c 1", "GET -P 1 -c 1"}
    for s in cells.values():
        assert s["rps"] > 0 and s["client_cpu_us_per_op"] >= 0, s
    peer = {(r["spec"], r["peer"]): r for r in results["throughput"]["peer_ratios"]}
    assert peer[("SET -P 1 -c 50", "etcd-3")]["rps"] > 0
    assert peer[("GET -P 16 -c 50", "etcd-3")]["peer_spec"] == "GET -P 1 -c 50"
    assert peer[("INCR -P 16 -c 50", "pysyncobj-3")]["rps"] > 0
    ratios_csv = (tmp_path / "ratios.csv").read_text().splitlines()
    assert len(ratios_csv) == 1 + len(peer)


@needs_redis
@pytest.mark.timeout(120)
def test_quick_run_of_every_section_against_raftredis(tmp_path):
    rc, text = run_bench(tmp_path, timeout=90)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["errors"] == {}, text[-3000:]
    assert rc == 0, text[-3000:]
    check_cells(results, ["redis", "redis-aof", "raft-1", "raft-3"])  # no peers in --quick
    ratios = results["throughput"]["ratios"]
    assert len(ratios) == 9 * 2 * 2 and all(r["rps"] > 0 for r in ratios)
    assert results["throughput"]["peer_ratios"] == []
    fo = results["failover"]
    assert len(fo["runs_ms"]) == 1 and fo["median_ms"] > 0 and fo["errors"] == []
    mem = results["memory"]
    assert mem["keys"] == 2000
    assert mem["redis"]["bytes_per_key"] > 48  # at least the key and value bytes
    assert mem["raftredis"]["restart_to_serving_seconds"] > 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "chart skipped" in text
    else:
        assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
