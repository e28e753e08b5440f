"""DiskStorage: the Storage protocol on disk, compaction, snapshots, persister."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from raftredis.raft.storage import CompactedError, StorageError, UnavailableError
from raftredis.raft.types import ConfState, Entry, EntryKind, HardState, Snapshot, SnapshotMeta
from raftredis.storage import AsyncPersister, DiskStorage, FsyncPolicy
from raftredis.storage.writer import merge_batches

CONF = ConfState(frozenset({1, 2, 3}))


def ents(lo: int, hi: int, term: int = 1, size: int = 8) -> list[Entry]:
    return [Entry(term, i, EntryKind.NORMAL, i.to_bytes(4, "big") * (size // 4)) for i in range(lo, hi)]


def segs(d: Path) -> list[str]:
    return sorted(n for n in os.listdir(d) if n.startswith("seg-"))


@pytest.fixture
def d(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_new_directory_is_empty_with_bootstrap_conf(d: Path) -> None:
    with DiskStorage.open(d, CONF) as s:
        assert s.initial_state() == (HardState(), CONF)
        assert (s.first_index(), s.last_index()) == (1, 0)
        assert s.term(0) == 0
        assert s.snapshot_meta() == SnapshotMeta(0, 0, CONF)
        assert s.entries(1, 1) == []
        with pytest.raises(UnavailableError):
            s.term(1)
    # initial_conf only applies to a brand-new directory
    with DiskStorage.open(d, ConfState(frozenset({9}))) as s:
        assert s.initial_state()[1] == CONF


def test_append_read_reopen(d: Path) -> None:
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.persist(HardState(3, 2, 10), ents(1, 101))
        s.persist(None, ents(101, 201, term=2))
        assert s.entries(1, 201) == ents(1, 101) + ents(101, 201, term=2)
        assert s.term(100) == 1 and s.term(101) == 2
        assert len(segs(d)) > 1  # the small segment size forced rolls
    with DiskStorage.open(d, CONF, segment_bytes=4096, cache_entries=10) as s:
        assert s.initial_state()[0] == HardState(3, 2, 10)
        assert s.last_index() == 200
        # most of this is below the small cache: read back from segment files
        assert s.entries(1, 201) == ents(1, 101) + ents(101, 201, term=2)
        assert s.entries(57, 58) == ents(57, 58)
        assert [s.term(i) for i in (1, 100, 101, 200)] == [1, 1, 2, 2]


def test_entries_bounds_and_max_bytes(d: Path) -> None:
    with DiskStorage.open(d, CONF, cache_entries=5) as s:
        s.persist(None, ents(1, 21, size=100))  # Entry.size() == 124 each
        with pytest.raises(UnavailableError):
            s.entries(1, 22)
        assert len(s.entries(1, 21, max_bytes=124 * 3)) == 3
        assert len(s.entries(1, 21, max_bytes=124 * 3 + 123)) == 3
        assert len(s.entries(1, 21, max_bytes=1)) == 1  # always at least one
        assert len(s.entries(18, 21, max_bytes=10**9)) == 3  # from the cache
        s.create_snapshot(5, CONF, b"x")
        with pytest.raises(CompactedError):
            s.entries(5, 10)
        with pytest.raises(CompactedError):
            s.term(4)
        assert s.term(5) == 1
        assert s.entries(6, 8) == ents(6, 8, size=100)


def test_truncate_conflicting_suffix_across_segments(d: Path) -> None:
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.persist(HardState(1, 1, 0), ents(1, 301))
        n_before = len(segs(d))
        s.persist(HardState(2, 3, 5), ents(50, 60, term=2))  # cuts 50..300
        assert s.last_index() == 59
        assert s.entries(45, 60) == ents(45, 50) + ents(50, 60, term=2)
        assert len(segs(d)) < n_before
        s.append(ents(60, 62, term=2))
        s.sync()
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        assert s.last_index() == 61
        assert s.entries(1, 62) == ents(1, 50) + ents(50, 62, term=2)
        assert s.hard_state() == HardState(2, 3, 5)


def test_hard_state_survives_truncation_and_compaction(d: Path) -> None:
    # hard state lives in log records; truncating/deleting them must not lose it
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.persist(HardState(1, 1, 0), ents(1, 100))
        s.persist(HardState(7, 2, 5), ents(100, 200))
        with pytest.raises(StorageError):
            s.persist(None, ents(5, 6, term=7))  # below the commit index: never legal
        s.persist(None, ents(10, 11, term=7))
        s.create_snapshot(10, CONF, b"snap")
    with DiskStorage.open(d, CONF) as s:
        assert s.hard_state() == HardState(7, 2, 5)
        assert s.last_index() == 10 and s.term(10) == 7


def test_bad_input_is_refused_and_loses_nothing(d: Path) -> None:
    with DiskStorage.open(d, CONF) as s:
        s.persist(None, ents(1, 11))
        with pytest.raises(StorageError):
            s.append(ents(13, 15))  # gap
        with pytest.raises(StorageError):
            s.append([Entry(1, 11), Entry(1, 13)])  # not contiguous
        with pytest.raises(StorageError):
            s.append([Entry(1, 11, EntryKind.NORMAL, "text")])  # type: ignore[arg-type]
        assert s.entries(1, 11) == ents(1, 11)
    with DiskStorage.open(d, CONF) as s:
        assert s.entries(1, 11) == ents(1, 11)
    with pytest.raises(ValueError):
        DiskStorage.open(d, CONF, segment_bytes=10)


def test_compaction_deletes_exactly_the_covered_segments(d: Path) -> None:
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.persist(None, ents(1, 501, size=40))
        bounds = [tuple(int(x) for x in n[4:-4].split("-")) for n in segs(d)]
        firsts = [f for _, f in bounds]
        assert len(firsts) >= 5
        cut = firsts[3] + 2  # inside the 4th segment
        s.create_snapshot(cut, CONF, b"state")
        left = [int(n[4:-4].split("-")[1]) for n in segs(d)]
        # the segment holding cut+1 and all later ones stay; all before go
        assert left == firsts[3:]
        assert s.first_index() == cut + 1
        assert s.entries(cut + 1, 501) == ents(cut + 1, 501, size=40)
        # a snapshot covering the whole log leaves one fresh, empty segment
        s.create_snapshot(500, CONF, b"state2")
        names = segs(d)
        assert len(names) == 1 and names[0].endswith(f"{501:020d}.log")
        assert s.stats()["segments"] == 1 and s.last_index() == 500
        assert [n for n in os.listdir(d) if n.startswith("snap-")] == [f"snap-{500:020d}.snap"]
    with DiskStorage.open(d, CONF) as s:
        assert (s.first_index(), s.last_index(), s.term(500)) == (501, 500, 1)
        s.persist(None, ents(501, 503, term=4))
        assert s.entries(501, 503) == ents(501, 503, term=4)


def test_create_snapshot_rules(d: Path) -> None:
    with DiskStorage.open(d, CONF) as s:
        s.persist(None, ents(1, 11))
        with pytest.raises(UnavailableError):
            s.create_snapshot(11, CONF, b"")
        m = s.create_snapshot(5, CONF, b"abc")
        assert m == SnapshotMeta(5, 1, CONF)
        assert s.create_snapshot(3, CONF, b"old") == m  # not newer: no-op
        assert s.snapshot_size() == 3 and s.read_snapshot(1, 10) == b"bc"
        assert s.snapshot().data == b"abc"


def test_streamed_snapshot_and_abort_keeps_previous(d: Path) -> None:
    with DiskStorage.open(d, CONF) as s:
        s.persist(None, ents(1, 101))
        with s.snapshot_writer(40, 1, CONF) as w:
            for k in range(100):
                w.write(bytes([k]) * 1000)
        assert s.snapshot_size() == 100_000
        with pytest.raises(RuntimeError), s.snapshot_writer(80, 1, CONF) as w:
            w.write(b"partial")
            raise RuntimeError("state machine failed mid-snapshot")
        assert s.snapshot_meta().index == 40 and s.first_index() == 41
        assert not [n for n in os.listdir(d) if n.endswith(".tmp")]
        f = s.open_snapshot()
        assert f is not None
        with f:
            assert f.read() == b"".join(bytes([k]) * 1000 for k in range(100))
    with DiskStorage.open(d, CONF) as s:
        assert s.snapshot_meta() == SnapshotMeta(40, 1, CONF)
        assert s.read_snapshot(99_999, 5) == bytes([99])


def test_install_snapshot_keeps_matching_suffix(d: Path) -> None:
    with DiskStorage.open(d, CONF) as s:
        s.persist(None, ents(1, 51, term=2))
        s.install_snapshot(Snapshot(SnapshotMeta(30, 2, CONF), b"leader"))
        assert (s.first_index(), s.last_index()) == (31, 50)
        assert s.entries(31, 51) == ents(31, 51, term=2)


def test_install_snapshot_discards_conflicting_log(d: Path) -> None:
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.persist(None, ents(1, 201, term=2))
        s.install_snapshot(Snapshot(SnapshotMeta(150, 3, CONF), b"leader"))  # term differs
        assert (s.first_index(), s.last_index(), s.term(150)) == (151, 150, 3)
        s.install_snapshot(Snapshot(SnapshotMeta(100, 9, CONF), b"stale"))  # older: ignored
        assert s.snapshot_meta().index == 150
        s.persist(None, ents(151, 153, term=3))
    with DiskStorage.open(d, CONF) as s:
        assert (s.first_index(), s.last_index()) == (151, 152)
        assert s.entries(151, 153) == ents(151, 153, term=3)
        assert s.snapshot().data == b"leader"


def test_install_beyond_log(d: Path) -> None:
    with DiskStorage.open(d, CONF) as s:
        s.persist(None, ents(1, 5))
        conf2 = ConfState(frozenset({1, 2}), frozenset({4}))
        s.install_snapshot_file(SnapshotMeta(1000, 5, conf2), _write(d.parent / "in.bin", b"z" * 5000))
        assert (s.first_index(), s.last_index()) == (1001, 1000)
        assert s.initial_state()[1] == conf2
    with DiskStorage.open(d, CONF) as s:
        assert s.snapshot_meta() == SnapshotMeta(1000, 5, conf2)
        assert s.read_snapshot(0, 10_000) == b"z" * 5000


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p


def test_initial_state_conf_from_latest_config_entry(d: Path) -> None:
    c2 = ConfState(frozenset({1, 2, 3, 4}))
    c3 = ConfState(frozenset({1, 2}))
    with DiskStorage.open(d, CONF) as s:
        s.persist(None, [Entry(1, 1), Entry(1, 2, EntryKind.CONFIG, c2.encode()), Entry(1, 3)])
        assert s.initial_state()[1] == c2
        s.persist(None, [Entry(2, 3, EntryKind.CONFIG, c3.encode())])
        assert s.initial_state()[1] == c3
        s.persist(None, [Entry(3, 3)])  # the CONFIG entry is truncated away
        assert s.initial_state()[1] == c2
    with DiskStorage.open(d, CONF) as s:
        assert s.initial_state()[1] == c2


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_fsync_policies_and_stats(d: Path, policy: FsyncPolicy) -> None:
    with DiskStorage.open(d, CONF, fsync=policy) as s:
        before = s.stats()["fsync_count"]
        for i in range(1, 21):
            s.persist(HardState(1, 0, i - 1), ents(i, i + 1))
        st = s.stats()
        assert st["fsync_policy"] == policy.value
        assert (st["first_index"], st["last_index"], st["segments"]) == (1, 20, 1)
        n = st["fsync_count"] - before
        if policy is FsyncPolicy.ALWAYS:
            assert n >= 20  # one per persist
        else:
            assert n < 20
    with DiskStorage.open(d, CONF) as s:
        assert s.last_index() == 20 and s.hard_state().commit == 19


def test_everysec_syncs_in_the_background(d: Path) -> None:
    with DiskStorage.open(d, CONF, fsync=FsyncPolicy.EVERYSEC) as s:
        s.persist(None, ents(1, 2))
        s.persist(None, ents(2, 3))  # within the same second: left dirty
        base = s.stats()["fsync_count"]
        deadline = time.monotonic() + 5
        while s.stats()["fsync_count"] == base:
            assert time.monotonic() < deadline, "background fsync did not happen"
            time.sleep(0.05)


def test_closed_storage_refuses_writes(d: Path) -> None:
    s = DiskStorage.open(d, CONF)
    s.close()
    with pytest.raises(StorageError):
        s.append(ents(1, 2))
    s.close()  # idempotent


def term_of(i: int) -> int:
    return 1 + i // 30_000  # term changes spread over the log


def test_many_small_entries_round_trip(d: Path) -> None:
    _round_trip(d, 100_000)


@pytest.mark.slow
def test_million_small_entries_round_trip(d: Path) -> None:
    _round_trip(d, 1_000_000)  # 52 s here: the default suite runs the 100k version


def _round_trip(d: Path, n: int) -> None:
    batch = 10_000
    t0 = time.perf_counter()
    with DiskStorage.open(d, CONF, fsync=FsyncPolicy.NO, segment_bytes=8 << 20) as s:
        for lo in range(1, n + 1, batch):
            s.append([Entry(term_of(i), i, EntryKind.NORMAL, b"v%d" % i) for i in range(lo, lo + batch)])
        s.sync()
        t_write = time.perf_counter() - t0
    t1 = time.perf_counter()
    with DiskStorage.open(d, CONF, segment_bytes=8 << 20, cache_entries=1000) as s:
        t_open = time.perf_counter() - t1
        assert s.last_index() == n
        count = 0
        lo = 1
        while lo <= n:
            got = s.entries(lo, min(lo + 50_000, n + 1))
            assert [e.index for e in got] == list(range(lo, lo + len(got)))
            assert [e.data for e in got] == [b"v%d" % i for i in range(lo, lo + len(got))]
            assert [e.term for e in got] == [term_of(i) for i in range(lo, lo + len(got))]
            count += len(got)
            lo += len(got)
        assert count == n
        k = n * 7 // 9
        assert s.entries(k, k + 1)[0].data == b"v%d" % k
    print(f"{n} entries: write {t_write:.2f}s, recover {t_open:.2f}s")


def test_merge_batches_follows_append_rules() -> None:
    a = ents(1, 5)
    b = ents(3, 6, term=2)
    hs, out = merge_batches([(HardState(1), a), (None, b), (HardState(2), [])])
    assert hs == HardState(2)
    assert out == ents(1, 3) + ents(3, 6, term=2)


def test_async_persister_orders_and_group_commits(d: Path) -> None:
    async def main() -> tuple[int, int]:
        with DiskStorage.open(d, CONF) as s:
            p = AsyncPersister(s)
            before = s.stats()["fsync_count"]
            tasks = [asyncio.ensure_future(p.persist(HardState(1, 0, min(i - 1, 100)), ents(i, i + 1)))
                     for i in range(1, 201)]
            await asyncio.gather(*tasks)
            assert s.last_index() == 200
            assert s.hard_state() == HardState(1, 0, 100)
            # a conflicting suffix queued after: order is kept
            await asyncio.gather(p.persist(None, ents(150, 152, term=2)), p.persist(None, ents(152, 153, term=2)))
            assert s.last_index() == 152 and s.term(151) == 2
            with pytest.raises(StorageError):
                await p.persist(None, ents(500, 501))
            await p.persist(None, ents(153, 154, term=2))  # still works after an error
            meta = await p.call(lambda: s.create_snapshot(100, CONF, b"x"))
            assert meta.index == 100
            fsyncs = s.stats()["fsync_count"] - before
            await p.close()
            return fsyncs, s.last_index()

    fsyncs, last = asyncio.run(main())
    assert last == 153
    assert fsyncs < 200  # 200 concurrent persists shared fsyncs
