"""Differential test of the request limits: the same raw bytes go to a throwaway real
redis-server and to a real one-node raftredis, and the replies (byte for byte) and
whether the connection was closed must agree.

Each probe sends its bytes on one connection, then makes two PING round trips on
another (a barrier: both servers have read the probe by then), then reads what the
probe connection holds. A protocol error is followed by a close, which is waited
for with a deadline.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import ServerProc, free_port, start_server, wait_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
pytestmark = pytest.mark.skipif(not Path(REDIS_SERVER).exists(), reason="no redis-server")

Outcome = tuple[bytes, bool]  # (everything received, closed by the server)


def _cmd(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def _roundtrip(port: int, data: bytes, password: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        if password:
            s.sendall(_cmd(b"AUTH", password))
            assert s.recv(100) == b"+OK\r\n"
        s.sendall(data)
        return s.recv(65536)


def probe(port: int, data: bytes, password: bytes = b"", answered: bool = False) -> Outcome:
    """`answered`: the probe is known to get a reply or a close, so wait for one. A big
    command is read in many turns of the server's loop; the PING barrier alone does not
    promise the server has read all of it yet."""
    a = socket.create_connection(("127.0.0.1", port), timeout=10)
    with a:
        with contextlib.suppress(OSError):  # the server may close before all is sent
            a.sendall(data)
        for _ in range(2):
            reply = _roundtrip(port, _cmd(b"PING"), password)
            assert reply in (b"+PONG\r\n", b"-NOAUTH Authentication required.\r\n")
        got, closed = b"", False
        a.setblocking(False)
        deadline = time.monotonic() + 10
        while True:
            try:
                chunk = a.recv(65536)
            except BlockingIOError:
                # Nothing more now. After a protocol error the close is on its way.
                waiting = b"Protocol error" in got or (answered and not got)
                if not waiting or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
                continue
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
    return got, closed


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    d = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(d)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _roundtrip(port, b"PING\r\n") == b"+PONG\r\n", 20, "redis-server")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    srv = start_server(tmp_path_factory.mktemp("raftredis"))
    yield srv
    srv.stop()


AUTHENTICATED = [
    b"*2147483647\r\n",
    b"*1073741825\r\n",
    b"*1000000\r\n",
    b"*2147483648\r\n",
    b"*4294967295\r\n",
    b"*" + b"1" * 30 + b"\r\n",
    b"*" + b"9" * 5000 + b"\r\n",
    b"*1\r\n$2147483647\r\n",
    b"*1\r\n$536870912\r\n",
    b"*1\r\n$536870913\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2147483647\r\n",
    b"$2147483647\r\n",
    b"*01\r\n",
    b"*1\r\n$01\r\n",
    b"*1\r\n*1\r\n",
    b"*1\r\n*2147483647\r\n",
    b"*1\r\n~2147483647\r\n",
    b"*1\r\n>2147483647\r\n",
    b"*1\r\n|2147483647\r\n",
    b"*2\r\n$1\r\naXX>2147483647\r\n",
    b"*1\r\n$4\r\nPINGXX",
    b"*-5\r\nPING\r\n",
    b"*0\r\nPING\r\n",
    _cmd(b"PING") + b"*2147483648\r\n",
    b"*" + b"1" * 70000,
    b"*" + b"1" * 70000 + b"\r\n",
    b"*1\r\n$" + b"1" * 70000,
    b"x" * 70000,
    b"x" * 65537 + b"\r\n",
    b"x" * 100000 + b"\r\n",
]


@pytest.mark.parametrize("data", AUTHENTICATED, ids=lambda d: repr(d[:30]) + f"/{len(d)}")
def test_same_reply_and_close_as_redis(redis_port: int, ours: ServerProc, data: bytes) -> None:
    want = probe(redis_port, data)
    assert probe(ours.port, data) == want


UNAUTHENTICATED = [
    b"*2147483647\r\n",
    b"*4294967295\r\n",
    b"*11\r\n",
    b"*1\r\n$16385\r\n",
    b"*1\r\n$536870912\r\n",
    b"*1\r\n$2147483647\r\n",
    _cmd(b"PING"),
    _cmd(b"GET", b"k") + b"*1000000\r\n",
]


def test_same_limits_before_auth(redis_port: int, ours: ServerProc) -> None:
    for port in (redis_port, ours.port):
        assert _roundtrip(port, _cmd(b"CONFIG", b"SET", b"requirepass", b"pw")) == b"+OK\r\n"
    try:
        for data in UNAUTHENTICATED:
            assert probe(ours.port, data, b"pw") == probe(redis_port, data, b"pw"), data[:30]
    finally:
        for port in (redis_port, ours.port):
            _roundtrip(port, _cmd(b"CONFIG", b"SET", b"requirepass", b""), b"pw")


def test_same_query_buffer_limit(redis_port: int, ours: ServerProc) -> None:
    limit = _cmd(b"CONFIG", b"SET", b"client-query-buffer-limit", b"1mb")
    for port in (redis_port, ours.port):
        assert _roundtrip(port, limit) == b"+OK\r\n"
    try:
        # A read, so the reply does not wait for the log (the barrier PINGs do not).
        for data in (_cmd(b"EXISTS", b"y" * 2_000_000), _cmd(b"EXISTS", b"y" * 900_000)):
            want = probe(redis_port, data, answered=True)
            assert probe(ours.port, data, answered=True) == want
            assert want[1] == (len(data) > 1_048_576)  # the big one is closed, silently
    finally:
        restore = _cmd(b"CONFIG", b"SET", b"client-query-buffer-limit", b"1gb")
        for port in (redis_port, ours.port):
            _roundtrip(port, restore)


OBUF_STEPS = [b"normal 1mb 512kb 10", b"pubsub 1m 2k 0", b"replica 1 2 3", b"SLAVE 5gb 1gb 100",
              b"master 1 1 1", b"normal 1 2", b"foo 1 2 3", b"normal x 2 3", b"normal 1 -2 3",
              b"normal 1.5mb 0 0", b"normal 1 2 3 normal 4 5 6", b"", b"normal 10K 0 0",
              b"normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"]


def test_client_output_buffer_limit_config_as_redis(redis_port: int, ours: ServerProc) -> None:
    # On raftredis the SET goes through the Raft log (cluster-wide), as CONFIG SET does.
    get = _cmd(b"CONFIG", b"GET", b"client-output-buffer-limit")
    assert _roundtrip(ours.port, get) == _roundtrip(redis_port, get)
    for value in OBUF_STEPS:
        set_ = _cmd(b"CONFIG", b"SET", b"client-output-buffer-limit", value)
        want = _roundtrip(redis_port, set_)
        assert _roundtrip(ours.port, set_) == want, value
        assert _roundtrip(ours.port, get) == _roundtrip(redis_port, get), value
