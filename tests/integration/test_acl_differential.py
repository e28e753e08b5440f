"""Differential test of ACL: one script of ACL SETUSER / GETUSER / LIST / DRYRUN / AUTH
and refused commands runs against a throwaway real redis-server and against a real
one-node raftredis; every reply must be the same bytes.

Debian's redis-server is 7.0; we answer as Redis 7.2, whose NOPERM and DRYRUN texts
changed (7.0: "this user has no permissions to run the 'set' command", 7.2: "User ro
has no permissions to run the 'set' command"). Those few 7.0 texts are rewritten to
their 7.2 form before comparing; nothing else is. The script sticks to rule sets that
7.0 and 7.2 describe alike (7.0 rebuilds ACL LIST from a bitmap, 7.2 keeps the rules
as given).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import hiredis
import pytest

from tests.integration.conftest import ServerProc, free_port, start_server, wait_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
pytestmark = pytest.mark.skipif(not Path(REDIS_SERVER).exists(), reason="no redis-server")


def _cmd(*args: bytes | str) -> bytes:
    raw = [a.encode() if isinstance(a, str) else a for a in args]
    return b"*%d\r\n" % len(raw) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in raw)


class Conn:
    """One client connection that keeps each reply's raw bytes."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.user = "default"

    def call(self, *args: bytes | str) -> bytes:
        self.sock.sendall(_cmd(*args))
        reader = hiredis.Reader()
        raw = b""
        while True:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            raw += chunk
            reader.feed(chunk)
            if reader.gets() is not False:
                return raw

    def close(self) -> None:
        self.sock.close()


_DENIED_CMD_70 = re.compile(rb"^-(EXECABORT Transaction discarded because of: )?NOPERM this "
                            rb"user has no permissions to run the '([^']*)' command\r\n$")
_DRYRUN_CMD_70 = re.compile(rb"^\$\d+\r\nThis user has no permissions to run the '([^']*)' "
                            rb"command\r\n$")
_DRYRUN_OBJ_70 = re.compile(rb"^\$\d+\r\nThis user has no permissions to access the '([^']*)' "
                            rb"(key|channel)\r\n$")


def _bulk(text: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(text), text)


def as_72(reply: bytes, user: str) -> bytes:
    """Redis 7.0's ACL refusal texts in their 7.2 words."""
    u = user.encode()
    if m := _DENIED_CMD_70.match(reply):
        return b"-" + (m[1] or b"") + b"NOPERM User " + u + \
            b" has no permissions to run the '" + m[2] + b"' command\r\n"
    reply = reply.replace(b"-NOPERM this user has no permissions to access one of the keys "
                          b"used as arguments", b"-NOPERM No permissions to access a key")
    reply = reply.replace(b"-NOPERM this user has no permissions to access one of the "
                          b"channels used as arguments",
                          b"-NOPERM No permissions to access a channel")
    if m := _DRYRUN_CMD_70.match(reply):
        return _bulk(b"User " + u + b" has no permissions to run the '" + m[1] + b"' command")
    if m := _DRYRUN_OBJ_70.match(reply):
        return _bulk(b"No permissions to access the '" + m[1] + b"' " + m[2])
    return reply


