"""Unit tests of RaftCore rules that the simulator only exercises statistically."""

from __future__ import annotations

import ast
import dataclasses
import pathlib
import random

import pytest

from raftredis.raft.config import RaftConfig
from raftredis.raft.core import NotLeaderError, ProposalDroppedError, RaftCore
from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.messages import (
    Append,
    AppendResp,
    Heartbeat,
    HeartbeatResp,
    InstallSnapshot,
    InstallSnapshotResp,
    PreVote,
    Vote,
    VoteResp,
)
from raftredis.raft.types import ConfState, Entry, Role, SnapshotMeta
from tests.sim.script import Script

CONF3 = ConfState(voters=frozenset({1, 2, 3}))


def core(i: int = 1, conf: ConfState = CONF3, **cfg: object) -> RaftCore:
    return RaftCore(i, MemoryStorage(conf), RaftConfig(**cfg), random.Random(i))  # type: ignore[arg-type]


def drive(c: RaftCore) -> list:
    """Handle Readies like an application would; returns every message sent."""
    out = []
    while c.has_ready():
        rd = c.ready()
        st = c.storage
        if rd.snapshot is not None:
            st.install_snapshot(rd.snapshot)
        st.append(rd.entries)
        if rd.hard_state is not None:
            st.set_hard_state(rd.hard_state)
        out.extend(rd.messages)
        out.extend(rd.messages_after_persist)
        c.advance(rd)
    return out


def leader_of_three(**cfg: object) -> Script:
    s = Script(3, **cfg)
    s.run("campaign 1\nstabilize\nexpect 1 role leader")
    return s


def test_raft_package_is_pure() -> None:
    banned = {"asyncio", "socket", "time", "threading"}
    for path in pathlib.Path("raftredis/raft").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
                if node.module == "random":
                    names.append("random-functions")
            else:
                continue
            assert not banned & set(names), (path, names)
            assert "random-functions" not in names, path
        src = path.read_text()
        for fn in ("random.random(", "random.randint(", "random.choice(", "random.randrange("):
            assert fn not in src, (path, fn)


def test_garbage_and_misaddressed_messages_are_ignored() -> None:
    c = core()
    before = c.status()
    c.step("not a message")  # type: ignore[arg-type]
    c.step(Append(2, 9, 5, 0, 0, (), 0))  # not for us
    c.step(Append(1, 1, 5, 0, 0, (), 0))  # from ourselves
    c.step(Append(2, 1, 5, 100, 7, (), 50))  # prev far past our log: rejected, no crash
    assert c.term == 5 and c.commit == before.commit
    rd = c.ready()
    (resp,) = rd.messages_after_persist
    assert isinstance(resp, AppendResp) and not resp.success
    assert (resp.conflict_term, resp.conflict_index) == (0, 1)


def test_propose_on_follower_names_leader() -> None:
    s = leader_of_three()
    with pytest.raises(NotLeaderError) as ei:
        s.core(2).propose(b"x")
    assert ei.value.leader == 1
    with pytest.raises(NotLeaderError) as ei:
        core().read_index(b"r")
    assert ei.value.leader == 0


def test_ready_twice_without_advance_is_an_error() -> None:
    c = core(1, ConfState(voters=frozenset({1})))
    for _ in range(30):
        c.tick()
    c.ready()
    with pytest.raises(RuntimeError):
        c.ready()


def test_lone_voter_commits_only_after_persisting() -> None:
    c = core(1, ConfState(voters=frozenset({1})))
    for _ in range(20):
        c.tick()
    assert c.role == Role.LEADER
    rd = c.ready()
    assert [e.index for e in rd.entries] == [1] and c.commit == 0  # not durable yet
    c.storage.append(rd.entries)
    c.advance(rd)
    assert c.commit == 1


def test_vote_grant_waits_for_persistence_and_log_check() -> None:
    c = core(1)
    c.step(Vote(2, 1, 3, 0, 0))
    rd = c.ready()
    assert rd.hard_state is not None and rd.hard_state.vote == 2 and rd.must_sync
    assert not rd.messages
    (resp,) = rd.messages_after_persist
    assert isinstance(resp, VoteResp) and resp.granted
    c.advance(rd)
    # Same term, another candidate: refused (already voted).
    c.step(Vote(3, 1, 3, 0, 0))
    (resp,) = c.ready().messages_after_persist
    assert not resp.granted


def test_vote_refused_to_a_shorter_log() -> None:
    c = core(1)
    c.step(Append(2, 1, 2, 0, 0, (Entry(2, 1), Entry(2, 2)), 0))
    drive(c)
    c.election_elapsed = 100  # long past any lease
    c.leader = 0
    c.step(Vote(3, 1, 3, 1, 2))
    (resp,) = c.ready().messages_after_persist
    assert isinstance(resp, VoteResp) and not resp.granted and c.term == 3


