"""Property tests: DiskStorage answers exactly like MemoryStorage under random
append / truncate / hard state / compact / snapshot install / reopen sequences,
and after a crash that loses unsynced writes it keeps a consistent prefix."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.storage import StorageError
from raftredis.raft.types import ConfState, Entry, EntryKind, HardState, Snapshot, SnapshotMeta
from raftredis.storage import DiskStorage, FsyncPolicy

CONF = ConfState(frozenset({1, 2, 3}))
SEG = 4096  # small segments so rolls and compaction happen often

op = st.one_of(
    st.tuples(st.just("append"), st.integers(0, 30), st.integers(1, 40), st.integers(0, 600)),
    st.tuples(st.just("hs"), st.integers(0, 3), st.integers(0, 3), st.integers(0, 100)),
    st.tuples(st.just("compact"), st.integers(0, 100), st.just(0), st.integers(0, 50)),
    st.tuples(st.just("install"), st.integers(0, 150), st.integers(0, 2), st.integers(0, 50)),
    st.tuples(st.just("reopen"), st.integers(0, 1), st.just(0), st.just(0)),
    st.tuples(st.just("config"), st.integers(1, 5), st.just(0), st.just(0)),
)


def compare(disk: DiskStorage, mem: MemoryStorage) -> None:
    assert disk.first_index() == mem.first_index()
    assert disk.last_index() == mem.last_index()
    assert disk.snapshot_meta() == mem.snapshot_meta()
    assert disk.initial_state() == mem.initial_state()
    lo, hi = mem.first_index(), mem.last_index() + 1
    assert disk.entries(lo, hi) == mem.entries(lo, hi)
    for i in range(lo - 1, hi):
        assert disk.term(i) == mem.term(i)
    if hi > lo:
        for mb in (1, 100, 1000):
            assert disk.entries(lo, hi, mb) == mem.entries(lo, hi, mb)
    assert disk.snapshot_size() == mem.snapshot_size()
    assert disk.read_snapshot(0, 1 << 20) == mem.read_snapshot(0, 1 << 20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=40), st.integers(1, 64))
def test_disk_matches_memory(ops: list[tuple], cache_entries: int) -> None:
    d = Path(tempfile.mkdtemp(prefix="rr-prop-"))
    mem = MemoryStorage(CONF)
    term = 1
    commit = 0

    def open_disk() -> DiskStorage:
        return DiskStorage.open(d, CONF, fsync=FsyncPolicy.NO, segment_bytes=SEG,
                                cache_entries=cache_entries, cache_bytes=4000)

    disk = open_disk()
    try:
        for kind, a, b, c in ops:
            if kind == "append":
                # start somewhere in (commit, last+1]: may cut a conflicting suffix
                last = mem.last_index()
                start = max(commit + 1, mem.first_index(), last + 1 - a)
                term += 1 if a % 3 == 0 else 0
                batch = [Entry(term, i, EntryKind.NORMAL, bytes([i % 256]) * (c % 97))
                         for i in range(start, start + b)]
                disk.persist(None, batch)
                mem.append(batch)
            elif kind == "config":
                i = mem.last_index() + 1
                e = Entry(term, i, EntryKind.CONFIG, ConfState(frozenset(range(1, a + 1))).encode())
                disk.persist(None, [e])
                mem.append([e])
            elif kind == "hs":
                commit = min(mem.last_index(), max(commit, c))
                hs = HardState(term + a, b, commit)
                disk.persist(hs, [])
                mem.set_hard_state(hs)
            elif kind == "compact":
                if mem.last_index() >= mem.first_index():
                    idx = mem.first_index() + a % (mem.last_index() - mem.first_index() + 1)
                    data = b"snap%d" % c
                    assert disk.create_snapshot(idx, CONF, data) == mem.create_snapshot(idx, CONF, data)
            elif kind == "install":
                # b: 0 = matching (keeps suffix), 1 = conflicting term, 2 = beyond the log
                idx = max(mem.snapshot_meta().index + 1, mem.first_index() + a % 40)
                if b == 1:  # a conflicting snapshot can only come above our commit index
                    idx = max(idx, commit + 1)
                if b == 2:
                    idx = mem.last_index() + 1 + a
                if b == 0 and idx <= mem.last_index():
                    t = mem.term(idx)
                else:
                    t = term + 1
                    term += 1
                snap = Snapshot(SnapshotMeta(idx, t, CONF), b"L%d" % c)
                disk.install_snapshot(snap)
                mem.install_snapshot(snap)
                commit = max(commit, idx)
            elif kind == "reopen":
                if a:  # process crash: no close(), no checkpoint; the page cache survives
                    os.close(disk._fd)
                    disk._closed = True
                else:
                    disk.close()
                disk = open_disk()
                assert disk.hard_state() == mem.hard_state()
            compare(disk, mem)
        disk.close()
        disk = open_disk()
        compare(disk, mem)
        assert disk.hard_state() == mem.hard_state()
    finally:
        disk.close()
        shutil.rmtree(d)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=20), st.integers(0, 2**32))
def test_crash_losing_unsynced_tail_keeps_a_consistent_prefix(batches: list[int], seed: int) -> None:
    """Appends without sync, then a crash in which each file keeps a random amount of
    what was written after its last fsync (the page cache dies with the machine)."""
    rnd = random.Random(seed)
    d = Path(tempfile.mkdtemp(prefix="rr-crash-"))
    synced_size: dict[str, int] = {}
    real_fsync = os.fsync

    def tracking_fsync(fd: int) -> None:
        real_fsync(fd)
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return
        if os.path.isfile(path):
            synced_size[path] = os.fstat(fd).st_size

    mp = pytest.MonkeyPatch()
    mp.setattr(os, "fsync", tracking_fsync)
    try:
        s = DiskStorage.open(d, CONF, segment_bytes=SEG)
        expect: list[Entry] = []
        durable = 0
        durable_hs = HardState()
        nxt = 1
        for k, n in enumerate(batches):
            batch = [Entry(1 + k // 5, i, data=b"%d" % i * 7) for i in range(nxt, nxt + n)]
            nxt += n
            expect += batch
            if rnd.random() < 0.4:
                durable_hs = HardState(k + 1, 1, 0)
                s.persist(durable_hs, batch)  # fsynced
                durable = nxt - 1
            else:
                s.append(batch)  # left in the page cache
        # crash: no close(); each segment loses some of its unsynced tail
        os.close(s._fd)
        for p in d.iterdir():
            if p.name.startswith("seg-"):
                cur = p.stat().st_size
                keep = synced_size.get(str(p), 0)
                os.truncate(p, rnd.randint(min(keep, cur), cur))
    finally:
        mp.undo()
    try:
        with DiskStorage.open(d, CONF, segment_bytes=SEG) as s2:
            last = s2.last_index()
            assert durable <= last <= len(expect)
            assert s2.entries(1, last + 1) == expect[:last]
            assert s2.hard_state() == durable_hs
    except StorageError as exc:  # a crash must never look like corruption
        pytest.fail(f"recovery after a crash failed: {exc}")
    finally:
        shutil.rmtree(d)
