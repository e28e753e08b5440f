"""The one permission check of dispatch: a limited user's command is checked against
its ACL rules before anything runs or is queued; a refusal answers Redis 7.2's NOPERM
and goes to this node's ACL LOG. (Connections of unrestricted users, such as the
default user, never get here: see ClientState.acl_limited.)"""

from __future__ import annotations

import time

from raftredis.acl.check import DENIED_CHANNEL, DENIED_CMD, DENIED_KEY, REASONS, Denial, check
from raftredis.acl.user import User
from raftredis.commands.spec import CommandSpec
from raftredis.reply import Error
from raftredis.server.client import ClientState
from raftredis.server.keyspecs import keys_and_flags
from raftredis.server.state import ServerState

NOPERM_KEY = Error("NOPERM No permissions to access a key")
NOPERM_CHANNEL = Error("NOPERM No permissions to access a channel")


def denied(srv: ServerState, client: ClientState, spec: CommandSpec,
           args: list[bytes]) -> Error | None:
    """None if the connection's user may run `args`, else the NOPERM reply (logged)."""
    user = client.user
    if user is None:
        return None
    denial = check(user, spec, args, keys_and_flags)
    if denial is None:
        return None
    log_denial(srv, client, user, spec, denial)
    if denial.reason == DENIED_KEY:
        return NOPERM_KEY
    if denial.reason == DENIED_CHANNEL:
        return NOPERM_CHANNEL
    return Error(f"NOPERM User {_name(user)} has no permissions to run the "
                 f"'{spec.name}' command")


def dryrun_text(user: User, spec: CommandSpec, denial: Denial) -> bytes:
    """ACL DRYRUN's verbose answer for a refusal (a bulk string, not an error)."""
    if denial.reason == DENIED_CMD:
        return (f"User {_name(user)} has no permissions to run the '{spec.name}' "
                f"command").encode()
    what = "key" if denial.reason == DENIED_KEY else "channel"
    return b"No permissions to access the '" + denial.obj + b"' " + what.encode()


def log_denial(srv: ServerState, client: ClientState, user: User, spec: CommandSpec,
               denial: Denial) -> None:
    obj = spec.name.encode() if denial.reason == DENIED_CMD else denial.obj
    note(srv, client, REASONS[denial.reason], obj, user.name)


def note(srv: ServerState, client: ClientState, reason: str, obj: bytes,
         username: bytes) -> None:
    """One ACL LOG event of this node."""
    now = time.monotonic()
    conn = srv.clients.get(client.id)
    info = client.info_line(now) if conn is None else \
        client.info_line(now, conn.query_buffered(), conn.pending_replies())
    srv.acl_log.add(reason, "multi" if client.multi is not None else "toplevel", obj,
                    username, info.encode(), time.time_ns() // 1_000_000,
                    int(srv.settings["acllog-max-len"]))  # type: ignore[call-overload]


def _name(user: User) -> str:
    return user.name.decode("utf-8", "replace")
