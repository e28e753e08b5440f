"""The metrics endpoint of a live 3-node cluster moves as it should: writes raise the
leader's commits, a kill -9 of the leader raises leader changes on the survivors, and
/readyz is false on a node cut off from the majority and true again once healed, and a
slow-disk stub on one follower raises that node's fsync histogram (and only its).

Every wait is a condition with a deadline; every process is stopped by PID.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from raftredis.miniclient import call
from tests.integration.harness import Cluster, free_ports, wait_for


def with_metrics(c: Cluster) -> dict[int, int]:
    ports = dict(zip(c.nodes, free_ports(len(c.nodes)), strict=True))
    for i, node in c.nodes.items():
        node.extra += ["--metrics-port", str(ports[i])]
    return ports


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def scrape(port: int) -> dict[str, float]:
    """name{label="v",...} -> value, for every sample of the node's /metrics."""
    code, text = http_get(port, "/metrics")
    assert code == 200
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def ready(port: int) -> bool:
    return http_get(port, "/readyz")[0] == 200


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, proxied=True)
    ports = with_metrics(c)
    c.start()
    try:
        yield c, ports
    finally:
        c.stop()


def test_writes_raise_commits_and_kill9_raises_leader_changes(cluster):
    c, ports = cluster
    lead = c.wait_leader()
    wait_for(lambda: all(ready(ports[i]) for i in c.nodes), 20, "every node ready")
    before = scrape(ports[lead])
    assert before["raftredis_raft_is_leader"] == 1
    assert before['raftredis_raft_role{role="leader"}'] == 1
    for k in range(20):
        assert call("127.0.0.1", c.nodes[lead].port, "SET", f"k{k}", "v", timeout=5) == b"OK"

    def moved() -> dict[str, float] | None:
        now = scrape(ports[lead])
        ok = (now["raftredis_raft_commit_index"] >= before["raftredis_raft_commit_index"] + 20
              and now["raftredis_raft_proposals_committed_total"]
              >= before["raftredis_raft_proposals_committed_total"] + 20
              and now['raftredis_commands_total{command="set"}'] >= 20)
        return now if ok else None

    after = wait_for(moved, 10, "commits and proposals to rise on the leader")
    assert after['raftredis_net_input_bytes_total{port="client"}'] > \
        before['raftredis_net_input_bytes_total{port="client"}']
    assert after['raftredis_net_output_bytes_total{port="peer"}'] > 0
    assert after["raftredis_storage_fsync_duration_seconds_count"] > \
        before["raftredis_storage_fsync_duration_seconds_count"]
    followers = [i for i in c.nodes if i != lead]
    for i in followers:  # the leader sees each follower caught up
        wait_for(lambda i=i: scrape(ports[lead])[f'raftredis_raft_follower_lag_entries'
                                                 f'{{peer="{i}"}}'] == 0, 10,
                 f"follower {i} to catch up")

    changes = {i: scrape(ports[i])["raftredis_raft_leader_changes_total"] for i in followers}
    c.kill(lead)
    new = c.wait_leader(exclude=lead)
    assert new in followers
    for i in followers:
        wait_for(lambda i=i: scrape(ports[i])["raftredis_raft_leader_changes_total"]
                 > changes[i], 10, f"leader changes to rise on node {i}")
    wait_for(lambda: scrape(ports[new])["raftredis_raft_is_leader"] == 1, 10,
             "the new leader's metrics to say so")
    wait_for(lambda: all(ready(ports[i]) for i in followers), 10, "the survivors ready")


def test_readyz_false_when_cut_off_then_true_after_heal(cluster):
    """A follower, then the leader, cut off from the majority by a partition."""
    c, ports = cluster
    lead = c.wait_leader()
    victim = next(i for i in c.nodes if i != lead)
    wait_for(lambda: ready(ports[victim]), 20, f"node {victim} ready")
    c.isolate(victim)
    wait_for(lambda: not ready(ports[victim]), 10, f"node {victim} not ready when cut off")
    code, body = http_get(ports[victim], "/readyz")
    assert code == 503 and "no leader" in body, body
    assert http_get(ports[victim], "/healthz") == (200, "ok\n")  # the process is up
    assert ready(ports[lead])  # the majority side still has its leader
    c.heal()
    wait_for(lambda: ready(ports[victim]), 20, f"node {victim} ready again after heal")
    # A leader cut off steps down (check-quorum) and stops being ready; the majority
    # elects another leader and stays ready.
    lead = c.wait_leader()
    c.isolate(lead)
    wait_for(lambda: not ready(ports[lead]), 10, f"isolated leader {lead} not ready")
    others = [i for i in c.nodes if i != lead]
    wait_for(lambda: all(ready(ports[i]) for i in others), 20, "the majority ready")
    c.heal()
    wait_for(lambda: ready(ports[lead]), 20, f"node {lead} ready again after heal")


# A test-only sitecustomize for the node processes: os.fsync sleeps 250 ms while a flag
# file named after the process's pid exists (the stub of a slow disk, on one node).
SLOW_DISK_SITE = '''
import os
import time

_real_fsync = os.fsync
_flag = os.path.join(os.environ["RAFTREDIS_TEST_SLOW_DISK_DIR"], "slow-%d" % os.getpid())


def _slow_fsync(fd):
    if os.path.exists(_flag):
        time.sleep(0.25)
    _real_fsync(fd)


os.fsync = _slow_fsync
'''


def test_a_slow_disk_on_one_follower_raises_its_fsync_histogram(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_DISK_SITE)
    monkeypatch.setenv("RAFTREDIS_TEST_SLOW_DISK_DIR", str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p))
    (tmp_path / "c").mkdir()
    c = Cluster(tmp_path / "c")
    ports = with_metrics(c)
    c.start()
    try:
        lead = c.wait_leader()
        slow = next(i for i in c.nodes if i != lead)
        wait_for(lambda: ready(ports[slow]), 20, f"node {slow} ready")
        above = 'raftredis_storage_fsync_duration_seconds_bucket{le="0.1"}'
        count = "raftredis_storage_fsync_duration_seconds_count"

        def slow_fsyncs(i: int) -> float:
            m = scrape(ports[i])
            return m[count] - m[above]

        before = {i: slow_fsyncs(i) for i in c.nodes}
        flag = site / f"slow-{c.nodes[slow].pid}"
        flag.touch()
        try:
            for k in range(10):  # committed by the leader and the other follower
                assert call("127.0.0.1", c.nodes[lead].port, "SET", f"s{k}", "v",
                            timeout=5) == b"OK"
            wait_for(lambda: slow_fsyncs(slow) >= before[slow] + 2, 15,
                     f"node {slow}'s fsync histogram to count slow fsyncs")
            wait_for(lambda: float(c.info(slow, "persistence")["raft_fsync_p99_ms"]) >= 200,
                     10, f"node {slow}'s INFO fsync p99 to show them")
            assert "slow fsync" in c.nodes[slow].log_path.read_text()
        finally:
            flag.unlink()
        fast = next(i for i in c.nodes if i not in (lead, slow))
        # the stub slowed one node only: the other follower saw no such fsyncs
        assert slow_fsyncs(fast) <= before[fast] + 1
    finally:
        c.stop()
