"""The Raft core: a pure state machine. Messages and ticks go in, Ready comes out.

Nothing here does I/O or reads a clock; the random source is injected. Section
numbers (§) refer to Diego Ongaro's dissertation "Consensus: Bridging Theory and
Practice".
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from types import MappingProxyType

from raftredis.raft import confchange, quorum
from raftredis.raft.config import RaftConfig
from raftredis.raft.log import RaftLog
from raftredis.raft.messages import (
    MESSAGE_TYPES,
    Append,
    AppendResp,
    Heartbeat,
    HeartbeatResp,
    InstallSnapshot,
    InstallSnapshotResp,
    Message,
    PreVote,
    PreVoteResp,
    ReadIndex,
    ReadIndexResp,
    TimeoutNow,
    TransferLeader,
    Vote,
    VoteResp,
)
from raftredis.raft.progress import Progress, ProgressState
from raftredis.raft.quorum import VoteResult
from raftredis.raft.ready import Ready
from raftredis.raft.status import PeerStatus, RaftStatus
from raftredis.raft.storage import CompactedError, Storage, StorageError, UnavailableError
from raftredis.raft.types import (
    ConfState,
    Entry,
    EntryKind,
    HardState,
    ReadState,
    Role,
    Snapshot,
    SnapshotMeta,
    SoftState,
)


class NotLeaderError(Exception):
    """This node is not the leader; `leader` is the one it knows of (0 = unknown)."""

    def __init__(self, leader: int) -> None:
        super().__init__(f"not the leader (leader: {leader or 'unknown'})")
        self.leader = leader


class ProposalDroppedError(Exception):
    """The leader refused the proposal for now (transfer in progress, too much
    uncommitted, config change pending, ...). Nothing was appended."""


# Messages only a leader sends; followers use them to learn who leads.
_LEADER_MSGS = (Append, Heartbeat, InstallSnapshot)


@dataclass(frozen=True, slots=True)
class _PendingRead:
    """A read_index() request the leader has not answered yet."""

    ctx: bytes
    origin: int  # node that asked (0 or our id: local)


@dataclass(slots=True)
class _ReadRound:
    """One heartbeat round confirming leadership for a batch of reads (§6.4)."""

    rid: int
    index: int  # commit index when the round started
    reads: list[_PendingRead]
    acks: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _ForwardedRead:
    """Follower: a read forwarded to the leader, waiting for its ReadIndexResp."""

    ctx: bytes  # the application's, given to read_index()
    leader: int
    waited: int = 0  # ticks


@dataclass(slots=True)
class _SnapshotRx:
    """Follower: a snapshot being received in chunks, from one leader in one term
    (two leaders may hold different bytes for the same snapshot index)."""

    leader: int
    term: int
    meta: SnapshotMeta
    buf: bytearray

    def continues(self, m: InstallSnapshot) -> bool:
        return (
            self.leader == m.src
            and self.term == m.term
            and self.meta.index == m.meta.index
            and self.meta.term == m.meta.term
        )


@dataclass(frozen=True, slots=True)
class _ConfAt:
    """A configuration entry of the log (in force from `index` on, §4.1)."""

    index: int
    conf: ConfState


class RaftCore:
    def __init__(
        self,
        node_id: int,
        storage: Storage,
        config: RaftConfig,
        rng: random.Random,
        applied: int = 0,
        incarnation: bytes | None = None,
    ) -> None:
        """`incarnation` tells this run of the node from its earlier runs: it prefixes
        the contexts of reads forwarded to the leader, so a late answer to a request of
        an earlier run is never taken for an answer to ours (applications restart their
        context counters too). Default: 8 bytes drawn from `rng`, which must then not
        replay across restarts (random.Random() seeds itself from the OS)."""
        if node_id <= 0:
            raise ValueError("node ids start at 1")
        self.id = node_id
        self.cfg = config
        self.rng = rng
        self.storage = storage
        self.log = RaftLog(storage)
        hs, _ = storage.initial_state()
        snap_index = storage.first_index() - 1
        if applied < snap_index:
            raise ValueError(
                f"applied={applied} is below the storage snapshot {snap_index}: "
                "restore the application from that snapshot first"
            )
        self.term = hs.term
        self.vote = hs.vote
        self.log.committed = max(hs.commit, applied, snap_index)
        self.log.committed = min(self.log.committed, self.log.last_index())
        self.log.applied = min(applied, self.log.committed)
        self.leader = 0
        self.role = Role.FOLLOWER
        # Configuration history: base (snapshot's) plus every CONFIG entry in the log (§4.1:
        # a config takes effect as soon as it is in the log, committed or not).
        self._conf_base = storage.snapshot_meta().conf
        self._confs: list[_ConfAt] = []
        self._load_confs()
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_timeout = 0
        self._reset_randomized_timeout()
        if incarnation is None:
            incarnation = rng.getrandbits(64).to_bytes(8, "big")
        self._incarnation = incarnation
        self._forward_seq = 0
        self.lead_transferee = 0
        self.pending_conf_index = 0
        # Messages produced since the last ready(); ready() sorts them into those that
        # may go at once and those that wait for persistence (_waits_for_persist).
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.dropped: list[bytes] = []
        # Leader: reads waiting for this term's first commit, reads not yet in a round,
        # and rounds in flight (oldest first).
        self._reads_wait_noop: list[_PendingRead] = []
        self._reads_next: list[_PendingRead] = []
        self._rounds: deque[_ReadRound] = deque()
        self._round_seq = 0
        # Follower: reads forwarded to the leader, by the ctx sent (_forward_ctx).
        self._forwarded: dict[bytes, _ForwardedRead] = {}
        # Follower: snapshot being received in chunks.
        self._snap_rx: _SnapshotRx | None = None
        self._need_bcast = False
        # Leader: the commit index last sent to every follower (heartbeats, broadcast
        # appends). A commit is not announced the moment it advances: the next append
        # carries it, and _tick_leader sends it within a tick when no append does.
        self._announced_commit = 0
        self._prev_soft = SoftState(0, Role.FOLLOWER)
        self._prev_hard = hs
        # The term of the last hard state known durable (handed out in a Ready that was
        # then advanced). Messages carrying a newer term wait for persistence.
        self._durable_term = hs.term
        self._pending_ready: Ready | None = None

    # ==== public API =========================================================================
    @property
    def commit(self) -> int:
        return self.log.committed

    @property
    def applied(self) -> int:
        return self.log.applied

    @property
    def conf(self) -> ConfState:
        """The configuration in force: the latest in the log, committed or not (§4.1)."""
        return self._conf_in_force()

    def _conf_in_force(self) -> ConfState:
        return self._confs[-1].conf if self._confs else self._conf_base

    def conf_at(self, index: int) -> ConfState:
        """The configuration in force at log index (for the snapshot the app takes there)."""
        best = self._conf_base
        for c in self._confs:
            if c.index > index:
                break
            best = c.conf
        return best

    def tick(self) -> None:
        if self.role == Role.LEADER:
            self._tick_leader()
        else:
            self._tick_election()
        if self._forwarded:
            self._age_forwarded_reads()

    def note_alive(self, peer_id: int, term: int) -> None:
        """A side channel (replica.keepalive) says `peer_id` is alive in `term`, though
        its event loop is too busy to send Raft messages. Timing only, never safety: a
        follower hearing it of its leader restarts its election timer (and so keeps
        refusing pre-votes); a leader counts that follower active for check-quorum."""
        if term != self.term or peer_id == self.id:
            return
        if self.role == Role.LEADER:
            pr = self.progress.get(peer_id)
            if pr is not None:
                pr.mark_active()
        elif self.role == Role.FOLLOWER and self.leader == peer_id:
            self.election_elapsed = 0

    def propose(self, data: bytes) -> tuple[int, int]:
        self._check_can_propose()
        return self._append_own(EntryKind.NORMAL, data)

    def propose_conf_change(self, conf: ConfState) -> tuple[int, int]:
        """Single-server membership change (§4.1): add a learner, promote or demote one
        node, or remove one (rules in confchange.py; ConfChangeError is a ValueError).
        Only once this term has committed an entry and no other change is uncommitted."""
        self._check_can_propose()
        if self.log.term_or_none(self.log.committed) != self.term:
            raise ProposalDroppedError("no entry of this term committed yet")
        if self.pending_conf_index > self.log.committed:
            raise ProposalDroppedError("another configuration change is pending")
        confchange.validate(self.conf, conf)
        return self._append_own(EntryKind.CONFIG, conf.encode())

    def read_index(self, ctx: bytes) -> None:
        if self.role == Role.LEADER:
            self._leader_read(_PendingRead(ctx, 0))
            return
        if self.leader == 0:
            raise NotLeaderError(0)
        wire = self._forward_ctx()
        self._forwarded[wire] = _ForwardedRead(ctx, self.leader)
        self._send(ReadIndex(self.id, self.leader, self.term, wire))

    def transfer_leadership(self, target: int) -> None:
        if self.role != Role.LEADER:
            raise NotLeaderError(self.leader)
        if target == self.id:
            return
        if target not in self.conf.voters or target not in self.progress:
            raise ValueError(f"node {target} is not a voter")
        if self.lead_transferee == target:
            return
        self.lead_transferee = target
        self.election_elapsed = 0  # the transfer must finish within one election timeout
        pr = self.progress[target]
        if pr.match == self.log.last_index():
            self._send(TimeoutNow(self.id, target, self.term))
        else:
            self._send_append(target)

    def step(self, msg: Message) -> None:
        """Handle any message. Stale, unknown or misaddressed messages are ignored."""
        if not isinstance(msg, MESSAGE_TYPES) or msg.dst != self.id or msg.src == self.id:
            return
        try:
            self._step(msg)
        except (CompactedError, UnavailableError):
            # A message referring to log positions we cannot read (e.g. a malformed or
            # very stale one): drop it rather than crash.
            return

    def request_leadership(self) -> bool:
        """Ask the leader to hand leadership to this node (CLUSTER FAILOVER): it catches
        this node up and then sends TimeoutNow, so a node that is behind is made current
        first and a healthy leader is never deposed by one that cannot win. False when
        this node is not a follower of a known leader, or cannot lead (not a voter)."""
        if self.role != Role.FOLLOWER or self.leader == 0 or not self._promotable():
            return False
        self._send(TransferLeader(self.id, self.leader, self.term))
        return True

    def campaign_now(self) -> bool:
        """Start an election at once, skipping pre-vote, as on TimeoutNow: a manual
        failover (CLUSTER FAILOVER on a follower). Safe like any election, since only a
        node whose log is up to date can win. False when this node cannot campaign."""
        if self.role == Role.LEADER or not self._promotable():
            return False
        self._campaign(pre=False, transfer=True)
        return True

    def has_ready(self) -> bool:
        """Whether ready() has anything to hand out. Changes no state."""
        lg = self.log
        return bool(
            (self._need_bcast and self.role == Role.LEADER)
            or self.msgs
            or self.read_states
            or self.dropped
            or lg.unstable_to_persist()
            or (lg.snapshot is not None and not lg.snap_in_progress)
            or self._hard_state() != self._prev_hard
            or SoftState(self.leader, self.role) != self._prev_soft
            or (lg.applied < lg.committed and self._next_committed_hi() > lg.applied)
        )

    def ready(self) -> Ready:
        if self._pending_ready is not None:
            raise RuntimeError("ready() called again before advance()")
        if self._need_bcast:
            # Proposals since the last Ready go out together, in as few Appends as fit.
            self._flush_bcast()
        lg = self.log
        rd = Ready()
        soft = SoftState(self.leader, self.role)
        if soft != self._prev_soft:
            rd.soft_state = soft
            self._prev_soft = soft
        hs = self._hard_state()
        if hs != self._prev_hard:
            rd.hard_state = hs
            rd.must_sync = hs.term != self._prev_hard.term or hs.vote != self._prev_hard.vote
            self._prev_hard = hs
        ents = lg.unstable_to_persist()
        if ents:
            rd.entries = tuple(ents)
            lg.in_progress = ents[-1].index + 1
            rd.must_sync = True
        if lg.snapshot is not None and not lg.snap_in_progress:
            rd.snapshot = lg.snapshot
            lg.snap_in_progress = True
            rd.must_sync = True
        now, later = self._split_outbox()
        rd.messages = tuple(now)
        rd.messages_after_persist = tuple(later)
        self.msgs = []
        hi = self._next_committed_hi()
        lo = lg.applied + 1
        if rd.snapshot is not None or lg.snapshot is not None:
            lo = max(lo, lg.snapshot_index() + 1)
        if hi >= lo:
            rd.committed_entries = tuple(
                lg.slice(lo, hi + 1, self.cfg.max_committed_size_per_ready)
            )
        rd.read_states = tuple(self.read_states)
        rd.dropped_reads = tuple(self.dropped)
        rd.durable_hi = lg.persisted if lg.snapshot is None else 0
        self.read_states = []
        self.dropped = []
        self._pending_ready = rd
        return rd

    def take_committed(self) -> tuple[Entry, ...]:
        """While the pending Ready persists: entries committed since it was handed out
        that are durable here, for the application to apply at once and in order, after
        the pending Ready's own committed entries (raft.ready, Pipelining). They count as
        applied from now on: no later Ready hands them out again. Empty when a snapshot
        is pending or the pending Ready's committed entries are not all durable."""
        lg = self.log
        rd = self._pending_ready
        if lg.snapshot is not None or (rd is not None and rd.snapshot is not None):
            return ()
        handed = lg.applied
        if rd is not None and rd.committed_entries:
            handed = max(handed, rd.committed_entries[-1].index)
        hi = min(lg.committed, lg.persisted, lg.last_index())
        if hi <= handed:
            return ()
        ents = lg.slice(handed + 1, hi + 1, self.cfg.max_committed_size_per_ready)
        lg.applied = ents[-1].index
        return tuple(ents)

    def take_read_states(self) -> tuple[tuple[ReadState, ...], tuple[bytes, ...]]:
        """While the pending Ready persists: the reads confirmed and dropped since it was
        handed out (they depend on no persistence), which the next Ready would carry."""
        if not self.read_states and not self.dropped:
            return (), ()  # the usual case: this runs on every wake during a write
        states, dropped = tuple(self.read_states), tuple(self.dropped)
        self.read_states = []
        self.dropped = []
        return states, dropped

    def take_messages(self) -> tuple[Message, ...]:
        """While the pending Ready persists: the messages made since it was handed out
        that promise no state of ours (heartbeats and their answers, ReadIndex, pre-votes,
        appends of entries already in the log), to send at once: a slow disk must not
        silence a leader or a follower (raft.ready, Pipelining). Those that wait for a
        persist (_waits_for_persist) stay for the next Ready."""
        if not self.msgs:
            return ()
        now, self.msgs = self._split_outbox()
        return tuple(now)

    def _split_outbox(self) -> tuple[list[Message], list[Message]]:
        """The outbox as (send now, send once the Ready they leave in is durable)."""
        now: list[Message] = []
        later: list[Message] = []
        for m in self.msgs:
            (later if self._waits_for_persist(m) else now).append(m)
        return now, later

    def advance(self, rd: Ready) -> None:
        if rd is not self._pending_ready:
            raise RuntimeError("advance() must get the Ready last returned by ready()")
        self._pending_ready = None
        lg = self.log
        if rd.hard_state is not None:
            self._durable_term = rd.hard_state.term
        if rd.snapshot is not None:
            lg.stable_snap_to(rd.snapshot.meta.index)
            lg.applied = max(lg.applied, rd.snapshot.meta.index)
        if rd.entries:
            last = rd.entries[-1]
            lg.stable_to(last.index, last.term)
        if rd.committed_entries:
            lg.applied = max(lg.applied, rd.committed_entries[-1].index)
        if self.role == Role.LEADER and self.id in self.progress:
            # The leader's own log counts toward commit only once durable.
            me = self.progress[self.id]
            if me.maybe_update(lg.persisted):
                self._maybe_commit()

    def status(self) -> RaftStatus:
        lg = self.log
        peers: dict[int, PeerStatus] = {}
        if self.role == Role.LEADER:
            for pid in sorted(self.progress):
                if pid == self.id:
                    continue
                pr = self.progress[pid]
                peers[pid] = PeerStatus(
                    match=pr.match,
                    next=pr.next,
                    state=pr.state.name.lower(),
                    recent_active=pr.recent_active,
                    paused=pr.paused(),
                    inflight=pr.inflight_count,
                    inflight_bytes=pr.inflight_bytes,
                    heard_recently=pr.heard_recently,
                )
        return RaftStatus(
            id=self.id,
            role=self.role,
            term=self.term,
            vote=self.vote,
            leader=self.leader,
            commit=lg.committed,
            applied=lg.applied,
            last_index=lg.last_index(),
            first_index=lg.first_index(),
            snapshot_index=lg.snapshot_index(),
            conf=self.conf,
            lead_transferee=self.lead_transferee if self.role == Role.LEADER else 0,
            progress=MappingProxyType(peers),
        )

    def status_dict(self) -> dict:
        """status() in the old untyped shape, until every caller reads RaftStatus."""
        return self.status().as_dict()

    # ==== helpers: state =====================================================================
    def _hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def _next_committed_hi(self) -> int:
        return min(self.log.committed, self.log.last_index())

    def _reset_randomized_timeout(self) -> None:
        et = self.cfg.election_tick
        self.randomized_timeout = et + self.rng.randrange(et)

    def _promotable(self) -> bool:
        return self.id in self.conf.voters

    def _in_lease(self) -> bool:
        """§4.2.3: heard from a current leader within the minimum election timeout.

        Only with check-quorum (as etcd): the lease is sound only if a leader that lost
        its majority steps down (§6.2). Without it, a leader that can still reach one
        follower but hear from nobody would keep that follower from ever voting, and a
        connected majority elsewhere could never elect."""
        return (
            self.cfg.check_quorum
            and self.leader != 0
            and self.election_elapsed < self.cfg.election_tick
        )

    def _send(self, m: Message) -> None:
        self.msgs.append(m)

    def _waits_for_persist(self, m: Message) -> bool:
        """The one place that decides which messages wait until the Ready they leave in
        is durable (§3.8: persist before replying). Decided by what a message promises:

        - AppendResp and VoteResp promise log entries or a vote on disk (rejections
          too, as etcd does: their hint describes a log that may not be durable yet).
          So does a final InstallSnapshotResp (`done`: the snapshot is installed).
        - Anything else promises no state of ours (heartbeats and their answers, chunks
          and chunk acks, pre-votes, ReadIndex, TimeoutNow), so it goes at once: in
          particular a HeartbeatResp never waits for our fsync, which would tie every
          ReadIndex round and check-quorum period to follower disk latency. A pre-vote
          answer changes nothing at either end, so it need not wait either (etcd makes
          it wait; here only the term rule below applies to it).
        - But no message may carry a term that is not durable yet. A node that announced
          term T and then forgets it in a crash can act in T afresh: a lone voter (with
          learners) would win T again and send different entries under the same
          (index, term) as before the crash, breaking log matching. Followers and
          candidates follow the same rule, so a restarted node never contradicts a term
          it announced. This costs one fsync of delay only for the first messages after
          a term change. PreVote and a granted PreVoteResp carry the term being asked
          about, not the sender's own term, and nobody adopts it: they are exempt.
        """
        if isinstance(m, (AppendResp, VoteResp)):
            return True
        if isinstance(m, InstallSnapshotResp) and m.done:
            return True
        if isinstance(m, PreVote) or (isinstance(m, PreVoteResp) and m.granted):
            return False
        return m.term > self._durable_term

    def _load_confs(self) -> None:
        lg = self.log
        lo, last = lg.first_index(), lg.last_index()
        while lo <= last:
            batch = lg.slice(lo, last + 1, 4 << 20)
            for e in batch:
                if e.kind == EntryKind.CONFIG:
                    self._confs.append(_ConfAt(e.index, ConfState.decode(e.data)))
            lo = batch[-1].index + 1

    def _on_log_appended(self, ents: list[Entry] | tuple[Entry, ...]) -> None:
        """Keep the config history in step with the log (truncations included)."""
        if not ents:
            return
        first = ents[0].index
        before = self.conf
        while self._confs and self._confs[-1].index >= first:
            self._confs.pop()
        for e in ents:
            if e.kind == EntryKind.CONFIG:
                self._confs.append(_ConfAt(e.index, ConfState.decode(e.data)))
        if self.conf != before:
            self._on_conf_changed()

    def _on_conf_changed(self) -> None:
        if self.role != Role.LEADER:
            return
        conf = self.conf
        members = conf.voters | conf.learners | {self.id}
        last = self.log.last_index()
        # A node this change removes keeps its progress (it counts for nothing) until the
        # change commits: it then holds the entry that removed it, so it knows to stop
        # campaigning and serving (_drop_former_members).
        for pid in members:
            if pid not in self.progress:
                self.progress[pid] = self._new_progress(last + 1)
        if self.lead_transferee and self.lead_transferee not in conf.voters:
            self.lead_transferee = 0
        self._maybe_commit()

    def _new_progress(self, next_index: int) -> Progress:
        return Progress(next_index, self.cfg.max_inflight, self.cfg.max_inflight_bytes)

    def _drop_progress(self, pid: int) -> None:
        self.progress.pop(pid).release()

    def _clear_progress(self) -> None:
        for pid in list(self.progress):
            self._drop_progress(pid)

    # ==== role changes =======================================================================
    def _become_follower(self, term: int, leader: int) -> None:
        was_leader = self.role == Role.LEADER
        if term != self.term:
            self.term = term
            self.vote = 0
        self.role = Role.FOLLOWER
        if leader != self.leader and self._forwarded:
            self._drop_forwarded()
        self.leader = leader
        self._reset_timers()
        self.lead_transferee = 0
        self._need_bcast = False
        if was_leader:
            self._drop_leader_reads()
            self._clear_progress()

    def _reset_timers(self) -> None:
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_randomized_timeout()

    def _become_pre_candidate(self) -> None:
        self.role = Role.PRE_CANDIDATE
        self.votes = {}
        if self.leader and self._forwarded:
            self._drop_forwarded()
        self.leader = 0
        self._reset_timers()

    def _become_candidate(self) -> None:
        self.role = Role.CANDIDATE
        self.term += 1
        self.vote = self.id
        self.votes = {}
        if self._forwarded:
            self._drop_forwarded()
        self.leader = 0
        self._reset_timers()

    def _become_leader(self) -> None:
        self.role = Role.LEADER
        self.leader = self.id
        self._reset_timers()
        self.lead_transferee = 0
        last = self.log.last_index()
        self._clear_progress()
        conf = self.conf
        for pid in conf.voters | conf.learners | {self.id}:
            pr = self._new_progress(last + 1)
            if pid == self.id:
                pr.maybe_update(self.log.persisted)
                pr.become_replicate()
            self.progress[pid] = pr
        self._reads_wait_noop = []
        self._reads_next = []
        self._rounds = deque()
        # Any config entry we hold but that is not committed counts as pending.
        self.pending_conf_index = self._confs[-1].index if self._confs else 0
        # §6.4 / §8: a no-op of our term lets us commit (and serve reads) quickly.
        self._append_own(EntryKind.NOOP, b"")

    def _campaign(self, pre: bool, transfer: bool = False) -> None:
        if pre:
            self._become_pre_candidate()
            term = self.term + 1
        else:
            self._become_candidate()
            term = self.term
        self.votes[self.id] = True
        if quorum.vote_result(self.conf.voters, self.votes) == VoteResult.WON:
            # Single voter: wins at once. Its vote and term are persisted with the Ready
            # that carries its first entry; until then its messages carry an undurable
            # term and wait (_waits_for_persist).
            if pre:
                self._campaign(False)
            else:
                self._become_leader()
            return
        li, lt = self.log.last_index(), self.log.last_term()
        for pid in sorted(self.conf.voters):
            if pid == self.id:
                continue
            if pre:
                self._send(PreVote(self.id, pid, term, li, lt))
            else:
                # Carries our new term: sent once it and our vote are durable.
                self._send(Vote(self.id, pid, term, li, lt, transfer))

    # ==== ticks ==============================================================================
    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self._promotable() and self.election_elapsed >= self.randomized_timeout:
            self.election_elapsed = 0
            self._campaign(pre=self.cfg.pre_vote)

    def _tick_leader(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.cfg.election_tick:
            self.election_elapsed = 0
            if self.cfg.check_quorum:
                active = [self.id]
                for pid, pr in self.progress.items():
                    if pid != self.id:
                        if pr.recent_active:
                            active.append(pid)
                        pr.reset_recent_active()
                if not quorum.has_quorum(self.conf.voters, active):
                    self._become_follower(self.term, 0)  # §6.2: step down without a quorum
                    return
            self.lead_transferee = 0  # a transfer that did not finish in time is aborted
        if self.role == Role.LEADER and (self.heartbeat_elapsed >= self.cfg.heartbeat_tick
                                         or self.log.committed > self._announced_commit):
            self.heartbeat_elapsed = 0
            if self._reads_next:
                self._start_read_round()
            self._bcast_heartbeat()

    def _forward_ctx(self) -> bytes:
        """A context no other request of this node, in this run or an earlier one, has
        used: the leader echoes it, and the application's own ctx may repeat."""
        self._forward_seq += 1
        return self._incarnation + self._forward_seq.to_bytes(8, "big")

    def _age_forwarded_reads(self) -> None:
        limit = self.cfg.read_timeout_tick
        for wire in list(self._forwarded):
            rec = self._forwarded[wire]
            rec.waited += 1
            if rec.waited >= limit:
                del self._forwarded[wire]
                self.dropped.append(rec.ctx)

    # ==== the message dispatcher =============================================================
    def _step(self, m: Message) -> None:
        if m.term > self.term:
            if isinstance(m, PreVote):
                pass  # a pre-vote changes nothing at the receiver
            elif isinstance(m, PreVoteResp) and m.granted:
                pass  # granted pre-votes carry the future term
            elif isinstance(m, Vote) and not m.transfer and self._in_lease():
                return  # §4.2.3: ignore disruptive candidates while a leader is alive
            elif isinstance(m, _LEADER_MSGS):
                self._become_follower(m.term, m.src)
            else:
                self._become_follower(m.term, 0)
        elif m.term < self.term:
            if isinstance(m, (Append, Heartbeat)):
                # Tell a stale leader about the newer term so it steps down.
                self._send(AppendResp(self.id, m.src, self.term, False, 0))
            elif isinstance(m, PreVote):
                self._send(PreVoteResp(self.id, m.src, self.term, False))
            return

        if isinstance(m, (PreVote, Vote)):
            self._handle_vote_request(m)
            return

        role = self.role
        if role == Role.LEADER:
            self._step_leader(m)
        elif role == Role.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _handle_vote_request(self, m: PreVote | Vote) -> None:
        pre = isinstance(m, PreVote)
        if pre:
            if not m.term > self.term:
                # Same term: only grant if we would also grant a real vote.
                can = self.vote == m.src or (self.vote == 0 and self.leader == 0)
            else:
                can = not self._in_lease()
        else:
            can = self.vote == m.src or (self.vote == 0 and self.leader == 0)
        ok = can and self.log.is_up_to_date(m.last_log_index, m.last_log_term)
        if pre:
            self._send(PreVoteResp(self.id, m.src, m.term if ok else self.term, ok))
            return
        if ok:
            self.vote = m.src
            self.election_elapsed = 0
        self._send(VoteResp(self.id, m.src, self.term, ok))

    def _step_candidate(self, m: Message) -> None:
        if isinstance(m, _LEADER_MSGS):
            self._become_follower(m.term, m.src)
            self._step_follower(m)
        elif isinstance(m, PreVoteResp) and self.role == Role.PRE_CANDIDATE:
            if m.granted and m.term != self.term + 1:
                return  # a grant from an older pre-campaign
            self._record_vote(m.src, m.granted, pre=True)
        elif isinstance(m, VoteResp) and self.role == Role.CANDIDATE:
            self._record_vote(m.src, m.granted, pre=False)
        elif isinstance(m, ReadIndexResp):
            self._on_read_index_resp(m)

    def _record_vote(self, src: int, granted: bool, pre: bool) -> None:
        self.votes.setdefault(src, granted)
        res = quorum.vote_result(self.conf.voters, self.votes)
        if res == VoteResult.WON:
            if pre:
                self._campaign(pre=False)
            else:
                self._become_leader()
        elif res == VoteResult.LOST:
            self._become_follower(self.term, 0)

    # ==== follower ===========================================================================
    def _step_follower(self, m: Message) -> None:
        if isinstance(m, _LEADER_MSGS):
            self.election_elapsed = 0
            self.leader = m.src
        if isinstance(m, Append):
            self._handle_append(m)
        elif isinstance(m, Heartbeat):
            lg = self.log
            last = lg.last_index()
            if m.commit > last:
                # The leader caps a heartbeat's commit at what we acknowledged (match), so
                # we lost acknowledged entries (fsync off, machine crash). Say so as a
                # rejection with our log end as hint: the leader repairs us at once, even
                # with no new writes to send (Progress.lost_acknowledged).
                self._send(AppendResp(self.id, m.src, self.term, False, m.commit, 0, last + 1))
            lg.commit_to(min(m.commit, last))
            self._send(HeartbeatResp(self.id, m.src, self.term, m.ctx))
        elif isinstance(m, InstallSnapshot):
            self._handle_snapshot_chunk(m)
        elif isinstance(m, TimeoutNow):
            if self._promotable():
                self._campaign(pre=False, transfer=True)
        elif isinstance(m, ReadIndexResp):
            self._on_read_index_resp(m)
        elif isinstance(m, ReadIndex):
            # We are not the leader: tell the asker so it fails fast.
            self._send(ReadIndexResp(self.id, m.src, self.term, m.ctx, 0, False))

    def _handle_append(self, m: Append) -> None:
        lg = self.log
        if m.prev_index < lg.committed:
            self._send(AppendResp(self.id, m.src, self.term, True, lg.committed))
            return
        if lg.match_term(m.prev_index, m.prev_term):
            ents = m.entries
            last_new = m.prev_index + len(ents)
            ci = lg.find_conflict(ents)
            if ci:
                if ci <= lg.committed:
                    return  # would rewrite a committed entry: a bogus message, drop it
                new = list(ents[ci - ents[0].index :])
                lg.append(new)
                self._on_log_appended(new)
            lg.commit_to(min(m.commit, last_new))
            self._send(AppendResp(self.id, m.src, self.term, True, last_new))
            return
        # Rejected: give the leader a hint to skip a whole term per round trip.
        last = lg.last_index()
        if m.prev_index > last:
            hint_term, hint_index = 0, last + 1
        else:
            hint_term = lg.term_or_none(m.prev_index) or 0
            hint_index = lg.first_index_of_term_at(m.prev_index) if hint_term else lg.first_index()
            hint_index = max(hint_index, lg.committed + 1)
        self._send(
            AppendResp(self.id, m.src, self.term, False, m.prev_index, hint_term, hint_index)
        )

    def _handle_snapshot_chunk(self, m: InstallSnapshot) -> None:
        meta = m.meta
        lg = self.log

        def reply(offset: int, done: bool, ok: bool = True) -> None:
            self._send(InstallSnapshotResp(self.id, m.src, self.term, meta.index, offset, done, ok))

        if meta.index <= lg.committed:
            self._snap_rx = None
            reply(0, True)  # we already hold (committed) everything it covers
            return
        rx = self._snap_rx
        if m.offset == 0:
            rx = self._snap_rx = _SnapshotRx(m.src, m.term, meta, bytearray())
        same = rx is not None and rx.continues(m)
        if rx is None or not same or len(rx.buf) != m.offset:
            # Tell the leader where we are in its transfer, or to start it over.
            reply(len(rx.buf) if rx is not None and same else 0, False)
            return
        if len(rx.buf) + len(m.data) > self.cfg.max_snapshot_bytes:
            self._snap_rx = None
            reply(0, False, ok=False)
            return
        rx.buf.extend(m.data)
        if not m.done:
            reply(len(rx.buf), False)
            return
        self._snap_rx = None
        if lg.match_term(meta.index, meta.term):
            # We already have the log up to the snapshot: just fast-forward the commit.
            lg.commit_to(meta.index)
        else:
            lg.restore(Snapshot(meta, bytes(rx.buf)))
            self._conf_base = meta.conf
            self._confs = []
        reply(len(rx.buf), True)

    # ==== leader =============================================================================
    def _step_leader(self, m: Message) -> None:
        pr = self.progress.get(m.src)
        if isinstance(m, ReadIndex):
            self._leader_read(_PendingRead(m.ctx, m.src))
            return
        if isinstance(m, TransferLeader):
            if pr is not None and m.src in self.conf.voters:
                self.transfer_leadership(m.src)
            return
        if pr is None:
            return  # not a member (any more)
        pr.mark_active()
        if isinstance(m, AppendResp):
            self._on_append_resp(m, pr)
        elif isinstance(m, HeartbeatResp):
            pr.on_heartbeat_resp()
            if pr.state == ProgressState.SNAPSHOT:
                self._send_snapshot(m.src, pr)
            elif pr.match < self.log.last_index():
                self._send_append(m.src)
            if m.ctx:
                self._on_read_ack(m.src, m.ctx)
        elif isinstance(m, InstallSnapshotResp):
            self._on_snapshot_resp(m, pr)

    def _next_from_hint(self, m: AppendResp) -> int:
        """Where to resume after a rejection, from the follower's conflict hint."""
        if m.conflict_term == 0:
            return m.conflict_index
        lg = self.log
        li = lg.last_index_with_term_le(m.index, m.conflict_term)
        return li + 1 if lg.term_or_none(li) == m.conflict_term else m.conflict_index

    def _on_append_resp(self, m: AppendResp, pr: Progress) -> None:
        lg = self.log
        if not m.success:
            nxt = self._next_from_hint(m)
            log_end = m.conflict_index if m.conflict_term == 0 else 0
            if pr.lost_acknowledged(m.index, log_end):
                pr.regress(m.index, nxt)
            elif not pr.maybe_decr_to(m.index, nxt):
                return
            self._send_append(m.src)
            return
        if not pr.on_append_ack(m.index):
            return
        self._maybe_commit()
        if self.role != Role.LEADER:
            return  # the commit removed us (§4.2.2)
        while self._send_append(m.src, empty_ok=False):
            pass  # pipeline until the window is full or the log is exhausted
        if m.src == self.lead_transferee and pr.match == lg.last_index():
            self._send(TimeoutNow(self.id, m.src, self.term))

    def _on_snapshot_resp(self, m: InstallSnapshotResp, pr: Progress) -> None:
        if pr.state != ProgressState.SNAPSHOT:
            return
        if m.done and m.success:
            pr.snapshot_done(m.index)
            self._send_append(m.src)
            return
        if not m.success:
            pr.snapshot_refused()
            return
        if m.index != pr.snap_index:
            return
        pr.snapshot_chunk_acked(m.offset)
        self._send_snapshot(m.src, pr)

    def _maybe_commit(self) -> bool:
        """Commit the highest index a quorum of voters holds, if it is of our term (§5.4.2)."""
        progress = self.progress

        def match(pid: int) -> int:
            pr = progress.get(pid)
            return pr.match if pr is not None else 0

        idx = quorum.committed_index(self.conf.voters, match)
        if idx <= self.log.committed or self.log.term_or_none(idx) != self.term:
            return False
        self.log.commit_to(idx)
        self._on_commit_advanced()
        return True

    def _drop_former_members(self) -> None:
        conf = self.conf
        members = conf.voters | conf.learners | {self.id}
        for pid in [p for p in self.progress if p not in members]:
            self._drop_progress(pid)

    def _on_commit_advanced(self) -> None:
        if self.pending_conf_index <= self.log.committed and \
                len(self.progress) > len(self.conf.voters | self.conf.learners | {self.id}):
            self._drop_former_members()
        if self._reads_wait_noop and self.log.term_or_none(self.log.committed) == self.term:
            waiting, self._reads_wait_noop = self._reads_wait_noop, []
            for req in waiting:
                self._leader_read(req)
        if self.id not in self.conf.voters and self.pending_conf_index <= self.log.committed:
            # §4.2.2: we were removed (or demoted) and that is now committed: step down,
            # telling every member the commit, and hand leadership to the most up-to-date
            # voter at once (§3.10) rather than leave the cluster to wait out a timeout.
            self._bcast_append(empty_ok=True)
            heir = self._most_up_to_date_voter()
            if heir:
                self._send(TimeoutNow(self.id, heir, self.term))
            self._become_follower(self.term, 0)

    def _most_up_to_date_voter(self) -> int:
        """Leader: the voter other than us holding our whole log (highest id on a tie,
        for determinism); 0 if none does yet (an election then picks one)."""
        last = self.log.last_index()
        best = 0
        for pid in sorted(self.conf.voters):
            pr = self.progress.get(pid)
            if pid != self.id and pr is not None and pr.match == last:
                best = pid
        return best

    def _check_can_propose(self) -> None:
        if self.role != Role.LEADER:
            raise NotLeaderError(self.leader)
        if self.lead_transferee:
            raise ProposalDroppedError("leadership transfer in progress")
        if self.log.last_index() - self.log.committed >= self.cfg.max_uncommitted_entries:
            raise ProposalDroppedError("too many uncommitted entries")

    def _append_own(self, kind: EntryKind, data: bytes) -> tuple[int, int]:
        idx = self.log.last_index() + 1
        e = Entry(self.term, idx, kind, data)
        self.log.append([e])
        if kind == EntryKind.CONFIG:
            self.pending_conf_index = idx
            self._on_log_appended([e])
        # Sent from ready(), so many proposals share one message. A lone voter commits
        # once the entry is persisted (advance()).
        self._need_bcast = True
        return idx, self.term

    def _flush_bcast(self) -> None:
        self._need_bcast = False
        if self.role == Role.LEADER:
            self._bcast_append(empty_ok=False)

    def _bcast_append(self, empty_ok: bool) -> None:
        self._announced_commit = self.log.committed
        for pid in self.progress:
            if pid != self.id and self._send_append(pid, empty_ok):
                # Pipeline the rest of the backlog up to the inflight window.
                while self._send_append(pid, empty_ok=False):
                    pass

    def _bcast_heartbeat(self) -> None:
        ctx = self._rounds[-1].rid.to_bytes(8, "big") if self._rounds else b""
        self._announced_commit = self.log.committed
        for pid, pr in self.progress.items():
            if pid != self.id:
                commit = min(pr.match, self.log.committed)
                self._send(Heartbeat(self.id, pid, self.term, commit, ctx))

    def _send_append(self, to: int, empty_ok: bool = True) -> bool:
        """Send the next batch of entries to `to` if its progress allows. True if sent."""
        pr = self.progress.get(to)
        if pr is None or pr.paused():
            return False
        lg = self.log
        prev = pr.next - 1
        try:
            prev_term = lg.term(prev)
            ents = lg.slice(pr.next, lg.last_index() + 1, self.cfg.max_size_per_msg)
        except CompactedError:
            self._start_snapshot(to, pr)
            return False
        if not ents and not empty_ok and pr.state == ProgressState.REPLICATE:
            return False
        self._send(Append(self.id, to, self.term, prev, prev_term, tuple(ents), lg.committed))
        if ents:
            pr.sent_append(ents[-1].index, sum(e.size() for e in ents))
        else:
            pr.sent_append(0, 0)
        return bool(ents)

    def _start_snapshot(self, to: int, pr: Progress) -> None:
        if not pr.recent_active:
            return  # no point streaming a snapshot to a node that seems down
        # One storage call for metadata and bytes: the application may install a newer
        # snapshot at any moment (a disk thread), and the follower must get one snapshot,
        # labelled with its own index, from the first chunk to the last.
        pr.become_snapshot(self.storage.snapshot_reader())
        self._send_snapshot(to, pr)

    def _send_snapshot(self, to: int, pr: Progress) -> None:
        reader = pr.snapshot_reader
        if pr.snap_sent or reader is None:
            return
        off = min(pr.snap_offset, reader.size)
        data = reader.read(off, self.cfg.snapshot_chunk_size)
        done = off + len(data) >= reader.size
        self._send(InstallSnapshot(self.id, to, self.term, reader.meta, off, data, done))
        pr.sent_snapshot_chunk()

    # ==== ReadIndex (§6.4) ===================================================================
    def _leader_read(self, req: _PendingRead) -> None:
        if self.log.term_or_none(self.log.committed) != self.term:
            self._reads_wait_noop.append(req)  # §6.4: no read before our no-op commits
            return
        if quorum.has_quorum(self.conf.voters, (self.id,)):
            self._deliver_read(req, self.log.committed)  # a lone voter is its own quorum
            return
        self._reads_next.append(req)
        if not self._rounds:
            self._start_read_round()
            self._bcast_heartbeat()

    def _start_read_round(self) -> None:
        self._round_seq += 1
        rnd = _ReadRound(self._round_seq, self.log.committed, self._reads_next)
        rnd.acks.add(self.id)  # counts only if we are a voter (quorum.has_quorum)
        self._reads_next = []
        self._rounds.append(rnd)

    def _on_read_ack(self, src: int, ctx: bytes) -> None:
        if len(ctx) != 8 or src not in self.conf.voters:
            return
        rid = int.from_bytes(ctx, "big")
        # An ack of a later round also confirms every earlier one (sent before it).
        for rnd in self._rounds:
            if rnd.rid > rid:
                break
            rnd.acks.add(src)
        while self._rounds and quorum.has_quorum(self.conf.voters, self._rounds[0].acks):
            rnd = self._rounds.popleft()
            for req in rnd.reads:
                self._deliver_read(req, rnd.index)
        if not self._rounds and self._reads_next:
            self._start_read_round()
            self._bcast_heartbeat()

    def _deliver_read(self, req: _PendingRead, index: int) -> None:
        if req.origin in (0, self.id):
            self.read_states.append(ReadState(index, req.ctx))
        else:
            self._send(ReadIndexResp(self.id, req.origin, self.term, req.ctx, index, True))

    def _drop_leader_reads(self) -> None:
        pending = list(self._reads_wait_noop) + list(self._reads_next)
        for rnd in self._rounds:
            pending.extend(rnd.reads)
        self._reads_wait_noop, self._reads_next, self._rounds = [], [], deque()
        for req in pending:
            if req.origin in (0, self.id):
                self.dropped.append(req.ctx)
            else:
                self._send(ReadIndexResp(self.id, req.origin, self.term, req.ctx, 0, False))

    def _on_read_index_resp(self, m: ReadIndexResp) -> None:
        rec = self._forwarded.pop(m.ctx, None)
        if rec is None:
            return  # not ours: answered already, timed out, or asked by an earlier run
        if m.ok and rec.leader == m.src:
            self.read_states.append(ReadState(m.index, rec.ctx))
        else:
            self.dropped.append(rec.ctx)

    def _drop_forwarded(self) -> None:
        self.dropped.extend(rec.ctx for rec in self._forwarded.values())
        self._forwarded = {}


__all__ = [
    "NotLeaderError",
    "ProposalDroppedError",
    "RaftCore",
    "StorageError",
]