# (connection, command...). Connections are opened on first use; "dryrun-as" names the
# user DRYRUN asks about, for the text rewrite.
SCRIPT: list[tuple] = [
    ("admin", "ACL", "SETUSER", "ro", "on", ">ro-password", "~*", "&*", "+@read"),
    ("admin", "ACL", "SETUSER", "app", "on", ">app-password", "~app:*", "+@all"),
    ("admin", "ACL", "SETUSER", "chan", "on", "nopass", "~*", "resetchannels", "&news.*",
     "+@all"),
    ("admin", "ACL", "SETUSER", "wo", "on", ">wo-password", "%W~w:*", "%R~r:*", "+@all"),
    ("admin", "ACL", "SETUSER", "new"),
    ("admin", "ACL", "LIST"),
    ("admin", "ACL", "USERS"),
    ("admin", "ACL", "GETUSER", "ro"),
    ("admin", "ACL", "GETUSER", "app"),
    ("admin", "ACL", "GETUSER", "nobody"),
    ("admin", "ACL", "SETUSER", "bad", "+@nope"),
    ("admin", "ACL", "SETUSER", "bad", "+nocommand"),
    ("admin", "ACL", "SETUSER", "bad", "allkeys", "~a"),
    ("admin", "ACL", "SETUSER", "bad", "allchannels", "&a"),
    ("admin", "ACL", "SETUSER", "bad", "#abc"),
    ("admin", "ACL", "SETUSER", "bad", "<not-there"),
    ("admin", "ACL", "SETUSER", "bad", "%X~a"),
    ("admin", "ACL", "SETUSER", "bad", "whatever"),
    ("admin", "ACL", "SETUSER", "a b"),
    ("admin", "ACL", "SETUSER", "bad", "(~a", "+get"),
    ("admin", "ACL", "USERS"),
    ("admin", "ACL", "DELUSER", "default"),
    ("admin", "ACL", "CAT"),
    ("admin", "ACL", "CAT", "nope"),
    ("admin", "ACL", "WHOAMI"),
    ("admin", "ACL", "WHOAMI", "extra"),
    ("admin", "ACL", "NOSUCH"),
    ("admin", "ACL", "GENPASS", "0"),
    ("admin", "ACL", "GENPASS", "x"),
    ("admin", "ACL", "LOG", "x"),
    ("admin", "ACL", "LOG", "RESET"),
    ("dryrun:ro", "ACL", "DRYRUN", "ro", "SET", "k", "v"),
    ("dryrun:ro", "ACL", "DRYRUN", "ro", "GET", "k"),
    ("dryrun:app", "ACL", "DRYRUN", "app", "GET", "other"),
    ("dryrun:app", "ACL", "DRYRUN", "app", "GET", "app:1"),
    ("admin", "ACL", "DRYRUN", "nobody", "GET", "k"),
    ("admin", "ACL", "DRYRUN", "ro", "nocommand"),
    ("admin", "ACL", "DRYRUN", "ro", "GET"),
    ("admin", "ACL", "DRYRUN", "ro", "CONFIG", "nope"),
    ("admin", "ACL", "DRYRUN", "ro", "CONFIG", "GET"),
    ("dryrun:ro", "ACL", "DRYRUN", "ro", "CONFIG", "GET", "x"),
    ("admin", "AUTH", "nobody", "x"),
    ("admin", "AUTH", "ro", "wrong"),
    ("admin", "AUTH", "password-for-default"),
    ("ro", "AUTH", "ro", "ro-password"),
    ("ro", "ACL", "WHOAMI"),
    ("ro", "GET", "k"),
    ("ro", "SET", "k", "v"),
    ("ro", "CONFIG", "GET", "maxmemory"),
    ("ro", "FLUSHALL"),
    ("ro", "MULTI"),
    ("ro", "SET", "k", "v"),
    ("ro", "EXEC"),
    ("app", "AUTH", "app", "app-password"),
    ("app", "SET", "app:1", "v"),
    ("app", "GET", "app:1"),
    ("app", "GET", "other"),
    ("app", "MSET", "app:2", "v", "other", "v"),
    ("app", "DEL", "app:1", "app:2"),
    ("app", "MULTI"),
    ("app", "GET", "other"),
    ("app", "SET", "app:3", "v"),
    ("app", "EXEC"),
    ("app", "MULTI"),
    ("app", "SET", "app:x", "1"),
    ("app", "GET", "app:y"),
    ("app", "PUBLISH", "c", "m"),
    ("admin", "ACL", "SETUSER", "app", "resetkeys", "~app:x", "resetchannels"),
    ("app", "EXEC"),
    ("app", "RESET"),
    ("app", "ACL", "WHOAMI"),
    ("wo", "AUTH", "wo", "wo-password"),
    ("wo", "SET", "w:1", "v"),
    ("wo", "GET", "w:1"),
    ("wo", "GET", "r:1"),
    ("wo", "SET", "r:1", "v"),
    ("wo", "DEL", "w:1"),
    ("chan", "AUTH", "chan", "any-password"),
    ("chan", "PUBLISH", "news.today", "m"),
    ("chan", "PUBLISH", "sport", "m"),
    ("chan", "SUBSCRIBE", "sport"),
    ("chan", "PSUBSCRIBE", "news.t*"),
    ("dryrun:chan", "ACL", "DRYRUN", "chan", "PUBLISH", "sport", "m"),
    ("admin", "HELLO", "2", "AUTH", "ro", "wrong"),
    ("admin", "ACL", "SETUSER", "sel", "on", "nopass", "+get", "~a", "(+set ~b)"),
    ("admin", "ACL", "GETUSER", "sel"),
    ("sel", "AUTH", "sel", "x"),
    ("sel", "GET", "a"),
    ("sel", "SET", "b", "v"),
    ("sel", "SET", "a", "v"),
    ("sel", "DEL", "b"),
    ("admin", "ACL", "SETUSER", "ro", "off"),
    ("ro2", "AUTH", "ro", "ro-password"),
    ("admin", "ACL", "SETUSER", "ro", "on", "<ro-password", ">second-password"),
    ("ro3", "AUTH", "ro", "ro-password"),
    ("ro3", "AUTH", "ro", "second-password"),
    ("ro3", "ACL", "WHOAMI"),
    ("admin", "CLIENT", "KILL", "USER", "nobody"),
    ("admin", "CLIENT", "KILL", "USER", "ro"),
    ("admin", "ACL", "DELUSER", "app", "nobody", "new"),
    ("admin", "ACL", "USERS"),
    ("admin", "CONFIG", "SET", "requirepass", "password-for-default"),
    ("admin", "ACL", "GETUSER", "default"),
    ("fresh", "GET", "k"),
    ("fresh", "AUTH", "wrong"),
    ("fresh", "AUTH", "default", "wrong"),
    ("fresh", "AUTH", "password-for-default"),
    ("fresh", "GET", "k"),
    ("fresh", "CONFIG", "SET", "requirepass", ""),
    ("fresh2", "AUTH", "x"),
]
# ACL LOG fields both versions show (7.2 adds entry-id and timestamps; age and client
# info differ by nature).
LOG_FIELDS = (b"count", b"reason", b"context", b"object", b"username")


