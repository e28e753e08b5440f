"""The benchmark harness's pure parts: redis-benchmark CSV, the round plan, the figures."""

from __future__ import annotations

import base64
import json

import pytest

from benchmarks import cpu, etcd_load, loadgen, memory, report, throughput
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


def _run(spec, target, rps, p50=1.0, p99=2.0, cpu=None, client=None):
    return {"spec": spec, "target": target, "rps": rps, "p50_ms": p50, "p99_ms": p99,
            "cpu_us_per_op": cpu, "client_cpu_us_per_op": client}


def test_summary_takes_medians_and_reports_failed_cells():
    runs = [_run("SET", "redis", 100), _run("SET", "redis", 300), _run("SET", "redis", 200),
            _run("SET", "raft-3", 50, p50=4.0),
            {"spec": "SET", "target": "raft-3", "error": "timed out"},
            {"spec": "GET", "target": "raft-3", "error": "refused"}]
    by = {(s["spec"], s["target"]): s for s in report.summarize(runs)}
    assert by[("SET", "redis")]["rps"] == 200
    assert by[("SET", "raft-3")] == {"spec": "SET", "target": "raft-3", "rounds": 1,
                                     "failed": 1, "rps": 50, "p50_ms": 4.0, "p99_ms": 2.0,
                                     "cpu_us_per_op": None, "client_cpu_us_per_op": None}
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
                     "rps": None, "p50_ms": None, "p99_ms": None, "cpu_us_per_op": None}]
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
    summary = report.summarize([
        _run("SET -P 16 -c 50", "redis-aof", 1000, cpu=10.0),
        _run("SET -P 16 -c 50", "raft-3", 400, cpu=50.0),
        _run("SET -P 1 -c 1", "redis-aof", 900, p50=0.5),
        _run("SET -P 1 -c 1", "raft-3", 900, p50=1.0),
        _run("SET -P 1 -c 50", "raft-3", 30_000),
        _run("SET -P 1 -c 50", "etcd-3", 1000)])
    results = {"throughput": {"summary": summary, "ratios": report.ratios(summary),
                              "peer_ratios": report.peer_ratios(summary)},
               "failover": {"median_ms": 400.0},
               "memory": {"ratio_to_redis": 3.5,
                          "raftredis": {"restart_to_serving_seconds": 2.0}}}
    got = {g["goal"]: (g["value"], g["met"]) for g in report.goals(results)}
    assert got["3-node SET -P 16 -c 50 rps / (b) >= 0.35"] == (0.4, True)
    assert got["3-node SET -P 1 -c 50 rps / (b) >= 0.3"] == (None, None)  # no (b) cell
    assert got["3-node SET -c 1 p50 / (b)'s p50 <= 3"] == (2.0, True)
    assert got["3-node SET -P 1 -c 50 rps / etcd-3 put -c 50 >= 20"] == (30.0, True)
    assert got["3-node SET -P 16 -c 50 rps / etcd-3 put -c 50 >= 20"] == (0.4, False)
    # Without a baseline the CPU ratio is measured but not judged...
    assert got["3-node CPU/op SET -P 16 -c 50 / (b)'s: halve it"] == (5.0, None)
    assert got["failover median ms < 1000"] == (400.0, True)
    assert got["memory bytes/key vs redis <= 3"] == (3.5, False)
    assert got["restart to serving s <= 10"] == (2.0, True)
    text = report.goals_text(report.goals(results))
    assert "Targets of issue 20" in text and "Targets of issue 7" in text
    assert "NOT MET" in text and "measured  (no baseline given" in text
    # ...and with one, the bound is half of it.
    judged = {g["goal"]: g for g in report.goals(results, cpu_baseline=12.0)}
    row = judged["3-node CPU/op SET -P 16 -c 50 / (b)'s <= 6"]
    assert (row["value"], row["met"]) == (5.0, True) and "12" in row["note"]


def test_cpu_figures_get_medians_and_ratios_and_a_table_of_their_own():
    summary = report.summarize([_run("SET", "redis-aof", 1000, cpu=4.0, client=1.0),
                                _run("SET", "raft-3", 300, cpu=30.0, client=2.0),
                                _run("SET", "raft-3", 300, cpu=10.0, client=2.0),
                                _run("SET", "raft-3", 300, cpu=20.0, client=2.0)])
    by = {s["target"]: s for s in summary}
    assert by["raft-3"]["cpu_us_per_op"] == 20.0 and by["raft-3"]["client_cpu_us_per_op"] == 2.0
    rows = report.ratios(summary)
    assert rows == [{"spec": "SET", "target": "raft-3", "baseline": "redis-aof", "rps": 0.3,
                     "p50_ms": 1.0, "p99_ms": 1.0, "cpu_us_per_op": 5.0}]
    text = report.table(summary, rows)
    assert "CPU microseconds per operation" in text and "20.0 (   2.0)" in text


