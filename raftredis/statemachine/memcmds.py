"""MEMORY: USAGE per key, STATS and DOCTOR from the deterministic accounting (memory.py).

The figures are the keyspace's estimate, the same on every replica; the process's real
RSS is in INFO memory (used_memory_rss), next to it.
"""

from __future__ import annotations

from raftredis.reply import SYNTAX_ERR, Error, Status, Verbatim
from raftredis.statemachine import memory
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_int
from raftredis.statemachine.registry import CommandDef, Ctx, Family

_FAMILY = Family("server", "", since="4.0.0")

_HELP = [Status(line) for line in (
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
)]

_EMPTY_DOCTOR = (
    "Hi Sam, this instance is empty or is using very little memory, my issues detector "
    "can't be used in these conditions. Please, leave for your mission on Earth and fill "
    "it with some data. The new Sam and I will be back to our programming as soon as I "
    "finished rebooting.\n")
_SUBS = {b"usage": -3, b"stats": 2, b"doctor": 2, b"malloc-stats": 2, b"purge": 2, b"help": 2}


def _memory_keys(args: list[bytes]) -> list[int]:
    return [2] if len(args) >= 3 and args[1].lower() == b"usage" else []


def _sub(name: str, arity: int, flags: str, summary: str) -> CommandDef:
    keyed = name == "usage"
    return _FAMILY.define(f"memory|{name}", arity, flags, *((2, 2, 1) if keyed else (0, 0, 0)),
                          summary=summary)


@_FAMILY.command("memory", -2, "", 0, 0, 0, key_fn=_memory_keys,
                 summary="A container for memory diagnostics commands.", subcommands=(
    _sub("usage", -3, "readonly", "Estimates the memory usage of a key."),
    _sub("stats", 2, "", "Returns details about memory usage."),
    _sub("doctor", 2, "", "Outputs a memory problems report."),
    _sub("malloc-stats", 2, "", "Returns the allocator statistics."),
    _sub("purge", 2, "", "Asks the allocator to release memory."),
    _sub("help", 2, "loading stale", "Returns helpful text about the different subcommands."),
))
def cmd_memory(ctx: Ctx, args: list[bytes]) -> object:
    sub = args[1].lower()
    arity = _SUBS.get(sub)
    if arity is None:
        name = args[1].decode("utf-8", "replace")
        raise fail(Error(f"ERR unknown subcommand '{name[:128]}'. Try MEMORY HELP."))
    if not (len(args) == arity if arity >= 0 else len(args) >= -arity):
        return Error(f"ERR wrong number of arguments for 'memory|{sub.decode()}' command")
    if sub == b"usage":
        return _usage(ctx, args)
    if sub == b"stats":
        return _stats(ctx)
    if sub == b"doctor":
        return _doctor(ctx)
    if sub == b"malloc-stats":
        return b"Stats not supported for the current allocator"
    if sub == b"purge":
        return Status("OK")
    return list(_HELP)


def _usage(ctx: Ctx, args: list[bytes]) -> object:
    samples = None
    i = 3
    while i < len(args):
        if args[i].lower() == b"samples" and i + 1 < len(args):
            samples = parse_int(args[i + 1])
            if samples < 0:
                raise fail(SYNTAX_ERR)
            i += 2
        else:
            raise fail(SYNTAX_ERR)
    db, key = ctx.db, args[2]
    v = db.get(key, ctx.now)
    if v is None:
        return None
    if samples is None:  # the accounting's own figure, what used_memory adds up
        return db.size_of(key)
    return memory.key_size_sampled(key, v, key in db.expires, samples)


def _stats(ctx: Ctx) -> list[object]:
    db = ctx.db
    keys = len(db.data)
    used = db.used
    main = keys * memory.KEY_OVERHEAD
    expires = len(db.expires) * memory.EXPIRY_OVERHEAD
    dataset = max(0, used - main - expires)
    pct = 100.0 * dataset / used if used else 0.0
    return [
        b"peak.allocated", used, b"total.allocated", used, b"startup.allocated", 0,
        b"replication.backlog", 0, b"clients.slaves", 0, b"clients.normal", 0,
        b"cluster.links", 0, b"aof.buffer", 0, b"lua.caches", 0, b"functions.caches", 0,
        b"db.0", [b"overhead.hashtable.main", main, b"overhead.hashtable.expires", expires],
        b"overhead.total", main + expires, b"keys.count", keys,
        b"keys.bytes-per-key", used // keys if keys else 0, b"dataset.bytes", dataset,
        b"dataset.percentage", pct,
    ]


def _doctor(ctx: Ctx) -> Verbatim:
    db = ctx.db
    if db.used < 5 * 1024 * 1024:  # Redis's own threshold for "very little memory"
        return Verbatim(_EMPTY_DOCTOR)
    limit = db.clock.policy.maxmemory
    if limit and db.used > limit:
        return Verbatim("Sam, I detected a few issues in this Redis instance memory implants:"
                        "\n\n * Used memory is above maxmemory: the leader is evicting keys "
                        "(or refusing writes under noeviction).\n\nI'm here to keep you safe, "
                        "Sam. I want to help you.\n")
    return Verbatim("Hi Sam, I can't find any memory issue in your instance. I can only "
                    "account for what occurs on this base.")
