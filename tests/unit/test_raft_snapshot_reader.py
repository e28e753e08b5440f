"""Storage.snapshot_reader(): metadata and bytes of one snapshot, pinned (issue 16, bug 1)."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.storage import StorageError
from raftredis.raft.types import ConfState, Entry
from raftredis.storage import DiskStorage
from tests.crashfs import open_fds_under

CONF = ConfState(voters=frozenset({1, 2, 3}))


def data(index: int, size: int = 5000) -> bytes:
    return (b"%08d" % index) * (size // 8)


def fill(st, n: int = 200) -> None:  # noqa: ANN001
    st.append([Entry(1, i, data=b"e%d" % i) for i in range(1, n + 1)])


def name(index: int) -> str:
    return f"snap-{index:020d}.snap"


def snap_files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".snap"))


def test_memory_reader_keeps_its_snapshot() -> None:
    st = MemoryStorage(CONF)
    fill(st)
    st.create_snapshot(10, CONF, data(10))
    r = st.snapshot_reader()
    st.create_snapshot(20, CONF, data(20, 6000))
    assert r.meta.index == 10 and r.size == 5000
    assert r.read(0, 8) == b"00000010" and r.read(4992, 100) == b"00000010"
    assert r.read(5000, 10) == b""
    r.close()
    with pytest.raises(StorageError):
        r.read(0, 1)
    assert st.snapshot_reader().meta.index == 20


def test_disk_reader_pins_the_file_until_closed(tmp_path: Path) -> None:
    st = DiskStorage.open(tmp_path, CONF)
    try:
        fill(st)
        st.create_snapshot(10, CONF, data(10))
        fds = open_fds_under(tmp_path)
        r = st.snapshot_reader()
        assert open_fds_under(tmp_path) == fds  # nothing is held open between reads
        st.create_snapshot(20, CONF, data(20, 6000))
        assert len(snap_files(tmp_path)) == 2  # the old one is still being sent
        assert (r.meta.index, r.size) == (10, 5000)
        assert r.read(0, 5000) == data(10)
        assert st.snapshot_meta().index == 20 and st.snapshot().data == data(20, 6000)
        r.close()
        r.close()  # idempotent
        assert snap_files(tmp_path) == [name(20)]
        with pytest.raises(StorageError):
            r.read(0, 1)
        # A reader of the current snapshot blocks nothing and deletes nothing.
        r2 = st.snapshot_reader()
        r2.close()
        assert snap_files(tmp_path) == [name(20)]
        # A reader dropped without close() releases its pin too.
        r3 = st.snapshot_reader()
        st.create_snapshot(30, CONF, data(30))
        del r3
        gc.collect()
        assert snap_files(tmp_path) == [name(30)]
    finally:
        st.close()


def test_disk_close_removes_superseded_pinned_snapshots(tmp_path: Path) -> None:
    st = DiskStorage.open(tmp_path, CONF)
    fill(st)
    st.create_snapshot(10, CONF, data(10))
    r = st.snapshot_reader()
    st.create_snapshot(20, CONF, data(20))
    st.close()
    assert snap_files(tmp_path) == [name(20)]
    with pytest.raises(StorageError):
        r.read(0, 8)
    r.close()
    reopened = DiskStorage.open(tmp_path, CONF)
    assert reopened.snapshot_meta().index == 20
    reopened.close()


def test_disk_reader_is_consistent_while_another_thread_compacts(tmp_path: Path) -> None:
    st = DiskStorage.open(tmp_path, CONF)
    fill(st, 60)
    st.create_snapshot(1, CONF, data(1, 4096))
    stop = threading.Event()
    errors: list[BaseException] = []

    def compact() -> None:
        try:
            for i in range(2, 61):
                st.create_snapshot(i, CONF, data(i, 4096 + 8 * i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    t = threading.Thread(target=compact)
    t.start()
    seen = 0
    try:
        while not stop.is_set() or seen == 0:
            r = st.snapshot_reader()
            whole = r.read(0, r.size)
            assert len(whole) == r.size
            assert whole == data(r.meta.index, r.size), r.meta.index
            r.close()
            seen += 1
    finally:
        t.join()
        st.close()
    assert not errors and seen
    assert snap_files(tmp_path) == [name(60)]
