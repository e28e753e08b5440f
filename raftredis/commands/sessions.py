"""SESSION.OPEN / SESSION.EXEC / SESSION.CLOSE: client sessions for exactly-once retries.

Wire form (any Redis client can send it):

    SESSION.OPEN [timeout-ms]               -> integer session id
    SESSION.EXEC <id> <seq> <command> ...   -> the wrapped command's reply, applied once per seq
    SESSION.CLOSE <id>                      -> 1 if the session existed, else 0

All three are WRITE commands: they go through the Raft log and the state machine keeps
the session table (raftredis.statemachine.sessions). SESSION.EXEC's keys are the wrapped
command's keys shifted by 3, so followers answer MOVED by the wrapped key and cluster
clients (COMMAND GETKEYS, movablekeys) route it like the wrapped command.
"""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, Route, lookup, register

WRAP_OFFSET = 3  # SESSION.EXEC id seq <command ...>


def wrapped_spec(args: list[bytes]) -> CommandSpec | None:
    """The spec of the command SESSION.EXEC wraps (subcommand resolved), or None."""
    if len(args) <= WRAP_OFFSET:
        return None
    inner = args[WRAP_OFFSET:]
    spec = lookup(inner[0])
    if spec is None:
        return None
    if spec.subcommands and len(inner) >= 2:
        try:
            sub = inner[1].decode("ascii").lower()
        except UnicodeDecodeError:
            return None
        for s in spec.subcommands:
            if s.name.split("|", 1)[1] == sub:
                return s
        return None
    return spec


def runs_script(spec: CommandSpec, args: list[bytes]) -> bool:
    """EVAL, FCALL & co., also wrapped in SESSION.EXEC (an ACL-limited user's scripts
    run as that user)."""
    if spec.name == "session.exec":
        inner = wrapped_spec(args)
        return inner is not None and inner.group == "scripting"
    return spec.group == "scripting"


def _exec_keys(args: list[bytes]) -> list[int]:
    spec = wrapped_spec(args)
    if spec is None or not spec.check_arity(len(args) - WRAP_OFFSET):
        return []
    # Guard against a spec whose key_fn misbehaves on odd input: no keys, not a crash.
    try:
        positions = spec.key_positions(args[WRAP_OFFSET:])
    except (IndexError, ValueError):
        return []
    return [p + WRAP_OFFSET for p in positions]


_ACL = frozenset({"@write", "@slow", "@connection"})

register(
    CommandSpec(
        name="session.open", arity=-1, flags=frozenset({"write", "fast"}), route=Route.WRITE,
        acl_categories=_ACL, group="sessions", since="0.1.0",
        summary="Opens a client session for exactly-once retries; returns its id.",
    ),
    CommandSpec(
        name="session.exec", arity=-4, flags=frozenset({"write", "denyoom"}), route=Route.WRITE,
        acl_categories=_ACL, group="sessions", since="0.1.0", key_fn=_exec_keys,
        summary="Runs a command within a session; a repeated sequence number gets the saved reply.",
    ),
    CommandSpec(
        name="session.close", arity=2, flags=frozenset({"write", "fast"}), route=Route.WRITE,
        acl_categories=_ACL, group="sessions", since="0.1.0",
        summary="Closes a client session and forgets its saved replies.",
    ),
)
