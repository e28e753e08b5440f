"""Differential tests of pub/sub, subscribe mode, keyspace notifications and client
tracking: the same steps go to a throwaway real redis-server and to a real one-node
raftredis, and every connection's bytes must be identical.

A scenario is a list of steps (connection name, commands). Each step ends with a
`PING <sentinel>` on that connection, and the step's bytes are read until the
sentinel's reply: every reply and push due before it is in. Messages caused by one
connection's step reach the others before that step's own replies (the publisher is
answered after delivery, on both servers), so a later step of the receiver sees them.
"""

from __future__ import annotations

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

Step = tuple[str, list[str]]


def _cmd(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def _encode(line: str) -> bytes:
    return _cmd(*[w.encode() for w in line.split(" ")])


class Conn:
    def __init__(self, port: int, resp3: bool) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.n = 0
        if resp3:  # HELLO's reply names the server: read and drop it
            self.sock.sendall(_cmd(b"HELLO", b"3"))
            self.step([])
        self.sock.sendall(_cmd(b"CLIENT", b"ID"))  # for {id:name} in later steps
        self.id = int(self.step([]).split(b"\r\n", 1)[0][1:])

    def step(self, lines: list[str]) -> bytes:
        self.n += 1
        sentinel = b"sentinel%d" % self.n
        self.sock.sendall(b"".join(_encode(x) for x in lines) + _cmd(b"PING", sentinel))
        want = b"$%d\r\n%s\r\n" % (len(sentinel), sentinel)
        got = b""
        deadline = time.monotonic() + 10
        while not got.endswith(want):
            assert time.monotonic() < deadline, f"no sentinel after {lines}: {got!r}"
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed after {lines}: {got!r}"
            got += chunk
        return got

    def close(self) -> None:
        self.sock.close()


def run(port: int, steps: list[Step], resp3: bool = False,
        mask_ids: bool = False) -> list[tuple[str, bytes]]:
    """`mask_ids`: client ids in replies are shown as {id:name} (they differ by server)."""
    conns: dict[str, Conn] = {}
    ids: dict[str, int] = {}  # every connection's client id, closed ones too
    out = []
    try:
        for name, lines in steps:
            if name.startswith("close "):  # ("close r", []): that connection goes away
                conns.pop(name[6:]).close()
                continue
            if name not in conns:
                conns[name] = Conn(port, resp3)
                ids[name] = conns[name].id
            # {id:r}: the client id of connection r on this server, in and out
            lines = [_with_ids(x, ids) for x in lines]
            got = conns[name].step(lines)
            for other, cid in ids.items() if mask_ids else ():
                got = got.replace(b":%d\r\n" % cid, b":{id:%s}\r\n" % other.encode())
            out.append((name, got))
    finally:
        for c in conns.values():
            c.close()
    return out


def _with_ids(line: str, ids: dict[str, int]) -> str:
    for name, cid in ids.items():
        line = line.replace("{id:" + name + "}", str(cid))
    return line


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    d = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(d)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: Conn(port, False).step([]), 20, "redis-server")
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
    # Ready once a write goes through the log (the one-node group has a leader).
    wait_until(lambda: run(srv.port, [("a", ["SET ready 1"])])[0][1].startswith(b"+OK"), 20,
               "a leader")
    yield srv
    srv.stop()


def same(redis_port: int, ours: ServerProc, steps: list[Step], resp3: bool = False,
         mask_ids: bool = False) -> None:
    want = run(redis_port, steps, resp3, mask_ids)
    got = run(ours.port, steps, resp3, mask_ids)
    done = [s for s in steps if not s[0].startswith("close ")]
    for (name, w), (_, g), (_, lines) in zip(want, got, done, strict=True):
        assert g == w, f"{name}: {lines}:\n redis: {w!r}\n ours:  {g!r}"