def test_votes_ignored_while_leader_is_fresh() -> None:
    """§4.2.3: a follower that heard from its leader ignores a disruptive candidate,
    unless the vote comes from a leadership transfer."""
    s = leader_of_three()
    f = s.core(2)
    f.step(Vote(3, 2, 9, 100, 9))
    assert f.term == 1 and not f.has_ready()
    f.step(PreVote(3, 2, 9, 100, 9))
    assert f.term == 1
    (resp,) = f.ready().messages
    assert not resp.granted
    f.advance(_last(f))
    f.step(Vote(3, 2, 9, 100, 9, transfer=True))
    assert f.term == 9 and f.vote == 3


def _last(c: RaftCore):
    return c._pending_ready


def test_check_quorum_leader_steps_down_alone() -> None:
    s = leader_of_three()
    s.run("cut 2 3\ntick 1 25")
    assert s.core(1).role == Role.FOLLOWER and s.core(1).leader == 0


def test_append_batches_respect_byte_limit_and_inflight_window() -> None:
    s = Script(3, max_size_per_msg=100, max_inflight=3)
    s.run("campaign 1\nstabilize")
    c = s.core(1)
    for i in range(40):
        c.propose(b"v%02d" % i)  # 27 bytes each: 3 per message
    rd = c.ready()
    apps = [m for m in rd.messages if isinstance(m, Append) and m.dst == 2]
    assert len(apps) == 3  # the window, not 14 messages
    assert all(sum(e.size() for e in m.entries) <= 100 for m in apps)
    assert [len(m.entries) for m in apps] == [3, 3, 3]
    s.nodes[1].storage.append(rd.entries)
    c.advance(rd)
    s.queue.extend(rd.messages)
    s.run("stabilize\ntick 1\nstabilize")  # followers learn the last commit at a tick
    assert all(s.core(i).commit == 41 for i in (1, 2, 3))  # no-op + 40


def _deliver_until_quiet(s: Script) -> list[object]:
    """`stabilize`, returning every message that was delivered (bounded as it is)."""
    seen: list[object] = []
    for _ in range(1000):
        if not s.queue:
            return seen
        seen.extend(s.queue)
        s.run("deliver")
    raise AssertionError("did not stabilize")


def test_commit_rides_on_the_next_append_or_a_tick_never_a_message_of_its_own() -> None:
    # A message per commit (to every follower, each answered) doubled the peer traffic
    # of a lone client: the leader's next append or its next tick carries the index.
    s = leader_of_three(heartbeat_tick=3)
    c = s.core(1)
    c.propose(b"a")
    s._process(1)
    sent = _deliver_until_quiet(s)
    idx = c.commit
    assert c.log.last_index() == idx  # "a" is committed on the leader
    assert not [m for m in sent if isinstance(m, Append) and not m.entries]
    assert [s.core(i).commit for i in (2, 3)] == [idx - 1, idx - 1]
    c.propose(b"b")  # the next append carries the commit of "a"
    s._process(1)
    apps = [m for m in s.queue if isinstance(m, Append)]
    assert len(apps) == 2 and all(m.commit == idx for m in apps)
    _deliver_until_quiet(s)
    assert [s.core(i).commit for i in (2, 3)] == [idx, idx]
    s.run("tick 1")  # no append follows "b": the leader's next tick announces it
    beats = [m for m in s.queue if isinstance(m, Heartbeat)]
    assert len(beats) == 2 and all(m.commit == idx + 1 for m in beats)
    _deliver_until_quiet(s)
    assert [s.core(i).commit for i in (2, 3)] == [idx + 1, idx + 1]
    s.run("tick 1")  # nothing new to announce and no heartbeat due: silence
    assert not s.queue


def test_entries_committed_while_a_ready_persists_are_handed_out_once() -> None:
    # raft.ready, Pipelining: what commits while the next Ready writes is applied then,
    # not after that write; the next Ready must not hand it out again.
    s = leader_of_three()
    c = s.core(1)
    c.propose(b"a")
    s._process(1)
    s.run("deliver")  # the followers persist "a"; their acks wait in the queue
    a = c.log.last_index()
    assert c.commit < a
    c.propose(b"b")
    rd = c.ready()  # "b" to write; "a" is durable here but not committed yet
    assert [e.data for e in rd.entries] == [b"b"] and rd.durable_hi == a
    assert not rd.committed_entries and c.take_committed() == ()
    acks, s.queue = [m for m in s.queue if m.dst == 1], [m for m in s.queue if m.dst != 1]
    for m in acks:
        c.step(m)
    assert c.commit == a
    assert [e.index for e in c.take_committed()] == [a]
    assert c.take_committed() == ()  # once
    c.storage.append(rd.entries)
    c.advance(rd)
    assert c.applied == a
    while c.has_ready():
        nxt = c.ready()
        assert all(e.index > a for e in nxt.committed_entries)
        c.storage.append(nxt.entries)
        c.advance(nxt)


