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
from tests.integration.harness import auth_ok


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


def test_revoked_channels_close_subscribers_and_hello_authenticates(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    admin = redis.Redis(port=srv.port, socket_timeout=10)
    try:
        assert admin.execute_command("ACL", "SETUSER", "sub", "on", ">sub-password-4", "~*",
                                     "resetchannels", "&news.*", "&keep", "+@all")
        # HELLO 3 AUTH (redis-py's RESP3 handshake) runs the connection as that user.
        r3 = redis.Redis(port=srv.port, username="sub", password="sub-password-4",
                         protocol=3, socket_timeout=10)
        assert r3.execute_command("ACL", "WHOAMI") in (b"sub", "sub")
        r3.close()
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        with sock:
            sock.sendall(b"AUTH sub sub-password-4\r\nSUBSCRIBE news.a\r\n")
            got = b""
            while got.count(b"\r\n") < 7:  # +OK, then the 3-element subscribe reply
                got += sock.recv(4096)
            assert got.startswith(b"+OK\r\n*3\r\n$9\r\nsubscribe\r\n")
            # Still allowed (news.* stays): the subscriber stays.
            assert admin.execute_command("ACL", "SETUSER", "sub", "&other")
            assert admin.publish("news.a", "m1") == 1
            # news.* revoked: Redis closes the subscriber.
            assert admin.execute_command("ACL", "SETUSER", "sub", "resetchannels", "&keep")
            sock.settimeout(10)
            rest = b""
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                rest += chunk
            assert rest == b"*3\r\n$7\r\nmessage\r\n$6\r\nnews.a\r\n$2\r\nm1\r\n"
        assert admin.publish("news.a", "m2") == 0
    finally:
        admin.close()
        srv.stop()
