"""A real server process driven by redis-py (RESP2 and RESP3) and raw sockets."""

from __future__ import annotations

import os
import socket
import time

import pytest
import redis

import raftredis
from raftredis import native
from tests.integration.conftest import ServerProc, wait_until

PACKAGE_DIR = os.path.dirname(raftredis.__file__)


def client(srv: ServerProc, protocol: int = 2, **kw) -> redis.Redis:
    return redis.Redis(host=srv.host, port=srv.port, protocol=protocol, socket_timeout=30, **kw)


def raw(srv: ServerProc) -> socket.socket:
    s = socket.create_connection((srv.host, srv.port), timeout=10)
    return s


def read_until_closed(s: socket.socket, limit: int = 1 << 20) -> bytes:
    data = b""
    while len(data) < limit:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise AssertionError("too much data")


@pytest.mark.parametrize("protocol", [2, 3])
def test_basic_commands(server: ServerProc, protocol: int) -> None:
    r = client(server, protocol)
    assert r.ping() is True
    assert r.echo(b"hi") == b"hi"
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"
    assert r.get("missing") is None
    assert r.incr("n") >= 1
    assert r.config_get("save") == {"save": ""}
    # The Raft log is always on: appendonly answers yes, and the fsync policy is real.
    assert r.config_get("appendonly") == {"appendonly": "yes"}
    t = r.time()
    assert abs(t[0] - time.time()) < 60
    assert r.client_id() > 0
    assert r.client_setname("me") is True
    assert r.client_getname() in ("me", b"me")  # redis-py decodes only in RESP2
    assert r.execute_command("SELECT", 0) in (True, b"OK")
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("SELECT", 1)
    with pytest.raises(redis.ResponseError, match="^unknown command 'FOO', with args beginning with: 'a' $"):
        r.execute_command("FOO", "a")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get' command"):
        r.execute_command("GET")
    info = r.info()
    assert info["redis_version"] and info["cluster_enabled"] == 1
    assert r.info("server")["redis_mode"] == "cluster"
    # The server runs this tree's build: compiled exactly when it is there and current.
    assert info["raftredis_compiled"] == int(native.why_not_compiled(PACKAGE_DIR) is None)
    r.close()


def test_resp3_reply_types(server: ServerProc) -> None:
    r = client(server, 3)
    hello = r.execute_command("HELLO", "3")
    assert hello[b"proto"] == 3 and hello[b"server"] == b"redis"
    assert r.connection_pool.get_connection().protocol in (3, "3")
    assert isinstance(r.execute_command("CONFIG", "GET", "maxclients"), dict)
    r.close()


def test_hello_errors_and_setname(server: ServerProc) -> None:
    r = client(server)
    with pytest.raises(redis.ResponseError, match="unsupported protocol version"):
        r.execute_command("HELLO", "4")
    with pytest.raises(redis.ResponseError, match="Protocol version is not an integer"):
        r.execute_command("HELLO", "x")
    with pytest.raises(redis.ResponseError, match="Syntax error in HELLO option 'bogus'"):
        r.execute_command("HELLO", "2", "bogus")
    reply = r.execute_command("HELLO", "2", "SETNAME", "named")
    assert reply[b"proto"] == 2 if isinstance(reply, dict) else True
    assert r.client_getname() == "named"
    r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_pipeline_of_10000(server: ServerProc, protocol: int) -> None:
    r = client(server, protocol)
    p = r.pipeline(transaction=False)
    for i in range(10_000):
        if i % 2:
            p.set(f"p{protocol}:{i}", i)
        else:
            p.echo(str(i))
    out = p.execute()
    assert len(out) == 10_000
    assert out[0] == b"0" and out[1] is True and out[9998] == b"9998"
    assert r.get(f"p{protocol}:9999") == b"9999"
    r.close()


def test_pipeline_keeps_order_with_errors(server: ServerProc) -> None:
    s = raw(server)
    s.sendall(b"PING\r\n*1\r\n$3\r\nFOO\r\nECHO x\r\n*2\r\n$4\r\nECHO\r\n$1\r\ny\r\n")
    want = (b"+PONG\r\n-ERR unknown command 'FOO', with args beginning with: \r\n"
            b"$1\r\nx\r\n$1\r\ny\r\n")
    got = b""
    while len(got) < len(want):
        got += s.recv(4096)
    assert got == want
    s.close()


