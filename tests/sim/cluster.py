"""A deterministic simulation of a Raft cluster: the real RaftCore with MemoryStorage,
a simulated network and clock, crashes and restarts, all driven by one seed.

The application's Ready loop is modelled step by step (send -> persist -> send the
after-persist messages -> apply -> advance) so a crash can fall between any two
steps; a crash loses everything not yet handed to storage. In slow-link seeds a
partition holds the messages it cuts off and delivers them, in order, when it heals.
Checkers run after every event and raise SimFailure naming the seed.
"""

from __future__ import annotations

import heapq
import random
import zlib
from collections import deque
from dataclasses import dataclass, field

from raftredis.raft.config import RaftConfig
from raftredis.raft.core import NotLeaderError, ProposalDroppedError, RaftCore
from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.messages import Message
from raftredis.raft.ready import Ready
from raftredis.raft.storage import CompactedError, UnavailableError
from raftredis.raft.types import ConfState, Entry, EntryKind, Role
from tests.sim.election_timer import ElectionTimerWatch

TICK = 10  # time units per node tick


class SimFailure(AssertionError):
    pass


# What a membership seed adds to SimParams (tests/sim/test_sim.py runs both kinds).
# Slow links stay out of them: they made these seeds 25% dearer (longer partitions in
# the middle of membership changes) for what the plain seeds already cover.
MEMBERSHIP = {"spares": 3, "membership": 0.04, "slow_link_seeds": 0.0}


def replay_command(seed: int, nodes: int, membership: bool = False) -> str:
    return (f"python3 -m tests.sim.run --seed {seed} --nodes {nodes} -v"
            + (" --membership" if membership else ""))


@dataclass
class SimParams:
    nodes: int = 3
    fault_ticks: int = 300  # length of the fault phase
    liveness_ticks: int = 200  # bound for convergence once healed
    loss: float = 0.05
    dup: float = 0.03
    max_delay: int = 12  # time units; a few messages get up to 6x this (reordering)
    crash_in_ready: float = 0.001  # per Ready handled
    fault_every: int = 100  # time units between fault decisions
    min_partition: int = 4 * TICK  # partitions last at least this long
    snapshot_every: int = 25  # applied entries between local snapshots
    snapshot_pad: int = 150  # bytes of padding so snapshots span several chunks
    election_tick: int = 10
    heartbeat_tick: int = 2
    # Membership seeds (MEMBERSHIP below): spare nodes started empty, outside the
    # configuration, that may be added; the chance per client action of a change.
    spares: int = 0
    membership: float = 0.0
    # Slow-link seeds: a partition holds what it cuts off, as a stalled connection does,
    # and delivers the backlog in order once it heals (an acknowledgement sent before a
    # leader was deposed then lands after a new leader wrote); their partitions last up
    # to two election timeouts longer, so a new leader is elected behind them. Decided by
    # a random stream of its own: the other seeds replay exactly as before.
    slow_link_seeds: float = 0.3
    max_held: int = 4000  # a backlog bound (messages), past which they are lost


@dataclass
class _Node:
    id: int
    storage: MemoryStorage
    core: RaftCore | None = None
    applied: int = 0
    digest: int = 0  # CRC chain over applied entries: the state machine's state
    up_since: int = 0
    commit_seen: int = 0
    timer: ElectionTimerWatch | None = None  # §3.4, counted apart from the core
    # Reads: ctx -> (invoke floor); read states waiting for apply: (index, ctx)
    reads: dict[bytes, int] = field(default_factory=dict)
    waiting: list[tuple[int, bytes]] = field(default_factory=list)
    # Writes proposed here: index -> (term, data)
    writes: dict[int, tuple[int, bytes]] = field(default_factory=dict)


