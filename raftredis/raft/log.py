"""The core's view of the log: persisted entries in Storage plus an unstable tail
(entries and maybe a snapshot) the application has not yet persisted."""

from __future__ import annotations

from raftredis.raft.storage import CompactedError, Storage, UnavailableError
from raftredis.raft.types import Entry, Snapshot


class RaftLog:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        # Unstable tail: entries[i] has index offset + i. offset = storage.last_index()+1
        # unless a conflict truncated into the persisted part.
        self.offset = storage.last_index() + 1
        self.entries: list[Entry] = []
        self.snapshot: Snapshot | None = None  # received, not yet persisted
        # Entries below in_progress (and the snapshot if snap_in_progress) were handed
        # out in a Ready and are being persisted.
        self.in_progress = self.offset
        self.snap_in_progress = False
        # Highest index known durable *and* part of the current log.
        self.persisted = storage.last_index()
        self.committed = 0
        self.applied = 0

    # ---- reading ------------------------------------------------------------------------
    def first_index(self) -> int:
        if self.snapshot is not None:
            return self.snapshot.meta.index + 1
        return self.storage.first_index()

    def last_index(self) -> int:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.meta.index
        return self.offset - 1

    def snapshot_index(self) -> int:
        return self.first_index() - 1

    def term(self, index: int) -> int:
        """Term at index; raises CompactedError/UnavailableError like Storage.term."""
        off = self.offset
        if index >= off:
            i = index - off
            if i < len(self.entries):
                return self.entries[i].term
            raise UnavailableError(index)
        if self.snapshot is not None:
            if index == self.snapshot.meta.index:
                return self.snapshot.meta.term
            if index < self.snapshot.meta.index:
                raise CompactedError(index)
            raise UnavailableError(index)
        return self.storage.term(index)

    def term_or_none(self, index: int) -> int | None:
        try:
            return self.term(index)
        except (CompactedError, UnavailableError):
            return None

    def last_term(self) -> int:
        t = self.term_or_none(self.last_index())
        return 0 if t is None else t

    def match_term(self, index: int, term: int) -> bool:
        return self.term_or_none(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """§5.4.1: is a log ending at (last_index, last_term) at least as new as ours?"""
        lt = self.last_term()
        return last_term > lt or (last_term == lt and last_index >= self.last_index())

    def slice(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries lo <= index < hi, at most max_bytes (at least one entry)."""
        if lo >= hi:
            return []
        if lo < self.first_index():
            raise CompactedError(lo)
        if hi > self.last_index() + 1:
            raise UnavailableError(hi - 1)
        out: list[Entry] = []
        if lo < self.offset:
            out = self.storage.entries(lo, min(hi, self.offset), max_bytes)
            if len(out) < min(hi, self.offset) - lo:
                return out  # byte limit reached inside storage
        if hi > self.offset:
            start = max(lo, self.offset) - self.offset
            tail = self.entries[start : hi - self.offset]
            if max_bytes is None:
                out.extend(tail)
            else:
                total = sum(e.size() for e in out)
                for e in tail:
                    total += e.size()
                    if total > max_bytes and out:
                        break
                    out.append(e)
        return out

    def first_index_of_term_at(self, index: int) -> int:
        """First index holding the same term as `index` (binary search: terms never
        decrease along the log). Does not look below the snapshot."""
        t = self.term(index)
        lo, hi = self.first_index() - 1, index
        while lo < hi:
            mid = (lo + hi) // 2
            if (self.term_or_none(mid) or 0) >= t:
                hi = mid
            else:
                lo = mid + 1
        return max(lo, self.first_index())

    def last_index_with_term_le(self, index: int, term: int) -> int:
        """Largest i <= index whose term is <= term (snapshot index at the lowest)."""
        lo, hi = self.snapshot_index(), min(index, self.last_index())
        while lo < hi:
            mid = (lo + hi + 1) // 2
            t = self.term_or_none(mid)
            if t is not None and t <= term:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # ---- writing ------------------------------------------------------------------------
    def append(self, ents: list[Entry]) -> None:
        """Append entries, truncating whatever conflicts from ents[0].index on."""
        if not ents:
            return
        first = ents[0].index
        if first == self.offset + len(self.entries):
            self.entries.extend(ents)
        elif first <= self.offset:
            # Replaces the whole unstable tail and maybe part of the persisted log.
            self.offset = first
            self.entries = list(ents)
        else:
            del self.entries[first - self.offset :]
            self.entries.extend(ents)
        self.in_progress = min(self.in_progress, first)
        self.persisted = min(self.persisted, first - 1)

    def find_conflict(self, ents: tuple[Entry, ...] | list[Entry]) -> int:
        """Index of the first entry whose term differs from ours (or that we lack); 0 if
        we hold them all."""
        for e in ents:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def restore(self, snap: Snapshot) -> None:
        """Replace the log with a snapshot received from the leader (not yet persisted)."""
        self.snapshot = snap
        self.snap_in_progress = False
        self.offset = snap.meta.index + 1
        self.entries = []
        self.in_progress = self.offset
        self.committed = snap.meta.index
        # The old log is no longer ours; the snapshot counts once it is persisted.
        self.persisted = min(self.persisted, snap.meta.index - 1)

    def commit_to(self, index: int) -> bool:
        if index > self.committed:
            self.committed = min(index, self.last_index())
            return True
        return False

    # ---- persistence bookkeeping --------------------------------------------------------
    def unstable_to_persist(self) -> list[Entry]:
        return self.entries[self.in_progress - self.offset :]

    def stable_to(self, index: int, term: int) -> None:
        """The application persisted entries up to (index, term)."""
        if index < self.offset or not self.match_term(index, term):
            return  # superseded by a truncation meanwhile
        if self.snapshot is not None and index < self.snapshot.meta.index:
            return
        del self.entries[: index + 1 - self.offset]
        self.offset = index + 1
        self.in_progress = max(self.in_progress, self.offset)
        self.persisted = max(self.persisted, index)

    def stable_snap_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.meta.index == index:
            self.snapshot = None
            self.snap_in_progress = False
            self.persisted = max(self.persisted, index)
