"""Key tracking: WATCH (decided on the leader right before an EXEC is logged) and
blocking pops (BLPOP & co. waiting for a change to one of their keys).

Fed by the applier's ChangeSets; tracking costs nothing while no client watches or
blocks: the per-key change index is kept only while someone needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable

from raftredis.commands.slots import key_slot
from raftredis.commands.spec import CommandSpec
from raftredis.replica.clock import Clock, EntryClock
from raftredis.replica.tasks import TaskSet
from raftredis.reply import NULL_ARRAY, OK, CommandError, Error
from raftredis.statemachine import StateMachine
from raftredis.statemachine.blocking import parse_timeout_ms, timeout_arg
from raftredis.statemachine.changes import Change, ChangeKind, ChangeSet

MAX_WATCHED_KEYS = 100_000  # per connection


class KeyTracker:
    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Clock, stamps: EntryClock,
                 sm: StateMachine, tasks: TaskSet, applied: Callable[[], int],
                 last_index: Callable[[], int], watched_exec_waiting: Callable[[], bool]) -> None:
        self._loop = loop
        self._clock = clock
        self._stamps = stamps
        self._sm = sm
        self._tasks = tasks
        self._applied = applied
        self._last_index = last_index
        self._watched_exec_waiting = watched_exec_waiting
        self._watchers: weakref.WeakSet = weakref.WeakSet()
        # key -> events of the commands blocked on it, in the order they blocked (FIFO)
        self._key_waiters: dict[bytes, dict[asyncio.Event, None]] = {}
        self._mod_index: dict[bytes, int] = {}
        # The leader's expiry deletes, apart: they break only a WATCH made while the key
        # was still live (one already expired at WATCH was missing then, as in Redis).
        self._expired_index: dict[bytes, int] = {}
        self._since = -1  # -1: not tracking; else changes at or below it are unknown
        self._flushed_at = 0  # index of the last FLUSHALL/FLUSHDB seen while tracking
        # CLIENT UNBLOCK: each blocked connection's wake-up event and what it is told
        self._unblocks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------ WATCH
    def watch(self, conn, keys: list[bytes]) -> object:
        """Note, per key, the applied index and the key's deadline; EXEC aborts if a
        later entry changed the key (or it expired). Called on the leader only."""
        if len(conn.watched) + len(keys) > MAX_WATCHED_KEYS:
            return Error("ERR too many watched keys")
        if self._since < 0:
            self._since = self._applied()
            self._mod_index.clear()
            self._expired_index.clear()
            self._flushed_at = 0
        self._watchers.add(conn)
        now = self._stamps.now()
        applied = self._applied()
        db = self._sm.db
        for key in keys:
            if key not in conn.watched:
                deadline = db.deadline(key)
                if deadline is not None and deadline <= now:
                    deadline = None  # already expired: it looks missing, and stays so
                # Whether it exists: a FLUSHALL only breaks the WATCH of a key it deleted.
                conn.watched[key] = (applied, deadline, db.exists(key, now))
        return OK

    def active(self) -> bool:
        """Whether applied changes must be reported to us."""
        if self._key_waiters:
            return True
        if self._since < 0:
            return False
        if self._watched_exec_waiting():
            return True  # dispatch cleared conn.watched once EXEC was handed over
        if any(w.watched for w in self._watchers):
            return True
        self._since = -1
        self._mod_index.clear()
        self._expired_index.clear()
        self._flushed_at = 0
        return False

    # WatchJudge, for the proposals' batch
    def log_applied_to_end(self) -> bool:
        return self._applied() >= self._last_index()

    def broken(self, marks: dict, stamp: int) -> bool:
        if self._since < 0:
            return True  # changes since WATCH went untracked: unknown, so abort
        for key, mark in marks.items():
            if mark is None:
                return True
            widx, deadline, existed = mark
            if widx < self._since or (existed and self._flushed_at > widx):
                return True
            if self._mod_index.get(key, 0) > widx:
                return True
            if existed and self._expired_index.get(key, 0) > widx:
                return True
            if deadline is not None and deadline <= stamp:
                return True  # expired since WATCH: Redis counts that as a change
        return False

    # ------------------------------------------------------------------ changes
    def on_changes(self, changes: ChangeSet) -> None:
        index = changes.index
        for change in changes.changes:
            if change.kind is ChangeKind.FLUSH:
                self._flushed_at = index
                self.wake_all()
                continue
            keys = change.keys
            if self._since >= 0 and change.kind is ChangeKind.WRITE:
                keys = modified_keys(change)
            if self._since >= 0:
                mod = self._expired_index if change.kind is ChangeKind.EXPIRED \
                    else self._mod_index
                for key in keys:
                    mod[key] = index
            waiters = self._key_waiters
            if waiters:
                for key in keys:
                    events = waiters.get(key)
                    if events:
                        for ev in events:
                            ev.set()

    def snapshot_installed(self, index: int) -> None:
        """Changes folded into a snapshot are unknown: WATCHes before it must abort, and
        every blocked command looks again."""
        self._mod_index.clear()
        self._expired_index.clear()
        if self._since >= 0:
            self._since = index
        self.wake_all()

    def blocked(self) -> int:
        """How many keys have commands blocked on them."""
        return len(self._key_waiters)

    def wake_all(self) -> None:
        for events in self._key_waiters.values():
            for ev in events:
                ev.set()

    # ------------------------------------------------------------------ blocking pops
    def unblock(self, conn, error: bool) -> bool:
        """CLIENT UNBLOCK: end `conn`'s blocking command now, as if it timed out (a null
        reply) or with Redis's UNBLOCKED error. False if it is not blocked here."""
        entry = self._unblocks.get(conn)
        if entry is None:
            return False
        event, told = entry
        if not told:
            told.append(Error("UNBLOCKED client unblocked via CLIENT UNBLOCK") if error
                        else NULL_ARRAY)
        event.set()
        return True

    def blocking(self, conn, spec: CommandSpec, args: list[bytes],
                 is_leader: Callable[[], bool], redirect_now: Callable[[int], Error],
                 submit: Callable[[list[bytes]], asyncio.Future]) -> object:
        """BLPOP and friends: try through the log; if it would block, wait until an
        applied entry touches one of the keys (or the timeout), then try again."""
        try:
            timeout_ms = parse_timeout_ms(timeout_arg(args))
        except CommandError as exc:
            return exc.reply()
        result: asyncio.Future = self._loop.create_future()
        keys = spec.keys(args)
        slot = key_slot(keys[0]) if keys else 0
        clock = self._clock

        def answer(reply: object) -> None:
            if not result.done():  # cancelled when the connection closed
                result.set_result(reply)

        async def run() -> None:
            deadline = None if timeout_ms == 0 else clock.monotonic() + timeout_ms / 1000
            event = asyncio.Event()
            for key in keys:
                self._key_waiters.setdefault(key, {})[event] = None
            if hasattr(conn, "blocked"):
                conn.blocked = True
            told: list[object] = []  # CLIENT UNBLOCK puts the reply to give here
            with contextlib.suppress(TypeError):  # (a connection that cannot be weakly held)
                self._unblocks[conn] = (event, told)
            try:
                while True:
                    if getattr(conn, "closed", False) or result.cancelled():
                        answer(None)  # nobody to answer; and never pop for them
                        return
                    if told:
                        answer(told[0])
                        return
                    if not is_leader():
                        answer(redirect_now(slot))
                        return
                    event.clear()
                    reply = await submit(args)
                    if reply is not NULL_ARRAY and reply is not None:
                        answer(reply)
                        return
                    remaining = None if deadline is None else deadline - clock.monotonic()
                    if remaining is not None and remaining <= 0:
                        answer(NULL_ARRAY)  # Redis's reply to a timed-out block
                        return
                    with contextlib.suppress(asyncio.TimeoutError):
                        # Woken by a change to a key; the cap re-checks role and connection.
                        await asyncio.wait_for(event.wait(),
                                               1.0 if remaining is None else min(remaining, 1.0))
            finally:
                if self._unblocks.get(conn, (None,))[0] is event:
                    del self._unblocks[conn]
                if hasattr(conn, "blocked"):
                    conn.blocked = False
                for key in keys:
                    events = self._key_waiters.get(key)
                    if events is not None:
                        events.pop(event, None)
                        if not events:
                            del self._key_waiters[key]

        self._tasks.spawn(run(), name="blocking-pop")
        return result


