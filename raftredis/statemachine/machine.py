"""The deterministic state machine the Raft log drives.

Same commands with the same (now_ms, seed) in the same order give the same state and
the same replies on every replica: no clock, no global random, no iteration over
salted hashes. Bad input never raises; it becomes an Error reply.
"""

from __future__ import annotations

import importlib
import logging
from typing import BinaryIO

from raftredis.acl.check import DENIED_CMD, DENIED_KEY, check
from raftredis.acl.selector import READ, WRITE
from raftredis.acl.table import UserTable
from raftredis.acl.user import User
from raftredis.commands import COMMANDS, Route
from raftredis.commands.spec import CommandSpec
from raftredis.reply import (
    NULL_ARRAY,
    CommandError,
    Error,
    Status,
    unknown_command,
    wrong_arity,
)
from raftredis.statemachine import snapshot
from raftredis.statemachine.changes import Change, ChangeKind
from raftredis.statemachine.db import Keyspace
from raftredis.statemachine.errors import EXECABORT, NOT_READONLY
from raftredis.statemachine.memory import MemoryPolicy
from raftredis.statemachine.registry import HANDLERS, Ctx, Handler
from raftredis.statemachine.scripting.store import Scripting
from raftredis.statemachine.scripts import cannot_write
from raftredis.statemachine.sessions import SessionTable

log = logging.getLogger(__name__)

# Every data command family (spec and handler, see registry); a missing one is an error.
importlib.import_module("raftredis.statemachine.families")

# Which keys a command's access readings touch, decided once per command (this runs for
# every command on every replica): none, the one key at args[1], or spec.keys(args).
_TOUCH_NONE, _TOUCH_FIRST, _TOUCH_KEYS = 0, 1, 2
# handler, spec, touch on apply, touch on read (a NOTOUCH lookup does not count there)
_Entry = tuple[Handler, CommandSpec, int, int]
_DISPATCH: dict[bytes, _Entry] = {}

# Commands that look a key up without it counting as an access (Redis's LOOKUP_NOTOUCH).
_NO_TOUCH = frozenset({"object", "memory", "type", "exists", "ttl", "pttl", "expiretime",
                       "pexpiretime"})


def _touch_kind(spec: CommandSpec) -> int:
    if spec.first_key == 1 and spec.last_key == 1 and spec.key_fn is None:
        return _TOUCH_FIRST
    return _TOUCH_KEYS if spec.first_key or spec.key_fn is not None else _TOUCH_NONE


def _build_dispatch() -> None:
    """Join handlers with their specs; a handler with no spec is not callable."""
    for name, fn in HANDLERS.items():
        spec = COMMANDS.get(name)
        if spec is not None:
            touch = _touch_kind(spec)
            _DISPATCH[name.encode()] = (fn, spec, touch,
                                        _TOUCH_NONE if spec.name in _NO_TOUCH else touch)


_BY_RAW: dict[bytes, _Entry] = {}  # the name as sent (any case) -> entry; bounded


def _resolve(name: bytes) -> _Entry | None:
    entry = _BY_RAW.get(name)
    if entry is not None:
        return entry
    if not _DISPATCH or len(_DISPATCH) != len(HANDLERS):
        _build_dispatch()
        _BY_RAW.clear()
    entry = _DISPATCH.get(name.lower())
    if entry is not None and len(_BY_RAW) < 4096:
        _BY_RAW[name] = entry
    return entry


def _noted_spec(spec: CommandSpec, args: list[bytes]) -> CommandSpec:
    """The spec a change is noted under: a container's subcommand (XGROUP CREATE is a
    write though XGROUP, the container, is not)."""
    if spec.subcommands and len(args) > 1:
        name = spec.name + "|" + args[1].decode("utf-8", "replace").lower()
        for sub in spec.subcommands:
            if sub.name == name:
                return sub
    return spec


def _unknown(args: list[bytes]) -> Error:
    return unknown_command(args[0].decode("utf-8", "replace"), args[1:])


