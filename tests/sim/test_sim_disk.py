"""The simulator on the real DiskStorage: every node in its own temp directory (fsync
ALWAYS), crashes that lose a seeded part of whatever was not fsynced, some of them inside
an fsync of persist() or of a snapshot, and restarts through DiskStorage.open().

Replay one seed:   SIM_DISK_SEEDS=17 python3 -m pytest -q tests/sim/test_sim_disk.py
                   python3 -m tests.sim.run --disk --seed 17 --nodes 5 -v
More seeds:        python3 -m tests.sim.run --disk --seeds 1000   (3 and 5 nodes alternate)
                   python3 -m pytest -q -m slow tests/sim/test_sim_disk.py
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from raftredis.raft.types import ConfState, Entry, HardState
from raftredis.storage import DiskStorage
from tests.crashfs import SECTOR, CrashFS, CrashNow, open_fds_under
from tests.sim.cluster import SimFailure
from tests.sim.disk import run_disk_seed

DEFAULT_SEEDS = 100  # 3 nodes when even, 5 when odd (~15 s on an idle core)


def _seeds() -> list[int]:
    env = os.environ.get("SIM_DISK_SEEDS")
    if env:
        return [int(s) for s in env.replace(",", " ").split()]
    return list(range(DEFAULT_SEEDS))


def _nodes(seed: int) -> int:
    return 3 if seed % 2 == 0 else 5


@pytest.mark.parametrize("seed", _seeds())
def test_disk_seed(seed: int, tmp_path: Path) -> None:
    # Every fourth seed also tears writes at sector edges (zeros from a 512-byte boundary).
    stats = run_disk_seed(seed, _nodes(seed), tmp_root=str(tmp_path),
                          zero_fill=0.3 if seed % 4 == 3 else 0.0)
    assert stats["elections"] >= 1
    assert stats["recoveries"] == stats["crashes"]  # every crashed node came back from disk
    assert list(tmp_path.iterdir()) == []  # the run removed its directory


def test_crashes_really_lose_unsynced_data(tmp_path: Path) -> None:
    """Guard against a crash model that silently stopped cutting or arming fsyncs."""
    total: dict[str, int] = {}
    for seed in range(6):
        for k, v in run_disk_seed(seed, 3, crash_in_fsync=0.03, zero_fill=0.5,
                                  tmp_root=str(tmp_path)).items():
            total[k] = total.get(k, 0) + v
    for key in ("crashes_in_fsync", "files_cut", "bytes_lost", "zero_filled", "recoveries",
                "writes_acked", "snapshots_sent"):
        assert total[key] > 0, (key, total)


def test_storage_that_skips_fsync_is_caught(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    """Teeth: persist() that forgets to fsync loses acknowledged state at the next crash."""
    monkeypatch.setattr(DiskStorage, "_sync_policy", lambda self: None)
    failures = []
    for seed in range(4):
        try:
            run_disk_seed(seed, 3, tmp_root=str(tmp_path))
        except SimFailure as e:
            failures.append(str(e))
    assert failures, "a storage that never fsyncs went unnoticed"
    assert all("--disk --seed" in f for f in failures)  # the replay command names the mode
    assert any("durability" in f for f in failures), failures


def test_failure_names_disk_replay_command(tmp_path: Path) -> None:
    from tests.sim.disk import DiskCluster

    with CrashFS() as fs:
        c = DiskCluster(5, None, False, tmp_path, fs)
        try:
            with pytest.raises(SimFailure) as ei:
                c.fail("boom")
        finally:
            c.close_all()
    assert "python3 -m tests.sim.run --disk --seed 5 --nodes 3" in str(ei.value)


# ---- the storage bugs the disk mode found, pinned directly -----------------------------------

CONF = ConfState(frozenset({1, 2, 3}))


def test_conflicting_entries_with_a_commit_covering_them_in_one_persist(tmp_path: Path) -> None:
    """A follower takes a conflicting suffix and a commit index over the new entries in one
    Ready; only the commit already on disk forbids the truncation."""
    with DiskStorage.open(tmp_path, CONF) as s:
        s.persist(HardState(1, 1, 4), [Entry(1, i) for i in range(1, 9)])
        s.persist(HardState(2, 0, 6), [Entry(2, 6), Entry(2, 7)])
        assert s.last_index() == 7 and s.term(6) == 2 and s.hard_state().commit == 6
    with DiskStorage.open(tmp_path, CONF) as s:
        assert [s.term(i) for i in range(1, 8)] == [1] * 5 + [2, 2]


def test_crash_inside_persist_never_keeps_a_commit_past_the_log(tmp_path: Path) -> None:
    """Whatever prefix of one persist() survives a crash in its fsync, the node restarts
    and its commit index never points past its log."""
    base = [Entry(1, i, data=b"x" * 20) for i in range(1, 6)]
    for cut_seed in range(60):
        d = tmp_path / f"c{cut_seed}"
        with CrashFS() as fs:
            s = DiskStorage.open(d, CONF)
            s.persist(HardState(1, 1, 5), base)
            fs.arm(d, 1)
            with pytest.raises(CrashNow):
                s.persist(HardState(1, 1, 8), [Entry(1, i, data=b"y" * 20) for i in range(6, 9)])
            os.close(s._fd)
            fs.crash(d, random.Random(cut_seed))
        with DiskStorage.open(d, CONF) as s2:
            hs = s2.hard_state()
            assert hs.commit <= s2.last_index()
            assert 5 <= s2.last_index() <= 8
            assert hs in (HardState(1, 1, 5), HardState(1, 1, 8))


def test_last_record_torn_at_a_sector_edge_is_cut_off(tmp_path: Path) -> None:
    """Power loss after the file's new size reached the disk but only some sectors of the
    last record did: the rest reads as zeros. That record was never fsynced (never
    acknowledged), so recovery should cut it off like any torn tail."""
    with CrashFS() as fs:
        s = DiskStorage.open(tmp_path, CONF)
        s.persist(HardState(1, 1, 2), [Entry(1, 1, data=b"a" * 40), Entry(1, 2, data=b"b" * 40)])
        seg = next(p for p in tmp_path.iterdir() if p.name.startswith("seg-"))
        synced = fs.synced_size(seg)
        fs.arm(tmp_path, 1)
        with pytest.raises(CrashNow):
            s.persist(None, [Entry(1, 3, data=b"c" * 1500)])
        os.close(s._fd)
    size = seg.stat().st_size
    edge = ((synced + 12) // SECTOR + 1) * SECTOR  # inside the new record, past its header
    assert synced < edge < size
    with open(seg, "r+b") as f:
        f.seek(edge)
        f.write(b"\0" * (size - edge))
    with DiskStorage.open(tmp_path, CONF) as s2:
        assert s2.last_index() == 2 and s2.hard_state() == HardState(1, 1, 2)


# ---- the crash model itself --------------------------------------------------------------------

def _write(path: Path, data: bytes, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def test_crash_keeps_the_synced_prefix_and_loses_only_the_tail(tmp_path: Path) -> None:
    sizes = set()
    for seed in range(40):
        d = tmp_path / str(seed)
        d.mkdir()
        with CrashFS() as fs:
            _write(d / "f", b"a" * 100, sync=True)
            _write(d / "f", b"b" * 50, sync=False)
            assert fs.synced_size(d / "f") == 100
            rep = fs.crash(d, random.Random(seed))
        data = (d / "f").read_bytes()
        assert data == (b"a" * 100 + b"b" * 50)[: len(data)] and len(data) >= 100
        assert rep.bytes_lost == 150 - len(data)
        sizes.add(len(data))
    assert len(sizes) > 5  # the cut point really varies


def test_rename_keeps_and_unlink_forgets_what_was_synced(tmp_path: Path) -> None:
    with CrashFS() as fs:
        _write(tmp_path / "x.tmp", b"z" * 64, sync=True)
        os.replace(tmp_path / "x.tmp", tmp_path / "x")  # atomic replace, as hard state does
        assert fs.synced_size(tmp_path / "x") == 64
        fs.crash(tmp_path, random.Random(1))
        assert (tmp_path / "x").read_bytes() == b"z" * 64
        os.unlink(tmp_path / "x")
        _write(tmp_path / "y", b"q" * 64, sync=False)  # may reuse the inode number
        assert fs.synced_size(tmp_path / "y") == 0


def test_zero_fill_starts_at_the_synced_end_or_a_sector_edge(tmp_path: Path) -> None:
    for seed in range(30):
        d = tmp_path / str(seed)
        d.mkdir()
        with CrashFS(zero_fill=1.0) as fs:
            _write(d / "f", b"s" * 700, sync=True)
            _write(d / "f", b"u" * 2000, sync=False)
            fs.crash(d, random.Random(seed))
        data = (d / "f").read_bytes()
        assert len(data) == 2700 and data[:700] == b"s" * 700
        start = len(data.rstrip(b"\0"))
        assert start == 700 or start % SECTOR == 0
        assert set(data[start:]) <= {0} and set(data[700:start]) <= {ord("u")}


def test_armed_fsync_raises_and_syncs_nothing(tmp_path: Path) -> None:
    with CrashFS() as fs:
        _write(tmp_path / "f", b"1" * 10, sync=True)
        fs.arm(tmp_path, 2)
        _write(tmp_path / "f", b"2" * 10, sync=True)  # first fsync: passes
        with pytest.raises(CrashNow):
            _write(tmp_path / "f", b"3" * 10, sync=True)
        assert fs.synced_size(tmp_path / "f") == 20
        _write(tmp_path / "f", b"4", sync=True)  # disarmed once fired
    assert open_fds_under(tmp_path) == []


@pytest.mark.slow
def test_thousand_disk_seeds(tmp_path: Path) -> None:
    failures = []
    for seed in range(1000):
        try:
            run_disk_seed(seed, _nodes(seed), tmp_root=str(tmp_path))
        except SimFailure as e:
            failures.append(str(e).splitlines()[0])
    assert not failures, failures[:10]
