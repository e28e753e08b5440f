"""Metrics, readiness and log format of one node, without a cluster: a sample rendered in
the Prometheus format, /healthz and /readyz over HTTP, a slow disk seen in the fsync
histogram, and JSON log lines."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from raftredis.observability import NodeMetrics, NodeSample, readiness
from raftredis.observability.http import MetricsServer
from raftredis.observability.logs import JsonFormatter, setup_logging
from raftredis.observability.sample import PeerSample
from raftredis.raft.types import ConfState, Entry, EntryKind, HardState, Role
from raftredis.storage import DiskStorage
from raftredis.storage import disk as disk_mod


def sample(**kw) -> NodeSample:
    base = dict(
        node_id=1, taken_at=time.monotonic(), role=Role.FOLLOWER, term=3, leader=2,
        member=True, voter=True, voters=3, learners=0, commit=10, applied=10, first_index=1,
        last_index=10, leader_changes=2, elections_started=1, became_leader=0, stepped_down=0,
        proposals=0, entries_proposed=0, proposals_committed=0, proposals_failed={},
        read_rounds=0, reads=0, snapshots_taken=0, snapshots_installed=0, snapshot_index=0,
        snapshot_bytes=0, log_bytes=100, fsyncs=4, loop_stalls=0, loop_max_stall_ms=0,
        clients=1, connections_received=1, connections_rejected=0, commands_processed=5,
        commands={"get": 3, "set": 2}, errors={"MOVED": 2}, net_in=50, net_out=60, keys=1,
        expires=0, keyspace_hits=3, keyspace_misses=0, evicted_keys=0, expired_keys=0,
        used_memory=1000, maxmemory=0,
        peers=(PeerSample(2, connected=True, bytes_sent=7, bytes_received=9),))
    base.update(kw)
    return NodeSample(**base)


def scrape_values(metrics: NodeMetrics) -> dict[tuple[str, tuple], float]:
    from prometheus_client import generate_latest

    out = {}
    for fam in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_readiness_rule() -> None:
    assert readiness(None).ready is False
    assert readiness(sample()).ready
    assert readiness(sample(role=Role.LEADER, leader=1)).ready
    r = readiness(sample(leader=0))
    assert not r.ready and "no leader" in r.reasons[0]
    assert not readiness(sample(member=False)).ready
    assert not readiness(sample(commit=500, applied=10)).ready
    stale = sample(taken_at=time.monotonic() - 10)
    assert "event loop" in readiness(stale).reasons[0]


def test_sample_renders_in_prometheus_conventions() -> None:
    m = NodeMetrics(1)
    m.sample = sample()
    v = scrape_values(m)
    assert v[("raftredis_raft_term", ())] == 3
    assert v[("raftredis_raft_role", (("role", "follower"),))] == 1
    assert v[("raftredis_raft_role", (("role", "leader"),))] == 0
    assert v[("raftredis_raft_leader_changes_total", ())] == 2
    assert v[("raftredis_commands_total", (("command", "get"),))] == 3
    assert v[("raftredis_error_replies_total", (("kind", "MOVED"),))] == 2
    assert v[("raftredis_net_output_bytes_total", (("port", "peer"),))] == 7
    assert v[("raftredis_net_input_bytes_total", (("port", "client"),))] == 50
    assert v[("raftredis_ready", ())] == 1
    assert ("process_resident_memory_bytes", ()) in v
    # follower: no per-follower replication series
    assert not any(k[0] == "raftredis_raft_follower_lag_entries" for k in v)
    m.sample = sample(role=Role.LEADER, leader=1,
                      peers=(PeerSample(2, match=7, lag=3, active=True),))
    v = scrape_values(m)
    assert v[("raftredis_raft_follower_lag_entries", (("peer", "2"),))] == 3
    assert v[("raftredis_raft_follower_match_index", (("peer", "2"),))] == 7


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_http_endpoints() -> None:
    m = NodeMetrics(1)
    srv = MetricsServer(m, "127.0.0.1", 0).start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        assert get(base + "/healthz") == (200, "ok\n")
        code, body = get(base + "/readyz")
        assert code == 503 and "no sample" in body
        m.sample = sample(leader=0, role=Role.CANDIDATE)
        code, body = get(base + "/readyz")
        assert code == 503 and "no leader heard from recently (candidate, term 3)" in body
        code, body = get(base + "/readyz?json")
        assert code == 503 and json.loads(body)["ready"] is False
        m.sample = sample()
        assert get(base + "/readyz") == (200, "ready\n")
        code, body = get(base + "/metrics")
        assert code == 200 and "raftredis_raft_term 3.0" in body
        assert get(base + "/nope")[0] == 404
    finally:
        srv.stop()


def test_slow_disk_raises_the_fsync_histogram(tmp_path: Path, monkeypatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    m = NodeMetrics(1)
    real_fsync = disk_mod.os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(0.25)
        real_fsync(fd)

    with DiskStorage.open(tmp_path / "d", ConfState(frozenset({1}))) as st:
        st.on_timing = m.on_disk_timing
        st.persist(HardState(1, 0, 0), [Entry(1, 1, EntryKind.NORMAL, b"x" * 8)])
        fast = scrape_values(m)
        monkeypatch.setattr(disk_mod.os, "fsync", slow_fsync)
        with caplog.at_level(logging.WARNING, logger="raftredis.metrics"):
            st.persist(None, [Entry(1, 2, EntryKind.NORMAL, b"y" * 8)])
        monkeypatch.setattr(disk_mod.os, "fsync", real_fsync)
    slow = scrape_values(m)
    key = "raftredis_storage_fsync_duration_seconds_bucket"
    below = (key, (("le", "0.1"),))
    total = ("raftredis_storage_fsync_duration_seconds_count", ())
    assert slow[total] > fast[total]
    # the stubbed fsync lands above 0.1 s
    assert slow[total] - slow[below] >= fast[total] - fast[below] + 1
    assert slow[("raftredis_storage_append_duration_seconds_count", ())] >= 2
    assert any("slow fsync" in r.getMessage() for r in caplog.records)


def test_json_log_lines() -> None:
    buf = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging(7, "info", "json", stream=buf)
    try:
        # A logger of its own, outside the project's (earlier tests may have set levels
        # on those), at a level that lets the line through.
        own = logging.getLogger("test-json-lines")
        own.setLevel(logging.INFO)
        own.warning("node %d: stepped down", 7)
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("x").exception("failed")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert lines[0]["msg"] == "node 7: stepped down"
    assert lines[0]["level"] == "warning" and lines[0]["node"] == 7
    assert lines[0]["ts"].endswith("Z")
    assert "ValueError: boom" in lines[1]["exc"]
    assert isinstance(JsonFormatter(1).format(logging.makeLogRecord({"msg": "a"})), str)


def test_sample_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample().term = 4  # type: ignore[misc]


def test_docker_healthcheck_follows_readyz() -> None:
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "docker" / "healthcheck.py"
    m = NodeMetrics(1)
    srv = MetricsServer(m, "127.0.0.1", 0).start()

    def check() -> subprocess.CompletedProcess:
        env = {**os.environ, "RAFTREDIS_METRICS_PORT": str(srv.port)}
        return subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                              text=True, timeout=20)

    try:
        m.sample = sample(leader=0)
        res = check()
        assert res.returncode == 1 and "no leader" in res.stdout
        m.sample = sample()
        assert check().returncode == 0
    finally:
        srv.stop()


def test_fsync_p99_of_recent_fsyncs_for_info_and_status(tmp_path: Path, monkeypatch) -> None:
    """storage stats carry the p99 of the recent fsyncs (INFO's raft_fsync_p99_ms, the
    FSYNC_P99_MS column of `raftredis status`): one slow fsync in a hundred fast ones
    shows in it, while the last fsync alone says nothing of it."""
    real_fsync = disk_mod.os.fsync
    slow = {"on": False}

    def fsync(fd: int) -> None:
        if slow["on"]:
            time.sleep(0.25)
        real_fsync(fd)

    monkeypatch.setattr(disk_mod.os, "fsync", fsync)
    with DiskStorage.open(tmp_path / "d", ConfState(frozenset({1}))) as st:
        assert st.stats()["fsync_p99_ms"] == 0  # none yet
        st.persist(HardState(1, 0, 0), [Entry(1, 1, EntryKind.NORMAL, b"x")])
        slow["on"] = True
        st.persist(None, [Entry(1, 2, EntryKind.NORMAL, b"y")])
        slow["on"] = False
        for i in range(3, 60):
            st.persist(None, [Entry(1, i, EntryKind.NORMAL, b"z")])
        stats = st.stats()
    assert stats["fsync_p99_ms"] >= 200, stats
    assert stats["last_fsync_ms"] < 200, stats
