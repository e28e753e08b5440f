"""The leader's view of each follower's log (etcd-io/raft's tracker, reshaped).

Progress owns its state: the core reads its fields (read-only properties) and moves it
only through the transition methods below, so every rule about match/next/inflights
lives in this file.
"""

from __future__ import annotations

import enum
from collections import deque

from raftredis.raft.storage import SnapshotReader


class ProgressState(enum.IntEnum):
    PROBE = 0  # one append at a time until we know where the logs match
    REPLICATE = 1  # optimistic pipelining, bounded by the inflight window
    SNAPSHOT = 2  # sending a snapshot; appends wait


class Inflights:
    """Appends in flight to one follower in replicate state: (last index, bytes) of
    each, oldest first, bounded by a message count and by bytes (0: no byte limit).
    Counting messages alone let 256 x 1 MiB pile up per follower."""

    __slots__ = ("_q", "_bytes", "max_count", "max_bytes")

    def __init__(self, max_count: int, max_bytes: int = 0) -> None:
        self._q: deque[tuple[int, int]] = deque()
        self._bytes = 0
        self.max_count = max_count
        self.max_bytes = max_bytes

    def __len__(self) -> int:
        return len(self._q)

    @property
    def bytes(self) -> int:
        return self._bytes

    def full(self) -> bool:
        # Bytes are checked after the fact: a message bigger than the budget still goes
        # when the window is empty, or a big entry could never be sent.
        return len(self._q) >= self.max_count or (0 < self.max_bytes <= self._bytes)

    def add(self, last: int, nbytes: int) -> None:
        self._q.append((last, nbytes))
        self._bytes += nbytes

    def free_le(self, index: int) -> None:
        """Acknowledged up to index: everything ending at or below it is delivered."""
        q = self._q
        while q and q[0][0] <= index:
            self._bytes -= q.popleft()[1]

    def free_first_one(self) -> None:
        if self._q:
            self._bytes -= self._q.popleft()[1]

    def reset(self) -> None:
        self._q.clear()
        self._bytes = 0


