"""Crash recovery of DiskStorage: torn tails are cut, everything else is reported."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from raftredis.raft.types import ConfState, Entry, HardState, SnapshotMeta
from raftredis.storage import DiskStorage, StorageCorruptError, snapfile
from raftredis.storage import hardstate as hsfile
from raftredis.storage import records as rec

CONF = ConfState(frozenset({1, 2, 3}))


def ents(lo: int, hi: int, term: int = 1) -> list[Entry]:
    return [Entry(term, i, data=b"d%d" % i) for i in range(lo, hi)]


def seg_files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.name.startswith("seg-"))


def entry_ends(path: Path) -> list[tuple[int, int]]:
    """(end offset, index) of each entry record in a segment file."""
    buf = path.read_bytes()
    res = rec.scan_records(buf, rec.SEG_HEADER_SIZE, path, allow_torn_tail=False)
    out = []
    for k, (_off, o) in enumerate(res.records):
        end = res.records[k + 1][0] if k + 1 < len(res.records) else len(buf)
        if o[0] == rec.T_ENTRY:
            out.append((end, o[1]))
    return out


def flip(path: Path, byte: int, bit: int) -> None:
    with open(path, "r+b") as f:
        f.seek(byte)
        b = f.read(1)[0]
        f.seek(byte)
        f.write(bytes([b ^ (1 << bit)]))


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A small closed log: hard state + 6 entries in one segment."""
    d = tmp_path / "base"
    with DiskStorage.open(d, CONF) as s:
        s.persist(HardState(1, 1, 0), ents(1, 4))
        s.persist(HardState(2, 1, 0), ents(4, 7, term=2))  # commit 0: cuts below may be legal
    return d


def test_cut_at_every_byte_offset_recovers_last_complete_record(base: Path, tmp_path: Path) -> None:
    seg = seg_files(base)[0]
    size = seg.stat().st_size
    ends = entry_ends(seg)
    assert len(ends) == 6
    work = tmp_path / "work"
    for cut in range(rec.SEG_HEADER_SIZE, size):
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base, work)
        os.truncate(seg_files(work)[0], cut)
        complete = max([i for e, i in ends if e <= cut], default=0)
        with DiskStorage.open(work, CONF) as s:
            assert s.last_index() == complete, cut
            assert s.entries(1, complete + 1) == (ents(1, 4) + ents(4, 7, term=2))[:complete]
            # the torn bytes are gone: a new record follows the good data directly
            s.persist(None, [Entry(5, complete + 1, data=b"new")])
        with DiskStorage.open(work, CONF) as s:
            assert s.last_index() == complete + 1
            assert s.entries(complete + 1, complete + 2)[0].data == b"new"


def test_zero_filled_tail_is_torn_not_corrupt(base: Path) -> None:
    seg = seg_files(base)[0]
    with open(seg, "ab") as f:
        f.write(b"\0" * 100)  # the filesystem grew the file but the data never landed
    with DiskStorage.open(base, CONF) as s:
        assert s.last_index() == 6


def test_torn_new_segment_header_is_dropped(tmp_path: Path) -> None:
    d = tmp_path / "d"
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.persist(None, ents(1, 400))
    files = seg_files(d)
    assert len(files) >= 2
    last = files[-1]
    for cut in range(rec.SEG_HEADER_SIZE):
        w = tmp_path / f"w{cut}"
        shutil.copytree(d, w)
        os.truncate(w / last.name, 0)  # drop all records of the last segment ...
        os.truncate(w / last.name, cut)  # ... and cut its header short
        with DiskStorage.open(w, CONF, segment_bytes=4096) as s:
            assert s.last_index() == int(last.name[15:35]) - 1
        shutil.rmtree(w)


def test_every_bit_flip_in_records_is_detected(base: Path, tmp_path: Path) -> None:
    seg = seg_files(base)[0]
    size = seg.stat().st_size
    work = tmp_path / "work"
    shutil.copytree(base, work)
    wseg = work / seg.name
    for byte in range(size):  # headers of the segment and of every record, payloads
        for bit in range(8):
            flip(wseg, byte, bit)
            with pytest.raises(StorageCorruptError) as ei:
                DiskStorage.open(work, CONF).close()
            assert seg.name in str(ei.value) and "offset" in str(ei.value)
            assert 0 <= ei.value.offset <= size
            flip(wseg, byte, bit)  # restore
    with DiskStorage.open(work, CONF) as s:  # restored copy is fine
        assert s.last_index() == 6


def test_every_bit_flip_in_hard_state_file_is_detected(base: Path) -> None:
    p = base / "hardstate"
    for byte in range(p.stat().st_size):
        for bit in range(8):
            flip(p, byte, bit)
            with pytest.raises(StorageCorruptError) as ei:
                DiskStorage.open(base, CONF).close()
            assert "hardstate" in str(ei.value)
            flip(p, byte, bit)


def test_corruption_before_the_tail_is_not_cut(tmp_path: Path) -> None:
    d = tmp_path / "d"
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.persist(None, ents(1, 400))
    first = seg_files(d)[0]
    # a torn-looking end in a segment that is not the last is damage, not a crash
    os.truncate(first, first.stat().st_size - 3)
    with pytest.raises(StorageCorruptError, match="before the end of the log"):
        DiskStorage.open(d, CONF, segment_bytes=4096)