def run_script(port: int) -> tuple[list[bytes], list[list[tuple]]]:
    conns: dict[str, Conn] = {}
    out: list[bytes] = []
    try:
        for name, *cmd in SCRIPT:
            who = name.split(":", 1)[1] if name.startswith("dryrun:") else None
            key = "admin" if who else name
            conn = conns.get(key)
            if conn is None:
                conn = conns[key] = Conn(port)
            reply = conn.call(*cmd)
            if cmd[0] == "AUTH" and reply == b"+OK\r\n":
                conn.user = cmd[1] if len(cmd) == 3 else "default"
            out.append(as_72(reply, who or conn.user))
        log = hiredis.Reader()
        log.feed(conns["admin"].call("ACL", "LOG", "20"))
        entries = log.gets()
        fields = [[(f, dict(zip(e[::2], e[1::2], strict=True))[f]) for f in LOG_FIELDS]
                  for e in entries]
    finally:
        for c in conns.values():
            c.close()
    return out, fields


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    d = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(d)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: Conn(port).call("PING") == b"+PONG\r\n", 20, "redis-server")
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


def test_acl_script_answers_as_redis(redis_port: int, ours: ServerProc) -> None:
    theirs, their_log = run_script(redis_port)
    mine, my_log = run_script(ours.port)
    for (name, *cmd), want, got in zip(SCRIPT, theirs, mine, strict=True):
        assert got == want, f"{name}: {' '.join(cmd)}"
    assert my_log == their_log
    # Redis 7.2's INFO counters of the refusals (7.0 has none to compare with).
    info = hiredis.Reader()
    conn = Conn(ours.port)
    try:
        info.feed(conn.call("INFO", "stats"))
    finally:
        conn.close()
    stats = dict(line.split(":", 1) for line in info.gets().decode().splitlines()
                 if ":" in line)
    assert all(int(stats[f"acl_access_denied_{k}"]) > 0 for k in ("auth", "cmd", "key",
                                                                 "channel")), stats


def test_categories_hold_the_same_commands(redis_port: int, ours: ServerProc) -> None:
    """ACL CAT <category> names the same commands as redis-server's, among the commands
    both servers have (each has some the other lacks: our SESSION.*, Redis's CLUSTER
    slot management)."""
    def categories(port: int) -> dict[bytes, set[bytes]]:
        conn = Conn(port)
        try:
            reader = hiredis.Reader()
            reader.feed(conn.call("ACL", "CAT"))
            out = {}
            for cat in reader.gets():
                reader.feed(conn.call("ACL", "CAT", cat))
                out[cat] = set(reader.gets())
            return out
        finally:
            conn.close()

    theirs, mine = categories(redis_port), categories(ours.port)
    assert list(theirs) == list(mine)
    both = set().union(*theirs.values()) & set().union(*mine.values())
    for cat in theirs:
        assert theirs[cat] & both == mine[cat] & both, cat