def test_nothing_is_taken_past_committed_entries_that_are_not_durable() -> None:
    # A follower told of a commit covering entries it has not written yet applies
    # them after the write; nothing after them may be applied before.
    s = leader_of_three()
    c1 = s.core(1)
    c1.propose(b"x")
    s._process(1)
    app = next(m for m in s.queue if isinstance(m, Append) and m.dst == 2)
    s.queue = []
    f = s.core(2)
    f.step(dataclasses.replace(app, commit=app.entries[-1].index))
    rd = f.ready()
    x = app.entries[-1].index
    assert [e.index for e in rd.committed_entries][-1] == x and rd.durable_hi < x
    assert f.take_committed() == ()
    f.storage.append(rd.entries)
    f.advance(rd)
    assert f.applied == x


def test_heartbeats_and_their_answers_leave_while_a_ready_persists() -> None:
    # A slow fsync must not silence a node: the leader's heartbeats and a follower's
    # answers to them go while its write runs; an append ack still waits for it.
    s = leader_of_three()
    c1, f = s.core(1), s.core(2)
    c1.propose(b"x")
    rd1 = c1.ready()  # the leader's write of "x" is in flight from here on
    s.queue = []
    app = next(m for m in rd1.messages if isinstance(m, Append) and m.dst == 2)
    f.step(app)
    rd2 = f.ready()  # the follower's write of "x" is in flight too
    assert any(isinstance(m, AppendResp) for m in rd2.messages_after_persist)
    for _ in range(c1.cfg.heartbeat_tick):
        c1.tick()
    beats = c1.take_messages()
    assert {m.dst for m in beats if isinstance(m, Heartbeat)} == {2, 3}
    assert c1.take_messages() == ()
    f.step(next(m for m in beats if m.dst == 2))
    answers = f.take_messages()
    assert [type(m) for m in answers] == [HeartbeatResp]
    assert not any(isinstance(m, AppendResp) for m in answers)
    f.step(dataclasses.replace(app, commit=0))  # a duplicate append: acked only once durable
    assert not any(isinstance(m, AppendResp) for m in f.take_messages())
    c1.storage.append(rd1.entries)
    c1.advance(rd1)
    f.storage.append(rd2.entries)
    f.advance(rd2)
    assert any(isinstance(m, AppendResp) for m in f.ready().messages_after_persist)


def test_conflict_hint_skips_a_term_per_round_trip() -> None:
    """A follower with a long divergent tail is repaired in a few round trips."""
    s = Script(3, max_size_per_msg=1 << 20)
    s.run("campaign 1\nstabilize\ncut 2 3")
    for i in range(50):
        s.core(1).propose(b"doomed%d" % i)  # 50 entries of term 1 only node 1 holds
    s._process(1)
    s.run("stabilize\ncrash 1\nmend\nrestart 2 3\nelect 2\nstabilize")
    for i in range(5):
        s.core(2).propose(b"w%d" % i)
    s._process(2)
    s.run("stabilize\nrestart 1\nstabilize")
    rejects = []
    orig = s._deliver_round

    def count() -> None:
        rejects.extend(m for m in s.queue if isinstance(m, AppendResp) and not m.success)
        orig()

    s._deliver_round = count  # type: ignore[method-assign]
    s.run("tick 2\nstabilize")
    assert s.core(1).log.last_index() == s.core(2).log.last_index()
    assert s.core(1).log.term(3) == s.core(2).log.term(3)
    assert len(rejects) <= 2


def test_snapshot_sent_in_chunks_to_a_lagging_follower() -> None:
    s = Script(3, snapshot_chunk_size=10)
    s.run("campaign 1\nstabilize\ncut 3")
    for i in range(20):
        s.core(1).propose(b"w%d" % i)
    s._process(1)
    s.run("stabilize")
    st = s.nodes[1].storage
    st.create_snapshot(15, CONF3, b"S" * 35)  # leader compacts past what 3 has
    chunks = []
    orig = s._deliver_round

    def spy() -> None:
        chunks.extend(m for m in s.queue if isinstance(m, InstallSnapshot))
        orig()

    s._deliver_round = spy  # type: ignore[method-assign]
    s.run("mend\ntick 1\nstabilize")
    assert [len(m.data) for m in chunks][:4] == [10, 10, 10, 5]
    assert chunks[3].done and not chunks[0].done
    assert s.nodes[3].storage.snapshot_meta().index == 15
    assert s.nodes[3].storage.snapshot().data == b"S" * 35
    assert s.core(3).commit == s.core(1).commit == 21  # no-op + 20