# Write commands whose 0 (or nil) reply means they changed nothing, so Redis signals no
# modification and a WATCH on their keys holds (EXPIRE XX on a key without a TTL, SADD
# of a member already there, DEL of a missing key, ...).
_NOOP_ON_ZERO = frozenset({
    "del", "unlink", "persist", "expire", "pexpire", "expireat", "pexpireat", "sadd", "srem",
    "hdel", "zrem", "lrem", "hsetnx", "setnx", "smove", "renamenx", "msetnx", "pfadd", "xdel",
    "zremrangebyscore", "zremrangebyrank", "zremrangebylex", "getdel", "lpushx", "rpushx",
})


def modified_keys(change: Change) -> tuple[bytes, ...]:
    """The keys a write command really modified, as far as WATCH is concerned (Redis's
    signalModifiedKey): none for an error or a no-op reply; never a key that was missing
    both before and after."""
    reply = change.reply
    if isinstance(reply, Error):
        return ()
    name = change.command
    if name in _NOOP_ON_ZERO and (reply is None or (type(reply) is int and reply == 0)):
        return ()
    if name == "getex" and len(change.args) == 2:
        return ()  # GETEX without options only reads
    if name == "set" and reply is None and not any(a.lower() == b"get" for a in change.args[3:]):
        return ()  # SET NX / XX that did not set
    keys, before, after = change.keys, change.existed, change.exists
    if len(before) == len(keys) == len(after):
        return tuple(k for k, b, a in zip(keys, before, after, strict=True) if b or a)
    return keys
