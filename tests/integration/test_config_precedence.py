"""Which wins between a node's flags and a cluster-wide setting in the log (issue 17,
item 3): a flag that differs from the logged value wins on its node from the start and
is proposed through the log when that node leads; a CONFIG SET made later wins."""

from __future__ import annotations

from pathlib import Path

import redis

from raftredis.miniclient import call
from tests.integration.harness import Cluster, wait_for


def _get(c: Cluster, i: int, name: str, password: str | None = None) -> str:
    return redis.Redis(port=c.nodes[i].port, password=password).config_get(name)[name]


def _restart_with(c: Cluster, i: int, *flags: str) -> None:
    c.kill(i)
    c.nodes[i].extra = [*c.extra, *flags]
    c.start_node(i)


def _lead_from(c: Cluster, i: int, password: str | None = None) -> None:
    def leads() -> bool:
        if c.leader() == i:
            return True
        call("127.0.0.1", c.nodes[i].port, "CLUSTER", "FAILOVER", password=password)
        return False
    wait_for(leads, 30, f"node{i} to lead", interval=0.3)


def test_a_flag_wins_over_the_logged_value_and_reaches_the_cluster(tmp_path: Path) -> None:
    c = Cluster(tmp_path).start()
    try:
        lead = c.wait_leader()
        assert redis.Redis(port=c.nodes[lead].port).config_set("maxclients", "50")
        for i in c.nodes:
            wait_for(lambda i=i: _get(c, i, "maxclients") == "50", 10, "the logged value")
        other = next(i for i in c.nodes if i != lead)
        _restart_with(c, other, "--maxclients", "77")
        # The restarted node uses its flag at once, though the log says 50 ...
        wait_for(lambda: _get(c, other, "maxclients") == "77", 20, "the flag on its node")
        assert "differs from the value the cluster logged" in c.nodes[other].log_path.read_text()
        # ... and once it leads, the whole cluster follows it.
        _lead_from(c, other)
        for i in c.nodes:
            wait_for(lambda i=i: _get(c, i, "maxclients") == "77", 20, f"node{i} to follow")
        # A CONFIG SET made after the start wins over the flag.
        assert redis.Redis(port=c.nodes[other].port).config_set("maxclients", "60")
        for i in c.nodes:
            wait_for(lambda i=i: _get(c, i, "maxclients") == "60", 20, "the later CONFIG SET")
    finally:
        c.stop()


def test_a_rotated_requirepass_works_after_a_restart(tmp_path: Path) -> None:
    c = Cluster(tmp_path).start()
    try:
        lead = c.wait_leader()
        assert redis.Redis(port=c.nodes[lead].port).config_set("requirepass", "old-password")
        for i in c.nodes:  # applied everywhere: a PING without the password is refused
            wait_for(lambda i=i: str(call("127.0.0.1", c.nodes[i].port, "PING")).startswith(
                "NOAUTH"), 10, "the old password everywhere")
        # Rotate: every node restarted with the new password (one at a time).
        for i in c.nodes:
            _restart_with(c, i, "--requirepass", "new-password")
            wait_for(lambda i=i: call("127.0.0.1", c.nodes[i].port, "PING",
                                      password="new-password") in (b"PONG", "PONG"),
                     20, f"node{i} to take the new password")
        for i in c.nodes:
            # AUTH with the old one fails, so the PING after it is refused.
            reply = call("127.0.0.1", c.nodes[i].port, "PING", password="old-password")
            assert str(reply).startswith("NOAUTH"), reply
        log = "".join(n.log_path.read_text() for n in c.nodes.values())
        assert "new-password" not in log and "old-password" not in log
    finally:
        for n in c.nodes.values():
            n.extra = list(c.extra)
        c.stop()
