"""Lua scripting and functions: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FUNCTION,
FCALL, FCALL_RO (Redis 7.0 semantics; the engine is raftredis.statemachine.scripting).

A script runs inside the state machine when its entry is applied, on every replica:
the invocation is what the log carries, time and randomness come from the entry, and a
deterministic step budget stops runaway scripts at the same point everywhere. EVAL,
EVALSHA, FCALL, SCRIPT LOAD/FLUSH and FUNCTION LOAD/DELETE/FLUSH/RESTORE go through the
log (COMMAND INFO keeps Redis's flags; `replicated` routes them). A script that cannot
write (EVAL_RO, FCALL_RO, `#!lua flags=no-writes`, a no-writes function) is served as a
linearizable read: `cannot_write()` tells the node layer.
"""

from __future__ import annotations

from raftredis.reply import OK, CommandError, Error, Map, Set, Status
from raftredis.statemachine.errors import NOT_READONLY
from raftredis.statemachine.glob import glob_match
from raftredis.statemachine.parse import to_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.scripting import dump as dumpfmt
from raftredis.statemachine.scripting.store import NOSCRIPT, Scripting
from raftredis.statemachine.streamgroups import check_sub

_FAMILY = Family("scripting", "scripting", "2.6.0")
command = _FAMILY.command
_SCRIPT_FLAGS = "noscript stale skip_monitor no_mandatory_keys"


def numkeys_positions(args: list[bytes]) -> list[int]:
    """Key positions of `CMD script|sha|name numkeys key... arg...` (none if malformed)."""
    if len(args) < 3:
        return []
    n = to_int(args[2])
    if n is None or n < 0 or n > len(args) - 3:
        return []
    return list(range(3, 3 + n))


def _split(args: list[bytes], bad_number: str) -> tuple[list[bytes], list[bytes]]:
    n = to_int(args[2])
    if n is None:
        raise CommandError(bad_number)
    if n < 0:
        raise CommandError("ERR Number of keys can't be negative")
    if n > len(args) - 3:
        raise CommandError("ERR Number of keys can't be greater than number of args")
    return args[3:3 + n], args[3 + n:]


def _scripting(ctx: Ctx) -> Scripting:
    return ctx.scripting


@command("eval", -3, _SCRIPT_FLAGS, 0, 0, 0, key_fn=numkeys_positions, replicated=True,
         summary="Executes a server-side Lua script.")
@command("evalsha", -3, _SCRIPT_FLAGS, 0, 0, 0, key_fn=numkeys_positions, replicated=True,
         summary="Executes a server-side Lua script by SHA1 digest.")
@command("eval_ro", -3, "readonly " + _SCRIPT_FLAGS, 0, 0, 0, key_fn=numkeys_positions,
         since="7.0.0", summary="Executes a read-only server-side Lua script.")
@command("evalsha_ro", -3, "readonly " + _SCRIPT_FLAGS, 0, 0, 0, key_fn=numkeys_positions,
         since="7.0.0", summary="Executes a read-only server-side Lua script by SHA1 digest.")
def cmd_eval(ctx: Ctx, args: list[bytes]) -> object:
    name = args[0].lower()
    keys, argv = _split(args, "ERR value is not an integer or out of range")
    sc = _scripting(ctx)
    if name.startswith(b"evalsha"):
        sha = args[1].lower()
        script = sc.lookup(sha)
        if script is None:
            return NOSCRIPT
    else:
        sha, script = sc.prepare(args[1], cache=ctx.write)
    return sc.run_script(ctx, sha, script, keys, argv, name.endswith(b"_ro"))


@command("fcall", -3, _SCRIPT_FLAGS, 0, 0, 0, key_fn=numkeys_positions, replicated=True,
         since="7.0.0", summary="Invokes a function.")
@command("fcall_ro", -3, "readonly " + _SCRIPT_FLAGS, 0, 0, 0, key_fn=numkeys_positions,
         since="7.0.0", summary="Invokes a read-only function.")
def cmd_fcall(ctx: Ctx, args: list[bytes]) -> object:
    keys, argv = _split(args, "ERR Bad number of keys provided")
    return _scripting(ctx).run_function(ctx, args[1], keys, argv,
                                        args[0].lower().endswith(b"_ro"))