SUBSCRIBE_MODE = [
    ("a", ["SUBSCRIBE a b", "GET x", "CLIENT GETNAME", "SET k v", "PING", "PING hi"]),
    ("a", ["SUBSCRIBE a", "PSUBSCRIBE p*", "SSUBSCRIBE s", "SSUBSCRIBE s t"]),
    ("a", ["UNSUBSCRIBE a", "PUNSUBSCRIBE p*", "SUNSUBSCRIBE s", "SUNSUBSCRIBE t"]),
    ("a", ["FOO bar", "GET", "MULTI", "ECHO x", "DISCARD", "UNSUBSCRIBE b"]),
    ("a", ["UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "UNSUBSCRIBE nope", "GET x"]),
    ("a", ["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "PUBLISH a", "SPUBLISH s"]),
    ("a", ["SUBSCRIBE z", "RESET", "GET x", "PING"]),
    ("a", ["MULTI", "SUBSCRIBE m1 m2", "EXEC", "PING", "RESET"]),
    ("a", ["PUBSUB NUMPAT", "PUBSUB NUMSUB", "PUBSUB CHANNELS", "PUBSUB SHARDCHANNELS",
           "PUBSUB SHARDNUMSUB", "PUBSUB bogus", "PUBSUB"]),
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_subscribe_mode_replies_and_errors(redis_port: int, ours: ServerProc,
                                           resp3: bool) -> None:
    same(redis_port, ours, SUBSCRIBE_MODE, resp3)


MESSAGES = [
    ("sub", ["SUBSCRIBE news", "PSUBSCRIBE n*", "SSUBSCRIBE shard"]),
    ("peer", ["SUBSCRIBE news"]),
    ("pub", ["PUBLISH news hello", "PUBLISH nothing x", "PUBLISH nx y", "SPUBLISH shard m",
             "SPUBLISH other m", "PUBSUB NUMSUB news nx", "PUBSUB NUMPAT",
             "PUBSUB CHANNELS n*", "PUBSUB SHARDCHANNELS", "PUBSUB SHARDNUMSUB shard x"]),
    ("sub", []),
    ("peer", ["UNSUBSCRIBE news"]),
    ("pub", ["PUBLISH news again"]),
    ("sub", ["UNSUBSCRIBE news", "PUNSUBSCRIBE n*", "SUNSUBSCRIBE shard"]),
    ("pub", ["PUBLISH news gone", "PUBSUB NUMSUB news"]),
    ("sub", []),
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_messages_reach_subscribers(redis_port: int, ours: ServerProc, resp3: bool) -> None:
    same(redis_port, ours, MESSAGES, resp3)


KEYSPACE_COMMANDS = [
    "SET s v", "SET s v2 EX 100", "SET s v NX", "SETNX s2 x", "SETEX s3 100 x", "APPEND s x",
    "SETRANGE s 1 yy", "INCR n", "INCRBY n 5", "DECR n", "INCRBYFLOAT f 1.5", "GETSET s zz",
    "MSET m1 a m2 b", "GETDEL m1", "GETEX m2 EX 50", "GETEX m2 PERSIST", "SETBIT b 3 1",
    "EXPIRE s 100", "PEXPIRE s 100000", "PERSIST s", "PERSIST s", "EXPIRE nokey 10",
    "RENAME s s9", "COPY s9 c1", "DEL s9 c1 missing", "UNLINK s2",
    "LPUSH l a b c", "RPUSH l d", "LPUSHX nol x", "LPOP l", "RPOP l", "LINSERT l BEFORE b z",
    "LSET l 0 q", "LREM l 1 q", "LTRIM l 0 0", "RPOPLPUSH l l2", "LMOVE l2 l3 LEFT RIGHT",
    "LPOP l3", "LPUSH l4 x y", "LMPOP 1 l4 RIGHT COUNT 2",
    "SADD st a b c", "SADD st a", "SREM st a", "SREM st nope", "SREM st b", "SPOP st",
    "SADD st x y", "SMOVE st st2 x", "SMOVE st st2 y",
    "SADD o1 x", "SADD o2 x y", "SINTERSTORE dst o1 o2", "SUNIONSTORE dst o1 o2",
    "SDIFFSTORE dst o1 o2",
    "HSET h f v g w", "HSETNX h f v", "HSETNX h n v", "HINCRBY h c 1", "HINCRBYFLOAT h d 1.5",
    "HDEL h f g c d n",
    "ZADD z 1 a 2 b", "ZADD z INCR 5 a", "ZINCRBY z 1 b", "ZREM z a", "ZADD z 3 c 4 d 5 e",
    "ZREMRANGEBYSCORE z 3 3", "ZREMRANGEBYRANK z 0 0", "ZPOPMIN z", "ZPOPMAX z",
    "ZADD z1 1 a", "ZADD z2 1 a 2 b", "ZUNIONSTORE zd 2 z1 z2", "ZINTERSTORE zd 2 z1 z2",
    "ZRANGESTORE zr z2 0 -1", "ZREMRANGEBYLEX z2 - +",
    "XADD x 1-1 f v", "XADD x 2-1 f v", "XDEL x 1-1", "XTRIM x MAXLEN 0",
    "XGROUP CREATE x g $", "XGROUP CREATECONSUMER x g c", "XGROUP DELCONSUMER x g c",
    "XGROUP SETID x g 0", "XGROUP DESTROY x g", "XSETID x 5-0",
    "PFADD hll a b", "PFADD hll a", "SET k1 v", "SET k2 v", "SORT l2 ALPHA STORE sorted",
    "FLUSHALL",
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_keyspace_notifications(redis_port: int, ours: ServerProc, resp3: bool) -> None:
    steps: list[Step] = [("w", ["CONFIG SET notify-keyspace-events KEA", "FLUSHALL"]),
                         ("s", ["PSUBSCRIBE __key*__:*"])]
    for line in KEYSPACE_COMMANDS:
        steps += [("w", [line]), ("s", [])]
    steps.append(("w", ["CONFIG SET notify-keyspace-events ''"]))
    try:
        same(redis_port, ours, steps, resp3)
    finally:
        for port in (redis_port, ours.port):
            run(port, [("w", ["CONFIG SET notify-keyspace-events "[:-1]])])


TRACKING = [
    ("c", ["CLIENT TRACKINGINFO", "CLIENT GETREDIR", "CLIENT CACHING yes"]),
    ("c", ["CLIENT TRACKING on PREFIX a", "CLIENT TRACKING on BCAST OPTIN",
           "CLIENT TRACKING on OPTIN OPTOUT", "CLIENT TRACKING on BCAST PREFIX a PREFIX ab",
           "CLIENT TRACKING on REDIRECT 99999", "CLIENT TRACKING on REDIRECT x",
           "CLIENT TRACKING maybe", "CLIENT TRACKING on FOO"]),
    ("c", ["CLIENT TRACKING on", "CLIENT TRACKINGINFO", "CLIENT GETREDIR", "GET k", "MGET k j"]),
    ("w", ["SET k 1", "SET j 1", "SET k 2"]),
    ("c", ["GET k"]),
    ("w", ["DEL k"]),
    ("c", ["CLIENT TRACKING on BCAST", "CLIENT TRACKING off", "CLIENT TRACKINGINFO"]),
    ("c", ["CLIENT TRACKING on OPTIN", "GET o1", "CLIENT CACHING yes", "GET o2",
           "CLIENT CACHING no", "CLIENT TRACKINGINFO", "CLIENT TRACKING on OPTOUT"]),
    ("w", ["SET o1 x", "SET o2 x"]),
    ("c", ["CLIENT TRACKING off", "CLIENT TRACKING on BCAST PREFIX p NOLOOP",
           "CLIENT TRACKING on BCAST PREFIX pq", "CLIENT TRACKINGINFO"]),
    # (Redis gathers BCAST invalidations per event-loop turn, a timing: one write a step)
    ("w", ["SET p1 x"]),
    ("w", ["SET other x"]),
    ("w", ["MSET p2 a p3 b"]),
    ("c", ["CLIENT TRACKING off", "CLIENT TRACKING on", "GET f", "MULTI", "GET t1", "EXEC"]),
    ("w", ["SET t1 x"]),
    ("c", ["CLIENT TRACKING off", "CLIENT TRACKING on OPTIN", "CLIENT CACHING yes", "MULTI",
           "GET t2", "GET t3", "EXEC", "GET t4"]),
    ("w", ["SET t2 x"]),
    ("w", ["SET t3 x"]),
    ("w", ["SET t4 x"]),
    ("c", ["CLIENT TRACKING off", "CLIENT TRACKING on", "GET f"]),
    ("w", ["FLUSHALL"]),
    ("c", ["CLIENT TRACKING off"]),
]


def test_client_tracking_resp3(redis_port: int, ours: ServerProc) -> None:
    same(redis_port, ours, TRACKING, resp3=True)


REDIRECT = [
    ("r", ["SUBSCRIBE __redis__:invalidate"]),
    ("c", ["CLIENT TRACKING on REDIRECT {id:r}", "GET k", "GET j"]),
    ("w", ["SET k 1", "DEL j"]),
    ("r", []),
    ("c", ["CLIENT TRACKING off", "CLIENT TRACKING on BCAST PREFIX b REDIRECT {id:r}"]),
    ("w", ["SET b1 x"]),
    ("w", ["SET a1 x"]),
    ("r", []),
    ("close r", []),
    ("w", ["SET b2 x"]),
    ("c", ["CLIENT TRACKINGINFO", "PING"]),
    ("w", ["SET b3 x"]),
    ("c", ["CLIENT TRACKING off"]),
]


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_client_tracking_redirect(redis_port: int, ours: ServerProc, resp3: bool) -> None:
    """Invalidations to another connection (a RESP2 one must listen on
    __redis__:invalidate), and what the tracking client hears once it is gone."""
    same(redis_port, ours, REDIRECT, resp3, mask_ids=True)
