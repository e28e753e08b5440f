"""Pub/sub details of one real server process: the idle timeout spares subscribers."""

from __future__ import annotations

import socket

from tests.integration.conftest import ServerProc, wait_until


def _cmd(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def _ask(s: socket.socket, data: bytes, want: bytes) -> None:
    s.sendall(data)
    got = b""
    while not got.endswith(want):
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk


def _closed(s: socket.socket) -> bool:
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_idle_timeout_spares_subscribers(fresh_server: ServerProc) -> None:
    port = fresh_server.port
    admin = socket.create_connection(("127.0.0.1", port), timeout=10)
    wait_until(lambda: _ask(admin, _cmd(b"SET", b"ready", b"1"), b"+OK\r\n") or True, 20,
               "a leader")
    sub = socket.create_connection(("127.0.0.1", port), timeout=10)
    _ask(sub, _cmd(b"SUBSCRIBE", b"ch"), b":1\r\n")
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    _ask(idle, _cmd(b"PING"), b"+PONG\r\n")
    _ask(admin, _cmd(b"CONFIG", b"SET", b"timeout", b"1"), b"+OK\r\n")
    admin.close()
    idle.setblocking(False)
    # The idle client, connected after the subscriber, is closed once the timeout passed
    wait_until(lambda: _closed(idle), 15, "the idle client closed")
    # ... and the subscriber, idle for longer, still gets its messages.
    pub = socket.create_connection(("127.0.0.1", port), timeout=10)
    _ask(pub, _cmd(b"PUBLISH", b"ch", b"still-here"), b":1\r\n")
    _ask(sub, b"", b"$10\r\nstill-here\r\n")
    for s in (sub, idle, pub):
        s.close()
