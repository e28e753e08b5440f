"""Issue 16: bugs found in review of the Raft core, each pinned by a test that failed
before its fix."""

from __future__ import annotations

import random
from typing import Any

import pytest

from raftredis.raft.config import RaftConfig
from raftredis.raft.core import RaftCore
from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.messages import Message
from raftredis.raft.types import ConfState, Role

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

