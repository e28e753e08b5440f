"""DiskStorage: the Raft log, hard state and snapshots in one directory.

Layout of the directory:

    hardstate                      checkpoint of term/vote/commit (hardstate.py)
    seg-<seq>-<first index>.log    log segments (records.py), seq increases by one per file
    snap-<index>.snap              the current snapshot (snapfile.py); at most one after recovery
    *.tmp                          unfinished writes, deleted at recovery

Threads: the write side (persist/append/sync/snapshots) is serialised by
`_wlock` and may run on a background thread (writer.AsyncPersister) while the
core reads term()/entries() on the event loop. Readers take only `_lock`, which
writers hold while they touch memory or write to the page cache, never while
they wait for fsync of log data. A snapshot_reader() pins its snapshot file: a
newer snapshot does not delete it until the reader is closed.

fsync policy: ALWAYS syncs before persist() returns (Raft's rule). EVERYSEC and
NO give that up: after a machine crash (not a process crash) a node may forget
a vote or entries it acknowledged, which can lose committed writes.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import enum
import os
import re
import threading
import time
import weakref
import zlib
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from raftredis.raft.storage import CompactedError, StorageError, UnavailableError
from raftredis.raft.types import ConfState, Entry, EntryKind, HardState, Snapshot, SnapshotMeta
from raftredis.storage import hardstate as hsfile
from raftredis.storage import records as rec
from raftredis.storage import snapfile
from raftredis.storage.errors import StorageCorruptError
from raftredis.storage.fsutil import all_zero, fsync_dir

_SEG_RE = re.compile(r"^seg-(\d{10})-(\d{20})\.log$")
_SNAP_RE = re.compile(r"^snap-(\d{20})\.snap$")
HS_NAME = "hardstate"
RECENT_FSYNCS = 512  # fsyncs behind raft_fsync_p99_ms
_READ_SPAN = 1 << 20  # bytes read from disk per pread on a cache miss


class FsyncPolicy(enum.StrEnum):
    ALWAYS = "always"  # durable before persist() returns: the only policy Raft is safe with
    EVERYSEC = "everysec"  # at most one second of acknowledged writes lost on machine crash
    NO = "no"  # the OS decides; anything unsynced may be lost on machine crash


def _seg_name(seq: int, first: int) -> str:
    return f"seg-{seq:010d}-{first:020d}.log"


@dataclass
class _Seg:
    seq: int
    first: int
    path: Path
    size: int  # bytes of valid data in the file
    offsets: array = field(default_factory=lambda: array("q"))  # entry i at offsets[i - first]

    @property
    def last(self) -> int:
        return self.first + len(self.offsets) - 1


class SnapshotWriter:
    """Binary sink for a snapshot's data; see DiskStorage.snapshot_writer."""

    def __init__(self, storage: DiskStorage, meta: SnapshotMeta, path: Path) -> None:
        self._storage = storage
        self._meta = meta
        self._path = path
        self._f: BinaryIO | None = open(path, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._f.write(b"\0" * snapfile.HEADER_SIZE)
        self._crc = 0
        self._len = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._f is None:
            raise ValueError("snapshot writer is closed")
        self._f.write(data)
        self._crc = zlib.crc32(data, self._crc)
        self._len += len(data)
        return len(data)

    def close(self) -> None:
        """Make the snapshot durable and current, then compact the log."""
        if self._f is None:
            return
        f, self._f = self._f, None
        try:
            self._storage._commit_snapshot(self._meta, self._path, f, self._len, self._crc)
        except BaseException:
            with contextlib.suppress(OSError):
                f.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            raise

    def abort(self) -> None:
        """Discard the partial snapshot; the previous one stays current."""
        if self._f is None:
            return
        f, self._f = self._f, None
        f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class DiskSnapshotReader:
    """A pinned snapshot file (see DiskStorage.snapshot_reader). Holds no file open
    between reads; the file is kept until close() (or until the reader is collected)."""

    def __init__(self, storage: DiskStorage, meta: SnapshotMeta, size: int,
                 path: Path | None) -> None:
        self._meta = meta
        self._size = size
        self._path = path
        self._release = (weakref.finalize(self, storage._unpin_snapshot, path)
                         if path is not None else None)

    @property
    def meta(self) -> SnapshotMeta:
        return self._meta

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, size: int) -> bytes:
        if self._release is not None and not self._release.alive:
            raise StorageError("snapshot reader is closed")
        if self._path is None or offset >= self._size or size <= 0:
            return b""
        size = min(size, self._size - offset)
        try:
            with open(self._path, "rb") as f:
                f.seek(snapfile.HEADER_SIZE + offset)
                data = f.read(size)
        except FileNotFoundError as exc:
            raise StorageError(f"snapshot file {self._path} is gone (storage closed?)") from exc
        if len(data) != size:
            raise StorageCorruptError(self._path, snapfile.HEADER_SIZE + offset + len(data),
                                      "snapshot file is shorter than its header says")
        return data

    def close(self) -> None:
        if self._release is not None:
            self._release()


