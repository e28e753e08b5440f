"""Issue 16: bugs found in review of the Raft core, each pinned by a test that failed
before its fix."""

from __future__ import annotations

import random
from typing import Any

import pytest

from raftredis.raft.config import RaftConfig
from raftredis.raft.core import RaftCore
from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.messages import (
    Append,
    Heartbeat,
    InstallSnapshot,
    Message,
    ReadIndex,
    ReadIndexResp,
)
from raftredis.raft.progress import ProgressState
from raftredis.raft.types import ConfState, HardState, Role
from tests.sim.script import Script

CONF3 = ConfState(voters=frozenset({1, 2, 3}))


# ---- a tiny network with one-way links ----------------------------------------------------
class Net:
    """Cores on MemoryStorage; every Ready is persisted in full before its after-persist
    messages go out. `blocked` holds (src, dst) links that drop everything."""

    def __init__(self, conf: ConfState, ids: list[int], **cfg: Any) -> None:
        self.cfg = RaftConfig(**cfg)
        self.storage = {i: MemoryStorage(conf) for i in ids}
        self.cores = {i: RaftCore(i, self.storage[i], self.cfg, random.Random(i)) for i in ids}
        self.blocked: set[tuple[int, int]] = set()
        self.queue: list[Message] = []

    def process(self, i: int) -> None:
        c, st = self.cores[i], self.storage[i]
        while c.has_ready():
            rd = c.ready()
            self.queue.extend(rd.messages)
            if rd.snapshot is not None:
                st.install_snapshot(rd.snapshot)
            st.append(rd.entries)
            if rd.hard_state is not None:
                st.set_hard_state(rd.hard_state)
            self.queue.extend(rd.messages_after_persist)
            c.advance(rd)

    def settle(self) -> None:
        for _ in range(1000):
            for i in self.cores:
                self.process(i)
            if not self.queue:
                return
            batch, self.queue = self.queue, []
            for m in batch:
                if (m.src, m.dst) not in self.blocked and m.dst in self.cores:
                    self.cores[m.dst].step(m)
        raise AssertionError("network did not settle")

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            for c in self.cores.values():
                c.tick()
            self.settle()

    def leaders(self) -> list[int]:
        return [i for i, c in self.cores.items() if c.role == Role.LEADER]


# ---- bug 1: a snapshot message must not mix two snapshots ----------------------------------
def _snap_data(index: int) -> bytes:
    return b"%08d" % index * 4  # 32 bytes, every 8 of them name the index


_SNAP_READS = {"snapshot_meta", "snapshot_size", "read_snapshot", "snapshot_reader"}


class RacingStorage:
    """A MemoryStorage where, before every snapshot read but the first, a newer snapshot
    is installed (as the node's disk thread can do between two calls of the core)."""

    def __init__(self, inner: MemoryStorage) -> None:
        self.inner = inner
        self.armed = False
        self.calls = 0

    def race(self) -> None:
        self.calls += 1
        st = self.inner
        nxt = st.snapshot_meta().index + 1
        if self.calls > 1 and nxt <= st.last_index():
            st.create_snapshot(nxt, CONF3, _snap_data(nxt))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not self.armed or name not in _SNAP_READS:
            return attr

        def racing(*args: Any) -> Any:
            self.race()
            out = attr(*args)
            return _RacingReader(self, out) if hasattr(out, "read") else out

        return racing


class _RacingReader:
    def __init__(self, st: RacingStorage, reader: Any) -> None:
        self._st, self._reader = st, reader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)

    def read(self, offset: int, size: int) -> bytes:
        self._st.race()
        return self._reader.read(offset, size)


@pytest.mark.parametrize("chunk", [64, 10])
def test_snapshot_message_never_mixes_two_snapshots(chunk: int) -> None:
    s = Script(3, snapshot_chunk_size=chunk)
    racing = RacingStorage(s.nodes[1].storage)
    s.nodes[1].storage = racing  # type: ignore[assignment]
    s._start(1)
    s.run("campaign 1\nstabilize\nexpect 1 role leader\ncut 3")
    for i in range(30):
        s.core(1).propose(b"w%d" % i)
    s._process(1)
    s.run("stabilize")
    racing.inner.create_snapshot(10, CONF3, _snap_data(10))
    racing.armed = True
    sent: list[InstallSnapshot] = []
    orig = s._deliver_round

    def spy() -> None:
        sent.extend(m for m in s.queue if isinstance(m, InstallSnapshot))
        orig()

    s._deliver_round = spy  # type: ignore[method-assign]
    s.run("mend")
    for _ in range(20):
        s.run("tick 1\ndeliver 5")
    assert sent
    for m in sent:
        if m.offset == 0:
            assert m.data[:8] == b"%08d" % m.meta.index, (m.meta.index, m.data[:8])
    st3 = s.nodes[3].storage
    snap = st3.snapshot()
    assert snap.meta.index >= 10 and snap.data == _snap_data(snap.meta.index)
    assert s.core(3).commit == s.core(1).commit == 31


