"""Snapshot files: every damaged bit is detected, the previous snapshot survives a failed one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from raftredis.raft.types import ConfState, Entry, SnapshotMeta
from raftredis.storage import DiskStorage, StorageCorruptError, snapfile

CONF = ConfState(frozenset({1, 2, 3}), frozenset({4}))


def make(d: Path, data: bytes) -> Path:
    with DiskStorage.open(d, CONF) as s:
        s.persist(None, [Entry(2, i) for i in range(1, 11)])
        with s.snapshot_writer(7, 2, CONF) as w:
            w.write(data)
    (snap,) = [p for p in d.iterdir() if p.name.startswith("snap-")]
    return snap


def test_header_round_trip_and_every_header_bit_flip_detected(tmp_path: Path) -> None:
    snap = make(tmp_path / "d", b"payload")
    info = snapfile.verify(snap)
    assert info.meta == SnapshotMeta(7, 2, CONF) and info.data_len == 7
    header = bytearray(snap.read_bytes()[: snapfile.HEADER_SIZE])
    for byte in range(snapfile.HEADER_SIZE):  # magic, checksum, length, metadata, padding
        for bit in range(8):
            header[byte] ^= 1 << bit
            with pytest.raises(StorageCorruptError):
                snapfile.decode_header(bytes(header), snap)
            header[byte] ^= 1 << bit
    assert snapfile.decode_header(bytes(header), snap) == info


def test_every_flip_in_metadata_and_data_stops_recovery(tmp_path: Path) -> None:
    d = tmp_path / "d"
    snap = make(d, bytes(range(64)))
    work = tmp_path / "w"
    shutil.copytree(d, work)
    wsnap = work / snap.name
    size = wsnap.stat().st_size
    positions = list(range(0, 48)) + list(range(snapfile.HEADER_SIZE, size))
    for byte in positions:
        for bit in range(8):
            _flip(wsnap, byte, bit)
            with pytest.raises(StorageCorruptError) as ei:
                DiskStorage.open(work, CONF).close()
            assert snap.name in str(ei.value)
            _flip(wsnap, byte, bit)
    with DiskStorage.open(work, CONF) as s:
        assert s.snapshot().data == bytes(range(64))


def test_truncated_or_extended_snapshot_is_detected(tmp_path: Path) -> None:
    snap = make(tmp_path / "d", b"x" * 100)
    os.truncate(snap, snap.stat().st_size - 1)
    with pytest.raises(StorageCorruptError, match="header says"):
        snapfile.verify(snap)


def test_open_snapshot_checks_data_at_read_time(tmp_path: Path) -> None:
    d = tmp_path / "d"
    with DiskStorage.open(d, CONF) as s:
        s.persist(None, [Entry(2, i) for i in range(1, 11)])
        s.create_snapshot(5, CONF, b"abcdef")
        (snap,) = [p for p in d.iterdir() if p.name.startswith("snap-")]
        _flip(snap, snapfile.HEADER_SIZE + 2, 0)  # bit rot after recovery
        with pytest.raises(StorageCorruptError, match="data checksum"):
            s.open_snapshot()


def test_previous_snapshot_kept_until_new_one_is_complete(tmp_path: Path) -> None:
    d = tmp_path / "d"
    with DiskStorage.open(d, CONF) as s:
        s.persist(None, [Entry(2, i) for i in range(1, 21)])
        s.create_snapshot(5, CONF, b"first")
        w = s.snapshot_writer(15, 2, CONF)
        w.write(b"second, half written")
        # a crash now: only the old snapshot is complete; the new one is a .tmp file
        names = sorted(os.listdir(d))
        assert f"snap-{5:020d}.snap" in names and any(n.endswith(".tmp") for n in names)
        w.close()
        assert s.snapshot_meta().index == 15
        assert [n for n in os.listdir(d) if n.startswith("snap-")] == [f"snap-{15:020d}.snap"]


def test_crash_between_rename_and_old_delete_keeps_newest(tmp_path: Path) -> None:
    d = tmp_path / "d"
    with DiskStorage.open(d, CONF) as s:
        s.persist(None, [Entry(2, i) for i in range(1, 21)])
        s.create_snapshot(5, CONF, b"first")
        old = (d / f"snap-{5:020d}.snap").read_bytes()
        s.create_snapshot(15, CONF, b"second")
    (d / f"snap-{5:020d}.snap").write_bytes(old)
    with DiskStorage.open(d, CONF) as s:
        assert s.snapshot_meta().index == 15 and s.snapshot().data == b"second"
    assert not (d / f"snap-{5:020d}.snap").exists()


def test_metadata_too_large_is_refused(tmp_path: Path) -> None:
    with DiskStorage.open(tmp_path / "d", CONF) as s:
        s.persist(None, [Entry(2, 1)])
        huge = ConfState(frozenset(range(1, 2000)))
        with pytest.raises(ValueError):
            s.snapshot_writer(1, 2, huge)
        assert s.snapshot_meta().index == 0


def _flip(path: Path, byte: int, bit: int) -> None:
    with open(path, "r+b") as f:
        f.seek(byte)
        b = f.read(1)[0]
        f.seek(byte)
        f.write(bytes([b ^ (1 << bit)]))
