"""Leader duties: work only the leader decides and the log carries to every replica.

Active expiry: the leader finds keys whose deadline has passed by its entry clock and
proposes their deletion; every replica deletes them when the entry applies, at the
entry's stamp. Eviction (eviction.py): when used memory is over maxmemory the leader
proposes the deletion of victims, before the write that needs the room and on each
round; a write that needs memory none can free is refused here (OOM), before the log.
"""

from __future__ import annotations

from collections.abc import Callable

from raftredis.replica import ops as logops
from raftredis.replica.clock import EntryClock
from raftredis.replica.eviction import Evictor
from raftredis.reply import Error
from raftredis.statemachine import StateMachine
from raftredis.statemachine.changes import ChangeKind, ChangeSet

EXPIRE_BATCH = 256  # keys per expiry operation, bounding one entry's apply work


class LeaderDuties:
    def __init__(self, sm: StateMachine, stamps: EntryClock,
                 submit: Callable[[logops.Expire], object],
                 submit_tracked: Callable[[logops.Evict], object] | None = None) -> None:
        """`submit` proposes an operation; `submit_tracked` also returns its future (or
        None if it was not logged), so eviction knows when its bytes are freed."""
        self._sm = sm
        self._stamps = stamps
        self._submit = submit
        self._expiring: set[bytes] = set()  # proposed for expiry, not yet applied
        self.evictor = Evictor(sm, stamps.now, submit_tracked or submit)

    def run(self) -> None:
        """One round of duties (the leader calls it every active_expire_ms)."""
        expiring = self._expiring
        keys = [k for k in self._sm.expired_keys(self._stamps.now(), EXPIRE_BATCH)
                if k not in expiring]
        if keys:
            expiring.update(keys)
            self._submit(logops.expire(keys))
        self.evictor.run()

    def admit_write(self) -> Error | None:
        """A denyoom write at the leader: None to propose it, else the OOM reply."""
        return self.evictor.admit()

    def role_changed(self) -> None:
        self._expiring.clear()
        self.evictor.reset()

    def waiting(self) -> bool:
        return bool(self._expiring) or self.evictor.pending_keys > 0

    def on_changes(self, changes: ChangeSet) -> None:
        for change in changes.changes:
            if change.kind is ChangeKind.EXPIRED:
                self._expiring.difference_update(change.keys)
            elif change.kind is ChangeKind.EVICTED:
                self.evictor.applied(list(change.keys))

    def not_logged(self, ops: list) -> None:
        """Expiry operations that were not logged: their keys may be proposed again."""
        for op in ops:
            if op.kind == logops.OpKind.EXPIRE:
                self._expiring.difference_update(op.keys)