class Progress:
    __slots__ = (
        "_match",
        "_next",
        "_state",
        "_probe_sent",
        "_inflights",
        "_recent_active",
        "_active_before",
        "_snap_index",
        "_snap_offset",
        "_snap_sent",
        "_snap_reader",
    )

    def __init__(self, next_index: int, max_inflight: int, max_inflight_bytes: int = 0) -> None:
        self._match = 0
        self._next = next_index
        self._state = ProgressState.PROBE
        self._probe_sent = False  # PROBE: an append is out, wait for its answer or a heartbeat
        self._inflights = Inflights(max_inflight, max_inflight_bytes)
        self._recent_active = True  # heard from within the current election timeout
        self._active_before = True  # heard from within the check-quorum period before it
        self._snap_index = 0  # SNAPSHOT: the snapshot being sent
        self._snap_offset = 0  # SNAPSHOT: next byte the follower expects
        self._snap_sent = False  # SNAPSHOT: a chunk is out
        # SNAPSHOT: the snapshot being sent, pinned so every chunk comes from it.
        self._snap_reader: SnapshotReader | None = None

    # ---- read-only view -----------------------------------------------------------------
    @property
    def match(self) -> int:
        """Highest index known to be replicated (durably) on the follower."""
        return self._match

    @property
    def next(self) -> int:
        """Index of the next entry to send."""
        return self._next

    @property
    def state(self) -> ProgressState:
        return self._state

    @property
    def probe_sent(self) -> bool:
        return self._probe_sent

    @property
    def recent_active(self) -> bool:
        return self._recent_active

    @property
    def heard_recently(self) -> bool:
        """Heard from in this check-quorum period or the one before: what a view for
        operators shows as active. recent_active alone reads false for a healthy
        follower from each period's reset until its next answer (up to a heartbeat
        interval every election timeout); this is false only for a follower silent
        for a whole period."""
        return self._recent_active or self._active_before

    @property
    def snap_index(self) -> int:
        return self._snap_index

    @property
    def snap_offset(self) -> int:
        return self._snap_offset

    @property
    def snap_sent(self) -> bool:
        return self._snap_sent

    @property
    def snapshot_reader(self) -> SnapshotReader | None:
        return self._snap_reader

    @property
    def inflight_count(self) -> int:
        return len(self._inflights)

    @property
    def inflight_bytes(self) -> int:
        return self._inflights.bytes

    def paused(self) -> bool:
        """True when no append may be sent now."""
        if self._state == ProgressState.PROBE:
            return self._probe_sent
        if self._state == ProgressState.REPLICATE:
            return self._inflights.full()
        return True

    # ---- state transitions --------------------------------------------------------------
    def _reset_state(self, state: ProgressState) -> None:
        self._state = state
        self._probe_sent = False
        self._snap_sent = False
        self._snap_offset = 0
        self._inflights.reset()
        self.release()

    def release(self) -> None:
        """Let go of the snapshot being sent, if any (also when the leader drops this
        Progress: steps down, or the peer leaves the configuration)."""
        reader, self._snap_reader = self._snap_reader, None
        if reader is not None:
            reader.close()

    def become_probe(self) -> None:
        if self._state == ProgressState.SNAPSHOT:
            # The snapshot may have been installed: probe right after it.
            nxt = max(self._match + 1, self._snap_index + 1)
        else:
            nxt = self._match + 1
        self._reset_state(ProgressState.PROBE)
        self._next = nxt

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self._next = self._match + 1

    def become_snapshot(self, reader: SnapshotReader) -> None:
        """Send the snapshot `reader` pins, whole, whatever storage does meanwhile."""
        self._reset_state(ProgressState.SNAPSHOT)
        self._snap_reader = reader
        self._snap_index = reader.meta.index

    # ---- acknowledgements ---------------------------------------------------------------
    def maybe_update(self, index: int) -> bool:
        """A success ack up to index. True if match moved forward."""
        updated = index > self._match
        if updated:
            self._match = index
            self._probe_sent = False
        self._next = max(self._next, index + 1)
        return updated

    def on_append_ack(self, index: int) -> bool:
        """A success answer: the follower's log matches ours up to index. True if that
        is news (match moved, or a probe found where the logs match): the caller may
        then commit and send more."""
        updated = self.maybe_update(index)
        if self._state == ProgressState.REPLICATE:
            self._inflights.free_le(index)
            return updated
        if self._state == ProgressState.PROBE:
            # A probe answered at match (nothing new to append, e.g. right after a
            # snapshot) also tells where the logs match: replicate now, rather than
            # waiting in probe until the next heartbeat answer.
            if updated or index == self._match:
                self.become_replicate()
                return True
            return False
        if updated and self._match >= self._snap_index:
            # An append answer past the snapshot being sent: it is not needed any more.
            self.become_probe()
            self.become_replicate()
        return updated

    def maybe_decr_to(self, rejected: int, next_hint: int) -> bool:
        """The follower rejected the append whose prev index was `rejected`; `next_hint` is
        where its conflict hint says to resume. False if the rejection is stale."""
        if self._state == ProgressState.REPLICATE:
            if rejected <= self._match:
                return False  # an answer to an append older than what it acknowledged
            self.become_probe()
        elif self._state == ProgressState.PROBE:
            if rejected != self._next - 1:
                return False  # an answer to an older probe
        else:
            return False
        self._next = max(self._match + 1, min(next_hint, rejected))
        self._probe_sent = False
        return True

    def lost_acknowledged(self, rejected: int, log_end: int) -> bool:
        """Does a rejection show the follower no longer holds entries it acknowledged
        (fsync off and a machine crash)? `log_end` is its last index + 1 when its hint
        says its log is too short, else 0. Either it rejected an index at or below
        match, or its log ends at or before match. A late duplicate of an old rejection
        looks the same; taking it for a loss only costs a probe (and maybe a snapshot),
        while missing a real loss would leave the follower unrepaired until the next
        leader, since nothing else moves `next` below match + 1."""
        if self._state == ProgressState.SNAPSHOT or self._match == 0:
            return False
        return rejected <= self._match or 0 < log_end <= self._match

    def regress(self, rejected: int, next_hint: int) -> None:
        """The follower lost acknowledged entries: forget match (what it holds below its
        hint may not be ours any more either) and probe from its hint."""
        self._match = 0
        self._reset_state(ProgressState.PROBE)
        self._next = max(1, min(next_hint, rejected))

    def on_heartbeat_resp(self) -> None:
        """The follower is alive: let one message out that may have been lost."""
        if self._state == ProgressState.PROBE:
            self._probe_sent = False
        elif self._state == ProgressState.REPLICATE:
            if self._inflights.full():
                self._inflights.free_first_one()
        else:
            self._snap_sent = False  # resend the chunk that may have been lost

    def sent_append(self, last: int, nbytes: int) -> None:
        """An Append went out; `last` is the index of its last entry (0 if empty) and
        `nbytes` the size of its entries."""
        if self._state == ProgressState.REPLICATE:
            if last:
                self._next = last + 1
                self._inflights.add(last, nbytes)
        elif self._state == ProgressState.PROBE:
            self._probe_sent = True

    # ---- snapshots ----------------------------------------------------------------------
    def sent_snapshot_chunk(self) -> None:
        self._snap_sent = True

    def snapshot_chunk_acked(self, offset: int) -> None:
        """The follower expects byte `offset` next."""
        self._snap_offset = offset
        self._snap_sent = False

    def snapshot_done(self, index: int) -> None:
        """The follower installed (and persisted) the snapshot at index."""
        self._match = max(self._match, index)
        self._snap_index = max(self._snap_index, index)
        self.become_probe()

    def snapshot_refused(self) -> None:
        """The follower refused the snapshot (too big?): probe again, but only after the
        next heartbeat answer."""
        self.become_probe()
        self._probe_sent = True

    # ---- liveness -----------------------------------------------------------------------
    def mark_active(self) -> None:
        self._recent_active = True

    def reset_recent_active(self) -> None:
        """Start a new check-quorum period."""
        self._active_before = self._recent_active
        self._recent_active = False

    def __repr__(self) -> str:
        return f"Progress(match={self._match}, next={self._next}, {self._state.name})"