def test_missing_middle_segment_is_an_index_gap(tmp_path: Path) -> None:
    d = tmp_path / "d"
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.persist(None, ents(1, 600))
    files = seg_files(d)
    assert len(files) >= 3
    files[1].unlink()
    with pytest.raises(StorageCorruptError, match="gap in log indexes") as ei:
        DiskStorage.open(d, CONF, segment_bytes=4096)
    assert files[2].name in str(ei.value)


def test_record_with_wrong_index_is_a_gap(base: Path) -> None:
    seg = seg_files(base)[0]
    with open(seg, "ab") as f:  # a valid record, but index 9 follows 6
        f.write(rec.frame(rec.entry_payload(Entry(2, 9))))
    size_before = seg.stat().st_size
    with pytest.raises(StorageCorruptError, match="expected entry 7, found 9") as ei:
        DiskStorage.open(base, CONF)
    assert ei.value.offset < size_before


def _put_snapshot(d: Path, meta: SnapshotMeta, data: bytes, min_seq: int = 0) -> None:
    import zlib

    info = snapfile.SnapFileInfo(meta, len(data), zlib.crc32(data), min_seq)
    (d / snapfile.snap_name(meta.index)).write_bytes(snapfile.encode_header(info) + data)


def test_log_that_does_not_fit_its_snapshot_stops(base: Path) -> None:
    _put_snapshot(base, SnapshotMeta(5, 9, CONF), b"s")  # the log has term 2 at 5
    with pytest.raises(StorageCorruptError, match="does not fit the snapshot"):
        DiskStorage.open(base, CONF)


def test_log_starting_after_snapshot_is_a_gap(base: Path) -> None:
    # move the log so it starts at 10 while the snapshot ends at 5
    seg = seg_files(base)[0]
    seg.rename(base / "seg-0000000001-00000000000000000010.log")
    _put_snapshot(base, SnapshotMeta(5, 2, CONF), b"s")
    with pytest.raises(StorageCorruptError):
        DiskStorage.open(base, CONF)


def test_log_ending_before_snapshot_stops(base: Path) -> None:
    _put_snapshot(base, SnapshotMeta(50, 2, CONF), b"s")  # but segments are not stale
    with pytest.raises(StorageCorruptError, match="before the snapshot index"):
        DiskStorage.open(base, CONF)


def test_matching_snapshot_with_leftover_covered_segments_recovers(tmp_path: Path) -> None:
    # crash after the snapshot was renamed into place, before old segments were deleted
    d = tmp_path / "d"
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.persist(None, ents(1, 400))
    keep = tmp_path / "keep"
    shutil.copytree(d, keep)
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.create_snapshot(300, CONF, b"snap")
    compacted = [p.name for p in seg_files(d)]
    for p in seg_files(keep):
        if not (d / p.name).exists():
            shutil.copy(p, d / p.name)
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        assert (s.first_index(), s.last_index()) == (301, 399)
        assert s.entries(301, 400) == ents(301, 400)
        assert [p.name for p in seg_files(d)] == compacted  # covered leftovers deleted


def test_crash_during_discarding_install_recovers(tmp_path: Path) -> None:
    # crash after the snapshot replacing a conflicting log landed, before old segments went
    d = tmp_path / "d"
    from raftredis.raft.types import Snapshot

    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.persist(HardState(3, 2, 0), ents(1, 300, term=2))
    old = tmp_path / "old"
    shutil.copytree(d, old)
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        s.install_snapshot(Snapshot(SnapshotMeta(100, 3, CONF), b"leader"))
        s.persist(None, ents(101, 103, term=3))
    for p in seg_files(old):
        shutil.copy(p, d / p.name)  # the stale segments reappear
    with DiskStorage.open(d, CONF, segment_bytes=4096) as s:
        assert (s.first_index(), s.last_index()) == (101, 102)
        assert s.entries(101, 103) == ents(101, 103, term=3)
        assert s.hard_state() == HardState(3, 2, 0)
    assert not any((d / p.name).exists() for p in seg_files(old))


def test_leftovers_of_unfinished_writes_are_removed(base: Path) -> None:
    (base / "hardstate.tmp").write_bytes(b"half")
    (base / "snap-00000000000000000004.snap.1.tmp").write_bytes(b"partial snapshot")
    with DiskStorage.open(base, CONF) as s:
        assert s.last_index() == 6 and s.snapshot_meta().index == 0
    assert not [n for n in os.listdir(base) if n.endswith(".tmp")]


def test_missing_hard_state_file_stops(base: Path) -> None:
    (base / "hardstate").unlink()
    with pytest.raises(StorageCorruptError, match="hard state file is missing"):
        DiskStorage.open(base, CONF)


def test_hard_state_file_decode_roundtrip() -> None:
    r = hsfile.HardStateFile(7, HardState(3, 2, 1), CONF)
    assert hsfile.decode(hsfile.encode(r), Path("x")) == r
