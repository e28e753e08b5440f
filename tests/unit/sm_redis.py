"""Differential tests of the StateMachine against a throwaway redis-server (no tests here).

`redis_ref()` makes a module-scoped fixture that starts Debian's redis-server on a free
loopback port (skipped when it is not installed) and stops it by PID at module end.
`Ref.check(commands)` runs the commands on a FLUSHALLed redis-server and on a fresh
StateMachine (writes through apply, reads through read, with a fixed `now`), encodes our
replies with the project's RESP encoder and compares them byte for byte with the bytes
redis-server sent, in RESP2 and RESP3. A command written as ("~CMD", ...) has an
unordered reply: its elements are compared as sorted lists of encoded elements. One
written as ("=CMD", ...) compares numbers by value: Redis 7.0 prints doubles with 17
significant digits where we print the shortest text that reads back the same (7.2's).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence

import hiredis
import pytest

from raftredis.commands import lookup
from raftredis.commands.spec import Route
from raftredis.resp.encoder import encode
from raftredis.statemachine import StateMachine
from tests import ports

REDIS_SERVER = shutil.which("redis-server")
NOW = 1_700_000_000_000  # fixed apply time of the state machine side
Cmd = Sequence[str | bytes | int]


def _free_port() -> int:
    return ports.free_port()


def _arg(a: str | bytes | int) -> bytes:
    return a if isinstance(a, bytes) else str(a).encode()


def reply_end(buf: bytes, pos: int = 0) -> int | None:
    """Where the RESP reply starting at pos ends, or None if buf holds only part of it."""
    eol = buf.find(b"\r\n", pos)
    if eol < 0:
        return None
    kind, head = buf[pos:pos + 1], buf[pos + 1:eol]
    end = eol + 2
    if kind in b"$=!":
        n = int(head)
        if n < 0:
            return end
        return end + n + 2 if len(buf) >= end + n + 2 else None
    if kind in b"*~>%|":
        n = int(head)
        items = max(n, 0) * (2 if kind in b"%|" else 1)
        for _ in range(items):
            end = reply_end(buf, end)  # type: ignore[assignment]
            if end is None:
                return None
        if kind == b"|":  # an attribute comes before the reply it annotates
            return reply_end(buf, end)
        return end
    return end  # + - : , # ( _


def parse(data: bytes) -> object:
    r = hiredis.Reader()
    r.feed(data)
    return r.gets()


def by_value(data: bytes) -> object:
    """A reply with every bulk string that reads as a number turned into a float."""
    r = hiredis.Reader()
    r.feed(data)

    def conv(v: object) -> object:
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, bytes):
            try:
                return float(v)
            except ValueError:
                return v
        return v

    return conv(r.gets())


def split_items(data: bytes) -> list[bytes]:
    """The encoded elements of one aggregate reply (for unordered comparisons)."""
    eol = data.find(b"\r\n")
    n = int(data[1:eol])
    pos, out = eol + 2, []
    step = 2 if data[:1] == b"%" else 1
    for _ in range(max(n, 0)):
        start = pos
        for _ in range(step):
            pos = reply_end(data, pos)  # type: ignore[assignment]
        out.append(data[start:pos])
    return out


class RawConn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def call(self, *args: str | bytes | int) -> bytes:
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = _arg(a)
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(parts))
        while (end := reply_end(self.buf)) is None:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("redis-server closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def close(self) -> None:
        self.sock.close()


class Ref:
    """A running redis-server and the means to compare the StateMachine with it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._conns: dict[int, RawConn] = {}
        self.checked = 0  # commands compared, for the report

    def conn(self, resp: int) -> RawConn:
        c = self._conns.get(resp)
        if c is None:
            c = RawConn(self.port)
            if resp == 3:
                c.call("HELLO", "3")
            self._conns[resp] = c
        return c

    def redis(self, commands: Sequence[Cmd], resp: int = 2) -> list[bytes]:
        c = self.conn(resp)
        try:
            assert c.call("FLUSHALL") == b"+OK\r\n"
            return [c.call(*[_arg(a).lstrip(b"~=?") if i == 0 else a for i, a in enumerate(cmd)])
                    for cmd in commands]
        except OSError:  # a timed-out reply would be read by the next case: start afresh
            c.close()
            del self._conns[resp]
            raise

    @staticmethod
    def ours(commands: Sequence[Cmd], resp: int = 2, now: int = NOW,
             sm: StateMachine | None = None) -> list[bytes]:
        sm = sm or StateMachine()
        out = []
        for seed, cmd in enumerate(commands):
            args = [_arg(a) for a in cmd]
            args[0] = args[0].lstrip(b"~=?")
            spec = lookup(args[0])
            if spec is not None and spec.route is Route.READ:
                reply = sm.read(args, now)
            else:
                reply = sm.apply(args, now, seed)
            out.append(encode(reply, resp))
        return out

    def check(self, commands: Sequence[Cmd], resps: Sequence[int] = (2, 3),
              now: int = NOW, mask: Callable[[object], object] | None = None) -> None:
        """`mask`, for commands written ("?CMD", ...): applied to both parsed replies
        before comparing them (to hide clock readings, say)."""
        for resp in resps:
            want = self.redis(commands, resp)
            got = self.ours(commands, resp, now)
            for cmd, w, g in zip(commands, want, got, strict=True):
                if _arg(cmd[0]).startswith(b"?"):
                    assert mask is not None
                    assert mask(parse(g)) == mask(parse(w)), _show(cmd, resp, g, w)
                elif _arg(cmd[0]).startswith(b"="):
                    assert by_value(g) == by_value(w), _show(cmd, resp, g, w)
                elif _arg(cmd[0]).startswith(b"~") and w[:1] in b"*~%":
                    w_items, g_items = sorted(split_items(w)), sorted(split_items(g))
                    assert (g[:1], g_items) == (w[:1], w_items), _show(cmd, resp, g, w)
                else:
                    assert g == w, _show(cmd, resp, g, w)
            self.checked += len(commands)

    def close(self) -> None:
        for c in self._conns.values():
            c.close()


def _show(cmd: Cmd, resp: int, got: bytes, want: bytes) -> str:
    text = " ".join(_arg(a).decode("utf-8", "replace") for a in cmd)
    return f"RESP{resp} {text[:200]}:\n ours  {got[:400]!r}\n redis {want[:400]!r}"


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(workdir: str) -> tuple[subprocess.Popen, int]:
    assert REDIS_SERVER is not None
    for _attempt in range(3):  # the port may be taken between probing and binding
        port = _free_port()
        proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir, "--enable-debug-command", "local"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline and not _pings(port):
            time.sleep(0.01)  # polling a condition (the server answering), bounded
        if proc.poll() is None and _pings(port):
            return proc, port
        stop(proc)
    raise AssertionError("could not start redis-server")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def redis_ref() -> Callable[..., Iterator[Ref]]:
    """A module-scoped fixture yielding a Ref (skips the module's tests without Redis)."""

    @pytest.fixture(scope="module")
    def ref() -> Iterator[Ref]:
        if REDIS_SERVER is None:
            pytest.skip("redis-server not installed")
        with tempfile.TemporaryDirectory() as workdir:
            proc, port = start_redis(workdir)
            r = Ref(port)
            try:
                yield r
            finally:
                r.close()
                stop(proc)

    return ref


def case_id(case: Sequence[Cmd]) -> str:
    return " | ".join(" ".join(_arg(a).decode("utf-8", "replace") for a in c)
                      for c in case)[:70]


def cases(items: Sequence[Sequence[Cmd]]) -> list:
    return [pytest.param(list(c), id=case_id(c)) for c in items]
