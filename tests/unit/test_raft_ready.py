"""The Ready contract: what may be sent at once, what waits for persistence, has_ready()
changes nothing, and the typed status."""

from __future__ import annotations

import dataclasses
import random

import pytest

from raftredis.raft.config import RaftConfig
from raftredis.raft.core import RaftCore
from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.messages import (
    Append,
    AppendResp,
    Heartbeat,
    HeartbeatResp,
    PreVote,
    PreVoteResp,
    Vote,
    VoteResp,
)
from raftredis.raft.status import PeerStatus, RaftStatus
from raftredis.raft.types import ConfState, Entry, Role
from tests.sim.script import Script

CONF3 = ConfState(voters=frozenset({1, 2, 3}))


def follower(term: int = 0) -> RaftCore:
    c = RaftCore(2, MemoryStorage(CONF3), RaftConfig(), random.Random(2))
    if term:
        c.step(Heartbeat(1, 2, term, 0))
        persist(c)
    return c


def persist(c: RaftCore) -> None:
    while c.has_ready():
        rd = c.ready()
        st = c.storage
        if rd.snapshot is not None:
            st.install_snapshot(rd.snapshot)
        st.append(rd.entries)
        if rd.hard_state is not None:
            st.set_hard_state(rd.hard_state)
        c.advance(rd)


def test_heartbeat_answer_does_not_wait_for_the_followers_disk() -> None:
    c = follower(term=3)
    c.step(Append(1, 2, 3, 0, 0, (Entry(3, 1), Entry(3, 2)), 0))
    c.step(Heartbeat(1, 2, 3, 0, b"ctx"))
    rd = c.ready()
    assert rd.entries and rd.must_sync
    assert [type(m) for m in rd.messages] == [HeartbeatResp]
    assert [type(m) for m in rd.messages_after_persist] == [AppendResp]


def test_nothing_carrying_a_new_term_leaves_before_it_is_durable() -> None:
    c = follower(term=3)
    c.step(Heartbeat(1, 2, 4, 0, b"ctx"))  # a new leader's first heartbeat
    rd = c.ready()
    assert rd.hard_state is not None and rd.hard_state.term == 4
    assert rd.messages == ()
    (resp,) = rd.messages_after_persist
    assert isinstance(resp, HeartbeatResp) and resp.term == 4
    c.advance(rd)
    c.step(Heartbeat(1, 2, 4, 0, b"ctx2"))  # term 4 is durable now
    (resp,) = c.ready().messages
    assert isinstance(resp, HeartbeatResp)


def test_vote_answers_wait_granted_or_not() -> None:
    c = follower(term=3)
    c.election_elapsed = 100  # past any lease
    c.leader = 0
    c.step(Vote(3, 2, 3, 0, 0))  # same term, no vote yet: granted
    rd = c.ready()
    assert rd.messages == ()
    (resp,) = rd.messages_after_persist
    assert isinstance(resp, VoteResp) and resp.granted
    c.advance(rd)
    c.step(Vote(1, 2, 3, 0, 0))  # already voted for 3: refused, still waits
    rd = c.ready()
    assert rd.messages == () and not rd.messages_after_persist[0].granted


def test_pre_votes_go_at_once() -> None:
    c = follower(term=3)
    c.election_elapsed = 100
    c.leader = 0
    c.step(PreVote(3, 2, 4, 0, 0))
    rd = c.ready()
    (resp,) = rd.messages
    assert isinstance(resp, PreVoteResp) and resp.granted and resp.term == 4
    c.advance(rd)
    for _ in range(30):  # our own pre-campaign: PreVotes carry the next term, go at once
        c.tick()
        if c.role != Role.FOLLOWER:
            break
    rd = c.ready()
    assert c.role == Role.PRE_CANDIDATE
    assert {type(m) for m in rd.messages} == {PreVote} and not rd.messages_after_persist


def test_leader_appends_go_while_it_persists() -> None:
    s = Script(3)
    s.run("campaign 1\nstabilize")
    c = s.core(1)
    c.propose(b"x")
    rd = c.ready()
    assert rd.entries and any(isinstance(m, Append) and m.entries for m in rd.messages)
    assert not rd.messages_after_persist


def test_has_ready_changes_nothing() -> None:
    s = Script(3)
    s.run("campaign 1\nstabilize")
    c = s.core(1)
    c.propose(b"x")
    before = (list(c.msgs), {p: (pr.next, pr.inflight_count) for p, pr in c.progress.items()})
    for _ in range(3):
        assert c.has_ready()
    after = (list(c.msgs), {p: (pr.next, pr.inflight_count) for p, pr in c.progress.items()})
    assert before == after and c.msgs == []
    rd = c.ready()  # the proposal goes out with the Ready
    assert any(isinstance(m, Append) and m.entries for m in rd.messages)


def test_status_is_typed_and_keeps_the_old_dict() -> None:
    s = Script(4, voters=3)
    s.run("campaign 1\nstabilize")
    st = s.core(1).status()
    assert isinstance(st, RaftStatus)
    assert (st.id, st.role, st.leader, st.term) == (1, Role.LEADER, 1, 1)
    assert st.conf == CONF3 and st.commit == st.last_index == 1
    assert st.first_index == 1 and st.snapshot_index == 0 and st.lead_transferee == 0
    assert sorted(st.progress) == [2, 3]
    p2 = st.progress[2]
    assert isinstance(p2, PeerStatus)
    assert (p2.match, p2.next, p2.state, p2.recent_active) == (1, 2, "replicate", True)
    assert not p2.paused and p2.inflight == 0 and p2.inflight_bytes == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        st.term = 9  # type: ignore[misc]
    with pytest.raises(TypeError):
        st.progress[5] = p2  # type: ignore[index]
    old = s.core(1).status_dict()
    assert old == {
        "id": 1, "term": 1, "vote": 1, "role": "leader", "leader": 1, "commit": 1,
        "applied": 1, "last_index": 1, "first_index": 1, "snapshot_index": 0,
        "voters": [1, 2, 3], "learners": [], "lead_transferee": 0,
        "progress": {
            p: {"match": 1, "next": 2, "state": "replicate", "recent_active": True,
                "inflight": 0}
            for p in (2, 3)
        },
    }
    assert st["role"] == "leader" and st.get("progress")[2]["match"] == 1  # transitional
    fol = s.core(2).status()
    assert fol.role == Role.FOLLOWER and fol.progress == {} and "progress" not in fol.as_dict()
