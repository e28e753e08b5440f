"""deploy/grafana/raftredis-dashboard.json parses as a Grafana dashboard and every
metric its queries name is one the node exports (a rename breaks this test, not the
operator's dashboard)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from raftredis.observability import NodeMetrics
from raftredis.observability.sample import PeerSample
from raftredis.raft.types import Role
from tests.unit.test_observability import sample

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "raftredis-dashboard.json"
PROMQL_WORDS = {"rate", "increase", "sum", "by", "histogram_quantile", "le", "instance",
                "reason", "command", "kind", "peer", "port"}


def exported_names() -> set[str]:
    m = NodeMetrics(1)
    m.sample = sample(role=Role.LEADER, leader=1, peers=(PeerSample(2, match=3, lag=0,
                                                                    active=True),))
    m.fsync_seconds.observe(0.001)
    text = generate_latest(m.registry).decode()
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def queried_names(dash: dict) -> set[str]:
    names = set()
    for panel in dash["panels"]:
        for target in panel["targets"]:
            expr = re.sub(r"\[[0-9]+[smh]\]", "", target["expr"])
            for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
                if word not in PROMQL_WORDS:
                    names.add(word)
    return names


def test_dashboard_parses_and_has_panels() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["title"] and dash["uid"] and dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        assert p["targets"] and all(t["expr"] for t in p["targets"])


def test_dashboard_names_only_exported_metrics() -> None:
    dash = json.loads(DASHBOARD.read_text())
    queried = queried_names(dash)
    assert "raftredis_storage_fsync_duration_seconds_bucket" in queried
    missing = queried - exported_names()
    assert not missing, f"the dashboard queries metrics no node exports: {sorted(missing)}"


def test_the_check_catches_a_wrong_name() -> None:
    dash = {"panels": [{"targets": [{"expr": "rate(raftredis_no_such_thing_total[1m])"}]}]}
    assert queried_names(dash) - exported_names() == {"raftredis_no_such_thing_total"}
