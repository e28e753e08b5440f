from __future__ import annotations

import pytest

from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.storage import CompactedError, StorageError, UnavailableError
from raftredis.raft.types import ConfState, Entry, EntryKind, Snapshot, SnapshotMeta

CONF = ConfState(voters=frozenset({1, 2, 3}))


def ents(lo: int, hi: int, term: int = 1) -> list[Entry]:
    return [Entry(term, i, EntryKind.NORMAL, b"x%d" % i) for i in range(lo, hi + 1)]


def test_bootstrap_conf_is_snapshot_zero() -> None:
    st = MemoryStorage(CONF)
    hs, conf = st.initial_state()
    assert conf == CONF and hs.term == 0
    assert (st.first_index(), st.last_index(), st.term(0)) == (1, 0, 0)


def test_append_truncates_conflicting_suffix() -> None:
    st = MemoryStorage(CONF)
    st.append(ents(1, 5))
    st.append(ents(3, 4, term=2))
    assert st.last_index() == 4
    assert [st.term(i) for i in range(1, 5)] == [1, 1, 2, 2]


def test_append_rejects_gaps_and_noncontiguous() -> None:
    st = MemoryStorage(CONF)
    st.append(ents(1, 2))
    with pytest.raises(StorageError):
        st.append(ents(4, 5))
    with pytest.raises(StorageError):
        st.append([Entry(1, 3), Entry(1, 5)])
    assert st.last_index() == 2


def test_entries_bounds_and_byte_limit() -> None:
    st = MemoryStorage(CONF)
    st.append(ents(1, 10))
    assert [e.index for e in st.entries(2, 5)] == [2, 3, 4]
    one = ents(1, 1)[0].size()
    assert len(st.entries(1, 11, max_bytes=3 * one)) == 3
    assert len(st.entries(1, 11, max_bytes=1)) == 1  # always at least one
    with pytest.raises(UnavailableError):
        st.entries(5, 12)
    with pytest.raises(UnavailableError):
        st.term(11)


def test_create_snapshot_compacts_and_install_keeps_matching_tail() -> None:
    st = MemoryStorage(CONF)
    st.append(ents(1, 10))
    meta = st.create_snapshot(6, CONF, b"state")
    assert (meta.index, meta.term) == (6, 1)
    assert st.first_index() == 7 and st.term(6) == 1
    with pytest.raises(CompactedError):
        st.term(5)
    with pytest.raises(CompactedError):
        st.entries(6, 8)
    assert st.read_snapshot(1, 3) == b"tat" and st.snapshot_size() == 5
    # Matching (index, term): the tail after it survives.
    st.install_snapshot(Snapshot(SnapshotMeta(8, 1, CONF), b"s8"))
    assert (st.first_index(), st.last_index()) == (9, 10)
    # Different term: the whole log goes.
    st.install_snapshot(Snapshot(SnapshotMeta(9, 5, CONF), b"s9"))
    assert (st.first_index(), st.last_index(), st.term(9)) == (10, 9, 5)


def test_initial_conf_is_latest_config_entry() -> None:
    st = MemoryStorage(CONF)
    new = ConfState(voters=frozenset({1, 2, 3}), learners=frozenset({4}))
    st.append([Entry(1, 1), Entry(1, 2, EntryKind.CONFIG, new.encode()), Entry(1, 3)])
    assert st.initial_state()[1] == new
