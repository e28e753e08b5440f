"""Membership pieces (issue 15): configurations carrying members' addresses through the
log, the wire and snapshot files; the address text of a member; learners in the core."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from raftredis.raft.config import RaftConfig
from raftredis.raft.core import RaftCore
from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.messages import InstallSnapshot
from raftredis.raft.types import ConfState, Role, SnapshotMeta
from raftredis.replica.membership import MemberAddr, split_hostport
from raftredis.storage import snapfile
from raftredis.transport import codec

WITH_ADDRS = ConfState(frozenset({1, 2}), frozenset({3}),
                       ((1, "h1:17001|h1:7001"), (2, "[::1]:17002|h2:7002"),
                        (3, "h3:17003|h3:7003|promote")))


def test_a_configuration_without_addresses_keeps_the_original_encoding() -> None:
    c = ConfState(frozenset({1, 2, 3}), frozenset({4}))
    assert c.encode() == b"v=1,2,3;l=4"
    assert ConfState.decode(c.encode()) == c


def test_addresses_ride_in_the_configuration_entry() -> None:
    assert ConfState.decode(WITH_ADDRS.encode()) == WITH_ADDRS
    assert WITH_ADDRS.addr_of(2) == "[::1]:17002|h2:7002"
    assert WITH_ADDRS.addr_of(9) == ""


def test_with_addrs_keeps_members_only_and_sorts() -> None:
    c = ConfState(frozenset({2, 1}), frozenset()).with_addrs({9: "x:1|x:2", 2: "b:1|b:2",
                                                              1: "a:1|a:2", 3: ""})
    assert c.addrs == ((1, "a:1|a:2"), (2, "b:1|b:2"))


def test_snapshot_meta_carries_addresses_on_the_wire() -> None:
    m = InstallSnapshot(1, 2, 5, SnapshotMeta(10, 4, WITH_ADDRS), 0, b"data", True)
    assert codec.decode(codec.encode(m)) == m
    plain = InstallSnapshot(1, 2, 5, SnapshotMeta(10, 4, ConfState(frozenset({1}))), 0, b"", True)
    assert codec.decode(codec.encode(plain)) == plain


def test_snapshot_file_header_carries_addresses(tmp_path: Path) -> None:
    info = snapfile.SnapFileInfo(SnapshotMeta(10, 4, WITH_ADDRS), 5, 123, 0)
    header = snapfile.encode_header(info)
    assert snapfile.decode_header(header, tmp_path / "x") == info


def test_member_addr_text() -> None:
    a = MemberAddr("h:1", "h:2", promote=True)
    assert MemberAddr.decode(a.encode()) == a
    assert MemberAddr.decode("h:1|h:2") == MemberAddr("h:1", "h:2", False)
    assert split_hostport("[::1]:7000") == ("::1", 7000)
    for bad in ("nohost", ":7000", "h:0", "h:x"):
        with pytest.raises(ValueError):
            split_hostport(bad)


def _drive(nodes: dict[int, RaftCore], cut: set[int] = frozenset(), rounds: int = 50) -> None:
    """Deliver every message (except to or from `cut`) until quiet, persisting as a
    Ready loop does."""
    for _ in range(rounds):
        moved = False
        for c in nodes.values():
            while c.has_ready():
                rd = c.ready()
                st = c.storage
                if rd.snapshot is not None:
                    st.install_snapshot(rd.snapshot)
                st.append(rd.entries)
                if rd.hard_state is not None:
                    st.set_hard_state(rd.hard_state)
                c.advance(rd)
                for m in rd.messages + rd.messages_after_persist:
                    if m.src in cut or m.dst in cut:
                        continue
                    nodes[m.dst].step(m)
                    moved = True
        if not moved:
            return


def test_a_learner_never_counts_for_commit_and_never_campaigns() -> None:
    cfg = RaftConfig(election_tick=5, heartbeat_tick=1)
    conf = ConfState(frozenset({1}))
    nodes = {1: RaftCore(1, MemoryStorage(conf), cfg, random.Random(1)),
             2: RaftCore(2, MemoryStorage(ConfState()), cfg, random.Random(2))}
    for _ in range(20):
        nodes[1].tick()
    _drive(nodes)
    assert nodes[1].role == Role.LEADER
    nodes[1].propose_conf_change(ConfState(frozenset({1}), frozenset({2})))
    _drive(nodes)
    assert nodes[2].conf.learners == {2} and nodes[2].commit == nodes[1].commit
    # Cut off, the learner holds nothing new, yet the lone voter commits alone.
    idx, _ = nodes[1].propose(b"x")
    _drive(nodes, cut={2})
    assert nodes[1].commit >= idx > nodes[2].commit
    for _ in range(100):
        nodes[2].tick()
    _drive(nodes, cut={2})
    assert nodes[2].role == Role.FOLLOWER and nodes[2].term <= nodes[1].term
