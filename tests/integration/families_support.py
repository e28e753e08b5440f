"""Shared pieces of the per-family integration tests (tests/integration/test_families_*.py).

Each family module gets one 3-node raftredis cluster and, when `redis-server` is
installed, one real Redis started beside it. `Fam.diff` runs the same command
sequence on the raftredis leader and on redis-server over a raw RESP connection and
compares the replies as typed wire values, so a `$-1` against a `*-1`, a simple
string against a bulk string, or a RESP3 set against an array all count as a
difference. Every process started here is bounded in time and stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from tests.integration.harness import Cluster, free_ports, wait_for

REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")

MAX_REPLY = 16 * 1024 * 1024  # a reply bigger than this is a test bug, not data


# ------------------------------------------------------------------ raw RESP client
class RawClient:
    """One blocking RESP connection that keeps every reply's wire type.

    Replies: simple string -> str, bulk -> bytes, integer -> int, error -> ("err", text),
    null bulk -> ("nil$",), null array -> ("nil*",), RESP3 null -> ("nil_",),
    double -> ("dbl", text), boolean -> ("bool", b), big number -> ("big", text),
    verbatim -> ("verb", text), array -> list, map -> ("map", [(k, v), ...]),
    set -> ("set", [...]), push -> ("push", [...]).
    """

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = bytearray()

    def close(self) -> None:
        self.sock.close()

    def send(self, *args: str | bytes | int) -> None:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))

    def call(self, *args: str | bytes | int) -> object:
        self.send(*args)
        return self.read()

    def read(self) -> object:
        return self._value()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data
        if len(self.buf) > MAX_REPLY:
            raise AssertionError("reply larger than the test limit")

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n + 2]
        return data

    def _value(self) -> object:
        line = self._line()
        kind, rest = line[:1], line[1:].decode()
        if kind == b"+":
            return rest
        if kind == b"-":
            return ("err", rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return ("nil$",) if rest == "-1" else self._exact(int(rest))
        if kind == b"*":
            return ("nil*",) if rest == "-1" else [self._value() for _ in range(int(rest))]
        if kind == b"_":
            return ("nil_",)
        if kind == b",":
            return ("dbl", rest)
        if kind == b"#":
            return ("bool", rest == "t")
        if kind == b"(":
            return ("big", rest)
        if kind == b"=":
            return ("verb", self._exact(int(rest)))
        if kind == b"%":
            return ("map", [(self._value(), self._value()) for _ in range(int(rest))])
        if kind == b"~":
            return ("set", [self._value() for _ in range(int(rest))])
        if kind == b">":
            return ("push", [self._value() for _ in range(int(rest))])
        if kind == b"|":  # an attribute precedes the real reply
            for _ in range(int(rest)):
                self._value(), self._value()
            return self._value()
        raise AssertionError(f"unknown RESP type byte in {line!r}")


def _sorted(items: list) -> list:
    return sorted(items, key=repr)


def normalize(reply: object, unordered: bool = False) -> object:
    """Maps and sets compare without order (Redis gives them in hash order); an array
    compares without order only when the case says so (`~CMD`)."""
    if isinstance(reply, tuple) and reply and reply[0] == "map":
        return ("map", _sorted([(normalize(k), normalize(v)) for k, v in reply[1]]))
    if isinstance(reply, tuple) and reply and reply[0] == "set":
        return ("set", _sorted([normalize(v) for v in reply[1]]))
    if isinstance(reply, list):
        items = [normalize(v) for v in reply]
        return _sorted(items) if unordered else items
    return reply


Command = Sequence[str]


def run_sequence(client: RawClient, commands: Sequence[Command]) -> list[object]:
    """Replies to `commands`; a leading `~` on a command name means its reply is an
    unordered collection."""
    out = []
    for cmd in commands:
        name = cmd[0]
        unordered = name.startswith("~")
        reply = client.call(name.lstrip("~"), *cmd[1:])
        out.append(normalize(reply, unordered))
    return out


# ------------------------------------------------------------------ real redis-server
@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _pings(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


def start_redis_server(workdir: Path) -> RedisServer:
    assert REDIS_SERVER is not None
    for _attempt in range(3):  # the free port may be taken between bind and start
        port = free_ports(1)[0]
        log = open(workdir / f"redis-{port}.log", "wb")  # noqa: SIM115 (kept by the child)
        proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        srv = RedisServer(port, proc)
        try:
            wait_for(lambda s=srv: s.proc.poll() is not None or _pings(s.port), 10,
                     "redis-server")
        except AssertionError:
            srv.stop()
            raise
        if proc.poll() is None:
            return srv
        srv.stop()
    raise AssertionError("could not start redis-server")


# ------------------------------------------------------------------ the family fixture
@dataclass
class Fam:
    cluster: Cluster
    ref: RedisServer | None
    _raw: dict[tuple[str, int], RawClient] = field(default_factory=dict)
    _leader: int | None = None

    # --- who is who
    def leader(self) -> int:
        if self._leader is None or not self.cluster.nodes[self._leader].alive():
            self._leader = self.cluster.wait_leader()
        return self._leader

    def follower(self) -> int:
        lead = self.leader()
        f = next(i for i in self.cluster.nodes if i != lead and self.cluster.nodes[i].alive())
        wait_for(lambda: self.cluster.info(f)["raft_leader_id"] == str(lead), 10,
                 f"node{f} to know the leader")
        return f

    def port(self, i: int) -> int:
        return self.cluster.nodes[i].port

    # --- redis-py clients (closed by the caller or at module end)
    def leader_client(self, protocol: int = 2, **kw) -> redis.Redis:
        return redis.Redis(port=self.port(self.leader()), protocol=protocol,
                           socket_timeout=15, **kw)

    def cluster_client(self, protocol: int = 2, **kw) -> RedisCluster:
        """redis-py's cluster client seeded with a follower: it must follow MOVED."""
        return RedisCluster(host="127.0.0.1", port=self.port(self.follower()),
                            protocol=protocol, socket_timeout=15, **kw)

    def ref_client(self, protocol: int = 2) -> redis.Redis:
        assert self.ref is not None
        return redis.Redis(port=self.ref.port, protocol=protocol, socket_timeout=15)

    # --- raw connections for the differential tests
    def _conn(self, who: str, protocol: int) -> RawClient:
        key = (who, protocol)
        if key not in self._raw:
            port = self.ref.port if who == "ref" else self.port(self.leader())
            c = RawClient(port)
            if protocol == 3:
                hello = c.call("HELLO", "3")
                assert isinstance(hello, tuple) and hello[0] == "map", hello
            self._raw[key] = c
        return self._raw[key]

    def _drop(self, who: str, protocol: int) -> None:
        c = self._raw.pop((who, protocol), None)
        if c is not None:
            c.close()

    def run(self, who: str, commands: Sequence[Command], protocol: int = 2) -> list[object]:
        """FLUSHALL, then `commands`, on "ref" (redis-server) or "raft" (the leader)."""
        for attempt in range(3):
            c = self._conn(who, protocol)
            try:
                assert c.call("FLUSHALL") == "OK"
                replies = run_sequence(c, commands)
            except (OSError, ConnectionError):
                self._drop(who, protocol)
                if attempt == 2:
                    raise
                continue
            moved = [r for r in replies if isinstance(r, tuple) and r[0] == "err"
                     and str(r[1]).startswith(("MOVED", "CLUSTERDOWN"))]
            if who == "raft" and moved and attempt < 2:
                # The leader changed under the case: start it again on the new one.
                self._drop(who, protocol)
                self._leader = None
                continue
            return replies
        raise AssertionError("unreachable")

    def diff(self, commands: Sequence[Command], protocol: int = 2) -> list[object]:
        """Assert raftredis answers `commands` exactly like redis-server; returns the replies."""
        if self.ref is None:
            pytest.skip("redis-server not installed")
        want = self.run("ref", commands, protocol)
        got = self.run("raft", commands, protocol)
        for cmd, w, g in zip(commands, want, got, strict=True):
            assert g == w, f"RESP{protocol} {' '.join(cmd)}: raftredis {g!r} != redis {w!r}"
        return got

    def close(self) -> None:
        for c in self._raw.values():
            c.close()
        self._raw.clear()


