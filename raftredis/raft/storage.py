"""The narrow storage interface the Raft core reads (modelled on etcd-io/raft's
`Storage`), and the write side the node drives.

The core only *reads* storage. The node writes what a Ready hands out
(entries, hard state, snapshot) and then calls `advance()`. Entries the core
has appended but the node has not yet persisted live in the core's own
unstable log, never in storage.

Two implementations: `raftredis.raft.memory_storage.MemoryStorage` (the test
double, used by the simulator) and `raftredis.storage` (segments on disk).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from raftredis.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta


class StorageError(Exception):
    pass


class CompactedError(StorageError):
    """The requested index is at or below the snapshot index: only the snapshot has it."""


class UnavailableError(StorageError):
    """The requested index is beyond the last index."""


class SnapshotReader(Protocol):
    """One snapshot, pinned: `meta`, `size` and the bytes `read` returns all belong to
    the same snapshot, even if storage installs a newer one meanwhile (another thread
    may). Close it when done; reading after close() is an error."""

    @property
    def meta(self) -> SnapshotMeta: ...

    @property
    def size(self) -> int:
        """Byte length of the snapshot's data."""
        ...

    def read(self, offset: int, size: int) -> bytes:
        """Up to `size` bytes of the data from `offset` (b"" at or past the end)."""
        ...

    def close(self) -> None:
        """Release the snapshot (idempotent)."""
        ...


class BytesSnapshotReader:
    """SnapshotReader over a Snapshot held in memory (immutable, so nothing to pin)."""

    __slots__ = ("_snap", "_closed")

    def __init__(self, snap: Snapshot) -> None:
        self._snap = snap
        self._closed = False

    @property
    def meta(self) -> SnapshotMeta:
        return self._snap.meta

    @property
    def size(self) -> int:
        return len(self._snap.data)

    def read(self, offset: int, size: int) -> bytes:
        if self._closed:
            raise StorageError("snapshot reader is closed")
        if size <= 0:
            return b""
        return self._snap.data[offset : offset + size]

    def close(self) -> None:
        self._closed = True


class Storage(Protocol):
    # ---- read side: what the core calls -------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        """Hard state and configuration as last persisted (configuration = the one from
        the latest CONFIG entry in the log, else the snapshot's, else empty)."""
        ...

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries with lo <= index < hi. With max_bytes, stop once the total size
        (Entry.size()) would pass it, but always return at least one entry.
        Raises CompactedError if lo <= snapshot index, UnavailableError if hi > last+1."""
        ...

    def term(self, index: int) -> int:
        """Term of the entry at index; the snapshot's term for index == snapshot index;
        0 for index 0. Raises CompactedError below the snapshot index and
        UnavailableError past the last index."""
        ...

    def first_index(self) -> int:
        """Index of the first entry still in the log (snapshot index + 1)."""
        ...

    def last_index(self) -> int:
        """Index of the last entry (snapshot index when the log is empty)."""
        ...

    def snapshot_meta(self) -> SnapshotMeta:
        """Metadata of the latest snapshot (index 0 when there is none)."""
        ...

    def snapshot_reader(self) -> SnapshotReader:
        """The latest snapshot's metadata and data, taken in one step and pinned, so a
        snapshot installed meanwhile (e.g. by a disk thread) can neither be mixed into
        it nor make it unreadable. The core sends snapshots to followers through this
        only: separate calls for metadata, size and bytes could each see a different
        snapshot."""
        ...

    # ---- write side: what the node calls while handling a Ready -------------------------
    def append(self, entries: Sequence[Entry]) -> None:
        """Append entries; if entries[0].index <= last_index, first drop every entry
        from that index on (a conflicting suffix). Indexes must be contiguous."""
        ...

    def set_hard_state(self, hs: HardState) -> None: ...

    def sync(self) -> None:
        """Make everything written so far durable (fsync policy permitting)."""
        ...

    def install_snapshot(self, snap: Snapshot) -> None:
        """Replace state with a snapshot received from the leader: keep log entries after
        snap.meta.index only if the log holds meta.index with meta.term, else drop all."""
        ...

    def create_snapshot(self, index: int, conf: ConfState, data: bytes) -> SnapshotMeta:
        """Record a snapshot the application took at applied index `index`, then
        compact: drop log entries up to `index`."""
        ...
