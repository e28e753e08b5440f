"""redis-cli (Debian's redis-tools) and redis-benchmark against a real server process."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.integration.conftest import ServerProc

pytestmark = pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-tools missing")


def cli(srv: ServerProc, *args: str, extra: tuple[str, ...] = ()) -> str:
    out = subprocess.run(["redis-cli", "-h", srv.host, "-p", str(srv.port), *extra, *args],
                         capture_output=True, timeout=30, check=True)
    return out.stdout.decode()


def test_set_get(server: ServerProc) -> None:
    assert cli(server, "SET", "cli:a", "hello world") == "OK\n"
    assert cli(server, "GET", "cli:a") == "hello world\n"
    assert cli(server, "PING") == "PONG\n"


def test_resp3_mode(server: ServerProc) -> None:
    out = cli(server, "HELLO", "3", extra=("-3",))
    assert "server" in out and "redis" in out and "proto" in out
    assert cli(server, "CONFIG", "GET", "save", extra=("-3",)).startswith("save")


def test_cluster_mode_flag(server: ServerProc) -> None:
    assert cli(server, "SET", "cli:{t}b", "1", extra=("-c",)) == "OK\n"
    assert cli(server, "GET", "cli:{t}b", extra=("-c",)) == "1\n"


def test_errors_as_redis(server: ServerProc) -> None:
    # redis-cli prints errors followed by an empty line, for real Redis too.
    out = cli(server, "NOSUCH", "x")
    assert out == "ERR unknown command 'NOSUCH', with args beginning with: 'x' \n\n"
    assert cli(server, "GET") == "ERR wrong number of arguments for 'get' command\n\n"


def test_piped_commands(server: ServerProc) -> None:
    script = "".join(f"SET cli:p{i} {i}\n" for i in range(500)) + "GET cli:p499\n"
    out = subprocess.run(["redis-cli", "-h", server.host, "-p", str(server.port)],
                         input=script.encode(), capture_output=True, timeout=30, check=True)
    lines = out.stdout.decode().splitlines()
    assert lines[:500] == ["OK"] * 500 and lines[500] == "499"


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark missing")
def test_benchmark_runs_without_errors(server: ServerProc) -> None:
    out = subprocess.run(
        ["redis-benchmark", "-h", server.host, "-p", str(server.port), "-t", "set,get,incr,mset",
         "-n", "5000", "-P", "16", "-q"], capture_output=True, timeout=120, check=True)
    text = out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace")
    assert "ERR" not in text and "error" not in text.lower()
    for name in ("SET", "GET", "INCR", "MSET"):
        assert f"{name}" in text and "requests per second" in text
