"""docker/healthcheck.py's `live` mode (docker/stack.yaml's swarm health check): it PINGs
the client port even when a metrics port is set, so a node with no leader stays healthy.
Runs on the host, no engine needed."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.docker.harness import DOCKER_DIR, free_ports

SCRIPT = DOCKER_DIR / "healthcheck.py"


@pytest.fixture
def pong_port() -> Iterator[int]:
    """A server that answers each connection's first request with +PONG."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)

    def serve() -> None:
        try:
            while True:
                conn, _ = srv.accept()
                with conn:
                    conn.recv(64)
                    conn.sendall(b"+PONG\r\n")
        except OSError:
            return  # closed by the fixture, or no client within the timeout

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        # shutdown() wakes the blocked accept() at once (close() alone does not, on Linux).
        with contextlib.suppress(OSError):
            srv.shutdown(socket.SHUT_RDWR)
        srv.close()
        t.join(timeout=15)


def check(client_port: int, metrics_port: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAFTREDIS_PORT": str(client_port),
           "RAFTREDIS_METRICS_PORT": str(metrics_port)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=20)


def test_live_pings_the_client_port_despite_a_metrics_port(pong_port: int) -> None:
    (closed,) = free_ports(1)  # nothing listens: /readyz cannot answer
    assert check(pong_port, closed).returncode == 1  # readiness: unhealthy
    res = check(pong_port, closed, "live")
    assert res.returncode == 0, res.stdout


def test_live_fails_when_the_client_port_is_closed() -> None:
    closed, metrics = free_ports(2)
    res = check(closed, metrics, "live")
    assert res.returncode == 1 and "unhealthy" in res.stdout