# ---- bug 2: a lone voter must not send appends of a term that is not durable --------------
def test_lone_voter_with_learner_does_not_reuse_a_term() -> None:
    conf = ConfState(voters=frozenset({1}), learners=frozenset({2}))
    net = Net(conf, [1, 2])
    c1 = net.cores[1]
    for _ in range(30):
        c1.tick()
        if c1.role == Role.LEADER:
            break
    assert c1.role == Role.LEADER
    c1.propose(b"first")
    rd = c1.ready()
    assert rd.hard_state is not None and rd.hard_state.term == c1.term
    # The application may send rd.messages before persisting: none may carry the new term.
    assert all(m.term < rd.hard_state.term for m in rd.messages), rd.messages
    for m in rd.messages:
        net.cores[2].step(m)
    net.process(2)
    # Crash before anything of that Ready was persisted; restart from storage.
    net.queue.clear()
    net.cores[1] = c1 = RaftCore(1, net.storage[1], net.cfg, random.Random(99))
    for _ in range(30):
        c1.tick()
        if c1.role == Role.LEADER:
            break
    c1.propose(b"second")
    net.settle()
    net.tick(3)
    lead = net.storage[1]
    learner = net.storage[2]
    assert learner.last_index() == lead.last_index()
    for i in range(1, lead.last_index() + 1):
        assert learner.entries(i, i + 1) == lead.entries(i, i + 1), i


# ---- bug 3: with check-quorum off, leader stickiness must not wedge the cluster ------------
@pytest.mark.parametrize("pre_vote", [True, False])
def test_no_wedge_without_check_quorum(pre_vote: bool) -> None:
    net = Net(CONF3, [1, 2, 3], check_quorum=False, pre_vote=pre_vote)
    assert net.cores[1].campaign_now()
    net.settle()
    assert net.leaders() == [1]
    # 1 -> 2 up, 2 -> 1 down, 1 <-> 3 down, 2 <-> 3 up: 2 and 3 are a connected majority.
    net.blocked = {(2, 1), (1, 3), (3, 1)}
    net.tick(100)
    new = [i for i in net.leaders() if i != 1]
    assert new, "2 and 3 never elected a leader"
    ld = net.cores[new[0]]
    ld.propose(b"x")
    net.tick(2)
    assert net.cores[2].commit == net.cores[3].commit == ld.log.last_index()


# ---- a follower that lost acknowledged entries is repaired ---------------------------------
@pytest.mark.parametrize("write", [False, True])
def test_follower_that_lost_acknowledged_entries_is_repaired(write: bool) -> None:
    """Repaired from the answer to a heartbeat (an idle cluster) or to a new append."""
    s = Script(3)
    s.run("campaign 1\nstabilize\nexpect 1 role leader")
    for i in range(10):
        s.core(1).propose(b"x%d" % i)
    s._process(1)
    s.run("stabilize")
    last = s.core(1).log.last_index()
    assert s.core(1).progress[2].match == last
    # Node 2 restarts having lost everything after index 3 (fsync off, machine crash).
    old = s.nodes[2].storage
    lost = MemoryStorage(CONF3)
    lost.append(old.entries(1, 4))
    hs = old.hard_state()
    lost.set_hard_state(HardState(hs.term, hs.vote, 3))
    s.run("crash 2")
    s.nodes[2].storage = lost
    s.run("restart 2")
    if write:
        s.core(1).propose(b"after")  # its Append is rejected: the log is too short
        s._process(1)
        s.run("stabilize")  # no tick: the Append's rejection alone repairs it
        last += 1
        assert s.nodes[2].storage.last_index() == last
    for _ in range(10):
        s.run("tick 1\ndeliver 4")
    assert s.core(1).role == Role.LEADER
    assert s.nodes[2].storage.last_index() == last
    assert s.core(1).progress[2].match == last
    assert s.core(2).commit == s.core(1).commit