def test_oversized_snapshot_refused() -> None:
    c = core(2, max_snapshot_bytes=8)
    meta = SnapshotMeta(10, 1, CONF3)
    c.step(InstallSnapshot(1, 2, 1, meta, 0, b"12345678", False))
    c.step(InstallSnapshot(1, 2, 1, meta, 8, b"9", True))
    resps = [m for m in c.ready().messages_after_persist if isinstance(m, InstallSnapshotResp)]
    assert resps[-1].success is False and c.log.snapshot is None


def test_heartbeat_from_stale_leader_gets_newer_term() -> None:
    c = core(2)
    c.step(Append(3, 2, 4, 0, 0, (), 0))
    drive(c)
    c.step(Heartbeat(1, 2, 2, 0))
    (resp,) = c.ready().messages_after_persist
    assert isinstance(resp, AppendResp) and resp.term == 4 and resp.dst == 1


def test_transfer_blocks_proposals_and_rejects_non_voter() -> None:
    s = leader_of_three()
    with pytest.raises(ValueError):
        s.core(1).transfer_leadership(7)
    s.core(1).transfer_leadership(3)
    with pytest.raises(ProposalDroppedError):
        s.core(1).propose(b"x")
    s._process(1)
    s.run("stabilize")
    assert s.core(3).role == Role.LEADER


def test_membership_add_learner_promote_and_remove_leader() -> None:
    s = Script(4, voters=3)
    s.run("campaign 1\nstabilize")
    c = s.core(1)
    with pytest.raises(ValueError):
        c.propose_conf_change(ConfState(voters=frozenset({1, 2, 3, 4, 5})))  # two at once
    c.propose_conf_change(ConfState(voters=frozenset({1, 2, 3}), learners=frozenset({4})))
    with pytest.raises(ProposalDroppedError):  # one change at a time
        c.propose_conf_change(ConfState(voters=frozenset({1, 2, 3, 4})))
    s._process(1)
    s.run("stabilize")
    assert s.core(2).conf.learners == frozenset({4})
    assert s.core(4).commit == c.commit  # the learner caught up
    assert s.core(1).status().progress[4].match == c.commit
    c.propose_conf_change(ConfState(voters=frozenset({1, 2, 3, 4})))  # promote
    s._process(1)
    s.run("stabilize")
    assert s.core(4).conf.voters == frozenset({1, 2, 3, 4})
    # Remove the leader itself (§4.2.2): it steps down once the change commits.
    c.propose_conf_change(ConfState(voters=frozenset({2, 3, 4})))
    s._process(1)
    s.run("stabilize")
    assert s.core(1).role == Role.FOLLOWER
    assert s.core(2).conf.voters == frozenset({2, 3, 4})
    s.run("restart 2 3 4\nelect 2\nstabilize")
    assert s.core(2).role == Role.LEADER
    s.core(2).propose(b"after")
    s._process(2)
    s.run("stabilize\ntick 2\nstabilize")
    assert s.core(4).commit == s.core(2).commit
    s.run("tick 1 60")  # the removed node never campaigns
    assert s.core(1).role == Role.FOLLOWER and s.core(1).term < s.core(2).term + 1


# ---- CLUSTER FAILOVER as a graceful transfer ---------------------------------------------
def test_a_follower_asks_and_the_leader_hands_over() -> None:
    s = leader_of_three()
    term = s.core(1).term
    s.run("failover 2\nstabilize")
    assert s.core(2).role == Role.LEADER and s.core(1).role == Role.FOLLOWER
    assert s.core(2).term == term + 1


def test_a_lagging_follower_is_caught_up_before_it_takes_over() -> None:
    s = leader_of_three()
    s.run("cut 1 3\npropose 1 a\npropose 1 b\nstabilize")
    behind = s.core(3).log.last_index()
    assert behind < s.core(1).log.last_index()
    want = s.core(1).log.last_index()
    s.run("mend 1 3\nfailover 3\nstabilize")
    # It leads only once it holds everything the old leader had: nothing committed lost.
    assert s.core(3).role == Role.LEADER
    assert s.core(3).log.committed > want  # all of it, and its own term's first entry


def test_only_a_follower_of_a_known_leader_can_ask() -> None:
    s = leader_of_three()
    assert not s.core(1).request_leadership()  # the leader itself
    lone = core(1)
    assert not lone.request_leadership()  # no leader known yet
