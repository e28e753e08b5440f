"""COMMAND INFO of every data command compared with a real redis-server's: arity, flags,
legacy key positions and ACL categories, so cluster clients route each one as Redis."""

from __future__ import annotations

import hiredis

from raftredis.commands import COMMANDS
from raftredis.commands.spec import Route
from raftredis.resp.encoder import encode
from raftredis.server.command_docs import command_entry
from tests.unit.sm_redis import Ref, redis_ref

ref = redis_ref()

# Where we follow Redis 7.2 rather than the 7.0 the test machine runs, or differ on purpose.
KNOWN = {
    "zrank": "7.2 added WITHSCORE (arity -3)",
    "zrevrank": "7.2 added WITHSCORE (arity -3)",
    "object": "movablekeys: OBJECT HELP names no key",
    "memory": "movablekeys: only MEMORY USAGE names a key",
    "sintercard": "legacy step 1 instead of 0 (kept: COMMAND output unchanged by the refactor)",
    "xreadgroup": "no blocking flag: the node layer would wait on it as on a list pop",
}
OURS_ONLY = {"session.open", "session.exec", "session.close"}


def _parse(data: bytes) -> object:
    r = hiredis.Reader()
    r.feed(data)
    return r.gets()


def _head(entry: list) -> list:
    """Name, arity, flags, first/last/step and ACL categories (tips, key specs and
    subcommands have shapes that differ between Redis versions)."""
    return [entry[0], entry[1], sorted(entry[2]), entry[3], entry[4], entry[5],
            sorted(entry[6])]


def test_data_commands_have_redis_command_info(ref: Ref) -> None:
    conn = ref.conn(2)
    checked = 0
    for name, spec in sorted(COMMANDS.items()):
        if spec.route is Route.LOCAL or name in OURS_ONLY or name in KNOWN:
            continue
        (theirs,) = _parse(conn.call("COMMAND", "INFO", name))  # type: ignore[misc]
        assert theirs is not None, f"{name} is not a Redis command"
        assert _head(_parse(encode(command_entry(spec)))) == _head(theirs), name
        checked += 1
    assert checked >= 130