def test_peer_ratios_use_the_same_workload_or_the_peers_unpipelined_one():
    summary = report.summarize([
        _run("SET -P 1 -c 50", "raft-3", 20_000, cpu=40.0),
        _run("SET -P 16 -c 50", "raft-3", 100_000, cpu=20.0),
        _run("INCR -P 1 -c 50", "raft-3", 10_000),
        _run("SET -P 1 -c 50", "etcd-3", 4000, cpu=200.0),
        _run("SET -P 1 -c 50", "pysyncobj-3", 1000),
        _run("SET -P 16 -c 50", "pysyncobj-3", 2000),
        _run("SET -P 1 -c 50", "raft-1", 30_000)])  # only the 3-node cluster is compared
    rows = {(r["spec"], r["peer"]): r for r in report.peer_ratios(summary)}
    assert set(rows) == {("SET -P 1 -c 50", "etcd-3"), ("SET -P 1 -c 50", "pysyncobj-3"),
                         ("SET -P 16 -c 50", "etcd-3"), ("SET -P 16 -c 50", "pysyncobj-3")}
    assert rows[("SET -P 1 -c 50", "etcd-3")]["rps"] == 5.0
    assert rows[("SET -P 1 -c 50", "etcd-3")]["cpu_us_per_op"] == 0.2
    # etcd cannot pipeline: raftredis's -P 16 is set against etcd's best at -c 50.
    assert rows[("SET -P 16 -c 50", "etcd-3")]["peer_spec"] == "SET -P 1 -c 50"
    assert rows[("SET -P 16 -c 50", "etcd-3")]["rps"] == 25.0
    assert rows[("SET -P 16 -c 50", "pysyncobj-3")]["peer_spec"] == "SET -P 16 -c 50"
    text = report.table(summary, [], report.peer_ratios(summary))
    assert "raftredis 3 nodes / peer" in text and "n/a" in text  # etcd has no -P 16 cell


def test_ratios_csv_has_a_row_per_baseline_and_peer_ratio(tmp_path):
    summary = report.summarize([_run("SET -P 1 -c 50", "redis-aof", 40_000),
                                _run("SET -P 1 -c 50", "raft-3", 20_000),
                                _run("SET -P 1 -c 50", "etcd-3", 4000)])
    path = tmp_path / "ratios.csv"
    report.write_ratios_csv(path, report.ratios(summary), report.peer_ratios(summary))
    lines = path.read_text().splitlines()
    assert lines[0] == "spec,target,vs,vs_spec,rps,p50_ms,p99_ms,cpu_us_per_op"
    assert lines[1].startswith("SET -P 1 -c 50,raft-3,redis-aof,SET -P 1 -c 50,0.5,")
    assert lines[2].startswith("SET -P 1 -c 50,raft-3,etcd-3,SET -P 1 -c 50,5.0,")
    report.write_csv(tmp_path / "results.csv", summary)
    head = (tmp_path / "results.csv").read_text().splitlines()[0]
    assert head == ("spec,target,rps,p50_ms,p99_ms,cpu_us_per_op,client_cpu_us_per_op,"
                    "rounds,failed,error")


# ---------------------------------------------------------------- CPU counters
STAT = ("4242 (raftredis: node (1)) S 17 4242 4242 0 -1 4194560 5000 0 0 0 "
        "150 25 7 3 20 0 4 0 100 1000000 2000 18446744073709551615")


def test_parse_stat_counts_fields_after_the_last_parenthesis():
    assert cpu.parse_stat(STAT) == (17, 150 + 25 + 7 + 3)
    with pytest.raises(ValueError):
        cpu.parse_stat("4242 no parentheses")
    with pytest.raises(ValueError):
        cpu.parse_stat("4242 (x) S 1 2 3")


def test_descendants_follow_every_generation_and_skip_dead_roots():
    parent_of = {1: 0, 10: 1, 11: 10, 12: 11, 20: 1, 30: 10, 99: 98}
    assert cpu.descendants([10], parent_of) == {10, 11, 12, 30}
    assert cpu.descendants([10, 20, 555], parent_of) == {10, 11, 12, 30, 20}
    assert cpu.descendants([], parent_of) == set()


# ---------------------------------------------------------------- etcd load tool
def test_etcd_requests_are_gateway_json_with_base64_keys():
    put = etcd_load.request_bytes(2379, "put", b"key:000000000007", b"xxx")
    head, _, body = put.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v3/kv/put HTTP/1.1\r\nHost: 127.0.0.1:2379\r\n")
    assert b"Content-Length: %d" % len(body) in head
    doc = json.loads(body)
    assert base64.b64decode(doc["key"]) == b"key:000000000007"
    assert base64.b64decode(doc["value"]) == b"xxx"
    rng = json.loads(etcd_load.request_bytes(1, "range", b"k", b"").partition(b"\r\n\r\n")[2])
    assert rng == {"key": "aw==", "serializable": False}
    with pytest.raises(ValueError):
        etcd_load.request_bytes(1, "delete", b"k", b"")