class DiskStorage:
    """Implements raftredis.raft.storage.Storage on disk. Create with DiskStorage.open()."""

    def __init__(self, directory: Path, fsync: FsyncPolicy, segment_bytes: int,
                 cache_entries: int, cache_bytes: int) -> None:
        self._dir = directory
        self._policy = FsyncPolicy(fsync)
        self._segment_bytes = segment_bytes
        self._cache_max_entries = cache_entries
        self._cache_max_bytes = cache_bytes
        self._lock = threading.RLock()  # memory state; readers and writers
        self._wlock = threading.RLock()  # serialises the write side, held across fsync
        self._segs: list[_Seg] = []
        self._fd = -1  # active (last) segment, open for writing
        self._pending_fds: list[int] = []  # rolled segments not yet fsynced
        self._dirty = False  # active segment has unsynced writes
        self._dir_dirty = False  # files created or removed since the last directory fsync
        self._next_seq = 1
        self._last = 0
        self._snap = SnapshotMeta()
        self._snap_size = 0
        self._snap_path: Path | None = None
        self._snap_min_seq = 0
        # Snapshot files pinned by open readers (path -> count), and superseded files
        # kept only because they are pinned (deleted at the last unpin or at close()).
        self._snap_pins: dict[Path, int] = {}
        self._snap_retired: set[Path] = set()
        self._hs = HardState()
        self._hs_seq = 0  # seq of the newest hard state written (log record or file)
        self._hs_file_seq = 0  # seq held by the hard state file
        self._bootstrap = ConfState()
        # terms as runs: _tr_idx[k] is the first index having term _tr_term[k]
        self._tr_idx: list[int] = []
        self._tr_term: list[int] = []
        self._confs: list[tuple[int, bytes]] = []  # (index, data) of CONFIG entries in the log
        self._cache: list[Entry] = []  # entries _cache_lo .. _last
        self._cache_lo = 1
        self._cache_bytes = 0
        self._log_bytes = 0
        self._fsyncs = 0
        self._last_fsync_ms = 0.0
        # The recent fsync times, for their p99 in INFO and `raftredis status`; written on
        # the syncing thread, read on the loop, hence a lock of their own.
        self._recent_fsync_ms: collections.deque[float] = collections.deque(
            maxlen=RECENT_FSYNCS)
        self._recent_fsync_lock = threading.Lock()
        self._last_sync_time = time.monotonic()
        # Observability hook, called on the writing thread: ("append" | "fsync", seconds).
        self.on_timing: Callable[[str, float], None] | None = None
        self._closed = False
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ opening / recovery

    @classmethod
    def open(
        cls,
        directory: str | Path,
        initial_conf: ConfState,
        fsync: FsyncPolicy = FsyncPolicy.ALWAYS,
        segment_bytes: int = 64 << 20,
        cache_entries: int = 16384,
        cache_bytes: int = 16 << 20,
    ) -> DiskStorage:
        """Create a new storage directory or recover an existing one.

        `initial_conf` is recorded only when the directory is brand new.
        Raises StorageCorruptError (naming file and offset) when the files are
        damaged or inconsistent; a torn last record is cut off silently.
        """
        if segment_bytes < 4096:
            raise ValueError("segment_bytes must be at least 4096")
        if cache_entries < 1 or cache_bytes < 1:
            raise ValueError("cache limits must be positive")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        st = cls(d, fsync, segment_bytes, cache_entries, cache_bytes)
        st._recover(initial_conf)
        if st._policy is FsyncPolicy.EVERYSEC:
            st._ticker = threading.Thread(target=st._tick, name="raftredis-fsync", daemon=True)
            st._ticker.start()
        return st

    def _recover(self, initial_conf: ConfState) -> None:
        d = self._dir
        names = sorted(os.listdir(d))
        for n in names:
            if n.endswith(".tmp"):
                os.unlink(d / n)  # an unfinished atomic write: the old file (if any) stands
        names = [n for n in names if not n.endswith(".tmp")]
        seg_names = [n for n in names if _SEG_RE.match(n)]
        snap_names = [n for n in names if _SNAP_RE.match(n)]
        hs_path = d / HS_NAME

        if not hs_path.exists():
            if seg_names or snap_names:
                raise StorageCorruptError(hs_path, 0, "hard state file is missing")
            self._bootstrap = initial_conf
            self._snap = SnapshotMeta(0, 0, initial_conf)
            hsfile.write(hs_path, hsfile.HardStateFile(0, HardState(), initial_conf))
            self._segs = []
            self._open_new_segment(1)
            self._sync_dir()
            return
        hsf = hsfile.read(hs_path)
        self._hs, self._hs_seq, self._hs_file_seq = hsf.hs, hsf.seq, hsf.seq
        self._bootstrap = hsf.bootstrap
        self._snap = SnapshotMeta(0, 0, hsf.bootstrap)  # "snapshot 0" carries the bootstrap conf

        # snapshot: the newest complete one is current; older ones were superseded
        if snap_names:
            snap_path = d / snap_names[-1]
            info = snapfile.verify(snap_path)
            idx = int(_SNAP_RE.match(snap_names[-1]).group(1))  # type: ignore[union-attr]
            if info.meta.index != idx:
                raise StorageCorruptError(snap_path, 12, f"snapshot index {info.meta.index} "
                                          f"does not match its file name")
            self._snap, self._snap_size = info.meta, info.data_len
            self._snap_path, self._snap_min_seq = snap_path, info.min_seq
            for n in snap_names[:-1]:
                os.unlink(d / n)
                self._dir_dirty = True
        s_idx = self._snap.index

        # segments, in seq order; those below min_seq belong to a discarded log
        parsed = []
        for n in seg_names:
            m = _SEG_RE.match(n)
            assert m
            seq, first = int(m.group(1)), int(m.group(2))
            if seq < self._snap_min_seq:
                os.unlink(d / n)
                self._dir_dirty = True
                continue
            parsed.append((seq, first, d / n))
        parsed.sort()
        segs: list[_Seg] = []
        all_entries_tail: list[tuple] = []  # payloads of the last entries, for the cache
        for k, (seq, first, path) in enumerate(parsed):
            is_last = k == len(parsed) - 1
            buf = path.read_bytes()
            if is_last and (
                len(buf) < rec.SEG_HEADER_SIZE or all_zero(buf[: rec.SEG_HEADER_SIZE])
            ):
                # a segment whose creation was cut short by a crash: it holds nothing
                os.unlink(path)
                self._dir_dirty = True
                continue
            hseq, hfirst = rec.decode_segment_header(buf, path)
            if (hseq, hfirst) != (seq, first):
                raise StorageCorruptError(path, 0, f"header says seq {hseq} first index "
                                          f"{hfirst}, file name disagrees")
            res = rec.scan_records(buf, rec.SEG_HEADER_SIZE, path, allow_torn_tail=is_last)
            seg = _Seg(seq, first, path, res.valid_end)
            if segs and first != segs[-1].last + 1:
                raise StorageCorruptError(path, 0, f"gap in log indexes: previous segment ends "
                                          f"at {segs[-1].last}, this one starts at {first}")
            expect = first
            offsets = seg.offsets
            snap_term = self._snap.term
            tail_objs: list[tuple] = []
            for off, o in res.records:
                if o[0] != rec.T_ENTRY:
                    if o[1] > self._hs_seq:
                        self._hs_seq, self._hs = rec.to_hardstate(o)
                    continue
                index, term = o[1], o[2]
                if index != expect:
                    raise StorageCorruptError(path, off, f"gap in log indexes: expected "
                                              f"entry {expect}, found {index}")
                expect += 1
                offsets.append(off)
                if index > s_idx:
                    if not self._tr_term or self._tr_term[-1] != term:
                        self._tr_idx.append(index)
                        self._tr_term.append(term)
                    if o[3] == EntryKind.CONFIG:
                        self._confs.append((index, o[4]))
                    tail_objs.append(o)
                elif index == s_idx and term != snap_term:
                    raise StorageCorruptError(path, off, f"log does not fit the snapshot: "
                                              f"entry {s_idx} has term {term}, snapshot "
                                              f"says {snap_term}")
            all_entries_tail.extend(tail_objs[-self._cache_max_entries :])
            if len(all_entries_tail) > 2 * self._cache_max_entries:
                del all_entries_tail[: -self._cache_max_entries]
            if res.torn:
                with open(path, "r+b") as f:  # cut the torn tail so appends follow good data
                    f.truncate(res.valid_end)
                    os.fsync(f.fileno())
            segs.append(seg)
            self._next_seq = seq + 1
        self._next_seq = max(self._next_seq, self._snap_min_seq)

        if segs:
            f0, last = segs[0].first, segs[-1].last
            if f0 > s_idx + 1:
                raise StorageCorruptError(segs[0].path, 0, f"gap between snapshot (index {s_idx}) "
                                          f"and log (first index {f0})")
            if last < s_idx:
                raise StorageCorruptError(segs[-1].path, segs[-1].size, f"log ends at {last}, "
                                          f"before the snapshot index {s_idx}")
            self._last = last
        else:
            self._last = s_idx
        self._segs = segs
        if self._hs.commit > self._last:
            if self._policy is FsyncPolicy.ALWAYS:
                raise StorageCorruptError(
                    hs_path if not segs else segs[-1].path, segs[-1].size if segs else 0,
                    f"hard state commit {self._hs.commit} is beyond the last log index {self._last}")
            # a relaxed fsync policy may lose an acknowledged tail: say so through the commit
            self._hs = HardState(self._hs.term, self._hs.vote, self._last)
            self._hs_seq += 1
        if self._hs_seq > self._hs_file_seq:
            self._checkpoint_hs()
        # entries the recovery scan kept become the read cache
        self._cache = [rec.to_entry(o) for o in all_entries_tail[-self._cache_max_entries :]]
        self._cache_lo = self._cache[0].index if self._cache else self._last + 1
        self._cache_bytes = sum(e.size() for e in self._cache)
        self._trim_cache()
        self._log_bytes = sum(s.size for s in segs)
        if segs:
            active = segs[-1]
            self._fd = os.open(active.path, os.O_RDWR)
            os.lseek(self._fd, active.size, os.SEEK_SET)
            self._drop_covered_segments()
        else:
            self._open_new_segment(self._last + 1)
        self._sync_dir()

    def _note_entry(self, e: Entry) -> None:
        """Record term runs and configuration entries of an entry newly in the log."""
        if not self._tr_term or self._tr_term[-1] != e.term:
            self._tr_idx.append(e.index)
            self._tr_term.append(e.term)
        if e.kind == EntryKind.CONFIG:
            self._confs.append((e.index, e.data))

    # ------------------------------------------------------------------ read side

    def initial_state(self) -> tuple[HardState, ConfState]:
        with self._lock:
            if self._confs:
                idx, data = self._confs[-1]
                try:
                    conf = ConfState.decode(data)
                except Exception as exc:
                    raise StorageError(f"CONFIG entry {idx} does not decode: {exc}") from exc
            else:
                conf = self._snap.conf
            return self._hs, conf

    def hard_state(self) -> HardState:
        with self._lock:
            return self._hs

    def first_index(self) -> int:
        with self._lock:
            return self._snap.index + 1

    def last_index(self) -> int:
        with self._lock:
            return self._last

    def snapshot_meta(self) -> SnapshotMeta:
        with self._lock:
            return self._snap

    def snapshot_size(self) -> int:
        with self._lock:
            return self._snap_size

    def term(self, index: int) -> int:
        with self._lock:
            return self._term_locked(index)

    def _term_locked(self, index: int) -> int:
        s = self._snap.index
        if index == s:
            return self._snap.term
        if index < s:
            raise CompactedError(f"index {index} is compacted (snapshot at {s})")
        if index > self._last:
            raise UnavailableError(f"index {index} is past the last index {self._last}")
        k = bisect.bisect_right(self._tr_idx, index) - 1
        return self._tr_term[k]

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        with self._lock:
            if lo <= self._snap.index:
                raise CompactedError(f"index {lo} is compacted (snapshot at {self._snap.index})")
            if hi > self._last + 1:
                raise UnavailableError(f"index {hi - 1} is past the last index {self._last}")
            if lo >= hi:
                return []
            out: list[Entry] = []
            budget = max_bytes
            i = lo
            while i < hi:
                if i >= self._cache_lo:
                    chunk = self._cache[i - self._cache_lo : hi - self._cache_lo]
                else:
                    chunk = self._read_disk(i, min(hi, self._cache_lo))
                for e in chunk:
                    if budget is not None:
                        sz = e.size()
                        if out and sz > budget:
                            return out
                        budget -= sz
                    out.append(e)
                i += len(chunk)
            return out

    def _read_disk(self, lo: int, hi: int) -> list[Entry]:
        """Entries from lo (< hi) read from the segment holding lo, at most ~_READ_SPAN bytes."""
        k = bisect.bisect_right([s.first for s in self._segs], lo) - 1
        seg = self._segs[k]
        a = lo - seg.first
        b = min(hi, seg.last + 1) - seg.first  # exclusive, within this segment
        start = seg.offsets[a]
        # widen the span one entry at a time up to the byte budget (at least one entry)
        j = max(a + 1, bisect.bisect_left(seg.offsets, start + _READ_SPAN, a + 1, b))
        end = seg.offsets[j] if j < len(seg.offsets) else seg.size
        fd = self._fd if seg is self._segs[-1] else os.open(seg.path, os.O_RDONLY)
        try:
            buf = os.pread(fd, end - start, start)
        finally:
            if fd != self._fd:
                os.close(fd)
        if len(buf) != end - start:
            raise StorageCorruptError(seg.path, start + len(buf), "segment is shorter than indexed")
        got = rec.read_entries(buf, start, seg.path)
        got = got[: j - a]
        if not got or got[0].index != lo or got[-1].index != lo + len(got) - 1:
            raise StorageCorruptError(seg.path, start, f"expected entries from {lo} here")
        return got

    def read_snapshot(self, offset: int, size: int) -> bytes:
        with self._lock:
            if self._snap_path is None or offset >= self._snap_size or size <= 0:
                return b""
            size = min(size, self._snap_size - offset)
            with open(self._snap_path, "rb") as f:
                f.seek(snapfile.HEADER_SIZE + offset)
                return f.read(size)

    def snapshot_reader(self) -> DiskSnapshotReader:
        """The current snapshot's metadata, size and file, taken together under the lock
        and pinned until the reader is closed (Storage.snapshot_reader)."""
        with self._lock:
            self._check_open()
            path = self._snap_path
            if path is not None:
                self._snap_pins[path] = self._snap_pins.get(path, 0) + 1
            return DiskSnapshotReader(self, self._snap, self._snap_size, path)

    def _unpin_snapshot(self, path: Path) -> None:
        with self._lock:
            n = self._snap_pins.get(path, 0) - 1
            if n > 0:
                self._snap_pins[path] = n
                return
            self._snap_pins.pop(path, None)
            if path in self._snap_retired:
                self._snap_retired.discard(path)
                # Not made durable: recovery deletes any snapshot older than the newest.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def snapshot(self) -> Snapshot:
        """The whole current snapshot in memory (small snapshots and tests only; prefer
        open_snapshot() for a large keyspace)."""
        with self._lock:
            meta, size = self._snap, self._snap_size
            fp = self.open_snapshot()
        if fp is None:
            return Snapshot(meta, b"")
        with fp:
            return Snapshot(meta, fp.read(size))

    def open_snapshot(self) -> BinaryIO | None:
        """The current snapshot's data as a file positioned at its start (checksum checked
        by a streaming pass first). The file stays readable even if a newer snapshot
        replaces it meanwhile. None when there is no snapshot."""
        with self._lock:
            if self._snap_path is None:
                return None
            path = self._snap_path
            f = open(path, "rb")  # noqa: SIM115 - handed to the caller
        try:
            info = snapfile.decode_header(f.read(snapfile.HEADER_SIZE), path)
            snapfile.verify_data(f, info, path)
        except BaseException:
            f.close()
            raise
        return f

    # ------------------------------------------------------------------ write side

    def append(self, entries: Sequence[Entry]) -> None:
        self._write(None, entries, sync=False)

    def set_hard_state(self, hs: HardState) -> None:
        self._write(hs, (), sync=False)

    def persist(self, hard_state: HardState | None, entries: Sequence[Entry]) -> None:
        """Group commit: hard state and entries in one write, then one fsync (per policy)."""
        t0 = time.perf_counter()
        self._write(hard_state, entries, sync=True)
        if self.on_timing is not None:
            self.on_timing("append", time.perf_counter() - t0)

    def sync(self) -> None:
        with self._wlock:
            self._sync_policy()

    def _write(self, hs: HardState | None, entries: Sequence[Entry], sync: bool) -> None:
        with self._wlock:
            self._check_open()
            if entries:
                self._validate(entries)
            if entries and entries[0].index <= self._snap.index:
                # the prefix is already covered by the snapshot (as MemoryStorage does)
                entries = entries[self._snap.index + 1 - entries[0].index :]
            if entries:
                frames = rec.encode_entries(entries)
            else:
                frames = []
            if entries and entries[0].index <= self._last:
                # Only the commit index already on disk protects entries: a follower may
                # take conflicting entries and a commit index covering them in one Ready.
                commit = self._hs.commit
                if entries[0].index <= commit:
                    raise StorageError(f"refusing to truncate the log at {entries[0].index}: "
                                       f"entries up to {commit} are committed")
                self._truncate_from(entries[0].index)
            with self._lock:
                # Entries before the hard state (as etcd's WAL does): a crash that keeps only
                # a prefix of this write then never keeps a commit index past the log's end.
                if entries:
                    self._append_frames(entries, frames)
                if hs is not None and hs != self._hs:
                    self._hs_seq += 1
                    self._write_buf(rec.frame(rec.hardstate_payload(self._hs_seq, hs)))
                    self._hs = hs
            if sync:
                self._sync_policy()

    def _validate(self, entries: Sequence[Entry]) -> None:
        first = entries[0].index
        for k, e in enumerate(entries):
            if e.index != first + k:
                raise StorageError(f"entries are not contiguous at position {k} (index {e.index})")
            if not isinstance(e.data, bytes):
                raise StorageError(f"entry {e.index} data must be bytes")
        if first > self._last + 1:
            raise StorageError(f"cannot append at {first}: the log ends at {self._last}")

    def _append_frames(self, entries: Sequence[Entry], frames: list[bytes]) -> None:
        """Write framed entries to the active segment, rolling to new segments as they fill.
        Called with both locks held."""
        pos = 0
        while pos < len(frames):
            seg = self._segs[-1]
            room = self._segment_bytes - seg.size
            if room <= 0 and seg.offsets:
                self._roll()
                continue
            # take frames while they fit (at least one, so a huge entry still lands)
            end, used = pos, 0
            while end < len(frames) and (end == pos or used + len(frames[end]) <= room):
                used += len(frames[end])
                end += 1
            base = seg.size
            offs = seg.offsets
            for f in frames[pos:end]:
                offs.append(base)
                base += len(f)
            self._write_buf(b"".join(frames[pos:end]))
            for e in entries[pos:end]:
                self._note_entry(e)
            self._last = entries[end - 1].index
            pos = end
        cache = self._cache
        if not cache:
            self._cache_lo = entries[0].index
        cache.extend(entries)
        self._cache_bytes += sum(len(e.data) + 24 for e in entries)
        self._trim_cache()

    def _trim_cache(self) -> None:
        c = self._cache
        drop = max(0, len(c) - self._cache_max_entries)
        nbytes = self._cache_bytes
        for e in c[:drop]:
            nbytes -= e.size()
        while nbytes > self._cache_max_bytes and drop < len(c) - 1:
            nbytes -= c[drop].size()
            drop += 1
        if drop:
            del c[:drop]
            self._cache_lo += drop
            self._cache_bytes = nbytes

    def _write_buf(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._segs[-1].size += len(data)
        self._log_bytes += len(data)
        self._dirty = True

    def _roll(self) -> None:
        """Seal the active segment and start the next one. The sealed segment is fsynced
        now, whatever the policy, so that only the last segment can ever hold a torn
        record (one fsync per segment_bytes of log: cheap)."""
        os.fsync(self._fd)
        self._fsyncs += 1
        os.close(self._fd)
        self._fd = -1
        self._dirty = False
        self._open_new_segment(self._last + 1)

    def _open_new_segment(self, first: int) -> None:
        seq = self._next_seq
        self._next_seq += 1
        path = self._dir / _seg_name(seq, first)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        self._fd = fd
        self._segs.append(_Seg(seq, first, path, 0))
        self._write_buf(rec.encode_segment_header(seq, first))
        self._dir_dirty = True

    def _truncate_from(self, index: int) -> None:
        """Drop entries >= index (a conflicting suffix). Called with _wlock held."""
        # hard state records after the cut would be lost with it: checkpoint first
        self._checkpoint_hs()
        self._sync_now()  # the truncation must not reorder with earlier unsynced writes
        with self._lock:
            while self._segs[-1].first > index and len(self._segs) > 1:
                seg = self._segs.pop()
                os.close(self._fd)
                os.unlink(seg.path)
                self._log_bytes -= seg.size
                self._dir_dirty = True
                self._fd = os.open(self._segs[-1].path, os.O_RDWR)
            seg = self._segs[-1]
            k = index - seg.first
            cut = seg.offsets[k] if k < len(seg.offsets) else seg.size
            del seg.offsets[k:]
            os.ftruncate(self._fd, cut)
            os.lseek(self._fd, cut, os.SEEK_SET)
            self._log_bytes -= seg.size - cut
            seg.size = cut
            self._dirty = True
            self._last = index - 1
            # term runs, configurations, cache
            k = bisect.bisect_left(self._tr_idx, index)
            del self._tr_idx[k:], self._tr_term[k:]
            while self._confs and self._confs[-1][0] >= index:
                self._confs.pop()
            if index > self._cache_lo:
                removed = self._cache[index - self._cache_lo :]
                del self._cache[index - self._cache_lo :]
                self._cache_bytes -= sum(e.size() for e in removed)
            else:
                self._cache.clear()
                self._cache_bytes = 0
                self._cache_lo = index
        self._sync_now()

    # ------------------------------------------------------------------ syncing

    def _sync_policy(self) -> None:
        if self._policy is FsyncPolicy.ALWAYS:
            self._sync_now()
        elif self._policy is FsyncPolicy.EVERYSEC:
            if time.monotonic() - self._last_sync_time >= 1.0:
                self._sync_now()
        else:
            self._release_pending(sync=False)

    def _release_pending(self, sync: bool) -> None:
        with self._lock:
            fds, self._pending_fds = self._pending_fds, []
        for fd in fds:
            try:
                if sync:
                    os.fsync(fd)
                    self._fsyncs += 1
            finally:
                os.close(fd)

    def _sync_now(self) -> None:
        """fsync everything written so far. Called with _wlock held, not _lock."""
        t0 = time.perf_counter()
        self._release_pending(sync=True)
        if self._dirty and self._fd >= 0:
            self._dirty = False
            os.fsync(self._fd)
            self._fsyncs += 1
        self._sync_dir()
        self._last_sync_time = time.monotonic()
        self._last_fsync_ms = (time.perf_counter() - t0) * 1000.0
        with self._recent_fsync_lock:
            self._recent_fsync_ms.append(self._last_fsync_ms)
        if self.on_timing is not None:
            self.on_timing("fsync", self._last_fsync_ms / 1000.0)

    def _sync_dir(self) -> None:
        if self._dir_dirty:
            self._dir_dirty = False
            fsync_dir(self._dir)
            self._fsyncs += 1

    def set_fsync_policy(self, policy: FsyncPolicy) -> None:
        """Change the policy at run time (CONFIG SET appendfsync). Switching to ALWAYS
        syncs what is pending first, so every later acknowledgement is durable."""
        policy = FsyncPolicy(policy)
        with self._wlock:
            self._check_open()
            self._policy = policy
            if policy is FsyncPolicy.ALWAYS:
                self._sync_now()
            if policy is FsyncPolicy.EVERYSEC and (self._ticker is None
                                                   or not self._ticker.is_alive()):
                self._ticker = threading.Thread(target=self._tick, name="raftredis-fsync",
                                                daemon=True)
                self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._wlock:
                if self._closed or self._policy is not FsyncPolicy.EVERYSEC:
                    return
                if self._dirty or self._pending_fds or self._dir_dirty:
                    self._sync_now()

    def _checkpoint_hs(self) -> None:
        if self._hs_seq > self._hs_file_seq:
            hsfile.write(self._dir / HS_NAME,
                         hsfile.HardStateFile(self._hs_seq, self._hs, self._bootstrap))
            self._hs_file_seq = self._hs_seq
            self._fsyncs += 2

    # ------------------------------------------------------------------ snapshots

    def snapshot_writer(self, index: int, term: int, conf: ConfState) -> SnapshotWriter:
        """A binary sink for snapshot data. On close() (or a clean `with` exit) the file is
        made durable and current, and the log is compacted up to `index` — or replaced, if
        the log does not hold `index` with `term` (a snapshot from the leader). On an
        exception (or abort()) it is discarded and the previous snapshot stays.
        close() fsyncs: call it off the event loop (e.g. AsyncPersister.call)."""
        self._check_open()
        meta = SnapshotMeta(index, term, conf)
        snapfile.encode_header(snapfile.SnapFileInfo(meta, 0, 0, 0))  # fail early if too big
        path = self._dir / (snapfile.snap_name(index) + f".{threading.get_ident()}.tmp")
        return SnapshotWriter(self, meta, path)

    def create_snapshot(self, index: int, conf: ConfState, data: bytes) -> SnapshotMeta:
        with self._wlock:
            self._check_open()
            if index <= self._snap.index:
                return self._snap  # not newer than what we hold: nothing to do
            term = self.term(index)
            with self.snapshot_writer(index, term, conf) as w:
                w.write(data)
            return self._snap

    def install_snapshot(self, snap: Snapshot) -> None:
        with self._wlock:
            if snap.meta.index <= self._snap.index:
                return  # older than what we have: nothing to learn from it
            with self.snapshot_writer(snap.meta.index, snap.meta.term, snap.meta.conf) as w:
                w.write(snap.data)

    def install_snapshot_file(self, meta: SnapshotMeta, path: str | Path) -> None:
        """Install a snapshot whose raw data the node received into the file at `path`
        (streamed, so it is never all in memory)."""
        with self._wlock:
            if meta.index <= self._snap.index:
                return
            with self.snapshot_writer(meta.index, meta.term, meta.conf) as w, \
                    open(path, "rb") as src:
                while chunk := src.read(1 << 20):
                    w.write(chunk)

    def _commit_snapshot(self, meta: SnapshotMeta, tmp: Path, f: BinaryIO,
                         data_len: int, data_crc: int) -> None:
        with self._wlock:
            self._check_open()
            s = meta.index
            if s <= self._snap.index:
                raise StorageError(f"snapshot at {s} is not newer than the current one at "
                                   f"{self._snap.index}")
            keep_log = s <= self._last and self._term_locked(s) == meta.term
            # segments are deleted below: their hard state records must live on in the file
            self._checkpoint_hs()
            min_seq = self._snap_min_seq if keep_log else self._next_seq
            f.flush()
            f.seek(0)
            f.write(snapfile.encode_header(snapfile.SnapFileInfo(meta, data_len, data_crc,
                                                                 min_seq)))
            f.flush()
            os.fsync(f.fileno())
            f.close()
            final = self._dir / snapfile.snap_name(s)
            os.replace(tmp, final)
            fsync_dir(self._dir)
            self._fsyncs += 2
            old = self._snap_path
            with self._lock:
                self._snap, self._snap_size = meta, data_len
                self._snap_path, self._snap_min_seq = final, min_seq
                if keep_log:
                    self._compact_memory(s)
                else:
                    self._discard_log(s)
                unlink_old = old is not None and old != final
                if unlink_old and self._snap_pins.get(old):  # type: ignore[arg-type]
                    self._snap_retired.add(old)  # type: ignore[arg-type]
                    unlink_old = False  # a reader still sends it: delete at its close()
            if unlink_old:
                os.unlink(old)  # type: ignore[arg-type]
                self._dir_dirty = True
            self._drop_covered_segments()
            self._sync_now()

    def _compact_memory(self, s: int) -> None:
        """Forget in-memory state for entries <= s (with _lock held)."""
        k = bisect.bisect_right(self._tr_idx, s + 1) - 1
        if k > 0:
            del self._tr_idx[:k], self._tr_term[:k]
        self._confs = [c for c in self._confs if c[0] > s]
        if self._cache_lo <= s:
            drop = min(len(self._cache), s + 1 - self._cache_lo)
            self._cache_bytes -= sum(e.size() for e in self._cache[:drop])
            del self._cache[:drop]
            self._cache_lo = s + 1 if not self._cache else self._cache[0].index

    def _discard_log(self, s: int) -> None:
        """Replace the whole log by an empty one after snapshot index s (with _lock held).
        The new segment's seq equals the snapshot's min_seq, so the old segments are
        recognised as stale at recovery even if a crash interrupts their deletion."""
        old = self._segs
        self._pending_fds.append(self._fd)
        self._segs = []
        self._last = s
        self._tr_idx, self._tr_term, self._confs = [], [], []
        self._cache, self._cache_bytes, self._cache_lo = [], 0, s + 1
        self._open_new_segment(s + 1)
        self._sync_dir()
        for seg in old:
            os.unlink(seg.path)
            self._log_bytes -= seg.size
        self._dir_dirty = True

    def _drop_covered_segments(self) -> None:
        """Delete segments whose entries are all <= snapshot index (exact compaction).
        A wholly covered active segment is first replaced by a fresh one."""
        s = self._snap.index
        with self._lock:
            if self._segs and self._segs[-1].offsets and self._segs[-1].last <= s:
                self._roll()
            while len(self._segs) > 1 and self._segs[0].last <= s:
                seg = self._segs.pop(0)
                os.unlink(seg.path)
                self._log_bytes -= seg.size
                self._dir_dirty = True

    # ------------------------------------------------------------------ misc

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("storage is closed")

    def stats(self) -> dict:
        with self._lock:
            return {
                "first_index": self._snap.index + 1,
                "last_index": self._last,
                "log_bytes": self._log_bytes,
                "segments": len(self._segs),
                "snapshot_index": self._snap.index,
                "snapshot_term": self._snap.term,
                "snapshot_bytes": self._snap_size,
                "fsync_policy": self._policy.value,
                "fsync_count": self._fsyncs,
                "last_fsync_ms": round(self._last_fsync_ms, 3),
                "fsync_p99_ms": round(self._fsync_p99_ms(), 3),
                "cached_entries": len(self._cache),
            }

    def _fsync_p99_ms(self) -> float:
        """The 99th percentile (nearest rank) of the last RECENT_FSYNCS fsyncs (0 before
        the first)."""
        with self._recent_fsync_lock:
            times = sorted(self._recent_fsync_ms)
        return times[-(-99 * len(times) // 100) - 1] if times else 0.0

    def close(self) -> None:
        """Sync (whatever the policy), checkpoint the hard state and release files."""
        self._stop.set()
        with self._wlock:
            if self._closed:
                return
            self._checkpoint_hs()
            self._sync_now()
            self._closed = True
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            with self._lock:
                retired, self._snap_retired = self._snap_retired, set()
            for path in retired:  # superseded snapshots still pinned by open readers
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=5)

    def __enter__(self) -> DiskStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
