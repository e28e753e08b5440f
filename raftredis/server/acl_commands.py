"""Handlers of ACL <subcommand>. SETUSER and DELUSER are checked here (so a refused
rule answers at once, with Redis's text) and then go through the backend's log
(`acl_change`), passwords hashed first; every node applies them to its user table.
The rest read the table or this node's ACL LOG."""

from __future__ import annotations

import os
import time

from raftredis.acl.catalog import CATEGORIES, catalog
from raftredis.acl.table import hashed_rules
from raftredis.acl.user import User
from raftredis.commands.spec import CommandSpec
from raftredis.reply import OK, Error, Map, Set
from raftredis.server.acl_guard import check_line, dryrun_text
from raftredis.server.client import ClientState
from raftredis.server.dispatch import resolve
from raftredis.server.registry import handler, help_lines
from raftredis.server.state import ServerState

NOT_INTEGER = Error("ERR value is not an integer or out of range")
GENPASS_MAX_BITS = 4096
NO_ACL_FILE = Error(
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify "
    "users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a "
    "Redis configuration file set) in order to store users in the Redis configuration.")


def _change(srv: ServerState, client: ClientState, op: list[bytes]) -> object:
    """Through the log when the backend has one; else straight into the table."""
    hook = getattr(srv.backend, "acl_change", None)
    if hook is not None:
        return hook(client, op)
    return srv.acl.apply_op(op)


@handler("acl|setuser")
def acl_setuser(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    _, merged = srv.acl.check_setuser(args[2], args[3:])  # CommandError: Redis's text
    return _change(srv, client, [b"setuser", args[2], *hashed_rules(merged)])


@handler("acl|deluser")
def acl_deluser(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    srv.acl.check_deluser(args[2:])
    return _change(srv, client, [b"deluser", *args[2:]])


def _selector_fields(sel) -> dict[bytes, object]:
    return {b"commands": sel.describe_commands(), b"keys": sel.describe_keys(),
            b"channels": sel.describe_channels()}


@handler("acl|getuser")
def acl_getuser(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    user = srv.acl.get(args[2])
    if user is None:
        return None
    fields: dict[bytes, object] = {b"flags": Set(user.flags()),
                                   b"passwords": [p.encode() for p in user.passwords]}
    fields.update(_selector_fields(user.root))
    fields[b"selectors"] = [Map(_selector_fields(s)) for s in user.selectors[1:]]
    return Map(fields)


@handler("acl|list")
def acl_list(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return [b"user " + name + b" " + srv.acl.users[name].describe() for name in srv.acl.names()]


@handler("acl|users")
def acl_users(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return srv.acl.names()


@handler("acl|whoami")
def acl_whoami(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return client.username().encode()


@handler("acl|cat")
def acl_cat(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if len(args) == 2:
        return [c.encode() for c in CATEGORIES]
    if len(args) > 3:
        return Error("ERR unknown subcommand or wrong number of arguments for 'cat'. "
                     "Try ACL HELP.")
    cat = args[2].decode("utf-8", "replace").lower()
    names = catalog().listed.get(cat)
    if names is None:
        return Error(f"ERR Unknown category '{args[2].decode('utf-8', 'replace')[:128]}'")
    return [n.encode() for n in names]


@handler("acl|genpass")
def acl_genpass(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    bits = 256
    if len(args) == 3:
        try:
            bits = int(args[2])
        except ValueError:
            return NOT_INTEGER
    elif len(args) > 3:
        return Error("ERR unknown subcommand or wrong number of arguments for 'genpass'. "
                     "Try ACL HELP.")
    if bits <= 0 or bits > GENPASS_MAX_BITS:
        return Error("ERR ACL GENPASS argument must be the number of bits for the output "
                     f"password, a positive number up to {GENPASS_MAX_BITS}")
    chars = (bits + 3) // 4
    return os.urandom((chars + 1) // 2).hex()[:chars].encode()


@handler("acl|log")
def acl_log(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    count = 10
    if len(args) == 3:
        if args[2].lower() == b"reset":
            srv.acl_log.reset()
            return OK
        try:
            count = int(args[2])
        except ValueError:
            return NOT_INTEGER
    elif len(args) > 3:
        return Error("ERR unknown subcommand or wrong number of arguments for 'log'. "
                     "Try ACL HELP.")
    return srv.acl_log.show(count, time.time_ns() // 1_000_000)


@handler("acl|dryrun")
def acl_dryrun(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    user = srv.acl.get(args[2])
    if user is None:
        return Error(f"ERR User '{args[2].decode('utf-8', 'replace')}' not found")
    line = args[3:]
    spec = resolve(line)
    if not isinstance(spec, CommandSpec):
        if spec.startswith("ERR wrong number"):
            return spec
        return Error(f"ERR Command '{line[0].decode('utf-8', 'replace')}' not found")
    return dryrun(user, spec, line)


def dryrun(user: User, spec: CommandSpec, line: list[bytes]) -> object:
    spec, denial = check_line(user, spec, line)
    return OK if denial is None else dryrun_text(user, spec, denial)


@handler("acl|load", "acl|save")
def acl_file(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return NO_ACL_FILE


@handler("acl|help")
def acl_help(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return help_lines("ACL", [
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the "
        "command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
    ])
