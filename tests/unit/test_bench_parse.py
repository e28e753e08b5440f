"""The benchmark harness's pure parts: redis-benchmark CSV, the round plan, the figures."""

from __future__ import annotations

import pytest

from benchmarks import loadgen, memory, report, throughput
from benchmarks.loadgen import BenchError, Spec

REDIS7_CSV = (
    "WARNING: Could not fetch server CONFIG\n"
    '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",'
    '"p99_latency_ms","max_latency_ms"\n'
    '"SET","625000.00","1.124","0.248","1.087","1.879","2.047","2.311"\n'
    '"GET","769230.75","0.783","0.192","0.719","1.287","1.375","2.911"\n'
)


def test_parse_redis7_csv_skips_warnings_and_keeps_rps_and_percentiles():
    rows = loadgen.parse_csv(REDIS7_CSV)
    assert set(rows) == {"SET", "GET"}
    assert rows["SET"] == {"rps": 625000.0, "avg_ms": 1.124, "p50_ms": 1.087,
                           "p99_ms": 2.047, "max_ms": 2.311}
    assert rows["GET"]["p99_ms"] == 1.375


def test_parse_headerless_csv_of_older_redis_benchmark_gives_rps_only():
    rows = loadgen.parse_csv('"SET","12345.67"\n"INCR","999.00"\n')
    assert rows == {"SET": {"rps": 12345.67}, "INCR": {"rps": 999.0}}


def test_parse_rejects_unreadable_numbers():
    with pytest.raises(BenchError, match="unreadable"):
        loadgen.parse_csv('"test","rps"\n"SET","fast"\n')


def test_parse_of_no_rows_is_empty():
    assert loadgen.parse_csv("Could not connect to Redis\n") == {}


def test_argv_carries_the_workload():
    args = loadgen.argv(7000, Spec("INCR", 50, 16), 1000, 500)
    assert args[0] == "redis-benchmark"
    pairs = dict(zip(args[1:-1:2], args[2:-1:2], strict=True))
    assert pairs == {"-h": "127.0.0.1", "-p": "7000", "-t": "incr", "-n": "1000",
                     "-c": "50", "-P": "16", "-r": "500"}
    assert args[-1] == "--csv"


def test_spec_matrix_is_the_issues():
    labels = {s.label for s in loadgen.SPECS}
    for t in ("SET", "GET", "INCR"):
        assert {f"{t} -P 1 -c 50", f"{t} -P 16 -c 50", f"{t} -P 1 -c 1"} <= labels
    assert len(loadgen.SPECS) == 9


def test_plan_puts_every_target_in_every_position_equally():
    targets = ["a", "b", "c", "d"]
    specs = [Spec("SET", 50, 1), Spec("GET", 50, 1)]
    plan = throughput.plan(specs, targets, rounds=2)
    assert len(plan) == 4
    for _, _, order in plan:
        assert sorted(order) == targets
    firsts = [order[0] for _, _, order in plan]
    assert sorted(firsts) == targets  # 4 steps, 4 targets: each leads once


def test_request_count_is_bounded_and_follows_the_rate():
    spec = Spec("SET", 50, 16)
    assert throughput.request_count(spec, None, 3.0, 2000, 10**6) == 3200  # 50*16*4
    assert throughput.request_count(spec, 10_000.0, 3.0, 2000, 10**6) == 30_000
    assert throughput.request_count(spec, 1e9, 3.0, 2000, 10**6) == 10**6
    assert throughput.request_count(spec, 1.0, 3.0, 2000, 10**6) == 3200


def _run(spec, target, rps, p50=1.0, p99=2.0):
    return {"spec": spec, "target": target, "rps": rps, "p50_ms": p50, "p99_ms": p99}


def test_summary_takes_medians_and_reports_failed_cells():
    runs = [_run("SET", "redis", 100), _run("SET", "redis", 300), _run("SET", "redis", 200),
            _run("SET", "raft-3", 50, p50=4.0),
            {"spec": "SET", "target": "raft-3", "error": "timed out"},
            {"spec": "GET", "target": "raft-3", "error": "refused"}]
    by = {(s["spec"], s["target"]): s for s in report.summarize(runs)}
    assert by[("SET", "redis")]["rps"] == 200
    assert by[("SET", "raft-3")] == {"spec": "SET", "target": "raft-3", "rounds": 1,
                                     "failed": 1, "rps": 50, "p50_ms": 4.0, "p99_ms": 2.0}
    assert by[("GET", "raft-3")]["rps"] is None
    assert by[("GET", "raft-3")]["error"] == "refused"


def test_ratios_divide_raft_by_each_baseline():
    summary = report.summarize([_run("SET", "redis", 1000, p50=0.5),
                                _run("SET", "redis-aof", 400, p50=2.0),
                                _run("SET", "raft-3", 200, p50=4.0)])
    rows = report.ratios(summary)
    assert [(r["target"], r["baseline"]) for r in rows] == [("raft-3", "redis"),
                                                           ("raft-3", "redis-aof")]
    assert rows[0]["rps"] == 0.2 and rows[0]["p50_ms"] == 8.0
    assert rows[1]["rps"] == 0.5 and rows[1]["p50_ms"] == 2.0
    text = report.table(summary, rows)
    assert "raft-3" in text and "0.500" in text and "redis-aof" in text


def test_ratio_with_a_failed_side_is_none_not_a_crash():
    summary = report.summarize([_run("SET", "redis", 1000),
                                {"spec": "SET", "target": "raft-1", "error": "x"}])
    rows = report.ratios(summary)
    assert rows == [{"spec": "SET", "target": "raft-1", "baseline": "redis",
                     "rps": None, "p50_ms": None, "p99_ms": None}]
    assert "failed" in report.table(summary, rows)


def test_memory_keys_and_values_have_the_issues_sizes_and_cover_each_key_once():
    assert len(memory.key(0)) == len(memory.key(999_999)) == memory.KEY_BYTES == 16
    assert len(memory.value(123)) == memory.VALUE_BYTES == 32
    cmds = list(memory.mset_commands(250, batch=100))
    assert len(cmds) == 3
    assert cmds[0].startswith(b"*201\r\n$4\r\nMSET\r\n")
    assert cmds[-1].startswith(b"*101\r\n")
    joined = b"".join(cmds)
    assert all(joined.count(memory.key(i)) == 1 for i in range(250))
    assert memory.key(250) not in joined


def test_goals_read_each_target_from_the_results_and_judge_it():
    summary = report.summarize([_run("SET -P 16 -c 50", "redis-aof", 1000),
                                _run("SET -P 16 -c 50", "raft-3", 300),
                                _run("SET -P 1 -c 1", "raft-3", 900, p50=1.5)])
    results = {"throughput": {"summary": summary, "ratios": report.ratios(summary)},
               "failover": {"median_ms": 400.0},
               "memory": {"ratio_to_redis": 3.5,
                          "raftredis": {"restart_to_serving_seconds": 2.0}}}
    got = {g["goal"]: (g["value"], g["met"]) for g in report.goals(results)}
    assert got["3-node SET -P 16 -c 50 rps / (b) >= 0.25"] == (0.3, True)
    assert got["3-node SET -P 1 -c 50 rps / (b) >= 0.35"] == (None, None)
    assert got["3-node SET -c 1 -P 1 p50 ms < 1"] == (1.5, False)
    assert got["failover median ms < 1000"] == (400.0, True)
    assert got["memory bytes/key vs redis <= 3"] == (3.5, False)
    assert got["restart to serving s <= 10"] == (2.0, True)
    assert "NOT MET" in report.goals_text(report.goals(results))
