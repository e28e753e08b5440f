"""The `raftredis cluster` and `raftredis status` commands, as the README uses them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import redis

from raftredis.miniclient import call, parse_info
from tests.integration.harness import free_base, wait_for


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True, timeout=10)
    return [int(x) for x in out.stdout.split()]


def test_cluster_command_runs_three_nodes_and_stops_them_all(tmp_path):
    base = free_base(3)
    log_path = tmp_path / "cluster.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "raftredis", "cluster", "--nodes", "3",
                                 "--port", str(base), "--data-dir", str(tmp_path / "data")],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        # Node 1 is asked to take over once the first election is done.
        wait_for(lambda: parse_info(call("127.0.0.1", base, "INFO", "raft"))["raft_role"]
                 == "leader", 30, "node 1 to lead")
        r = redis.Redis(port=base)
        assert r.set("a", "b")
        follower = redis.Redis(port=base + 1)
        with pytest.raises(redis.exceptions.MovedError):
            follower.get("a")
        status = subprocess.run([sys.executable, "-m", "raftredis", "status", "--port",
                                 str(base)], capture_output=True, text=True, timeout=30)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "leader" in status.stdout and "follower" in status.stdout
        # One node killed: the command reports it and keeps the others running.
        kids = _children(proc.pid)
        assert len(kids) == 3
        os.kill(kids[-1], signal.SIGKILL)
        wait_for(lambda: b"exited" in log_path.read_bytes(), 10, "the exit to be reported")
        assert r.set("still", "up")
        # Ctrl-C stops every node and the command itself.
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert all(not os.path.exists(f"/proc/{k}") or _is_zombie(k) for k in kids)
        assert b"stopped" in log_path.read_bytes()
    finally:
        if proc.poll() is None:
            for k in _children(proc.pid):
                os.kill(k, signal.SIGKILL)
            proc.kill()
            proc.wait(timeout=10)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] == "Z"
    except FileNotFoundError:
        return True
