"""In-memory Storage: the test double of the simulator and unit tests.

Everything written is "durable" at once; the simulator models lost writes by
crashing a node before it hands a Ready's contents to this storage.
"""

from __future__ import annotations

from collections.abc import Sequence

from raftredis.raft.storage import (
    BytesSnapshotReader,
    CompactedError,
    StorageError,
    UnavailableError,
)
from raftredis.raft.types import (
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Snapshot,
    SnapshotMeta,
)


class MemoryStorage:
    def __init__(self, conf: ConfState | None = None) -> None:
        # "Snapshot 0" carries the bootstrap configuration of a brand-new cluster.
        self._snap = Snapshot(SnapshotMeta(0, 0, conf or ConfState()), b"")
        self._ents: list[Entry] = []  # index of _ents[i] is snap.index + 1 + i
        self._hs = HardState()

    # ---- read side ----------------------------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        for e in reversed(self._ents):
            if e.kind == EntryKind.CONFIG:
                return self._hs, ConfState.decode(e.data)
        return self._hs, self._snap.meta.conf

    def hard_state(self) -> HardState:
        return self._hs

    def first_index(self) -> int:
        return self._snap.meta.index + 1

    def last_index(self) -> int:
        return self._snap.meta.index + len(self._ents)

    def term(self, index: int) -> int:
        off = self._snap.meta.index
        if index == off:
            return self._snap.meta.term
        if index < off:
            raise CompactedError(f"index {index} compacted (snapshot {off})")
        if index > off + len(self._ents):
            raise UnavailableError(f"index {index} past last {off + len(self._ents)}")
        return self._ents[index - off - 1].term

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        off = self._snap.meta.index
        if lo <= off:
            raise CompactedError(f"index {lo} compacted (snapshot {off})")
        if hi > off + len(self._ents) + 1:
            raise UnavailableError(f"index {hi - 1} past last {off + len(self._ents)}")
        out = self._ents[lo - off - 1 : hi - off - 1]
        if max_bytes is None or not out:
            return out
        total = 0
        for i, e in enumerate(out):
            total += e.size()
            if total > max_bytes and i > 0:
                return out[:i]
        return out

    def snapshot_meta(self) -> SnapshotMeta:
        return self._snap.meta

    def snapshot(self) -> Snapshot:
        return self._snap

    def snapshot_reader(self) -> BytesSnapshotReader:
        return BytesSnapshotReader(self._snap)

    def snapshot_size(self) -> int:
        return len(self._snap.data)

    def read_snapshot(self, offset: int, size: int) -> bytes:
        return self._snap.data[offset : offset + size]

    # ---- write side ---------------------------------------------------------------------
    def append(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        off = self._snap.meta.index
        first = entries[0].index
        for a, b in zip(entries, entries[1:], strict=False):
            if b.index != a.index + 1:
                raise StorageError("entries are not contiguous")
        if first > self.last_index() + 1:
            raise StorageError(f"gap: appending {first} after {self.last_index()}")
        if first <= off:  # the prefix is already covered by the snapshot
            entries = entries[off + 1 - first :]
            if not entries:
                return
            first = entries[0].index
        del self._ents[first - off - 1 :]
        self._ents.extend(entries)

    def set_hard_state(self, hs: HardState) -> None:
        self._hs = hs

    def sync(self) -> None:
        pass

    def install_snapshot(self, snap: Snapshot) -> None:
        m = snap.meta
        if m.index <= self._snap.meta.index:
            return  # older than what we hold: nothing to do
        keep: list[Entry] = []
        if m.index <= self.last_index() and self.term(m.index) == m.term:
            keep = self._ents[m.index - self._snap.meta.index :]
        self._snap = snap
        self._ents = keep

    def create_snapshot(self, index: int, conf: ConfState, data: bytes) -> SnapshotMeta:
        off = self._snap.meta.index
        if index <= off:
            return self._snap.meta
        if index > self.last_index():
            raise UnavailableError(f"snapshot index {index} past last {self.last_index()}")
        meta = SnapshotMeta(index, self.term(index), conf)
        self._ents = self._ents[index - off :]
        self._snap = Snapshot(meta, data)
        return meta
