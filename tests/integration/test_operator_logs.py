"""What an operator reads in the logs of a real cluster (issue 21): a peer link lost and
regained, a snapshot taken and one installed with its size and time, and membership
changes. (Role changes with term and reason: tests/unit/test_loopwatch.py; slow fsyncs
and --log-format json: tests/unit/test_observability.py.)

Every wait is a condition with a deadline; every process is stopped by PID.
"""

from __future__ import annotations

import re
from pathlib import Path

import redis

from tests.integration.harness import Cluster, wait_for


def _log_has(c: Cluster, i: int, pattern: str) -> re.Match | None:
    return re.search(pattern, c.nodes[i].log_path.read_text(errors="replace"))


def _wait_log(c: Cluster, i: int, pattern: str, what: str, timeout: float = 20) -> re.Match:
    return wait_for(lambda: _log_has(c, i, pattern), timeout, f"node {i} to log {what}")


def test_peer_links_snapshots_and_membership_are_logged(tmp_path: Path) -> None:
    c = Cluster(tmp_path, extra=["--snapshot-threshold", "300"]).start()
    try:
        lead = c.wait_leader()
        lagger = next(i for i in c.nodes if i != lead)
        c.kill(lagger)
        _wait_log(c, lead, rf"peer {lagger} at \S+ (connection lost|connect failed)",
                  "the lost peer link")
        r = redis.Redis(port=c.nodes[lead].port, socket_timeout=10)
        with r.pipeline(transaction=False) as p:
            for k in range(1000):
                p.set(f"k{k}", k)
            p.execute()
        for k in range(400):  # one entry each: past the 300-entry threshold
            r.set(f"m{k}", k)
        m = _wait_log(c, lead, r"snapshot at index (\d+) written: (\d+) bytes in (\d+) ms",
                      "the snapshot it took")
        assert int(m.group(1)) > 0 and int(m.group(2)) > 0, m.group(0)

        c.start_node(lagger)
        m = _wait_log(c, lagger, r"snapshot from the leader installed: index (\d+), term \d+, "
                                 r"(\d+) bytes, in (\d+) ms", "the snapshot it installed", 40)
        assert int(m.group(1)) > 0 and int(m.group(2)) > 0, m.group(0)
        _wait_log(c, lead, rf"peer {lagger} (connected at|connected in from)",
                  "the regained peer link")

        # A fourth node joins: added as a learner, then promoted; the leader says both.
        c.add_node(4, join_via=lead)
        c.start_node(4)
        _wait_log(c, lead, r"configuration now voters=\[1, 2, 3\] learners=\[4\]",
                  "the learner added", 40)
        _wait_log(c, lead, r"configuration now voters=\[1, 2, 3, 4\] learners=\[\]",
                  "the learner promoted", 40)
    finally:
        c.stop()
