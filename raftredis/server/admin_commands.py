"""Handlers of the server commands: CONFIG, LATENCY, INFO, TIME, COMMAND, SLOWLOG, ROLE,
WAIT/WAITAOF, SAVE/BGSAVE/LASTSAVE/SHUTDOWN, LOLWUT, CLIENT PAUSE/UNPAUSE/UNBLOCK."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import os
import signal
import time

from raftredis.commands import COMMANDS
from raftredis.reply import (
    NOT_INTEGER,
    OK,
    SYNTAX_ERR,
    Error,
    Map,
    Set,
    Status,
    Verbatim,
    wrong_arity,
)
from raftredis.server import replication
from raftredis.server.client import ClientState
from raftredis.server.command_docs import all_names, command_doc, command_entry, find
from raftredis.server.dispatch import NO_REPLY, resolve
from raftredis.server.info import render_info
from raftredis.server.keyspecs import has_key_specs, keys_and_flags
from raftredis.server.registry import handler, help_lines
from raftredis.server.settings import ConfigError, parse_ll
from raftredis.server.state import REDIS_VERSION, ServerState, Stats

log = logging.getLogger(__name__)


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
        cat = "@" + value  # (Redis's category names, without the @)
        return [s.name.encode() for s in specs if cat in s.acl_categories]
    if kind == b"pattern":
        return [s.name.encode() for s in specs if fnmatch.fnmatchcase(s.name, value)]
    return SYNTAX_ERR


@handler("command|getkeys", "command|getkeysandflags")
def command_getkeys(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    target = args[2:]
    spec = resolve(target)
    if isinstance(spec, Error):
        if spec.startswith("ERR wrong number"):
            return Error("ERR Invalid number of arguments specified for command")
        return Error("ERR Invalid command specified")
    if not has_key_specs(spec):
        return Error("ERR The command has no key arguments")
    if args[1].lower() == b"getkeysandflags":
        found = keys_and_flags(spec, target)
        return [[key, Set([Status(f) for f in flags])] for key, flags in found]
    return spec.keys(target)


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


def _sub_args(container: str, args: list[bytes]) -> Error:
    """Redis's answer to a subcommand given too many arguments (named as typed)."""
    sub = args[1].decode("utf-8", "replace")
    return Error(f"ERR unknown subcommand or wrong number of arguments for '{sub}'. "
                 f"Try {container} HELP.")