def test_transaction(server: ServerProc) -> None:
    r = client(server)
    p = r.pipeline(transaction=True)
    p.set("tx:a", 1).incr("tx:a").get("tx:a")
    assert p.execute() == [True, 2, b"2"]
    s = raw(server)
    s.sendall(b"MULTI\r\nNOSUCH\r\nSET a b\r\nEXEC\r\nEXEC\r\nDISCARD\r\n")
    want = (b"+OK\r\n-ERR unknown command 'NOSUCH', with args beginning with: \r\n+QUEUED\r\n"
            b"-EXECABORT Transaction discarded because of previous errors.\r\n"
            b"-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n")
    got = b""
    while len(got) < len(want):
        got += s.recv(4096)
    assert got == want
    s.sendall(b"MULTI\r\nMULTI\r\nWATCH x\r\nPING\r\nEXEC\r\n")
    want = (b"+OK\r\n-ERR MULTI calls can not be nested\r\n-ERR WATCH inside MULTI is not allowed\r\n"
            b"+QUEUED\r\n*1\r\n+PONG\r\n")
    got = b""
    while len(got) < len(want):
        got += s.recv(4096)
    assert got == want
    s.close()


def test_thousand_concurrent_connections(server: ServerProc) -> None:
    socks = []
    try:
        for _ in range(1000):
            socks.append(raw(server))
        for s in socks:
            s.sendall(b"PING\r\n")
        for s in socks:
            assert s.recv(16) == b"+PONG\r\n"
        r = client(server)
        assert r.info("clients")["connected_clients"] >= 1001
        r.close()
    finally:
        for s in socks:
            s.close()


