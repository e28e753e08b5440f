"""Processes a benchmark run starts: redis-server and raftredis nodes.

Every process is started in its own session and stopped by its PID; every wait
polls a condition against a deadline. Ports come from binding port 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from benchmarks.resp_client import RespClient, RespError

# The raftredis tree whose nodes run: this checkout, or RAFTREDIS_BENCH_TREE (another
# checkout, say an earlier commit, measured by this harness for a before/after figure).
REPO_ROOT = Path(os.environ.get("RAFTREDIS_BENCH_TREE") or
                 Path(__file__).resolve().parent.parent).resolve()
T = TypeVar("T")


class StartError(RuntimeError):
    """A server did not come up (or did not elect a leader) before its deadline."""


def free_ports(n: int) -> list[int]:
    """n distinct ports that were free a moment ago: all bound at once, then released."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_for(cond: Callable[[], T | None], timeout: float, what: str,
             interval: float = 0.01) -> T:
    """Poll `cond` until it returns a truthy value; StartError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except (OSError, RespError) as exc:  # servers refuse while starting
            last = exc
        if time.monotonic() > deadline:
            raise StartError(f"timed out after {timeout:.1f}s waiting for {what}"
                             + (f" (last error: {last})" if last else ""))
        time.sleep(interval)


def rss_bytes(pid: int) -> int:
    """Resident set size of a live process, from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no VmRSS for pid {pid}")


class Proc:
    """One child process, logging to a file, stopped only through its own PID."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> Proc:
        assert not self.alive(), f"{self.name} is already running"
        env = dict(os.environ)
        # The node is run from this checkout even when the package is not installed.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env,
                                          start_new_session=True)
        return self

    def kill9(self) -> None:
        """SIGKILL and reap, so the caller knows the process is gone when this returns."""
        if self.alive():
            assert self.popen is not None
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited by the deadline."""
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Registry:
    """Every process of a run, so one `stop_all` in a finally block ends them all."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.alive() and proc.popen is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.popen.pid, signal.SIGTERM)
        for proc in self.procs:
            proc.stop(timeout=10)


# ---------------------------------------------------------------- redis-server
class RedisServer:
    """A real redis-server: persistence off, or AOF with fsync on every write."""

    def __init__(self, registry: Registry, name: str, workdir: Path, port: int,
                 aof: bool) -> None:
        self.name = name
        self.port = port
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--daemonize", "no",
                "--protected-mode", "no", "--logfile", ""]
        argv += (["--appendonly", "yes", "--appendfsync", "always"] if aof
                 else ["--appendonly", "no"])
        self.proc = registry.add(Proc(name, argv, workdir / f"{name}.log"))

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.proc.start()
        wait_for(self._ready, timeout, f"{self.name} to answer PING")
        return self

    def _ready(self) -> bool:
        if not self.proc.alive():
            raise StartError(f"{self.name} exited:\n{self.proc.log_tail()}")
        with RespClient("127.0.0.1", self.port, timeout=1.0) as c:
            return c.call("PING") == b"PONG"

    def leader_port(self) -> int:
        return self.port

    def pids(self) -> list[int]:
        """The server process, for CPU counters (its threads are counted with it)."""
        return [self.proc.pid] if self.proc.alive() else []

    def stop(self) -> None:
        self.proc.stop()

    def used_memory(self) -> int:
        with RespClient("127.0.0.1", self.port, timeout=5.0) as c:
            return int(parse_info(c.call("INFO", "memory"))["used_memory"])


# ---------------------------------------------------------------- raftredis
def parse_info(text: object) -> dict[str, str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise RespError(f"INFO answered {text!r}")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


class ProcGroup:
    """The processes of one multi-node target (raftredis, etcd, PySyncObj), by node id."""

    name: str
    procs: dict[int, Proc]
    ports: dict[int, int]  # client ports

    def leader(self) -> int | None:
        raise NotImplementedError

    def _writable(self) -> int | None:
        """The leader's id once it takes a write, else None."""
        raise NotImplementedError

    def leader_port(self) -> int:
        lead = self.leader() or wait_for(self._writable, 30.0, f"{self.name} leader")
        return self.ports[lead]

    def pids(self) -> list[int]:
        """Every live node process; cpu.tree_seconds adds what they fork."""
        return [p.pid for p in self.procs.values() if p.alive()]

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


class RaftCluster(ProcGroup):
    """n raftredis node processes (n=1 is a one-node group with no peers)."""

    def __init__(self, registry: Registry, name: str, workdir: Path, n: int,
                 fsync: str = "always", extra: list[str] | None = None) -> None:
        self.name = name
        self.n = n
        ports = free_ports(2 * n)
        self.ports = {i: ports[i - 1] for i in range(1, n + 1)}
        self.peer_ports = {i: ports[n + i - 1] for i in range(1, n + 1)}
        peers = ",".join(f"{i}=127.0.0.1:{p}" for i, p in self.peer_ports.items())
        self.procs: dict[int, Proc] = {}
        for i in range(1, n + 1):
            data = workdir / f"{name}-node{i}"
            argv = [sys.executable, "-m", "raftredis", "serve", "--id", str(i),
                    "--host", "127.0.0.1", "--port", str(self.ports[i]),
                    "--peer-port", str(self.peer_ports[i]),  # the default may overflow
                    "--data-dir", str(data), "--fsync", fsync, "--log-level", "warning"]
            if n > 1:
                argv += ["--peers", peers, "--secret", "benchmark-cluster-secret"]
            argv += extra or []
            self.procs[i] = registry.add(Proc(f"{name}-node{i}", argv,
                                              workdir / f"{name}-node{i}.log"))

    def start(self, timeout: float = 30.0) -> RaftCluster:
        for proc in self.procs.values():
            proc.start()
        self.wait_writable(timeout)
        return self

    def info(self, i: int, section: str = "raft") -> dict[str, str]:
        with RespClient("127.0.0.1", self.ports[i], timeout=1.0) as c:
            return parse_info(c.call("INFO", section))

    def leader(self) -> int | None:
        """The live node that calls itself leader with the highest term."""
        best: tuple[int, int] | None = None
        for i, proc in self.procs.items():
            if not proc.alive():
                continue
            try:
                f = self.info(i)
            except (OSError, RespError):
                continue
            if f.get("raft_role") == "leader":
                term = int(f.get("raft_term", "0") or 0)
                if best is None or term > best[0]:
                    best = (term, i)
        return None if best is None else best[1]

    def wait_writable(self, timeout: float, exclude: int | None = None) -> int:
        """Wait for a leader (not `exclude`) that acknowledges a SET; return its id."""
        def cond() -> int | None:
            for i, proc in self.procs.items():
                if i != exclude and proc.popen is not None and proc.popen.poll():
                    raise StartError(f"{proc.name} exited:\n{proc.log_tail()}")
            lead = self.leader()
            if lead is None or lead == exclude:
                return None
            with RespClient("127.0.0.1", self.ports[lead], timeout=2.0) as c:
                return lead if c.call("SET", "bench:ready", "1") == b"OK" else None

        return wait_for(cond, timeout, f"{self.name} to elect a writable leader", 0.02)

    def leader_port(self) -> int:
        lead = self.leader()
        if lead is None:
            lead = self.wait_writable(30.0)
        return self.ports[lead]