class Cluster:
    def __init__(self, seed: int, params: SimParams | None = None, trace: bool = False) -> None:
        self.seed = seed
        self.p = params or SimParams()
        self.rng = random.Random(seed)
        self.cfg = RaftConfig(
            election_tick=self.p.election_tick,
            heartbeat_tick=self.p.heartbeat_tick,
            # Small, varied per seed: from one entry per Append (old-term entries then get
            # acknowledged apart from the new leader's no-op, as in Figure 8) to batches.
            max_size_per_msg=self.rng.choice((28, 60, 400)),
            max_inflight=8,
            snapshot_chunk_size=64,  # small: forces several chunks
            read_timeout_tick=4 * self.p.election_tick,
            # A quarter of the seeds run without pre-vote, so the real vote's log check
            # is the only guard against a stale candidate.
            pre_vote=self.rng.random() >= 0.25,
            # And a quarter without check-quorum: a deposed leader then keeps believing it
            # leads for a whole partition, which only the ReadIndex round exposes.
            check_quorum=self.rng.random() >= 0.25,
        )
        ids = list(range(1, self.p.nodes + 1))
        self.conf = ConfState(voters=frozenset(ids))
        self.now = 0
        self._seq = 0
        self.events: list[tuple[int, int, str, object]] = []
        self.nodes: dict[int, _Node] = {}
        # Ids removed by a change ever proposed: never added again (a new node gets a new
        # id, as a replacement does), whatever became of that proposal.
        self.retired: set[int] = set()
        for i in range(1, self.p.nodes + self.p.spares + 1):
            n = _Node(i, self._new_storage(i))
            self.nodes[i] = n
            self._start(n)
            self._push(self.rng.randrange(TICK), "tick", i)
        self.blocked: set[tuple[int, int]] = set()
        self._link_rng = random.Random(seed ^ 0x5EED11)
        self.slow_links = self._link_rng.random() < self.p.slow_link_seeds
        self.holding = False  # the standing partition holds what it cuts off
        self.held: list[Message] = []
        self.faults = True
        self.trace: deque[str] | None = deque(maxlen=400) if trace else None
        # Checker state.
        self.leaders: dict[int, int] = {}  # term -> leader id
        self.entry_ids: dict[tuple[int, int], tuple[int, bytes, int | None]] = {}
        self.committed: dict[int, int] = {}  # index -> term
        self.applied_digest: dict[int, tuple[int, int, bytes]] = {}  # index -> (digest, term, data)
        self.max_committed = 0
        self.max_acked = 0  # highest log index of an acknowledged write
        self.max_read = 0  # highest value returned by a completed read
        self.op = 0
        self.stats = {"writes_acked": 0, "reads_ok": 0, "reads_dropped": 0, "crashes": 0,
                      "elections": 0, "snapshots_sent": 0, "transfers": 0,
                      "conf_changes": 0, "conf_removals": 0, "promotions": 0,
                      "leader_removals": 0}

    # ---- plumbing --------------------------------------------------------------------------
    def fail(self, msg: str) -> None:
        text = f"seed {self.seed} ({self.p.nodes} nodes) t={self.now}: {msg}\n"
        text += f"replay: {self.replay()}"
        if self.trace:
            text += "\nlast events:\n" + "\n".join(self.trace)
        raise SimFailure(text)

    def replay(self) -> str:
        return replay_command(self.seed, self.p.nodes, self.p.membership > 0)

    def _push(self, at: int, kind: str, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self.events, (at, self._seq, kind, payload))

    def _log(self, s: str) -> None:
        if self.trace is not None:
            self.trace.append(f"{self.now:6d} {s}")

    def _new_storage(self, node_id: int) -> MemoryStorage:
        # Spares start empty and outside the configuration, as a node started to join.
        return MemoryStorage(self.conf if node_id <= self.p.nodes else ConfState())

    def _start(self, n: _Node) -> None:
        snap = n.storage.snapshot()
        if snap.meta.index:
            n.applied, n.digest = _decode_sm(snap.data)
        else:
            n.applied, n.digest = 0, 0
        n.core = RaftCore(n.id, n.storage, self.cfg, random.Random(self.rng.random()), n.applied)
        n.commit_seen = n.core.commit
        n.up_since = self.now
        n.timer = ElectionTimerWatch(self.cfg.election_tick)

    def _crash(self, n: _Node, where: str) -> None:
        self._log(f"CRASH n{n.id} ({where})")
        self.stats["crashes"] += 1
        n.core = None
        n.reads.clear()
        n.waiting.clear()
        n.writes.clear()  # outcome unknown to the client
        self._push(self.now + TICK * self.rng.randint(2, 30), "restart", n.id)

    # ---- network ---------------------------------------------------------------------------
    def _send(self, m: Message) -> None:
        if (m.src, m.dst) in self.blocked:
            self._hold(m)
            return
        if self.faults and self.rng.random() < self.p.loss:
            return
        copies = 2 if self.faults and self.rng.random() < self.p.dup else 1
        for _ in range(copies):
            d = self.rng.randint(1, self.p.max_delay)
            if self.faults and self.rng.random() < 0.05:
                d *= 6  # late straggler: reordering
            self._push(self.now + d, "msg", m)

    def _hold(self, m: Message) -> None:
        if self.holding and len(self.held) < self.p.max_held:
            self.held.append(m)

    def _heal(self) -> None:
        """The partition ends; a held backlog goes first, in the order it was sent."""
        self.blocked.clear()
        self.holding = False
        if self.held:
            self._log(f"HEAL: {len(self.held)} held messages delivered")
        for m in self.held:
            self._push(self.now + 1, "msg", m)
        self.held = []

    # ---- the application's Ready loop ------------------------------------------------------
    def _process(self, n: _Node) -> None:
        c = n.core
        while c is not None and c.has_ready():
            rd = c.ready()
            if not self._handle_ready(n, c, rd):
                return
            c.advance(rd)
            self._check_node(n, c)
            if rd.entries or rd.snapshot is not None:
                self._check_conf_in_force(n, c)
        if c is not None:
            self._check_node(n, c)

    def _maybe_crash(self, n: _Node, where: str) -> bool:
        if self.faults and self.rng.random() < self.p.crash_in_ready:
            self._crash(n, where)
            return True
        return False

    def _handle_ready(self, n: _Node, c: RaftCore, rd: Ready) -> bool:
        if rd.soft_state is not None and rd.soft_state.role == Role.LEADER:
            self.stats["elections"] += 1
            self._log(f"n{n.id} LEADER term {c.term}")
            self._check_leader_complete(n, c)
            if self.faults and self.p.membership and self.rng.random() < 0.2:
                # Right at the start of its term, before its no-op can commit: the change
                # must be refused (the 2015 single-server bug needs exactly this).
                self.change_membership(n)
        for m in rd.messages:  # may go out before persisting (§10.2.1)
            self._send(m)
        if self._maybe_crash(n, "before persist"):
            return False
        if not self._persist(n, rd):
            return False
        if self._maybe_crash(n, "after persist"):
            return False
        for m in rd.messages_after_persist:
            self._send(m)
        if rd.snapshot is not None:
            idx, dig = _decode_sm(rd.snapshot.data)
            if idx != rd.snapshot.meta.index:
                self.fail(f"n{n.id} snapshot data index {idx} != meta {rd.snapshot.meta.index}")
            known = self.applied_digest.get(idx)
            if known is not None and known[0] != dig:
                self.fail(f"n{n.id} installed snapshot at {idx} with a different state")
            n.applied, n.digest = idx, dig
        for e in rd.committed_entries:
            self._apply(n, e)
        for rs in rd.read_states:
            if rs.ctx in n.reads:
                n.waiting.append((rs.index, rs.ctx))
        for ctx in rd.dropped_reads:
            if n.reads.pop(ctx, None) is not None:
                self.stats["reads_dropped"] += 1
        self._serve_reads(n)
        if self._maybe_crash(n, "before advance"):
            return False
        return self._local_snapshot(n, c)

    def _persist(self, n: _Node, rd: Ready) -> bool:
        """Hand the Ready's snapshot, entries and hard state to storage. False if the
        node crashed on the way (a disk-mode hook)."""
        st = n.storage
        if rd.snapshot is not None:
            st.install_snapshot(rd.snapshot)
            self.stats["snapshots_sent"] += 1
        if rd.entries:
            self._check_no_committed_loss(n, rd.entries)
            st.append(rd.entries)
            self._check_appended(n, rd.entries)
        if rd.hard_state is not None:
            st.set_hard_state(rd.hard_state)
        return True

    def _local_snapshot(self, n: _Node, c: RaftCore) -> bool:
        """Snapshot the state machine and compact every snapshot_every applied entries."""
        st = n.storage
        if n.applied - st.snapshot_meta().index >= self.p.snapshot_every and n.applied <= st.last_index():
            data = _encode_sm(n.applied, n.digest, self.p.snapshot_pad)
            st.create_snapshot(n.applied, c.conf_at(n.applied), data)
        return True

    def _apply(self, n: _Node, e: Entry) -> None:
        if e.index != n.applied + 1:
            self.fail(f"n{n.id} applies {e.index} after {n.applied}")
        dig = zlib.crc32(e.data, zlib.crc32(e.term.to_bytes(8, "big"), n.digest))
        known = self.applied_digest.get(e.index)
        if known is None:
            self.applied_digest[e.index] = (dig, e.term, e.data)
        elif known[0] != dig:
            self.fail(
                f"state machine safety: n{n.id} applied {e.index} term {e.term} {e.data!r}, "
                f"another node applied term {known[1]} {known[2]!r} (or a different prefix)"
            )
        t = self.committed.get(e.index)
        if t is not None and t != e.term:
            self.fail(f"n{n.id} applied {e.index}@{e.term} but {e.index}@{t} was committed")
        n.applied, n.digest = e.index, dig
        w = n.writes.pop(e.index, None)
        if w is not None and w == (e.term, e.data):
            self.stats["writes_acked"] += 1
            self.max_acked = max(self.max_acked, e.index)
            self._log(f"n{n.id} ack write {e.index}")

    def _serve_reads(self, n: _Node) -> None:
        if not n.waiting:
            return
        keep = []
        for idx, ctx in n.waiting:
            if n.applied >= idx:
                floor = n.reads.pop(ctx, None)
                if floor is None:
                    continue
                value = n.applied  # the state read: the prefix of the log applied here
                self.op += 1
                if value < floor:
                    self.fail(
                        f"linearizability: read {ctx!r} on n{n.id} saw state {value} but a "
                        f"write/read before it had reached {floor}"
                    )
                self.max_read = max(self.max_read, value)
                self.stats["reads_ok"] += 1
                self._log(f"n{n.id} read {ctx!r} -> {value} (floor {floor})")
            else:
                keep.append((idx, ctx))
        n.waiting = keep

    # ---- checkers --------------------------------------------------------------------------
    def _check_node(self, n: _Node, c: RaftCore) -> None:
        if c.role == Role.LEADER:
            prev = self.leaders.setdefault(c.term, n.id)
            if prev != n.id:
                self.fail(f"election safety: n{prev} and n{n.id} both lead term {c.term}")
            self._check_one_change_in_flight(n, c)
        if c.commit > n.commit_seen:
            if c.role == Role.LEADER and c.commit > c.log.first_index() - 1:
                # §5.4.2: a leader moves its commit index only onto an entry of its term.
                t = c.log.term_or_none(c.commit)
                if t != c.term and self._leader_commit_moved(n, c):
                    self.fail(
                        f"n{n.id} (leader, term {c.term}) committed up to {c.commit}, "
                        f"an entry of term {t}: commit by counting old-term replicas"
                    )
            for idx in range(max(n.commit_seen + 1, c.log.first_index()), c.commit + 1):
                t = c.log.term(idx)
                known = self.committed.setdefault(idx, t)
                if known != t:
                    self.fail(f"n{n.id} committed {idx}@{t} but {idx}@{known} was committed")
            n.commit_seen = c.commit
            self.max_committed = max(self.max_committed, c.commit)

    def _check_conf_in_force(self, n: _Node, c: RaftCore) -> None:
        """§4.1: a node uses the latest configuration in its log, committed or not (or
        its snapshot's when the log holds none)."""
        lg = c.log
        want = None
        idx = lg.last_index()
        while idx >= lg.first_index() and want is None:
            lo = max(lg.first_index(), idx - 63)
            for e in reversed(lg.slice(lo, idx + 1, 1 << 30)):
                if e.kind == EntryKind.CONFIG:
                    want = ConfState.decode(e.data)
                    break
            idx = lo - 1
        if want is None:
            want = c.conf_at(lg.first_index() - 1)
        if c.conf != want:
            self.fail(f"n{n.id} uses configuration {_fmt_conf(c.conf)} but the latest in its "
                      f"log is {_fmt_conf(want)}")

    def _check_one_change_in_flight(self, n: _Node, c: RaftCore) -> None:
        """§4.1: a leader's log never holds two uncommitted configuration changes."""
        lg = c.log
        lo = max(lg.committed + 1, lg.first_index())
        if lo > lg.last_index():
            return
        pending = [e.index for e in lg.slice(lo, lg.last_index() + 1, 1 << 30)
                   if e.kind == EntryKind.CONFIG]
        if len(pending) > 1:
            self.fail(f"n{n.id} (leader, term {c.term}) holds configuration changes "
                      f"{pending} uncommitted at once (commit {lg.committed})")

    def _leader_commit_moved(self, n: _Node, c: RaftCore) -> bool:
        """True if this leader itself advanced the commit (not a restart that reloaded
        it from the hard state while still a follower)."""
        return self.leaders.get(c.term) == n.id

    def _check_appended(self, n: _Node, ents: tuple[Entry, ...]) -> None:
        st = n.storage
        for e in ents:
            try:
                prev = st.term(e.index - 1)
            except (CompactedError, UnavailableError):
                prev = None
            key = (e.index, e.term)
            seen = self.entry_ids.get(key)
            if seen is None:
                self.entry_ids[key] = (e.kind, e.data, prev)
            elif seen[0] != e.kind or seen[1] != e.data or (
                prev is not None and seen[2] is not None and seen[2] != prev
            ):
                self.fail(f"log matching: n{n.id} holds a different entry {e.index}@{e.term}")

    def _check_no_committed_loss(self, n: _Node, ents: tuple[Entry, ...]) -> None:
        """A node that durably holds a committed entry must never replace it (a lagging
        node may still take stale entries where it never had the committed one)."""
        st = n.storage
        for e in ents:
            t = self.committed.get(e.index)
            if t is None or t == e.term:
                continue
            try:
                had = st.term(e.index)
            except (CompactedError, UnavailableError):
                continue
            if had == t:
                self.fail(f"n{n.id} replaces committed {e.index}@{t} with term {e.term}")

    def _check_leader_complete(self, n: _Node, c: RaftCore) -> None:
        lg = c.log
        if lg.last_index() < self.max_committed:
            self.fail(
                f"leader completeness: n{n.id} leads term {c.term} with log up to "
                f"{lg.last_index()} < committed {self.max_committed}"
            )
        for idx in range(lg.first_index(), self.max_committed + 1):
            t = self.committed.get(idx)
            if t is not None and lg.term(idx) != t:
                self.fail(f"leader completeness: n{n.id} lacks committed {idx}@{t}")

    # ---- client and fault actions ----------------------------------------------------------
    def _live(self) -> list[_Node]:
        return [n for n in self.nodes.values() if n.core is not None]

    def leader(self) -> _Node | None:
        best = None
        for n in self._live():
            if n.core.role == Role.LEADER and (best is None or n.core.term > best.core.term):
                best = n
        return best

    def propose(self, n: _Node) -> int | None:
        self.op += 1
        data = f"w{self.op}".encode()
        try:
            idx, term = n.core.propose(data)
        except (NotLeaderError, ProposalDroppedError):
            return None
        n.writes[idx] = (term, data)
        self._log(f"n{n.id} propose {data!r} -> {idx}@{term}")
        return idx

    def change_membership(self, n: _Node) -> None:
        """Node n (believing it leads) proposes one change: add a spare as a learner,
        promote a learner, remove a learner or a voter (itself included), keeping at
        least two voters."""
        c = n.core
        if c is None or c.role != Role.LEADER:
            return
        conf = c.conf
        voters, learners = set(conf.voters), set(conf.learners)
        members = voters | learners
        choices: list[tuple[str, int]] = []
        choices += [("add", i) for i in self.nodes if i not in members and i not in self.retired]
        choices += [("promote", i) for i in learners]
        choices += [("remove", i) for i in learners]
        if len(voters) > 2:
            choices += [("remove", i) for i in voters]
        if not choices:
            return
        # Pick the kind first, so removals (more often possible) do not crowd out the rest.
        kinds = sorted({k for k, _ in choices})
        kind = self.rng.choice(kinds)
        op, target = self.rng.choice([ch for ch in choices if ch[0] == kind])
        if op == "add":
            learners.add(target)
        elif op == "promote":
            learners.discard(target)
            voters.add(target)
        else:
            voters.discard(target)
            learners.discard(target)
        try:
            idx, term = c.propose_conf_change(ConfState(frozenset(voters), frozenset(learners)))
        except (NotLeaderError, ProposalDroppedError):
            return
        # §4.1 and the 2015 correction: no change before an entry of this term committed.
        if c.log.term_or_none(c.commit) != c.term:
            self.fail(f"n{n.id} (leader, term {c.term}) appended a configuration change at "
                      f"{idx} before committing an entry of its term (commit {c.commit})")
        if op == "remove":
            self.retired.add(target)
            self.stats["conf_removals"] += 1
            if target == n.id:
                self.stats["leader_removals"] += 1
        elif op == "promote":
            self.stats["promotions"] += 1
        self.stats["conf_changes"] += 1
        self._log(f"n{n.id} conf {op} n{target} -> {idx}@{term}: "
                  f"{_fmt_conf(ConfState(frozenset(voters), frozenset(learners)))}")

    def read(self, n: _Node) -> None:
        self.op += 1
        ctx = f"r{self.op}".encode()
        try:
            n.core.read_index(ctx)
        except NotLeaderError:
            return
        n.reads[ctx] = max(self.max_acked, self.max_read)
        self._log(f"n{n.id} read_index {ctx!r} floor {n.reads[ctx]}")

    def _client(self) -> None:
        live = self._live()
        if not live:
            return
        r = self.rng.random()
        ld = self.leader()
        if r < 0.45:
            # Clients talk to whoever believes it leads, stale leaders included: their
            # doomed tails are what later elections must not commit wrongly (Figure 8).
            leaders = [n for n in live if n.core.role == Role.LEADER]
            if leaders and self.rng.random() < 0.8:
                target = self.rng.choice(leaders)
            else:
                target = self.rng.choice(live)
            for _ in range(self.rng.randint(1, 3)):
                self.propose(target)
            self._process(target)
        elif r < 0.8:
            # Half the reads go to a node that believes it leads (stale ones included).
            leaders = [n for n in live if n.core.role == Role.LEADER]
            n = self.rng.choice(leaders if leaders and self.rng.random() < 0.5 else live)
            self.read(n)
            self._process(n)
        elif r < 0.8 + self.p.membership and self.faults:
            leaders = [n for n in live if n.core.role == Role.LEADER]
            if leaders:
                n = self.rng.choice(leaders)
                self.change_membership(n)
                self._process(n)
        elif r < 0.82 + self.p.membership and ld is not None and self.faults:
            others = sorted(ld.core.conf.voters - {ld.id})
            if not others:
                return
            tgt = self.rng.choice(others)
            self.stats["transfers"] += 1
            self._log(f"n{ld.id} transfer to n{tgt}")
            ld.core.transfer_leadership(tgt)
            self._process(ld)

    def _fault(self) -> None:
        r = self.rng.random()
        ids = list(self.nodes)
        ld = self.leader()
        if r < 0.25 and not self.blocked and len(ids) > 1:  # one node: nothing to cut
            k = self.rng.randint(1, len(ids) // 2)
            side = set(self.rng.sample(ids, k))
            if ld is not None and self.rng.random() < 0.5 and ld.id not in side:
                side.pop()
                side.add(ld.id)  # cut the leader off with its doomed tail
            one_way = self.rng.random() < 0.3
            for a in side:
                for b in ids:
                    if b not in side:
                        self.blocked.add((a, b))
                        if not one_way:
                            self.blocked.add((b, a))
            dur = self.p.min_partition + self.rng.randrange(6 * TICK)
            if self.slow_links:
                self.holding = True
                dur += TICK * self._link_rng.randrange(2 * self.p.election_tick)
            self._log(f"PARTITION {sorted(side)} one_way={one_way} for {dur}"
                      + (" (holding)" if self.holding else ""))
            self._push(self.now + dur, "heal", None)
        elif r < 0.4:
            live = self._live()
            if live:
                n = ld if ld is not None and self.rng.random() < 0.5 else self.rng.choice(live)
                self._crash(n, "fault")

    # ---- main loop -------------------------------------------------------------------------
    def _run_until(self, end: int, stop=None) -> bool:
        while self.events and self.events[0][0] <= end:
            at, _, kind, payload = heapq.heappop(self.events)
            self.now = at
            if kind == "tick":
                n = self.nodes[payload]
                self._push(at + TICK, "tick", payload)
                if n.core is not None and n.timer is not None:
                    bad = n.timer.tick(n.core)
                    if bad:
                        self.fail(bad)
                    self._process(n)
            elif kind == "msg":
                n = self.nodes[payload.dst]
                if (payload.src, payload.dst) in self.blocked:
                    self._hold(payload)
                elif n.core is not None and n.timer is not None:
                    n.timer.step(n.core, payload)
                    self._process(n)
            elif kind == "client":
                if self.faults:
                    self._client()
                    self._push(at + self.rng.randint(1, 8), "client", None)
            elif kind == "fault":
                if self.faults:
                    self._fault()
                    self._push(at + self.rng.randint(1, self.p.fault_every), "fault", None)
            elif kind == "heal":
                self._heal()
            elif kind == "restart":
                n = self.nodes[payload]
                if n.core is None:
                    self._log(f"RESTART n{n.id}")
                    self._start(n)
                    self._process(n)
            if stop is not None and stop():
                return True
        self.now = end
        return False

    def run(self) -> dict:
        """Fault phase, then a liveness phase that must converge. Returns stats."""
        self._push(1, "client", None)
        self._push(self.rng.randint(1, self.p.fault_every), "fault", None)
        self._run_until(self.p.fault_ticks * TICK)
        self.heal_all()
        self.check_liveness()
        return self.stats

    def heal_all(self) -> None:
        self.faults = False
        self._heal()
        for n in self.nodes.values():
            if n.core is None:
                self._start(n)
                self._process(n)

    def check_liveness(self) -> None:
        deadline = self.now + self.p.liveness_ticks * TICK
        want: dict[int, tuple[int, bytes]] = {}

        def done() -> bool:
            ld = self.leader()
            if ld is None:
                return False
            for idx, (term, data) in list(want.items()):
                # A proposal lost to a leader change (not in the newest leader's log) is
                # retried, as a client would after an "unknown outcome" error.
                got = self.applied_digest.get(idx)
                if (got is not None and got[2] != data) or (
                    ld.core.term > term and ld.core.log.term_or_none(idx) != term
                ):
                    del want[idx]
            if len(want) < 3:
                if ld.core.lead_transferee:
                    return False
                idx = self.propose(ld)
                if idx is not None:
                    want[idx] = ld.writes[idx]
                    self._process(ld)
                return False
            top = max(want)
            # Every member of the leader's configuration; removed nodes keep running but
            # hear nothing more, and spares never added hold nothing.
            members = ld.core.conf.voters | ld.core.conf.learners
            return all(self.nodes[i].applied >= top for i in members)

        if not self._run_until(deadline, done):
            st = {i: (n.core.status().role.name.lower(), n.core.term, n.core.commit, n.applied)
                  for i, n in self.nodes.items()}
            self.fail(f"liveness: no convergence within {self.p.liveness_ticks} ticks "
                      f"after healing (proposed {sorted(want)}): {st}")
        for idx, (_, data) in want.items():
            got = self.applied_digest.get(idx)
            if got is None or got[2] != data:
                self.fail(f"liveness: proposal {data!r} at {idx} was not the committed entry")


def _fmt_conf(c: ConfState) -> str:
    return f"voters={sorted(c.voters)} learners={sorted(c.learners)}"


def _encode_sm(index: int, digest: int, pad: int) -> bytes:
    return f"{index}:{digest}:".encode() + b"." * pad


def _decode_sm(data: bytes) -> tuple[int, int]:
    idx, dig, _ = data.split(b":", 2)
    return int(idx), int(dig)


def run_seed(seed: int, nodes: int = 3, trace: bool = False, **kw) -> dict:
    return Cluster(seed, SimParams(nodes=nodes, **kw), trace=trace).run()


def run_membership_seed(seed: int, nodes: int = 3, trace: bool = False, **kw) -> dict:
    """A seed with membership changes in the fault mix."""
    return run_seed(seed, nodes, trace, **(MEMBERSHIP | kw))


__all__ = ["Cluster", "SimFailure", "SimParams", "run_membership_seed", "run_seed",
           "replay_command", "EntryKind"]
