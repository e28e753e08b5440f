"""`raftredis status`: the table and --json from the nodes' INFO (a stand-in for the
network call), learners marked, followers' lag as numbers, exit code 1 with no leader."""

from __future__ import annotations

import json

import pytest

from raftredis import cli


def info(nid: int, role: str, leader: int) -> bytes:
    lines = [f"raft_node_id:{nid}", f"raft_role:{role}", "raft_term:4",
             f"raft_leader_id:{leader}", "raft_commit_index:10", "raft_applied_index:9",
             "raft_voters:1,2", "raft_learners:3", "raft_loop_max_stall_ms:12",
             "raft_last_fsync_ms:0.8", "raft_fsync_p99_ms:7.5", "used_memory:2048", "used_memory_human:2.00K"]
    if role == "leader":
        lines += ["raft_peer2:addr=127.0.0.1:7001,match=10,lag=0,state=replicate,active=1",
                  "raft_peer3:addr=127.0.0.1:7002,match=4,lag=6,state=probe,active=0"]
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.fixture
def three_nodes(monkeypatch):
    replies = {7000: info(1, "leader", 1), 7001: info(2, "follower", 1),
               7002: info(3, "follower", 1)}

    def fake_call(host, port, *args, timeout=1.0, password=None):
        if port not in replies:
            raise ConnectionRefusedError("refused")
        return replies[port]

    monkeypatch.setattr(cli, "call", fake_call)
    return replies


def test_status_json(three_nodes, capsys) -> None:
    assert cli.main(["status", "--port", "7000", "--nodes", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["leader"] == 1 and doc["voters"] == [1, 2] and doc["learners"] == [3]
    nodes = doc["nodes"]
    assert [n.get("member") for n in nodes[:3]] == ["voter", "voter", "learner"]
    assert nodes[0]["followers"]["3"] == {"addr": "127.0.0.1:7002", "match": 4, "lag": 6,
                                          "state": "probe", "active": 0}
    assert nodes[1]["lag"] == 1 and nodes[1]["stall_ms"] == 12 and nodes[1]["fsync_ms"] == 0.8
    assert nodes[1]["fsync_p99_ms"] == 7.5
    assert nodes[1]["used_memory"] == 2048
    assert nodes[3]["healthy"] == "no" and "refused" in nodes[3]["error"]


def test_status_table_and_no_leader(three_nodes, capsys) -> None:
    assert cli.main(["status", "--port", "7000"]) == 0
    out = capsys.readouterr().out
    assert "STALL_MS" in out and "learner" in out and "leader sees peer3" in out
    assert "FSYNC_P99_MS" in out and " 7.5 " in out  # the p99, not the last fsync
    three_nodes[7000] = info(1, "follower", 0)
    assert cli.main(["status", "--port", "7000", "--json"]) == 1


def test_watch_redraws_until_ctrl_c(three_nodes, capsys, monkeypatch) -> None:
    """--watch N: clear the screen and redraw every N seconds, like top; Ctrl-C (during
    the wait) quits with status 0; --json works under it too."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            raise KeyboardInterrupt
        three_nodes[7001] = info(2, "follower", 1).replace(b"raft_term:4", b"raft_term:5")

    monkeypatch.setattr(cli.time, "sleep", sleep)
    assert cli.main(["status", "--port", "7000", "--watch", "0.5"]) == 0
    out = capsys.readouterr().out
    frames = out.split("\x1b[H\x1b[2J")[1:]
    assert len(frames) == 3 and waits == [0.5, 0.5, 0.5]
    assert all("raftredis status (every 0.5 s; Ctrl-C quits)" in f for f in frames)
    assert " 4 " in frames[0].splitlines()[3] and " 5 " in frames[1].splitlines()[3]
    waits.clear()
    assert cli.main(["status", "--port", "7000", "--watch", "1", "--json"]) == 0
    frame = capsys.readouterr().out.split("\x1b[H\x1b[2J")[1]
    assert json.loads(frame.split("\n", 1)[1])["leader"] == 1