# ---- SCRIPT ---------------------------------------------------------------------------
# name, arity, flags, replicated, since, summary
_SCRIPT_SUBS = (
    ("debug", 3, "noscript", False, "3.2.0", "Sets the debug mode of server-side Lua scripts."),
    ("exists", -3, "noscript", False, "2.6.0",
     "Determines whether server-side Lua scripts exist in the script cache."),
    ("flush", -2, "noscript", True, "2.6.0",
     "Removes all server-side Lua scripts from the script cache."),
    ("help", 2, "loading stale", False, "5.0.0", "Returns helpful text about the different subcommands."),
    ("kill", 2, "noscript allow_busy", False, "2.6.0",
     "Terminates a server-side Lua script during execution."),
    ("load", 3, "noscript stale", True, "2.6.0",
     "Loads a server-side Lua script to the script cache."),
)
_SCRIPT_HELP = [
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script (scripts here never outlive their",
    "    deterministic budget, so there is none to kill).",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Print this help.",
]
NOTBUSY = Error("NOTBUSY No scripts in execution right now.")


def _subs(container: str, table: tuple) -> tuple:
    return tuple(_FAMILY.define(f"{container}|{n}", a, f, 0, 0, 0, since=v, summary=t,
                                replicated=rep)
                 for n, a, f, rep, v, t in table)


def _flush_mode(args: list[bytes]) -> None:
    if len(args) > 3 or (len(args) == 3 and args[2].upper() not in (b"ASYNC", b"SYNC")):
        raise CommandError("ERR SCRIPT FLUSH only support SYNC|ASYNC option"
                           if args[0].lower() == b"script" else
                           "ERR FUNCTION FLUSH only supports SYNC|ASYNC option")


@command("script", -2, "", 0, 0, 0, summary="A container for Lua scripts management commands.",
         subcommands=_subs("script", _SCRIPT_SUBS))
def cmd_script(ctx: Ctx, args: list[bytes]) -> object:
    sub = check_sub(args, "script", _SCRIPT_SUBS)
    sc = _scripting(ctx)
    if sub == "help":
        return [Status(line) for line in _SCRIPT_HELP]
    if sub == "exists":
        return [1 if sc.lookup(sha) is not None else 0 for sha in args[2:]]
    if sub == "kill":
        return NOTBUSY
    if sub == "debug":
        return Error("ERR SCRIPT DEBUG is not supported: every replica runs each script "
                     "to completion")
    if not ctx.write:  # LOAD and FLUSH change replicated state: only an applied entry may
        return NOT_READONLY
    if sub == "load":
        sha, _ = sc.prepare(args[2], cache=True)
        return sha
    _flush_mode(args)
    sc.flush_scripts()
    return OK


# ---- FUNCTION -------------------------------------------------------------------------
_FUNCTION_SUBS = (
    ("delete", 3, "write noscript", False, "7.0.0", "Deletes a library and its functions."),
    ("dump", 2, "noscript", False, "7.0.0", "Dumps all libraries into a serialized binary payload."),
    ("flush", -2, "write noscript", False, "7.0.0", "Deletes all libraries and functions."),
    ("help", 2, "loading stale", False, "7.0.0", "Returns helpful text about the different subcommands."),
    ("kill", 2, "noscript allow_busy", False, "7.0.0", "Terminates a function during execution."),
    ("list", -2, "noscript", False, "7.0.0", "Returns information about all libraries."),
    ("load", -3, "write denyoom noscript", False, "7.0.0", "Creates a library."),
    ("restore", -3, "write denyoom noscript", False, "7.0.0",
     "Restores all libraries from a payload."),
    ("stats", 2, "noscript allow_busy", False, "7.0.0",
     "Returns information about a function during execution."),
)
_FUNCTION_HELP = [
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries.",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload.",
    "STATS",
    "    Return information about the current function running.",
    "KILL",
    "    Kill the current running function.",
    "HELP",
    "    Print this help.",
]


@command("function", -2, "", 0, 0, 0, since="7.0.0",
         summary="A container for function commands.",
         subcommands=_subs("function", _FUNCTION_SUBS))
def cmd_function(ctx: Ctx, args: list[bytes]) -> object:
    sub = check_sub(args, "function", _FUNCTION_SUBS)
    sc = _scripting(ctx)
    if sub == "help":
        return [Status(line) for line in _FUNCTION_HELP]
    if sub == "kill":
        return NOTBUSY
    if sub == "list":
        return _function_list(ctx, sc, args)
    if sub == "stats":
        libs = sc.all_libraries(ctx)
        return Map({b"running_script": None, b"engines": Map({b"LUA": Map({
            b"libraries_count": len(libs),
            b"functions_count": sum(len(lib.functions) for lib in libs.values())})})})
    if sub == "dump":
        return dumpfmt.dump([lib.code for lib in sc.all_libraries(ctx).values()])
    if not ctx.write:
        return NOT_READONLY
    if sub == "load":
        replace = False
        if len(args) == 4:
            if args[2].upper() != b"REPLACE":
                raise CommandError(f"ERR Unknown option given: {args[2].decode('utf-8', 'replace')}")
            replace = True
        elif len(args) > 4:
            raise CommandError("ERR Unknown option given: "
                               + args[3].decode("utf-8", "replace"))
        sc.all_libraries(ctx)
        return sc.load_library(ctx, args[-1], replace)
    if sub == "delete":
        sc.all_libraries(ctx)
        if not sc.delete_library(args[2]):
            return Error("ERR Library not found")
        return OK
    if sub == "flush":
        _flush_mode(args)
        sc.flush_functions()
        return OK
    return _function_restore(ctx, sc, args)


def _function_list(ctx: Ctx, sc: Scripting, args: list[bytes]) -> object:
    pattern: bytes | None = None
    with_code = False
    i = 2
    while i < len(args):
        opt = args[i].upper()
        if opt == b"WITHCODE" and not with_code:
            with_code = True
            i += 1
        elif opt == b"LIBRARYNAME" and pattern is None:
            if i + 1 >= len(args):
                raise CommandError("ERR library name argument was not given")
            pattern = args[i + 1]
            i += 2
        else:
            raise CommandError(f"ERR Unknown argument {args[i].decode('utf-8', 'replace')}")
    out = []
    for lib in sc.all_libraries(ctx).values():
        if pattern is not None and not glob_match(pattern, lib.name):
            continue
        functions = [Map({b"name": f.name, b"description": f.description,
                          b"flags": Set([Status(f) for f in f.flags])})
                     for f in lib.functions.values()]
        entry = Map({b"library_name": lib.name, b"engine": b"LUA", b"functions": functions})
        if with_code:
            entry[b"library_code"] = lib.code
        out.append(entry)
    return out


def _function_restore(ctx: Ctx, sc: Scripting, args: list[bytes]) -> object:
    policy = b"APPEND"
    if len(args) == 4:
        policy = args[3].upper()
        if policy not in (b"APPEND", b"REPLACE", b"FLUSH"):
            raise CommandError("ERR Wrong restore policy given, value should be either "
                               "FLUSH, APPEND or REPLACE.")
    elif len(args) > 4:
        raise CommandError("ERR syntax error")
    try:
        codes = dumpfmt.restore(args[2])
    except dumpfmt.PayloadError as e:
        raise CommandError(f"ERR {e}") from None
    sc.all_libraries(ctx)
    libs = [sc.compile_library(ctx, code) for code in codes]
    if policy == b"FLUSH":
        sc.flush_functions()
    sc.install(libs, replace=policy == b"REPLACE")
    return OK


# ---- routing --------------------------------------------------------------------------
def cannot_write(sc: Scripting, args: list[bytes], ctx: Ctx) -> bool:
    """Whether this EVAL/EVALSHA/FCALL refuses every write (a `no-writes` script or
    function): the node may serve it as a ReadIndex read, with no log entry."""
    if len(args) < 2:
        return False
    name = args[0].lower()
    if name == b"eval":
        return sc.script_is_read_only(args[1], None)
    if name == b"evalsha":
        return sc.script_is_read_only(None, args[1])
    if name == b"fcall":
        return sc.function_is_read_only(args[1], ctx)
    return False
