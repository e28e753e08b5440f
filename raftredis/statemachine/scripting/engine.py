"""One Lua 5.1 state (lupa.lua51) that runs scripts and functions for one StateMachine.

Determinism: every replica applies the same EVAL from the log, so the same script runs
with the same KEYS/ARGV, the entry's time and seed (math.random draws from the entry's
generator), and the same budget. The budget counts steps: every Lua VM instruction is
one step (a count hook fires every HOOK_STEP of them) and every redis.call/pcall costs
CALL_COST steps, because its work happens in Python where the hook cannot see it. A
script that reaches BUDGET steps is stopped at that very step on every replica; from
then on the hook fails every instruction, so `pcall` cannot swallow the stop. Writes it
made before that point stay applied (Redis does not roll back scripts either), and the
reply says so.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from typing import Any

from raftredis.reply import (
    NULL_ARRAY,
    BigNumber,
    Double,
    Error,
    Map,
    Pairs,
    Push,
    Set,
    Status,
    Verbatim,
)
from raftredis.resp.encoder import format_double
from raftredis.statemachine.registry import Ctx
from raftredis.statemachine.scripting import libs
from raftredis.statemachine.scripting.prelude import CHUNK, LUA

log = logging.getLogger(__name__)

# Steps per script run, the same on every replica: about 0.3 s of pure Lua here, or 10k
# redis.calls (a call costs ~50-70 us of Python, ~15k Lua instructions' worth).
BUDGET = 100_000_000
HOOK_STEP = 10_000  # instructions between two budget checks
CALL_COST = 10_000  # steps charged per redis.call (its work is Python's, not Lua's)
# A safety valve against one-instruction giants (string.rep, s .. s), far above what
# the step budget lets tables reach. Unlike the budget it is not deterministic (the heap
# holds garbage that differs between replicas): see docs/scripting.md.
MAX_MEMORY = 1 << 30
MAX_REPLY_DEPTH = 200  # nesting of a returned table (a cycle must not recurse forever)
REDIS_VERSION = "7.0.15"
REDIS_VERSION_NUM = 0x07000F
INT64_MIN = -(1 << 63)

KILLED = Error(f"ERR Script killed: it used up its deterministic budget of {BUDGET} steps "
               f"(one per Lua instruction, {CALL_COST} per redis.call), at the same point on "
               "every replica; writes it made before that point stay applied")

# runner(args, read_only) -> reply: a data command run from inside a script.
Runner = Callable[[list[bytes], bool], object]

_LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.INFO, 3: logging.WARNING}


class ScriptFailed(Exception):
    """A compile or load error, as the reply Redis gives for it."""

    def __init__(self, reply: Error) -> None:
        super().__init__(str(reply))
        self.reply = reply


class LuaEngine:
    def __init__(self, runner: Runner) -> None:
        import lupa.lua51 as lua  # Redis runs Lua 5.1; lupa's wheels bundle it

        self._lua = lua
        self.runner = runner
        rt = lua.LuaRuntime(unpack_returned_tuples=True, register_eval=False,
                            register_builtins=False, encoding=None, max_memory=MAX_MEMORY)
        self.rt = rt
        null = rt.eval("newproxy(false)")
        values = libs.LuaValues(rt, null)
        self._values = values
        cjson = libs.cjson_functions(values)
        cjson[b"null"] = null
        lib_tables = rt.table_from({
            b"bit": rt.table_from(libs.bit_functions()),
            b"cjson": rt.table_from(cjson),
            b"cmsgpack": rt.table_from(libs.cmsgpack_functions(values)),
            b"struct": rt.table_from(libs.struct_functions()),
        })
        callbacks = rt.table_from({
            b"call": self._call_raise, b"pcall": self._call, b"classify": _classify, b"log": self._log, b"sha1hex": _sha1hex,
            b"setresp": self._setresp, b"random": self._random, b"randomseed": self._seed,
            b"tick": self._tick, b"hook_step": HOOK_STEP, b"libs": lib_tables, b"null": null,
            b"version": REDIS_VERSION.encode(), b"version_num": REDIS_VERSION_NUM,
        })
        ok, prelude = rt.eval("function(s, n) local f, e = loadstring(s, n) "
                              "if f then return true, f end return false, e end")(
                                  LUA.encode(), CHUNK.encode())
        if not ok:
            raise RuntimeError(f"scripting prelude does not compile: {prelude!r}")
        self.R = prelude(callbacks)
        self._rawget = self.R.rawget
        self._type = self.R.type
        # State of the run in progress.
        self.ctx: Ctx | None = None
        self.read_only = False
        self.resp = 2
        self.used = 0
        self.killed = False

    # ---- callbacks from Lua ---------------------------------------------------------
    def _tick(self) -> bool:
        self.used += HOOK_STEP
        if self.used >= BUDGET:
            self.killed = True
        return self.killed

    def _call_raise(self, *args: Any) -> Any:
        """redis.call: an error reply becomes a Lua error carrying it."""
        reply = self._run_call(args)
        if type(reply) is Error:
            raise CallError(str(reply))
        return self.to_lua(reply, 0)

    def _call(self, *args: Any) -> Any:
        """redis.pcall: an error reply becomes an {err=...} table."""
        reply = self._run_call(args)
        if type(reply) is Error:
            return self._err_table(str(reply))
        return self.to_lua(reply, 0)

    def _run_call(self, args: tuple) -> object:
        if self.killed:
            return _KILLED_CALL
        self.used += CALL_COST
        if self.used >= BUDGET:
            self.killed = True
            return _KILLED_CALL
        if not args:
            return Error("ERR Please specify at least one argument for this redis lib call")
        argv: list[bytes] = []
        for a in args:
            if type(a) is bytes:
                argv.append(a)
            elif type(a) is int:
                argv.append(b"%d" % a)
            elif type(a) is float:
                argv.append(b"%.17g" % a)
            else:
                return Error("ERR Lua redis lib command arguments must be strings or integers")
        return self.runner(argv, self.read_only)

    def _err_table(self, text: str) -> Any:
        return self.rt.table_from({b"err": text.encode("utf-8", "surrogateescape")})

    def _log(self, level: int, message: bytes) -> None:
        log.log(_LOG_LEVELS.get(int(level), logging.WARNING), "script: %s",
                message.decode("utf-8", "replace"))

    def _setresp(self, *args: Any) -> None:
        if len(args) != 1:
            raise CallError("ERR redis.setresp() requires one argument.")
        if args[0] not in (2, 3):
            raise CallError("ERR RESP version must be 2 or 3.")
        self.resp = int(args[0])

    def _random(self) -> float:
        assert self.ctx is not None
        return self.ctx.rng().random()

    def _seed(self, s: Any) -> None:
        assert self.ctx is not None
        try:
            self.ctx._rng = random.Random(int(s))
        except (TypeError, ValueError):
            self.ctx._rng = random.Random(0)

    # ---- reply -> Lua ----------------------------------------------------------------
    def to_lua(self, v: object, depth: int) -> Any:
        t = type(v)
        if t is bytes or t is int:
            return v
        if v is None or v is NULL_ARRAY:
            return None if self.resp == 3 else False
        if t is Status:
            return self.rt.table_from({b"ok": str(v).encode("utf-8", "surrogateescape")})
        if t is Error:
            return self._err_table(str(v))
        if isinstance(v, bool):
            return v if self.resp == 3 else int(v)
        if isinstance(v, BigNumber):
            s = str(int(v)).encode()
            return self.rt.table_from({b"big_number": s}) if self.resp == 3 else s
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            if self.resp == 3:
                return self.rt.table_from({b"double": float(v)})
            return format_double(float(v)).encode()
        if isinstance(v, Verbatim):
            s = str(v).encode("utf-8", "replace")
            if self.resp == 3:
                return self.rt.table_from({b"verbatim_string": self.rt.table_from(
                    {b"format": b"txt", b"string": s})})
            return s
        if isinstance(v, str):
            return v.encode("utf-8", "surrogateescape")
        if isinstance(v, Map):
            if self.resp == 3:
                inner = self.rt.table()
                for k, x in v.items():
                    inner[self.to_lua(k, depth + 1)] = self.to_lua(x, depth + 1)
                return self.rt.table_from({b"map": inner})
            flat: list[Any] = []
            for k, x in v.items():
                flat += (self.to_lua(k, depth + 1), self.to_lua(x, depth + 1))
            return self.rt.table_from(flat)
        if isinstance(v, Set) and self.resp == 3:
            inner = self.rt.table()
            for x in v:
                inner[self.to_lua(x, depth + 1)] = True
            return self.rt.table_from({b"set": inner})
        if isinstance(v, Pairs) and self.resp == 3:
            return self.rt.table_from([self.rt.table_from([self.to_lua(v[i], depth + 1),
                                                           self.to_lua(v[i + 1], depth + 1)])
                                       for i in range(0, len(v) - 1, 2)])
        if isinstance(v, (list, tuple, Push)):
            return self.rt.table_from([self.to_lua(x, depth + 1) for x in v])
        if isinstance(v, dict):
            return self.to_lua(Map(v), depth)
        return None

    # ---- Lua -> reply ----------------------------------------------------------------
    def to_reply(self, v: Any, depth: int = 0) -> object:
        t = type(v)
        if t is bytes:
            return v
        if t is int:
            return v
        if t is float:
            if v != v or not -9.223372036854775808e18 <= v < 9.223372036854775808e18:
                return INT64_MIN  # what C's cast gives on x86, as Redis replies
            return int(v)
        if t is bool:
            if self.resp == 3:
                return v
            return 1 if v else None
        if v is None:
            return None
        if self._type(v) != b"table":
            return None
        if depth >= MAX_REPLY_DEPTH:
            raise _TooDeep
        get = self._rawget
        err = get(v, b"err")
        if type(err) is bytes:
            return Error(err.decode("utf-8", "surrogateescape"))
        ok = get(v, b"ok")
        if type(ok) is bytes:
            return Status(ok.decode("utf-8", "surrogateescape").strip("\r\n"))
        dbl = get(v, b"double")
        if type(dbl) in (int, float):
            return Double(float(dbl))
        big = get(v, b"big_number")
        if type(big) is bytes:
            try:
                return BigNumber(int(big))
            except ValueError:
                return big
        m = get(v, b"map")
        if m is not None and self._type(m) == b"table":
            return Map((self._key(k, depth), self.to_reply(x, depth + 1)) for k, x in m.items())
        s = get(v, b"set")
        if s is not None and self._type(s) == b"table":
            return Set(self._key(k, depth) for k, _ in s.items())
        vs = get(v, b"verbatim_string")
        if vs is not None and self._type(vs) == b"table":
            text = get(vs, b"string")
            if type(text) is bytes:
                return Verbatim(text.decode("utf-8", "surrogateescape"))
        out = []
        i = 1
        while True:
            x = get(v, i)
            if x is None:
                return out
            out.append(self.to_reply(x, depth + 1))
            i += 1

    def _key(self, k: Any, depth: int) -> object:
        r = self.to_reply(k, depth + 1)
        return r if type(r) is not list else tuple(r)

    # ---- running ---------------------------------------------------------------------
    def compile(self, body: bytes, chunkname: bytes) -> Any:
        """The compiled chunk, or ScriptFailed with Redis's compile error."""
        ok, fn = self.R.compile(body, chunkname)
        if not ok:
            err = fn
            text = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
            raise ScriptFailed(Error(text))
        return fn

    def _start(self, ctx: Ctx, read_only: bool) -> None:
        self.ctx = ctx
        self.read_only = read_only
        self.resp = 2
        self.used = 0
        self.killed = False

    def run(self, fn: Any, keys: list[bytes], argv: list[bytes], ctx: Ctx, read_only: bool,
            name: str, function: bool = False) -> object:
        self._start(ctx, read_only)
        try:
            runner = self.R.run_function if function else self.R.run
            ok, value = runner(fn, HOOK_STEP, len(keys), *keys, *argv)
        except self._lua.LuaError as e:
            self.R.sethook()  # (a stopped script fails every instruction until this)
            if self.killed:
                return KILLED
            return Error(f"ERR {e}")
        finally:
            self.ctx = None
        if self.killed:
            return KILLED
        if not ok:
            return self._failure(value, name)
        try:
            return self.to_reply(value)
        except _TooDeep:
            return Error("ERR reached lua stack limit")

    def _failure(self, err: Any, name: str) -> Error:
        if self._type(err) != b"table":
            return Error("ERR " + _text(err))
        msg = _text(self._rawget(err, b"err"))
        source, line = self._rawget(err, b"source"), self._rawget(err, b"line")
        if source is not None and line is not None:
            msg += f" script: {name}, on {_text(source)}:{int(line)}."
        return Error(msg)

    def load_library(self, fn: Any, ctx: Ctx) -> list[tuple[bytes, Any, list[bytes], bytes | None]]:
        """Run a library's code; the functions it registered, or ScriptFailed."""
        self._start(ctx, True)
        try:
            ok, value = self.R.load_library(fn, HOOK_STEP)
        except self._lua.LuaError as e:
            raise ScriptFailed(KILLED if self.killed else Error(f"ERR {e}")) from None
        finally:
            self.R.sethook()
            self.ctx = None
            self.R.reset()
        if self.killed:
            raise ScriptFailed(KILLED)
        if not ok:
            raise ScriptFailed(Error("ERR Error registering functions: "
                                     + _text(self._rawget(value, b"err"))))
        out = []
        for _, rec in value.items():
            name, cb, flags, desc = rec[1], rec[2], rec[3], rec[4]
            out.append((name, cb, [f for _, f in flags.items()], desc))
        return out


class _TooDeep(Exception):
    pass


class CallError(Exception):
    """redis.call's error: the error reply, raised into Lua."""


_KILLED_CALL = Error("ERR Script killed by the instruction budget")


def _classify(exc: Any) -> tuple[int, bytes]:
    """For the Lua error handler: what an exception raised by a callable means."""
    if isinstance(exc, CallError):
        return (1, str(exc).encode("utf-8", "surrogateescape"))
    if isinstance(exc, libs.LibError):
        return (2, str(exc).encode("utf-8", "surrogateescape"))
    return (0, str(exc).encode("utf-8", "replace"))


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    return str(v)


def _sha1hex(s: Any) -> bytes:
    data = s if isinstance(s, bytes) else str(s).encode()
    return hashlib.sha1(data).hexdigest().encode()


def sha1hex(body: bytes) -> bytes:
    return hashlib.sha1(body).hexdigest().encode()