class StateMachine:
    def __init__(self) -> None:
        self.db = Keyspace()
        self._ctx = Ctx(self.db)
        self._read_seed = 0  # reads are not replicated; any varying seed will do
        self.sessions = SessionTable()  # client sessions for exactly-once retries
        # Script cache, function libraries and their Lua state (EVAL, FCALL, ...).
        self.scripting = Scripting(self._script_call)
        self._ctx.scripting = self.scripting
        # ACL users: changed by ACL SETUSER/DELUSER entries, carried by snapshots.
        self.acl = UserTable()
        # The user a script runs as (apply_as / read_as): its redis.call()s are checked.
        self._acting: User | None = None
        # What applied writes changed, while someone listens (see record_changes).
        self._changes: list[Change] | None = None
        # INFO stats: evictions are replicated (the same on every node); hits and misses
        # count the reads this node served.
        self.evicted_keys = 0
        self.keyspace_hits = 0
        self.keyspace_misses = 0

    @property
    def memory(self) -> MemoryPolicy:
        """maxmemory and its companions (set from CONFIG on every node alike)."""
        return self.db.clock.policy

    @property
    def used_memory(self) -> int:
        return self.db.used

    # ---- changes ------------------------------------------------------------------------
    def record_changes(self, on: bool) -> None:
        """Start (or stop) noting what each applied write changes; take_changes() hands
        the notes over. Off, it costs one attribute test per command."""
        if on and self._changes is None:
            self._changes = []
        elif not on:
            self._changes = None

    def take_changes(self) -> list[Change]:
        out = self._changes
        if not out:
            return []
        self._changes = []
        return out

    def note_expired(self, keys: list[bytes], existed: tuple[bool, ...] = ()) -> None:
        if self._changes is not None and keys:
            data = self.db.data
            exists = tuple(k in data for k in keys) if existed else ()
            self._changes.append(Change(ChangeKind.EXPIRED, tuple(keys), existed=existed,
                                        exists=exists))

    def _live(self, spec: CommandSpec, args: list[bytes], now_ms: int) -> tuple[bool, ...]:
        """Which of the command's keys are live (only while changes are recorded)."""
        if spec.route is not Route.WRITE:
            return ()
        get = self.db.get
        return tuple(get(k, now_ms) is not None for k in spec.keys(args))

    def _note(self, spec: CommandSpec, args: list[bytes], reply: object,
              existed: tuple[bool, ...] = (), now_ms: int = 0) -> None:
        if spec.route is not Route.WRITE or spec.group == "scripting":
            return  # (a script's redis.call writes are noted one by one)
        if (reply is NULL_ARRAY or reply is None) and "blocking" in spec.flags:
            # A blocking pop that found nothing changed nothing: waking the other
            # waiters for it would only make them retry out of their turn.
            return
        changes = self._changes
        assert changes is not None
        if spec.name in ("flushall", "flushdb"):
            changes.append(Change(ChangeKind.FLUSH, (), spec.name))
        else:
            changes.append(Change(ChangeKind.WRITE, tuple(spec.keys(args)), spec.name,
                                  args, reply, existed, self._live(spec, args, now_ms)))

    # ---- commands -----------------------------------------------------------------------
    def apply(self, args: list[bytes], now_ms: int, seed: int = 0) -> object:
        """Apply one data command from a log entry and return its reply."""
        if not args:
            return Error("ERR empty command")
        entry = _BY_RAW.get(args[0]) or _resolve(args[0])
        if entry is None:
            return _unknown(args)
        fn, spec, touch, _ = entry
        a, n = spec.arity, len(args)
        if not ((n == a) if a >= 0 else (n >= -a)):
            return wrong_arity(spec.name)
        if spec.group == "sessions":  # needs the session table, so not a plain handler
            return self.sessions.apply(args, now_ms, lambda inner: self.apply(inner, now_ms, seed))
        # (Ctx.reset inlined: this runs for every command on every replica.)
        ctx = self._ctx
        ctx.now = now_ms
        ctx.seed = seed
        ctx.write = True
        ctx._rng = None
        changes = self._changes
        noted = spec if changes is None else _noted_spec(spec, args)
        existed = self._live(noted, args, now_ms) if changes is not None else ()
        try:
            reply = fn(ctx, args)
        except CommandError as e:
            reply = e.reply()
        except Exception:  # a bug must not take the node down; same on every replica
            log.exception("state machine handler failed for %r", args[0][:64])
            reply = Error("ERR internal error while executing the command")
        # Settle the memory figures of what the command changed; note its keys' access.
        db = self.db
        db.settle()
        if touch == _TOUCH_FIRST:
            if n > 1 and args[1] in db.data:
                db.clock.touch(db.access, args[1], now_ms)
        elif touch == _TOUCH_KEYS:
            for key in spec.keys(args):
                db.touch(key, now_ms)
        if changes is not None:
            self._note(noted, args, reply, existed, now_ms)
        return reply

    def _after_write(self, spec: CommandSpec, args: list[bytes], now_ms: int) -> None:
        """Settle the memory figures of what the command changed; note its keys' access
        (apply inlines this for the common case)."""
        db = self.db
        db.settle()
        touch = _touch_kind(spec)
        if touch == _TOUCH_FIRST:
            if len(args) > 1 and args[1] in db.data:
                db.clock.touch(db.access, args[1], now_ms)
        elif touch == _TOUCH_KEYS:
            for key in spec.keys(args):
                db.touch(key, now_ms)

    def apply_as(self, user: bytes, args: list[bytes], now_ms: int, seed: int = 0) -> object:
        """apply() of a script run by an ACL user: its calls are checked against the
        user's rules at this entry (the same on every replica)."""
        return self._as(user, lambda: self.apply(args, now_ms, seed))

    def apply_multi_as(self, user: bytes, commands: list[list[bytes]], now_ms: int,
                       seed: int = 0) -> object:
        return self._as(user, lambda: self.apply_multi(commands, now_ms, seed))

    def read_as(self, user: bytes, args: list[bytes], now_ms: int) -> object:
        return self._as(user, lambda: self.read(args, now_ms))

    def _as(self, user: bytes, run) -> object:
        found = self.acl.get(user)
        if found is None:  # deleted before the entry applied: it may run nothing
            return Error("ERR ACL failure in script: the user no longer exists")
        self._acting = found
        try:
            return run()
        finally:
            self._acting = None

    def _acl_refusal(self, spec: CommandSpec, args: list[bytes]) -> Error | None:
        """A script's call its user may not make, in Redis 7.2's words. Keys need read
        access, and write access too for a write command (the state machine has no key
        specs; the server's own check uses them)."""
        user = self._acting
        if user is None or user.unrestricted:
            return None
        access = READ | WRITE if spec.route is Route.WRITE else READ
        denial = check(user, spec, args, lambda s, a: [(k, access) for k in s.keys(a)])
        if denial is None:
            return None
        name = user.name.decode("utf-8", "replace")
        if denial.reason == DENIED_CMD:
            why = f"User {name} has no permissions to run the '{spec.name}' command"
        elif denial.reason == DENIED_KEY:
            why = "No permissions to access a key"
        else:
            why = "No permissions to access a channel"
        return Error("ERR ACL failure in script: " + why)

    def read(self, args: list[bytes], now_ms: int) -> object:
        """Serve a read-only command without changing anything (expired keys look missing)."""
        if not args:
            return Error("ERR empty command")
        entry = _BY_RAW.get(args[0]) or _resolve(args[0])
        if entry is None:
            return _unknown(args)
        fn, spec, _, touch = entry
        a, n = spec.arity, len(args)
        if not ((n == a) if a >= 0 else (n >= -a)):
            return wrong_arity(spec.name)
        if spec.route is Route.WRITE and spec.group != "scripting":
            return NOT_READONLY  # (a script served as a read runs read-only)
        self._read_seed += 1
        ctx = self._ctx
        ctx.now = now_ms
        ctx.seed = self._read_seed
        ctx.write = False
        ctx._rng = None
        try:
            reply = fn(ctx, args)
        except CommandError as e:
            return e.reply()
        except Exception:
            log.exception("state machine handler failed for %r", args[0][:64])
            return Error("ERR internal error while executing the command")
        if touch == _TOUCH_FIRST:
            if n > 1:
                self._count_lookup(args[1], now_ms)
        elif touch == _TOUCH_KEYS:
            for key in spec.keys(args):
                self._count_lookup(key, now_ms)
        return reply

    def _count_lookup(self, key: bytes, now_ms: int) -> None:
        """keyspace_hits / misses and the access reading of one key a read looked up."""
        db = self.db
        if key not in db.data or (db.expires and db.is_expired(key, now_ms)):
            self.keyspace_misses += 1
        else:
            self.keyspace_hits += 1
            db.clock.touch(db.access, key, now_ms)

    def apply_multi(self, commands: list[list[bytes]], now_ms: int, seed: int = 0) -> object:
        """MULTI/EXEC as one entry. As Redis: a command that could not have been queued
        (unknown, wrong arity) discards the whole transaction (EXECABORT) before anything
        runs; errors while running (WRONGTYPE, ...) are replies in the list and the
        other commands still run. Returns the list of replies, or the EXECABORT Error."""
        plan: list[tuple[Handler, list[bytes], CommandSpec]] = []
        for args in commands:
            entry = _resolve(args[0]) if args else None
            if entry is None or not entry[1].check_arity(len(args)):
                return EXECABORT
            plan.append((entry[0], args, entry[1]))
        ctx = self._ctx
        ctx.reset(now_ms, seed, True)
        replies = []
        for fn, args, spec in plan:
            noted = spec if self._changes is None else _noted_spec(spec, args)
            existed = self._live(noted, args, now_ms) if self._changes is not None else ()
            reply = self._run(fn, ctx, args)
            self._after_write(spec, args, now_ms)
            if self._changes is not None:
                self._note(noted, args, reply, existed, now_ms)
            replies.append(reply)
        return replies

    @staticmethod
    def _run(fn: Handler, ctx: Ctx, args: list[bytes]) -> object:
        try:
            return fn(ctx, args)
        except CommandError as e:
            return e.reply()
        except Exception:  # a bug must not take the node down; same on every replica
            log.exception("state machine handler failed for %r", args[0][:64])
            return Error("ERR internal error while executing the command")

    # ---- scripts ------------------------------------------------------------------------
    def route(self, spec: CommandSpec, args: list[bytes]) -> Route:
        """Where the node runs this command: its spec's route, except that a script or
        function that cannot write (`no-writes`) is a read, with no log entry."""
        if spec.group == "scripting" and spec.route is Route.WRITE \
                and cannot_write(self.scripting, args, self._ctx):
            return Route.READ
        return spec.route

    def _script_call(self, args: list[bytes], read_only: bool) -> object:
        """redis.call from a running script: the same handlers, the entry's ctx."""
        if args[0].lower() == b"time":  # the entry's stamp: the same on every replica
            now = self._ctx.now
            return [b"%d" % (now // 1000), b"%d" % (now % 1000 * 1000)]
        entry = _resolve(args[0])
        if entry is None:
            known = COMMANDS.get(args[0].decode("utf-8", "replace").lower())
            if known is None:
                return Error("ERR Unknown Redis command called from script")
            if known.name == "ping":
                return Status("PONG") if len(args) == 1 else args[1]
            if known.name == "echo" and len(args) == 2:
                return args[1]
            if self._acting is not None and (refused := self._acl_refusal(known, args)):
                return refused
            if known.name in ("publish", "spublish"):
                return self._script_publish(known.name, args, read_only)
            if known.name == "select" and len(args) == 2:  # one database, as the server
                if args[1].lstrip(b"-").isdigit():
                    return Status("OK") if int(args[1]) == 0 else \
                        Error("ERR DB index is out of range")
                return Error("ERR value is not an integer or out of range")
            # Connection and server commands live outside the state machine.
            return Error("ERR This Redis command is not allowed from script")
        fn, spec = entry[0], entry[1]
        top = spec
        if not spec.check_arity(len(args)):
            return Error("ERR Wrong number of args calling Redis command from script")
        if spec.subcommands and len(args) >= 2:
            sub = args[1].lower().decode("utf-8", "replace")
            spec = next((s for s in spec.subcommands if s.name.endswith("|" + sub)), spec)
        if "noscript" in spec.flags:
            return Error("ERR This Redis command is not allowed from script")
        if self._acting is not None and (refused := self._acl_refusal(spec, args)):
            return refused
        if spec.route is Route.WRITE and (read_only or not self._ctx.write):
            return Error("ERR Write commands are not allowed from read-only scripts.")
        ctx = self._ctx
        if not ctx.write:  # a script served as a read
            return self._run(fn, ctx, args)
        now = ctx.now
        existed = self._live(top, args, now) if self._changes is not None else ()
        reply = self._run(fn, ctx, args)
        self._after_write(top, args, now)
        if self._changes is not None:
            self._note(top, args, reply, existed, now)
        return reply

    def _script_publish(self, name: str, args: list[bytes], read_only: bool) -> object:
        """PUBLISH from a script: a change every node delivers as it applies the entry
        (raftredis.events). The script sees 0: a receiver count is each node's own, and
        a script must run the same on every replica."""
        if len(args) != 3:
            return Error("ERR Wrong number of args calling Redis command from script")
        if read_only or not self._ctx.write:  # a read is served by one node: no delivery
            return Error("ERR Write commands are not allowed from read-only scripts.")
        if self._changes is not None:
            self._changes.append(Change(ChangeKind.MESSAGE, (), name, list(args)))
        return 0

    # ---- expiry -------------------------------------------------------------------------
    def apply_acl(self, args: list[bytes]) -> object:
        """An ACL SETUSER / DELUSER entry (passwords already hashed by the leader)."""
        return self.acl.apply_op(args)

    def apply_expire(self, keys: list[bytes], now_ms: int) -> int:
        """Delete the given keys whose deadline <= now_ms (the leader's expiry entry)."""
        # Which were there before, with what is left after, says which keys this entry
        # removed: each node's `expired` notification, exactly once.
        existed = tuple(k in self.db.data for k in keys) if self._changes is not None else ()
        removed = self.db.expire_keys(keys, now_ms)
        self.note_expired(keys, existed)
        return removed

    def apply_evict(self, keys: list[bytes], volatile: bool) -> int:
        """Delete the given keys (the leader's eviction entry); under a volatile policy
        only those that still have a TTL go. Memory is not consulted: the leader decided,
        and every replica removes the same keys."""
        db = self.db
        removed = [k for k in keys if k in db.data and (not volatile or k in db.expires)]
        for key in removed:
            db.delete(key)
        self.evicted_keys += len(removed)
        if self._changes is not None and removed:
            self._changes.append(Change(ChangeKind.EVICTED, tuple(removed)))
        return len(removed)

    def expired_keys(self, now_ms: int, limit: int) -> list[bytes]:
        """Keys whose deadline <= now_ms, earliest first, for the leader to propose."""
        return self.db.expired_keys(now_ms, limit)

    # ---- INFO ---------------------------------------------------------------------------
    def dbsize(self) -> int:
        return len(self.db.data)

    def expires_count(self) -> int:
        return len(self.db.expires)

    def expired_count(self) -> int:
        return self.db.expired_count

    # ---- snapshots ----------------------------------------------------------------------
    def write_snapshot(self, fp: BinaryIO) -> None:
        """Stream the whole state to fp. Do not apply commands while this runs."""
        sc = self.scripting
        acl = None if self.acl.is_default_state() else self.acl.records()
        snapshot.write(self.db, fp, self.sessions, None if sc.is_empty() else sc.records(),
                       acl)

    def restore_snapshot(self, fp: BinaryIO) -> None:
        """Replace the whole state from fp; on bad input raise SnapshotError and keep
        the current state untouched."""
        self.load_snapshot(self.decode_snapshot(fp))

    @staticmethod
    def decode_snapshot(fp: BinaryIO) -> tuple:
        """Read and check a snapshot without touching the current state (SnapshotError
        on bad input): a received snapshot is checked before it is made durable."""
        decoded = snapshot.read_full(fp)
        probe = Scripting(lambda args, ro: None)  # checks the records, runs no Lua
        try:
            probe.load_records(decoded[3])
        except ValueError as e:
            raise snapshot.SnapshotError(f"snapshot scripting records are corrupt: {e}") from e
        try:
            UserTable().load_records(decoded[4])
        except (ValueError, TypeError) as e:
            raise snapshot.SnapshotError(f"snapshot ACL records are corrupt: {e}") from e
        return decoded

    def load_snapshot(self, decoded: tuple) -> None:
        """Replace the whole state with what decode_snapshot() returned."""
        data, expires, sessions, scripting, acl = decoded
        self.db.load(data, expires)
        self.sessions = sessions
        self.scripting.load_records(scripting)
        self.acl.load_records(acl)
