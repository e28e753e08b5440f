"""Handlers of the server commands: CONFIG, LATENCY, INFO, TIME, COMMAND."""

from __future__ import annotations

import fnmatch
import time

from raftredis.commands import COMMANDS
from raftredis.reply import OK, SYNTAX_ERR, Error, Map, Verbatim, wrong_arity
from raftredis.server.client import ClientState
from raftredis.server.command_docs import all_names, command_doc, command_entry, find
from raftredis.server.conn_commands import help_lines
from raftredis.server.dispatch import handler, resolve
from raftredis.server.info import render_info
from raftredis.server.settings import ConfigError
from raftredis.server.state import ServerState, Stats


@handler("config|get")
def config_get(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return Map(srv.settings.config_get(args[2:]))


@handler("config|set")
def config_set(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if len(args) % 2:
        return wrong_arity("config|set")
    pairs = [(args[i], args[i + 1]) for i in range(2, len(args), 2)]
    hook = getattr(srv.backend, "config_set", None)
    if hook is not None:
        # The node replicates cluster-wide settings through the log.
        return hook(client, pairs)
    try:
        srv.settings.config_set(pairs)
    except ConfigError as e:
        return Error(str(e))
    return OK


@handler("config|resetstat")
def config_resetstat(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    srv.stats = Stats()
    return OK


@handler("config|rewrite")
def config_rewrite(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return Error("ERR The server is running without a config file")


@handler("config|help")
def config_help(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return help_lines("CONFIG", [
        "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>", "    Set the configuration <directive> to <value>.",
        "RESETSTAT", "    Reset statistics reported by the INFO command.",
        "REWRITE", "    Rewrite the configuration file.",
    ])


@handler("latency|latest", "latency|history", "latency|reset", "latency|doctor",
         "latency|graph", "latency|histogram", "latency|help")
def latency(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    """Answered by the node that receives it: its own event loop's stalls. A backend
    without the hook (LocalBackend) has no samples, like a Redis with the latency
    monitor off."""
    hook = getattr(srv.backend, "latency", None)
    if hook is not None:
        return hook(args)
    from raftredis.replica.loopwatch import LatencyMonitor, latency_command

    return latency_command(LatencyMonitor(), args)


@handler("info")
def info(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return Verbatim(render_info(srv, args))


@handler("time")
def time_(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    now_us = time.time_ns() // 1000
    return [str(now_us // 1_000_000).encode(), str(now_us % 1_000_000).encode()]


@handler("command")
def command(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return [command_entry(s) for s in COMMANDS.values()]


@handler("command|count")
def command_count(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return len(COMMANDS)


@handler("command|info")
def command_info(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if len(args) == 2:
        return [command_entry(s) for s in COMMANDS.values()]
    out: list[object] = []
    for name in args[2:]:
        spec = find(name)
        out.append(None if spec is None else command_entry(spec))
    return out


@handler("command|docs")
def command_docs(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if len(args) == 2:
        return Map({s.name.encode(): command_doc(s) for s in COMMANDS.values()})
    docs = Map()
    for name in args[2:]:
        spec = find(name)
        if spec is not None:
            docs[spec.name.encode()] = command_doc(spec)
    return docs


@handler("command|list")
def command_list(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    specs = all_names()
    if len(args) == 2:
        return [s.name.encode() for s in specs]
    if len(args) != 5 or args[2].lower() != b"filterby":
        return SYNTAX_ERR
    kind = args[3].lower()
    value = args[4].decode("utf-8", "replace").lower()
    if kind == b"module":
        return []
    if kind == b"aclcat":
        cat = "@" + value.lstrip("@")
        return [s.name.encode() for s in specs if cat in s.acl_categories]
    if kind == b"pattern":
        return [s.name.encode() for s in specs if fnmatch.fnmatchcase(s.name, value)]
    return SYNTAX_ERR


@handler("command|getkeys")
def command_getkeys(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    target = args[2:]
    spec = resolve(target)
    if isinstance(spec, Error):
        if spec.startswith("ERR wrong number"):
            return Error("ERR Invalid number of arguments specified for command")
        return Error("ERR Invalid command specified")
    keys = spec.keys(target)
    if not keys:
        return Error("ERR The command has no key arguments")
    return keys


@handler("command|help")
def command_help(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return help_lines("COMMAND", [
        "(no subcommand)", "    Return details about all Redis commands.",
        "COUNT", "    Return the total number of commands in this Redis server.",
        "LIST", "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]", "    Return details about multiple Redis commands.",
        "DOCS [<command-name> ...]", "    Return documentation details about multiple commands.",
        "GETKEYS <full-command>", "    Return the keys from a full Redis command.",
    ])