# ------------------------------------------------------------------ SLOWLOG
@handler("slowlog|get")
def slowlog_get(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if len(args) > 3:
        return _sub_args("SLOWLOG", args)
    count = 10
    if len(args) == 3:
        try:
            count = parse_ll(args[2].decode("utf-8", "replace"))
        except ConfigError:
            count = -2
        if count < -1:
            return Error("ERR count should be greater than or equal to -1")
    return srv.slowlog.get(count)


@handler("slowlog|len")
def slowlog_len(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return len(srv.slowlog)


@handler("slowlog|reset")
def slowlog_reset(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    srv.slowlog.reset()
    return OK


@handler("slowlog|help")
def slowlog_help(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return [Status(x) for x in (
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN", "    Return the length of the slowlog.",
        "RESET", "    Reset the slowlog.",
        "HELP", "    Prints this help.")]


# ------------------------------------------------------------------ ROLE, WAIT, WAITAOF
def _group(srv: ServerState):
    """The Raft group behind this server, or None (LocalBackend: a lone master)."""
    backend = srv.backend
    return backend if hasattr(backend, "raft_status") else None


@handler("role")
def role(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    group = _group(srv)
    return [b"master", 0, []] if group is None else replication.role(group)


def _timeout_ms(raw: bytes) -> int | Error:
    try:
        t = parse_ll(raw.decode("utf-8", "replace"))
    except ConfigError:
        return Error("ERR timeout is not an integer or out of range")
    return Error("ERR timeout is negative") if t < 0 else t


def _long(raw: bytes) -> int | None:
    try:
        return parse_ll(raw.decode("utf-8", "replace"))
    except ConfigError:
        return None


@handler("wait")
def wait(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    numreplicas = _long(args[1])
    if numreplicas is None:
        return NOT_INTEGER
    timeout = _timeout_ms(args[2])
    if isinstance(timeout, Error):
        return timeout
    group = _group(srv)
    if group is None:
        return 0
    loop = asyncio.get_running_loop()
    return loop.create_task(replication.wait(group, client, numreplicas, timeout, loop))


@handler("waitaof")
def waitaof(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    """[local, replicas]: local is 1 when this leader's log is fsynced before a write is
    acknowledged (appendfsync always); replicas as WAIT counts them."""
    timeout = _timeout_ms(args[3])
    if isinstance(timeout, Error):
        return timeout
    numlocal, numreplicas = _long(args[1]), _long(args[2])
    if numlocal is None or numreplicas is None:
        return NOT_INTEGER
    if numlocal < 0 or numreplicas < 0:
        return Error("ERR value is out of range, must be positive")
    group = _group(srv)
    if group is None:
        return [0, 0]
    if not group.is_leader:
        return Error("ERR WAITAOF cannot be used with replica instances. Please also note "
                     "that writes to replicas are just local and are not propagated.")
    local = 1 if getattr(group.config, "fsync", "") == "always" else 0
    loop = asyncio.get_running_loop()

    async def run() -> object:
        # A local fsync that is not promised never comes: wait only for the replicas,
        # and no longer than the timeout when the local count cannot be met.
        t = timeout if numlocal <= local or timeout else 1
        n = await replication.wait(group, client, numreplicas, t, loop)
        return n if isinstance(n, Error) else [local, n]

    return loop.create_task(run())


# ------------------------------------------------------------------ SAVE, BGSAVE, LASTSAVE
_BG: set[asyncio.Task] = set()  # background saves in flight (kept referenced)
BGSAVE_BUSY = Error("ERR Background save already in progress")


def _snapshots(srv: ServerState):
    return getattr(srv.backend, "snapshots", None)


def _spawn(coro) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(coro)
    _BG.add(task)
    task.add_done_callback(_BG.discard)
    return task


async def _save(snapshots) -> object:
    try:
        await snapshots.take_requested()
    except Exception as exc:  # the log is kept; say what failed
        log.exception("SAVE failed")
        return Error(f"ERR snapshot failed: {exc}")
    return OK


@handler("save")
def save(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    snapshots = _snapshots(srv)
    if snapshots is None:
        return OK  # nothing on disk to bring up to date
    if snapshots.running:
        return BGSAVE_BUSY
    return _spawn(_save(snapshots))


@handler("bgsave")
def bgsave(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    schedule = len(args) == 2 and args[1].lower() == b"schedule"
    if len(args) > 2 or (len(args) == 2 and not schedule):
        return SYNTAX_ERR
    snapshots = _snapshots(srv)
    if snapshots is None:
        return Status("Background saving started")
    if snapshots.running:
        if not schedule:
            return BGSAVE_BUSY

        async def after() -> None:
            while snapshots.running:
                await asyncio.sleep(0.05)
            await _save(snapshots)

        _spawn(after())
        return Status("Background saving scheduled")
    _spawn(_save(snapshots))
    return Status("Background saving started")


@handler("lastsave")
def lastsave(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    """When this node last wrote a snapshot (any, not only by SAVE): its file's time."""
    group = _group(srv)
    newest = srv.started_wall
    if group is not None:
        with contextlib.suppress(OSError):
            for name in os.listdir(group.config.data_dir):
                if name.startswith("snap-") and name.endswith(".snap"):
                    mtime = os.stat(os.path.join(group.config.data_dir, name)).st_mtime
                    newest = max(newest, mtime)
    return int(newest)


@handler("shutdown")
def shutdown(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    flags = {a.lower() for a in args[1:]}
    if len(flags) != len(args) - 1 or not flags <= {b"nosave", b"save", b"now", b"force",
                                                    b"abort"} \
            or {b"save", b"nosave"} <= flags or (b"abort" in flags and len(flags) > 1):
        return SYNTAX_ERR
    if b"abort" in flags:
        return Error("ERR No shutdown in progress.")
    snapshots = _snapshots(srv)
    if snapshots is None:
        return Error("ERR Errors trying to SHUTDOWN. Check logs.")

    async def stop() -> object:
        if b"save" in flags:
            saved = await _save(snapshots)
            if saved is not OK and b"force" not in flags:
                return Error("ERR Errors trying to SHUTDOWN. Check logs.")
        # The node's own graceful stop (the log is durable already; SAVE only shortens
        # the next start's replay). The client sees the connection close, as in Redis.
        log.warning("SHUTDOWN requested by client %s", client.addr)
        os.kill(os.getpid(), signal.SIGTERM)
        client.close_after_reply = True
        return NO_REPLY

    return _spawn(stop())


# ------------------------------------------------------------------ LOLWUT
@handler("lolwut")
def lolwut(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    """Redis draws art for versions 5 and 6; here only the version line, the part every
    version shares."""
    if len(args) >= 3 and args[1].lower() == b"version" and _long(args[2]) is None:
        return NOT_INTEGER
    return Verbatim(f"Redis ver. {REDIS_VERSION}\n")


# ------------------------------------------------------------------ CLIENT PAUSE & co.
@handler("client|pause")
def client_pause(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    timeout = _timeout_ms(args[2])
    if isinstance(timeout, Error):
        return timeout
    if len(args) > 4:
        return _sub_args("CLIENT", args)
    mode = "all"
    if len(args) == 4:
        mode = args[3].decode("utf-8", "replace").lower()
    if mode not in ("all", "write"):
        return Error("ERR CLIENT PAUSE mode must be WRITE or ALL")
    srv.pause.pause(timeout / 1000, mode, asyncio.get_running_loop())
    return OK


@handler("client|unpause")
def client_unpause(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    srv.pause.unpause()
    return OK


@handler("client|unblock")
def client_unblock(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if len(args) > 4:
        return _sub_args("CLIENT", args)
    cid = _long(args[2])
    if cid is None:
        return NOT_INTEGER
    error = False
    if len(args) == 4:
        reason = args[3].lower()
        if reason not in (b"timeout", b"error"):
            return Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        error = reason == b"error"
    conn = srv.clients.get(cid)
    tracker = getattr(srv.backend, "tracker", None)  # the group's KeyTracker
    if conn is None or tracker is None or not conn.client.blocked:
        return 0
    return 1 if tracker.unblock(conn.client, error) else 0
