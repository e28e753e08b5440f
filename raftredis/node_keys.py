"""Key tracking for the node: WATCH (decided on the leader just before an EXEC is
logged) and blocking pops (BLPOP & co. waiting for a change to one of their keys).

Tracking costs nothing while no client watches or blocks: the per-key change index is
kept only while someone needs it. A mixin of raftredis.node.Node, whose state it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from raftredis import entries
from raftredis.commands.slots import key_slot
from raftredis.commands.spec import CommandSpec, Route, lookup
from raftredis.raft.types import Role
from raftredis.reply import NULL_ARRAY, OK, CommandError, Error
from raftredis.statemachine.blocking import parse_timeout_ms


class KeyTrackingMixin:
    def watch(self, conn, keys: list[bytes]) -> object:
        """WATCH on the leader notes, per key, the applied index and the key's deadline;
        EXEC aborts if a later entry changed the key (or it expired)."""
        if self._role != Role.LEADER:
            return self._redirect_now(key_slot(keys[0]))
        if len(conn.watched) + len(keys) > 100_000:
            return Error("ERR too many watched keys")
        self._start_tracking()
        self._watchers.add(conn)
        now = self._clock()
        for key in keys:
            if key not in conn.watched:
                deadline = self.sm.db.deadline(key)
                if deadline is not None and deadline <= now:
                    deadline = None  # already expired: it looks missing, and stays so
                conn.watched[key] = (self.applied, deadline)
        return OK

    @property
    def _tracking(self) -> bool:
        if self._key_waiters:
            return True
        if self._track_since < 0:
            return False
        if self._watched_execs:
            return True
        if any(w.watched for w in self._watchers):
            return True
        self._stop_tracking()
        return False

    def _start_tracking(self) -> None:
        if self._track_since < 0:
            self._track_since = self.applied
            self._mod_index.clear()
            self._flushed_at = 0

    def _stop_tracking(self) -> None:
        self._track_since = -1
        self._mod_index.clear()
        self._flushed_at = 0

    def _note_changes(self, index: int, op: list, reply: object = None) -> None:
        kind = op[0]
        if kind == entries.OP_COMMAND:
            cmds = [op[1]]
            if reply is NULL_ARRAY or reply is None:
                # A blocking pop that found nothing changed nothing: waking the other
                # waiters for it would only make them retry out of their turn.
                spec = lookup(op[1][0]) if op[1] else None
                if spec is not None and "blocking" in spec.flags:
                    return
        elif kind == entries.OP_MULTI:
            cmds = op[1]
        elif kind == entries.OP_EXPIRE:
            self._changed(index, op[1])
            return
        else:
            return
        for args in cmds:
            spec = lookup(args[0]) if args else None
            if spec is None or spec.route != Route.WRITE:
                continue
            if spec.name in ("flushall", "flushdb"):
                self._flushed_at = index
                for events in self._key_waiters.values():
                    for ev in events:
                        ev.set()
                continue
            self._changed(index, spec.keys(args))

    def _changed(self, index: int, keys: list[bytes]) -> None:
        if self._track_since >= 0:
            for key in keys:
                self._mod_index[key] = index
        waiters = self._key_waiters
        if waiters:
            for key in keys:
                events = waiters.get(key)
                if events:
                    for ev in events:
                        ev.set()

    def _blocking(self, conn, spec: CommandSpec, args: list[bytes]) -> object:
        """BLPOP and friends: try through the log; if it would block, wait until an
        applied entry touches one of the keys (or the timeout), then try again."""
        try:
            timeout_ms = parse_timeout_ms(args[-1])
        except CommandError as exc:
            return exc.reply()
        assert self.loop is not None
        result: asyncio.Future = self.loop.create_future()
        keys = spec.keys(args)
        slot = key_slot(keys[0]) if keys else 0

        def answer(reply: object) -> None:
            if not result.done():  # cancelled when the connection closed
                result.set_result(reply)

        async def run() -> None:
            deadline = None if timeout_ms == 0 else time.monotonic() + timeout_ms / 1000
            event = asyncio.Event()
            for key in keys:
                self._key_waiters.setdefault(key, {})[event] = None
            if hasattr(conn, "blocked"):
                conn.blocked = True
            try:
                while True:
                    if getattr(conn, "closed", False) or result.cancelled():
                        answer(None)  # nobody to answer; and never pop for them
                        return
                    if self._role != Role.LEADER:
                        answer(self._redirect_now(slot))
                        return
                    event.clear()
                    reply = await self._submit_write([entries.OP_COMMAND, args], args)
                    if reply is not NULL_ARRAY and reply is not None:
                        answer(reply)
                        return
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        answer(NULL_ARRAY)  # Redis's reply to a timed-out block
                        return
                    with contextlib.suppress(asyncio.TimeoutError):
                        # Woken by a change to a key; the cap re-checks role and connection.
                        await asyncio.wait_for(event.wait(),
                                               1.0 if remaining is None else min(remaining, 1.0))
            finally:
                if hasattr(conn, "blocked"):
                    conn.blocked = False
                for key in keys:
                    events = self._key_waiters.get(key)
                    if events is not None:
                        events.pop(event, None)
                        if not events:
                            del self._key_waiters[key]

        asyncio.ensure_future(run())
        return result

    def _decide_watched(self, ops: list, futs: list) -> tuple[list, list]:
        """EXEC after WATCH is decided here, on the leader, right before it is logged: it
        needs every earlier entry applied, so it and everything behind it (same order as
        sent) wait until the log is applied up to its end."""
        assert self.core is not None
        out_ops: list = []
        out_futs: list = []
        for i, op in enumerate(ops):
            if op[0] != entries.WATCHED_EXEC:
                out_ops.append(op)
                out_futs.append(futs[i])
                continue
            if out_ops or self.applied < self.core.log.last_index():
                # Hold this EXEC and the rest for a later turn.
                self._batch_ops = ops[i:] + self._batch_ops
                self._batch_bytes += sum(entries.op_size(o) for o in ops[i:])
                self._batch_futs = futs[i:] + self._batch_futs
                break
            _, marks, inner = op
            if self._watch_broken(marks, self._clock()):
                fut = futs[i]
                if fut is not None and not fut.done():
                    fut.set_result(NULL_ARRAY)  # EXEC's null reply: the transaction aborted
                continue
            out_ops.append(inner)
            out_futs.append(futs[i])
        return out_ops, out_futs

    def _watch_broken(self, marks: dict, stamp: int) -> bool:
        if self._track_since < 0:
            return True  # changes since WATCH went untracked: unknown, so abort
        for key, mark in marks.items():
            if mark is None:
                return True
            widx, deadline = mark
            if widx < self._track_since or self._flushed_at > widx:
                return True
            if self._mod_index.get(key, 0) > widx:
                return True
            if deadline is not None and deadline <= stamp:
                return True  # expired since WATCH: Redis counts that as a change
        return False
