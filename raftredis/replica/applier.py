"""The applier: committed entries into the state machine, in log order, exactly once.

It owns the applied index and the configuration applied with it. For each NORMAL
entry it decodes the operations (or takes the leader's own, which are identical),
applies them at the entry's stamp (through the EntryClock, so 'now' never falls),
and returns the replies when someone waits for them. What the entry changed goes,
as one ChangeSet, to the listeners (WATCH, blocking pops, ...) while any listens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import perf_counter_ns

from raftredis.raft.types import ConfState, Entry, EntryKind
from raftredis.replica import ops as logops
from raftredis.replica.clock import EntryClock
from raftredis.replica.slowwatch import SlowWatch
from raftredis.reply import Error
from raftredis.statemachine import StateMachine
from raftredis.statemachine.changes import ChangeSet

log = logging.getLogger("raftredis.replica")

ChangeListener = Callable[[ChangeSet], None]
_EXEC = [b"EXEC"]  # how a transaction's execution is reported (commandstats: exec)


class Applier:
    def __init__(self, sm: StateMachine, stamps: EntryClock,
                 apply_config: Callable[[list, int], object],
                 slow: SlowWatch | None = None) -> None:
        self.sm = sm
        self._slow = slow if slow is not None else SlowWatch()
        self._stamps = stamps
        self._apply_config = apply_config
        self.applied = 0
        self.conf = ConfState()
        self._listeners: list[tuple[Callable[[], bool], ChangeListener]] = []
        self._observers: list[Callable[[int, Entry | None], None]] = []
        # PUBLISH operations: delivered by the group (raftredis.replica.publish); the
        # reply is this node's receiver count.
        self.publish: Callable[[logops.Publish], object] = lambda op: 0

    def listen(self, active: Callable[[], bool], listener: ChangeListener) -> None:
        """`listener` gets the ChangeSet of every entry applied while `active()`."""
        self._listeners.append((active, listener))

    def observe(self, fn: Callable[[int, Entry | None], None]) -> None:
        """`fn(index, entry)` sees every entry once it is applied, and `fn(index, None)`
        every snapshot restored (metrics, the simulator's checkers)."""
        self._observers.append(fn)

    def restored(self, index: int, conf: ConfState) -> None:
        """The state machine now holds a snapshot's state at `index`."""
        self.applied = index
        self.conf = conf
        for fn in self._observers:
            fn(index, None)

    def apply(self, ent: Entry, own_ops: list | None, want_replies: bool) -> list | None:
        """Apply one committed entry (index applied + 1); its replies if wanted."""
        replies = None
        if ent.kind == EntryKind.NORMAL:
            active = [fn for on, fn in self._listeners if on()] if self._listeners else ()
            self.sm.record_changes(bool(active))
            replies = self._apply_normal(ent, own_ops, want_replies)
            if active:
                changes = ChangeSet(ent.index, self.sm.take_changes())
                if changes:
                    for fn in active:
                        fn(changes)
        elif ent.kind == EntryKind.CONFIG:
            self.conf = ConfState.decode(ent.data)
        self.applied = ent.index
        for observe in self._observers:
            observe(ent.index, ent)
        return replies

    def _apply_normal(self, ent: Entry, ops: list | None, want_replies: bool) -> list | None:
        """`ops`: the leader's own proposal, identical to what the entry's bytes decode to
        (same index and term), so decoding is skipped."""
        try:
            if ops is None:
                stamp, ops = logops.decode_entry(ent.data)
            else:
                stamp = logops.stamp_of(ent.data)
        except logops.EntryDecodeError:
            # Every replica decodes the same bytes the same way, so skipping is deterministic;
            # it can only come from a bug, so say it loudly.
            log.error("undecodable entry at index %d; skipped on every replica", ent.index)
            return [Error("ERR internal error: undecodable log entry")] if want_replies else None
        now = self._stamps.advance_applied(stamp)
        sm = self.sm
        replies: list | None = [] if want_replies else None
        index = ent.index
        command, multi = logops.OpKind.COMMAND, logops.OpKind.MULTI
        # Execution time of this node's own clients' commands (want_replies: ours,
        # leading), for SLOWLOG and commandstats.
        sink = self._slow.sink if want_replies else None
        for pos, op in enumerate(ops):
            try:
                kind = op.kind
                if kind == command:
                    if sink is None:
                        reply = sm.apply(op.args, now, logops.seed_for(index, pos))
                    else:
                        t0 = perf_counter_ns()
                        reply = sm.apply(op.args, now, logops.seed_for(index, pos))
                        sink.executed(op.args, t0, perf_counter_ns() - t0, reply)
                elif kind == multi:
                    t0 = perf_counter_ns()
                    reply = sm.apply_multi(op.commands, now, logops.seed_for(index, pos))
                    if sink is not None:
                        sink.executed(_EXEC, t0, perf_counter_ns() - t0, reply)
                elif kind == logops.OpKind.EXPIRE:
                    reply = sm.apply_expire(op.keys, now)
                elif kind == logops.OpKind.CONFIG:
                    reply = self._apply_config(op.pairs, index)
                elif kind == logops.OpKind.ACL:
                    reply = sm.apply_acl(op.args)
                elif kind == logops.OpKind.COMMAND_AS:
                    user, args = op.fields
                    reply = sm.apply_as(bytes(user), args, now, logops.seed_for(index, pos))
                elif kind == logops.OpKind.MULTI_AS:
                    user, commands = op.fields
                    reply = sm.apply_multi_as(bytes(user), commands, now,
                                              logops.seed_for(index, pos))
                elif kind == logops.OpKind.PUBLISH:
                    reply = self.publish(op)
                elif kind == logops.OpKind.EVICT or kind == logops.OpKind.EVICT_VOLATILE:
                    reply = sm.apply_evict(op.keys, kind == logops.OpKind.EVICT_VOLATILE)
                else:
                    reply = Error("ERR unknown log operation")
            except Exception as exc:  # a state machine bug must not split replicas' apply loop
                log.exception("apply failed at index %d op %d", index, pos)
                reply = Error(f"ERR internal error: {type(exc).__name__}")
            if replies is not None:
                replies.append(reply)
        return replies