def family_fixture(name: str, with_ref: bool = True) -> Callable[..., Iterator[Fam]]:
    """A module-scoped fixture: a 3-node cluster (plus redis-server when available)."""

    @pytest.fixture(scope="module")
    def fam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fam]:
        base = tmp_path_factory.mktemp(f"fam-{name}")
        cluster = Cluster(base).start()
        ref: RedisServer | None = None
        f: Fam | None = None
        try:
            if with_ref and REDIS_SERVER is not None:
                ref = start_redis_server(base)
            cluster.wait_leader(timeout=30)
            f = Fam(cluster, ref)
            yield f
        except BaseException:
            print(cluster.logs())
            raise
        finally:
            if f is not None:
                f.close()
            if ref is not None:
                ref.stop()
            cluster.stop()

    return fam


def case_id(case: Sequence[Command]) -> str:
    return " | ".join(" ".join(c) for c in case)[:80]


def known_bug(reason: str, *commands: Command):
    """A case where raftredis answers differently from redis-server where it should
    not: kept as a strict xfail so the fix is noticed (the reason names both replies)."""
    return pytest.param(list(commands), id=case_id(commands),
                        marks=pytest.mark.xfail(strict=True, reason=reason))


def params(cases: Sequence) -> list:
    """Cases as pytest params with readable ids (known_bug entries pass through)."""
    return [c if not isinstance(c, list) else pytest.param(c, id=case_id(c)) for c in cases]


def err(text: str) -> tuple[str, str]:
    return ("err", text)


def deadline_loop(timeout: float) -> Iterator[None]:
    """Yield until `timeout` seconds have passed (for polling loops with a bound)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        yield
