"""Fixtures that run a REAL server process for the front-end tests.

`server_argv` is the one place that says how a one-node server is started; switch it
to `raftredis serve --port P --data-dir D` once the one-node Raft group exists.
Every process is bounded in time and stopped by PID in teardown.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import ports


def server_argv(port: int, data_dir: Path) -> list[str]:
    """The command line of a one-node server listening on 127.0.0.1:port: the real
    thing, a one-node Raft group with its log on disk."""
    return [sys.executable, "-m", "raftredis", "serve", "--port", str(port),
            "--data-dir", str(data_dir)]


def free_port() -> int:
    """A free port P whose default peer port (P + 10000) is free too: a node given only
    --port uses both. Below the ephemeral range (tests/ports.py says why)."""
    return ports.free_run(1, gap=10000)


def wait_until(cond: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = cond()
            if value:
                return value
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class ServerProc:
    host: str
    port: int
    proc: subprocess.Popen

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    # The package may not be installed: make the checkout importable from any cwd.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _answers_ping(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


def start_server(tmp_dir: Path) -> ServerProc:
    for _attempt in range(3):  # a free port may be taken between bind and start
        port = free_port()
        with open(tmp_dir / f"server-{port}.log", "wb") as log:
            proc = subprocess.Popen(server_argv(port, tmp_dir), stdout=log,
                                    stderr=subprocess.STDOUT, cwd=tmp_dir, env=_env())
        srv = ServerProc("127.0.0.1", port, proc)
        try:
            wait_until(lambda s=srv: not s.alive() or _answers_ping(s.host, s.port), 20,
                       f"server on port {port}")
        except AssertionError:
            srv.stop()
            raise
        if srv.alive():
            return srv
        srv.stop()
    raise AssertionError("could not start a server")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    """A server shared by the tests of one module (tests must not change its config)."""
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProc]:
    """A server of one's own, for tests that change settings or kill connections."""
    srv = start_server(tmp_path)
    yield srv
    srv.stop()