def test_protocol_error_reply_then_close(server: ServerProc) -> None:
    cases = [
        (b"*1\r\n+OK\r\n", b"-ERR Protocol error: expected '$', got '+'\r\n"),
        (b"*x\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
        (b'SET "a\r\n', b"-ERR Protocol error: unbalanced quotes in request\r\n"),
        (b"PING\r\n*1\r\n$-5\r\n", b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"),
    ]
    for data, want in cases:
        s = raw(server)
        s.sendall(data)
        assert read_until_closed(s) == want
        s.close()


def test_600mb_bulk_header_refused_at_once(server: ServerProc) -> None:
    r = client(server)
    before = r.info("memory")["used_memory_rss"]
    s = raw(server)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$600000000\r\n")
    start = time.monotonic()
    assert read_until_closed(s) == b"-ERR Protocol error: invalid bulk length\r\n"
    assert time.monotonic() - start < 5
    s.close()
    after = r.info("memory")["used_memory_rss"]
    assert after - before < 50 * 1024 * 1024
    assert r.exists("big") == 0
    r.close()


def test_half_closed_connection_gets_its_replies(server: ServerProc) -> None:
    s = raw(server)
    s.sendall(b"PING\r\n" * 100 + b"ECHO last\r\n")
    s.shutdown(socket.SHUT_WR)
    assert read_until_closed(s) == b"+PONG\r\n" * 100 + b"$4\r\nlast\r\n"
    s.close()


def test_quit_replies_then_closes(server: ServerProc) -> None:
    s = raw(server)
    s.sendall(b"QUIT\r\nPING\r\n")
    assert read_until_closed(s) == b"+OK\r\n"
    s.close()


def test_command_introspection(server: ServerProc) -> None:
    r = client(server)
    count = r.command_count()
    everything = r.command()  # redis-py parses COMMAND into {name: info}
    assert len(everything) == count
    for n in ("get", "set", "ping", "config", "cluster", "multi", "watch"):
        assert n in everything
    assert everything["set"]["first_key_pos"] == 1
    assert "write" in everything["set"]["flags"]
    s = raw(server)
    s.sendall(b"COMMAND INFO nosuch\r\nCOMMAND COUNT\r\n")
    want = b"*1\r\n$-1\r\n:%d\r\n" % count  # an unknown name is a null entry
    got = b""
    while len(got) < len(want):
        got += s.recv(4096)
    assert got == want
    s.close()
    assert r.command_getkeys("MSET", "a", "1", "b", "2") in (["a", "b"], [b"a", b"b"])
    with pytest.raises(redis.ResponseError, match="Invalid command specified"):
        r.command_getkeys("NOSUCH", "a")
    with pytest.raises(redis.ResponseError, match="has no key arguments"):
        r.command_getkeys("ECHO", "x")  # (COMMAND GETKEYS PING is an arity error, as in Redis)
    s = raw(server)
    s.sendall(b"COMMAND DOCS echo\r\n")
    got = b""
    while not got.endswith(b"connection\r\n"):
        got += s.recv(4096)
    assert got.startswith(b"*2\r\n$4\r\necho\r\n*6\r\n$7\r\nsummary\r\n")
    s.close()
    assert b"config|get" in r.command_list()
    r.close()


def test_cluster_client_routes_through_command_table(server: ServerProc) -> None:
    rc = redis.RedisCluster(host=server.host, port=server.port, socket_timeout=30)
    assert rc.set("rc:{x}a", "1") is True
    assert rc.mget("rc:{x}a", "rc:{x}b") == [b"1", None]
    assert rc.cluster_keyslot("rc:{x}a") == rc.cluster_keyslot("x")
    rc.close()


def test_client_list_kill_and_info(server: ServerProc) -> None:
    a, b = raw(server), client(server)
    a.sendall(b"CLIENT SETNAME victim\r\n")
    assert a.recv(16) == b"+OK\r\n"
    listing = b.client_list()
    victim = next(c for c in listing if c["name"] == "victim")
    assert victim["cmd"] == "client|setname" and victim["resp"] == "2"
    assert b.client_kill_filter(_id=victim["id"]) == 1
    assert read_until_closed(a) == b""
    with pytest.raises(redis.ResponseError, match="No such client"):
        b.client_kill("1.2.3.4:5")
    assert b.client_info()["name"] == ""
    assert b.execute_command("CLIENT", "SETINFO", "LIB-NAME", "x") in (True, b"OK")
    with pytest.raises(redis.ResponseError, match="Unrecognized option 'bad'"):
        b.execute_command("CLIENT", "SETINFO", "bad", "x")
    with pytest.raises(redis.ResponseError, match="Client names cannot contain spaces"):
        b.client_setname("a b")
    a.close()
    b.close()


def test_config_get_globs_and_set_errors(server: ServerProc) -> None:
    r = client(server)
    everything = r.config_get("*")
    assert len(everything) > 40 and everything["maxclients"]
    assert set(r.config_get("max*")) >= {"maxclients", "maxmemory"}
    with pytest.raises(redis.ResponseError, match="Unknown option or number of arguments for CONFIG SET - 'nosuch'"):
        r.config_set("nosuch", "1")
    with pytest.raises(redis.ResponseError, match="argument 'save'.*Invalid save parameters"):
        r.config_set("save", "900 x")
    assert r.config_set("save", "900 1") and r.config_get("save") == {"save": "900 1"}
    with pytest.raises(redis.ResponseError, match="couldn't be parsed into an integer"):
        r.config_set("timeout", "abc")
    r.close()


def test_requirepass_auth_flow(fresh_server: ServerProc) -> None:
    admin = client(fresh_server)
    assert admin.config_set("requirepass", "s3cret") is True
    s = raw(fresh_server)
    s.sendall(b"GET x\r\nAUTH wrong\r\nAUTH default wrong\r\nAUTH s3cret\r\nPING\r\n")
    want = (b"-NOAUTH Authentication required.\r\n"
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
            b"+OK\r\n+PONG\r\n")
    got = b""
    while len(got) < len(want):
        got += s.recv(4096)
    assert got == want
    s.close()
    s = raw(fresh_server)
    s.sendall(b"*11\r\n")  # more than 10 arguments before AUTH
    assert read_until_closed(s) == b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    s.close()
    r3 = client(fresh_server, 3, password="s3cret")
    assert r3.ping() is True
    with pytest.raises(redis.AuthenticationError):
        client(fresh_server, 3, password="bad").ping()
    assert admin.ping() is True  # already authenticated connections stay so
    admin.close()
    r3.close()


def test_maxclients(fresh_server: ServerProc) -> None:
    r = client(fresh_server)
    r.config_set("maxclients", "2")
    other = raw(fresh_server)
    other.sendall(b"PING\r\n")
    assert other.recv(16) == b"+PONG\r\n"
    third = raw(fresh_server)
    assert read_until_closed(third) == b"-ERR max number of clients reached\r\n"
    third.close()
    other.close()
    r.close()


def test_idle_timeout(fresh_server: ServerProc) -> None:
    r = client(fresh_server)
    r.config_set("timeout", "1")
    s = raw(fresh_server)
    s.sendall(b"PING\r\n")
    assert s.recv(16) == b"+PONG\r\n"
    s.settimeout(10)
    start = time.monotonic()
    assert s.recv(16) == b""  # closed by the server
    assert time.monotonic() - start < 5
    s.close()
    wait_until(lambda: True, 1, "noop")
    r.close()


def test_client_reply_off_skip(server: ServerProc) -> None:
    s = raw(server)
    s.sendall(b"CLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY ON\r\nCLIENT REPLY SKIP\r\n"
              b"PING\r\nECHO a\r\n")
    want = b"+OK\r\n$1\r\na\r\n"
    got = b""
    while len(got) < len(want):
        got += s.recv(4096)
    assert got == want
    s.close()