# ---- a probe answered at match leaves probe state at once ----------------------------------
def test_probe_answered_at_match_goes_to_replicate() -> None:
    s = Script(3)
    s.run("campaign 1\nstabilize\ncut 3")
    for i in range(5):
        s.core(1).propose(b"w%d" % i)
    s._process(1)
    s.run("stabilize")
    last = s.core(1).log.last_index()
    s.nodes[1].storage.create_snapshot(last, CONF3, b"S")  # nothing after the snapshot
    s.run("mend\ntick 1\nstabilize")  # one heartbeat, then no more ticks
    pr = s.core(1).progress[3]
    assert pr.match == last
    assert pr.state == ProgressState.REPLICATE


# ---- flow control counts bytes in flight ---------------------------------------------------
def test_inflight_window_is_bounded_in_bytes() -> None:
    s = Script(3, max_size_per_msg=100, max_inflight=256, max_inflight_bytes=243)
    s.run("campaign 1\nstabilize")
    c = s.core(1)
    for i in range(40):
        c.propose(b"v%02d" % i)  # 27 bytes each: 3 per message, 81 bytes
    rd = c.ready()
    apps = [m for m in rd.messages if isinstance(m, Append) and m.dst == 2]
    assert [len(m.entries) for m in apps] == [3, 3, 3]  # 243 bytes: the window is full
    s.nodes[1].storage.append(rd.entries)
    c.advance(rd)
    s.queue.extend(rd.messages)
    s.queue.extend(rd.messages_after_persist)
    s.run("stabilize\ntick 1\nstabilize")  # followers learn the last commit at a tick
    assert all(s.core(i).commit == 41 for i in (1, 2, 3))


def test_one_big_message_still_goes_when_the_window_is_empty() -> None:
    s = Script(3, max_size_per_msg=1 << 20, max_inflight_bytes=10)
    s.run("campaign 1\nstabilize")
    s.core(1).propose(b"x" * 1000)
    s._process(1)
    s.run("stabilize\ntick 1 1\nstabilize")  # the heartbeat carries the commit
    assert all(s.core(i).commit == 2 for i in (1, 2, 3))


# ---- forwarded ReadIndex contexts are unique per incarnation -------------------------------
def test_read_answer_from_a_previous_incarnation_is_not_accepted() -> None:
    s = Script(3)
    s.run("campaign 1\nstabilize\nread 2 r1\ndeliver 3")
    stale = [m for m in s.queue if isinstance(m, ReadIndexResp) and m.dst == 2]
    assert len(stale) == 1 and stale[0].ok
    s.queue = [m for m in s.queue if m not in stale]
    s.run("stabilize\nexpect-read 2 r1 none")
    # Writes commit after that read index was chosen.
    for i in range(3):
        s.core(1).propose(b"w%d" % i)
    s._process(1)
    s.run("stabilize")
    # Node 2 restarts (with a fresh random source, as any real restart) and its
    # application reuses the context: its own counter restarted too.
    s.run("crash 2")
    s.nodes[2].core = RaftCore(2, s.nodes[2].storage, s.cfg, random.Random(1002))
    s.run("tick 1 1\nstabilize\nread 2 r1")
    s.core(2).step(stale[0])  # the late answer to the old incarnation's request
    s._process(2)
    s.run("expect-read 2 r1 none")
    s.run("stabilize")
    got = s.reads[(2, b"r1")]
    assert got >= s.core(1).commit


def test_forwarded_contexts_carry_the_incarnation() -> None:
    st = MemoryStorage(CONF3)
    a = RaftCore(2, st, RaftConfig(), random.Random(7), incarnation=b"run-1")
    b = RaftCore(2, st, RaftConfig(), random.Random(7), incarnation=b"run-2")
    sent = []
    for c in (a, b):
        c.step(Heartbeat(1, 2, 1, 0))
        c.advance(c.ready())  # term 1 durable: the requests may go at once
        c.read_index(b"r")
        c.read_index(b"r")  # the same application ctx twice: two distinct requests
        rd = c.ready()
        sent.append([m.ctx for m in rd.messages if isinstance(m, ReadIndex)])
        c.advance(rd)
    assert len(set(sent[0] + sent[1])) == 4
    assert all(x.startswith(b"run-1") for x in sent[0])
    # Answers name the application's ctx; a foreign one is ignored.
    b.step(ReadIndexResp(1, 2, 1, sent[0][0], 5))
    b.step(ReadIndexResp(1, 2, 1, sent[1][1], 7))
    rd = b.ready()
    assert [(r.index, r.ctx) for r in rd.read_states] == [(7, b"r")]
