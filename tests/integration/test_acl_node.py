"""ACL state of one real node across a restart: a requirepass and a later ACL SETUSER of
the default user replay in log order (the restart ends with both passwords, as the
node had before), and users made before a snapshot come back from it."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import redis

from tests.integration.conftest import (
    REPO,
    ServerProc,
    free_port,
    server_argv,
    start_server,
    wait_until,
)


def _answers(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))


def restart(tmp_path: Path) -> ServerProc:
    """start_server, but ready once it answers at all (PING needs the password now)."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open(tmp_path / f"server-{port}.log", "wb") as log:
        proc = subprocess.Popen(server_argv(port, tmp_path), stdout=log,
                                stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
    srv = ServerProc("127.0.0.1", port, proc)
    try:
        wait_until(lambda: _answers(port), 20, "the restarted server")
    except AssertionError:
        srv.stop()
        raise
    return srv


def auth_ok(port: int, user: str, password: str) -> bool:
    r = redis.Redis(port=port, username=user, password=password, socket_timeout=10)
    try:
        return bool(r.ping())
    except redis.exceptions.AuthenticationError:
        return False
    finally:
        r.close()


def test_default_user_passwords_replay_in_log_order(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    try:
        r = redis.Redis(port=srv.port, socket_timeout=10)
        assert r.config_set("requirepass", "first-password-1")
        r = redis.Redis(port=srv.port, password="first-password-1", socket_timeout=10)
        assert r.execute_command("ACL", "SETUSER", "default", ">second-password-2")
        assert r.execute_command("ACL", "SETUSER", "ops", "on", ">ops-password-3", "~*",
                                 "+@all", "-flushall")
        before = r.execute_command("ACL", "LIST")
        r.close()
    finally:
        srv.stop()
    srv = restart(tmp_path)
    try:
        wait_until(lambda: auth_ok(srv.port, "default", "second-password-2"), 20,
                   "the restarted node to take the default user's second password")
        assert auth_ok(srv.port, "default", "first-password-1")
        assert not auth_ok(srv.port, "default", "wrong")
        r = redis.Redis(port=srv.port, username="ops", password="ops-password-3",
                        socket_timeout=10)
        try:
            assert r.execute_command("ACL", "LIST") == before
            try:
                r.flushall()
                raise AssertionError("FLUSHALL allowed")
            except redis.exceptions.NoPermissionError as e:
                assert str(e) == "User ops has no permissions to run the 'flushall' command"
        finally:
            r.close()
    finally:
        srv.stop()