def test_etcd_responses_are_framed_by_content_length_and_may_arrive_in_pieces():
    one = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    two = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\n\r\nerror"
    buf = one + two
    assert etcd_load.parse_response(buf) == (200, b"{}", len(one))
    assert etcd_load.parse_response(buf[len(one):]) == (400, b"error", len(two))
    for cut in (5, len(one) - 1):
        assert etcd_load.parse_response(one[:cut]) is None
    with pytest.raises(etcd_load.HttpError, match="transfer-encoding"):
        etcd_load.parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(etcd_load.HttpError, match="status line"):
        etcd_load.parse_response(b"SSH-2.0\r\n\r\n")
    with pytest.raises(etcd_load.HttpError, match="Content-Length"):
        etcd_load.parse_response(b"HTTP/1.1 200 OK\r\n\r\n")


def test_etcd_figures_are_nearest_rank_percentiles_in_ms():
    lat = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    f = etcd_load.figures(lat, 2.0)
    assert f == {"rps": 50.0, "avg_ms": 50.5, "p50_ms": 50.0, "p99_ms": 99.0,
                 "max_ms": 100.0, "requests": 100}
    assert etcd_load.percentile([3.0], 0.99) == 3.0


def test_etcd_loader_runs_only_what_etcd_has_and_reads_its_json():
    load = loadgen.EtcdLoad()
    assert load.supports(Spec("SET", 50, 1)) and load.supports(Spec("GET", 1, 1))
    assert not load.supports(Spec("SET", 50, 16)) and not load.supports(Spec("INCR", 50, 1))
    args = loadgen.etcd_argv(2379, Spec("GET", 50, 1), 1000, 500)
    assert args[1].endswith("etcd_load.py") and args[args.index("--op") + 1] == "range"
    out = 'noise\n{"rps": 123.5, "p50_ms": 1.5, "p99_ms": 3, "requests": 1000}\n'
    assert loadgen.parse_etcd_output(out) == {"rps": 123.5, "p50_ms": 1.5, "p99_ms": 3.0}
    with pytest.raises(BenchError, match="no figures"):
        loadgen.parse_etcd_output("")
    with pytest.raises(BenchError, match="no rps"):
        loadgen.parse_etcd_output('{"p50_ms": 1}')


def test_plan_runs_skip_workloads_a_target_cannot_run():
    class Fixed:
        def leader_port(self) -> int:
            return 1

        def pids(self) -> list[int]:
            return []

    class Counting:
        def __init__(self, ok) -> None:
            self.ok, self.ran = ok, []

        def supports(self, spec) -> bool:
            return self.ok(spec)

        def run(self, port, spec, requests, keyspace, timeout):
            self.ran.append(spec.label)
            return {"rps": 10.0, "p50_ms": 1.0, "p99_ms": 2.0, "requests": requests}

    every, some = Counting(lambda s: True), Counting(lambda s: s.pipeline == 1)
    specs = [Spec("SET", 50, 1), Spec("SET", 50, 16)]
    runs = throughput.run_rounds({"a": Fixed(), "b": Fixed()}, specs, 2, seconds=1.0,
                                 floor=10, cap=100, keyspace=10, timeout=5.0, warmup=True,
                                 log=lambda m: None, loaders={"a": every, "b": some})
    assert len(every.ran) == 2 + 4 and len(some.ran) == 1 + 2  # warm-up, then 2 rounds
    assert {(r["target"], r["spec"]) for r in runs} == {
        ("a", "SET -P 1 -c 50"), ("a", "SET -P 16 -c 50"), ("b", "SET -P 1 -c 50")}
    assert all(r["cpu_us_per_op"] == 0.0 for r in runs)  # no server processes to count


def test_idle_cpu_samples_every_target_over_one_window():
    class Idle:
        def pids(self) -> list[int]:
            return []

        def leader_port(self) -> int:
            return 1

    slept: list[float] = []
    got = throughput.idle_cpu({"a": Idle(), "b": Idle()}, 2.0, slept.append)
    assert got == {"a": 0.0, "b": 0.0} and slept == [2.0]


def test_pysyncobj_server_encodes_replies_as_redis_does():
    pytest.importorskip("pysyncobj")
    from benchmarks import pysyncobj_server as pso

    assert pso.encode_reply(b"OK") == b"+OK\r\n"
    assert pso.encode_reply(b"v") == b"$1\r\nv\r\n"
    assert pso.encode_reply(None) == b"$-1\r\n"
    assert pso.encode_reply(7) == b":7\r\n"
    assert pso.encode_reply("ERR not an integer") == b"-ERR not an integer\r\n"
    assert pso.encode_reply([b"save", b""]) == b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
    with pytest.raises(TypeError):
        pso.encode_reply(1.5)
