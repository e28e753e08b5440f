"""The one permission check of dispatch: a limited user's command is checked against
its ACL rules before anything runs or is queued; a refusal answers Redis 7.2's NOPERM
and goes to this node's ACL LOG. (Connections of unrestricted users, such as the
default user, never get here: see ClientState.acl_limited.)"""

from __future__ import annotations

import time

from raftredis.acl.check import (
    DENIED_CHANNEL,
    DENIED_CMD,
    DENIED_KEY,
    REASONS,
    Denial,
    access_of,
    check,
)
from raftredis.acl.user import User
from raftredis.commands.sessions import WRAP_OFFSET, wrapped_spec
from raftredis.commands.spec import CommandSpec
from raftredis.reply import Error
from raftredis.server.client import ClientState
from raftredis.server.keyspecs import keys_and_flags
from raftredis.server.keyspecs_data import KEY_SPECS
from raftredis.server.state import ServerState

NOPERM_KEY = Error("NOPERM No permissions to access a key")
NOPERM_CHANNEL = Error("NOPERM No permissions to access a channel")


def denied(srv: ServerState, client: ClientState, spec: CommandSpec,
           args: list[bytes]) -> Error | None:
    """None if the connection's user may run `args`, else the NOPERM reply (logged)."""
    user = client.user
    if user is None:
        return None
    spec, denial = check_line(user, spec, args)
    if denial is None:
        return None
    log_denial(srv, client, user, spec, denial)
    if denial.reason == DENIED_KEY:
        return NOPERM_KEY
    if denial.reason == DENIED_CHANNEL:
        return NOPERM_CHANNEL
    return Error(f"NOPERM User {_name(user)} has no permissions to run the "
                 f"'{spec.name}' command")


def check_line(user: User, spec: CommandSpec,
               args: list[bytes]) -> tuple[CommandSpec, Denial | None]:
    """The check of one command line: (the spec refused, why) or (spec, None). SESSION.EXEC
    (ours: exactly-once retries) is checked as itself and as the command it wraps, so a
    session is no way around a user's rules."""
    denial = check(user, spec, args, key_access)
    if denial is None and spec.name == "session.exec":
        inner = wrapped_spec(args)
        if inner is not None and inner.check_arity(len(args) - WRAP_OFFSET):
            return inner, check(user, inner, args[WRAP_OFFSET:], key_access)
    return spec, denial


# spec name -> the one access all its keys need when its keys are simply
# spec.keys(args) (one key spec: an index and a range, fixed flags), else -1
_UNIFORM: dict[str, int] = {}


def key_access(spec: CommandSpec, args: list[bytes]) -> list[tuple[bytes, int]]:
    """The keys of a command line, each with the access it needs; from the key specs as
    COMMAND GETKEYSANDFLAGS finds them, with a shortcut for the common shape (GET, SET,
    HSET...) that skips re-reading the specs on every command."""
    access = _UNIFORM.get(spec.name)
    if access is None:
        access = _UNIFORM[spec.name] = _uniform_access(spec)
    if access >= 0:
        return [(k, access) for k in spec.keys(args)]
    return [(k, access_of(f)) for k, f in keys_and_flags(spec, args)]


def _uniform_access(spec: CommandSpec) -> int:
    specs = KEY_SPECS.get(spec.name)
    if spec.key_fn is not None:
        return -1
    if not specs:
        return 0 if spec.first_key <= 0 else -1
    if len(specs) != 1:
        return -1
    flags, begin, find = specs[0]
    if begin[0] != "index" or begin[1] != spec.first_key or find[0] != "range" \
            or "variable_flags" in flags or find[3] != 0 or find[2] != (spec.step or 1):
        return -1
    last = spec.first_key + find[1] if find[1] >= 0 else find[1]
    if last != spec.last_key:
        return -1
    return access_of(flags)


_AT_EXEC = {DENIED_CMD: "no permission to execute the command or subcommand",
            DENIED_KEY: "no permission to touch the specified keys",
            DENIED_CHANNEL: "no permission to access one of the channels used as arguments"}


def denied_at_exec(srv: ServerState, client: ClientState, spec: CommandSpec,
                   args: list[bytes]) -> Error | None:
    """EXEC checks each queued command again (the user's rules may have changed since it
    was queued); a refused one answers this error in its place and the rest run."""
    user = client.user
    if user is None:
        return None
    spec, denial = check_line(user, spec, args)
    if denial is None:
        return None
    obj = spec.name.encode() if denial.reason == DENIED_CMD else denial.obj
    note(srv, client, REASONS[denial.reason], obj, user.name, context="multi")
    return Error("NOPERM ACLs rules changed between the moment the transaction was "
                 "accumulated and the EXEC call. This command is no longer allowed for the "
                 "following reason: " + _AT_EXEC[denial.reason])


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
         username: bytes, context: str = "") -> None:
    """One ACL LOG event of this node."""
    denied = srv.stats.acl_denied
    denied[reason] = denied.get(reason, 0) + 1
    now = time.monotonic()
    conn = srv.clients.get(client.id)
    info = client.info_line(now) if conn is None else \
        client.info_line(now, conn.query_buffered(), conn.pending_replies())
    context = context or ("multi" if client.multi is not None else "toplevel")
    srv.acl_log.add(reason, context, obj,
                    username, info.encode(), time.time_ns() // 1_000_000,
                    int(srv.settings["acllog-max-len"]))  # type: ignore[call-overload]


def _name(user: User) -> str:
    return user.name.decode("utf-8", "replace")
