"""deploy/kubernetes/: every manifest passes the Kubernetes schema (kubernetes-validate,
which bundles the schemas, so this runs offline), and the pieces fit together: selectors,
the headless Service, probes on /readyz and /healthz, a PodDisruptionBudget that keeps
a majority, the secret from a Secret, only real settings in the environment, and the
start script giving each pod its id, announce address and (beyond 3) --join."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from raftredis import config

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (a kubernetes-validate "
                           "dependency: pip install '.[test]')")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (pip install '.[test]')")

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"


def docs() -> list[dict]:
    kust = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    out = []
    for name in kust["resources"]:
        out += [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    return out


def by_kind(kind: str) -> list[dict]:
    return [d for d in docs() if d["kind"] == kind]


def test_kustomization_lists_every_manifest() -> None:
    kust = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


@pytest.mark.parametrize("doc", docs(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_passes_the_schema(doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    sts = by_kind("StatefulSet")[0]
    sts["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, K8S_VERSION, strict=True)


def _container() -> dict:
    return by_kind("StatefulSet")[0]["spec"]["template"]["spec"]["containers"][0]


def test_pieces_fit_together() -> None:
    sts = by_kind("StatefulSet")[0]
    spec = sts["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    services = {s["metadata"]["name"]: s for s in by_kind("Service")}
    headless = services[spec["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert spec["podManagementPolicy"] == "Parallel"
    for svc in services.values():
        assert svc["spec"]["selector"].items() <= labels.items()
    c = _container()
    port_names = {p["name"] for p in c["ports"]}
    for svc in services.values():
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= port_names
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    env = {e["name"]: e for e in c["env"]}
    assert env["RAFTREDIS_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "secret"
    assert int(env["RAFTREDIS_METRICS_PORT"]["value"]) == next(
        p["containerPort"] for p in c["ports"] if p["name"] == "metrics")
    peers = config.parse_peers(env["RAFTREDIS_PEERS"]["value"])
    assert sorted(peers) == list(range(1, spec["replicas"] + 1))
    for nid, addr in peers.items():  # pod N-1 is node N, reached by its headless name
        assert addr.host == f"{sts['metadata']['name']}-{nid - 1}.{headless['metadata']['name']}"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts[spec["volumeClaimTemplates"][0]["metadata"]["name"]] == \
        env["RAFTREDIS_DATA_DIR"]["value"]


def test_environment_names_only_real_settings() -> None:
    settings = {f"RAFTREDIS_{f.name.upper()}" for f in config._FIELDS}
    names = {e["name"] for e in _container()["env"] if e["name"].startswith("RAFTREDIS_")}
    assert names <= settings, names - settings
    script = _container()["command"][-1]
    for word in script.replace('"', " ").split():
        if word.startswith(("RAFTREDIS_", "export RAFTREDIS_")):
            assert word.split("=")[0] in settings, word


def test_pdb_keeps_a_majority() -> None:
    pdb = by_kind("PodDisruptionBudget")[0]
    replicas = by_kind("StatefulSet")[0]["spec"]["replicas"]
    assert pdb["spec"]["minAvailable"] == replicas // 2 + 1
    labels = by_kind("StatefulSet")[0]["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize(("hostname", "node_id", "joins"), [
    ("raftredis-0", "1", False), ("raftredis-2", "3", False), ("raftredis-3", "4", True)])
def test_start_script_gives_each_pod_its_identity(tmp_path: Path, hostname: str,
                                                  node_id: str, joins: bool) -> None:
    fake = tmp_path / "raftredis"  # stands for the real binary: prints what it was given
    fake.write_text("#!/bin/sh\nenv | grep '^RAFTREDIS_' | sort\necho ARGS=$*\n")
    fake.chmod(0o755)
    c = _container()
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    env.update(PATH=f"{tmp_path}:{os.environ['PATH']}", HOSTNAME=hostname, POD_NAMESPACE="ns",
               RAFTREDIS_SECRET="x" * 32)
    out = subprocess.run(c["command"], env=env, capture_output=True, text=True, timeout=10,
                         check=True).stdout
    got = dict(line.split("=", 1) for line in out.splitlines())
    assert got["ARGS"] == "serve"
    assert got["RAFTREDIS_ID"] == node_id
    assert got["RAFTREDIS_ANNOUNCE_HOST"] == f"{hostname}.raftredis-peers.ns.svc"
    if joins:
        assert got["RAFTREDIS_JOIN"] == "raftredis.ns.svc:7000"
        assert "RAFTREDIS_PEERS" not in got
    else:
        assert "RAFTREDIS_JOIN" not in got and got["RAFTREDIS_PEERS"]
    # and the settings it ends with are a valid node configuration
    environ = {k: v for k, v in got.items() if k.startswith("RAFTREDIS_")}
    cfg = config.load(environ=environ)
    assert cfg.id == int(node_id) and cfg.metrics_port == 9700
