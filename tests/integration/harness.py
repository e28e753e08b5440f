"""Real raftredis node processes for tests: start, kill -9, pause, resume, restart.

Every wait polls a condition against a deadline; every process is stopped by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from raftredis.miniclient import MiniClientError, call, parse_info

SECRET = "test-cluster-secret"


def free_ports(n: int) -> list[int]:
    """n distinct ports that were free a moment ago (bound to port 0, then released)."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def wait_for(cond: Callable[[], object], timeout: float, what: str, interval: float = 0.02):
    """Poll `cond` until it returns a truthy value; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as exc:  # conditions may fail while nodes are down
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


@dataclass
class NodeProc:
    id: int
    port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    extra: list[str]
    proc: subprocess.Popen | None = None
    paused: bool = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    base: Path
    n: int = 3
    extra: list[str] = field(default_factory=list)
    secret: str = SECRET
    nodes: dict[int, NodeProc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ports = free_ports(2 * self.n)
        for i in range(1, self.n + 1):
            d = self.base / f"node{i}"
            self.nodes[i] = NodeProc(i, ports[i - 1], ports[self.n + i - 1], d,
                                     self.base / f"node{i}.log", list(self.extra))

    @property
    def peers(self) -> str:
        return ",".join(f"{n.id}=127.0.0.1:{n.peer_port}" for n in self.nodes.values())

    def command(self, node: NodeProc, secret: str | None = None) -> list[str]:
        return [
            sys.executable, "-m", "raftredis", "serve", "--id", str(node.id),
            "--host", "127.0.0.1", "--port", str(node.port), "--peer-port", str(node.peer_port),
            "--peers", self.peers, "--data-dir", str(node.data_dir),
            "--secret", secret or self.secret, *node.extra,
        ]

    def start_node(self, i: int, secret: str | None = None) -> NodeProc:
        node = self.nodes[i]
        assert not node.alive()
        with open(node.log_path, "ab") as log:
            node.proc = subprocess.Popen(self.command(node, secret), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        node.paused = False
        return node

    def start(self) -> Cluster:
        for i in self.nodes:
            self.start_node(i)
        return self

    def kill(self, i: int) -> None:
        node = self.nodes[i]
        if node.alive():
            os.kill(node.pid, signal.SIGKILL)
            node.proc.wait(timeout=10)

    def pause(self, i: int) -> None:
        os.kill(self.nodes[i].pid, signal.SIGSTOP)
        self.nodes[i].paused = True

    def resume(self, i: int) -> None:
        os.kill(self.nodes[i].pid, signal.SIGCONT)
        self.nodes[i].paused = False

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.alive():
                if node.paused:
                    os.kill(node.pid, signal.SIGCONT)
                node.proc.terminate()
        for node in self.nodes.values():
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(timeout=10)

    def logs(self) -> str:
        out = []
        for node in self.nodes.values():
            if node.log_path.exists():
                tail = node.log_path.read_text(errors="replace").splitlines()[-40:]
                out.append(f"--- node{node.id} (port {node.port}) ---\n" + "\n".join(tail))
        return "\n".join(out)

    # ------------------------------------------------------------- queries
    def info(self, i: int, section: str = "raft") -> dict[str, str]:
        reply = call("127.0.0.1", self.nodes[i].port, "INFO", section, timeout=1.0)
        if not isinstance(reply, bytes | str):
            raise MiniClientError(f"INFO answered {reply!r}")
        return parse_info(reply)

    def leader(self) -> int | None:
        """The node that says it is leader and that the live majority agrees on."""
        seen: dict[int, int] = {}
        for i, node in self.nodes.items():
            if not node.alive() or node.paused:
                continue
            try:
                f = self.info(i)
            except (OSError, MiniClientError):
                continue
            if f.get("raft_role") == "leader":
                seen[i] = int(f.get("raft_term", 0))
        if not seen:
            return None
        return max(seen, key=lambda k: seen[k])

    def wait_leader(self, timeout: float = 20, exclude: int | None = None) -> int:
        def cond():
            lead = self.leader()
            return lead if lead is not None and lead != exclude else None

        return wait_for(cond, timeout, "a leader")

    def wait_applied(self, i: int, index: int, timeout: float = 30) -> None:
        wait_for(lambda: int(self.info(i)["raft_applied_index"]) >= index, timeout,
                 f"node{i} to apply index {index}")

    def commit_index(self, i: int) -> int:
        return int(self.info(i)["raft_commit_index"])
