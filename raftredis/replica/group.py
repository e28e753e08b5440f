"""One Raft group on one node: the thin Ready loop that wires the collaborators, and
the Backend the client port uses (raftredis.server.backend).

For each Ready of the core, in this order (raft.ready documents why):
  1. send `messages` (the leader's appends go out while it writes its own log, §10.2.1);
  2. restore a received snapshot, then persist snapshot, hard state and entries;
  3. send `messages_after_persist` (vote grants, append acks: only once durable);
  4. apply committed entries, answer their proposals, serve ReadIndex reads;
  5. advance the core.
Step 4 overlaps step 2 where that is safe (raft.ready, Pipelining): committed entries
already durable here are applied while the disk writes, and entries that commit while
it writes are applied as the acknowledgements arrive, so no answer waits for the fsync
of the entries after it; messages that promise nothing about this node's disk
(heartbeats and their answers) leave during the write too, so a slow fsync does not
look like a dead node.
Client commands that arrive while a persist is in flight wait in a batch; the next
turn proposes the whole batch as ONE log entry (group commit and batching in one).

Clock, storage, persister, transport and randomness come in through `Ports`, so the
simulator (tests/sim/group_sim.py) runs this very code under its own scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from raftredis.acl.table import UserTable
from raftredis.commands.sessions import runs_script, wrapped_spec
from raftredis.commands.slots import key_slot
from raftredis.commands.spec import CommandSpec, Route, lookup
from raftredis.config import NodeConfig
from raftredis.raft.config import RaftConfig
from raftredis.raft.core import RaftCore
from raftredis.raft.messages import Append, Heartbeat, InstallSnapshot, Message
from raftredis.raft.ready import Ready
from raftredis.raft.status import RaftStatus
from raftredis.raft.types import ConfState, EntryKind, HardState, ReadState, Role, SoftState
from raftredis.replica import ops as logops
from raftredis.replica.applier import Applier
from raftredis.replica.clock import EntryClock, SystemClock
from raftredis.replica.cluster_view import ClusterView
from raftredis.replica.duties import LeaderDuties
from raftredis.replica.eviction import EXEC_OOM
from raftredis.replica.eviction import info_sections as eviction_info
from raftredis.replica.keepalive import KeepAlive, KeepAliveTimes
from raftredis.replica.keywatch import KeyTracker
from raftredis.replica.loopwatch import LoopWatch, latency_command
from raftredis.replica.membership import MemberAddr, Membership
from raftredis.replica.ports import GroupStorage, Ports, Transport
from raftredis.replica.proposals import WATCHED_EXEC, Proposals, WatchedExec
from raftredis.replica.publish import Publisher
from raftredis.replica.reads import Reads
from raftredis.replica.rolelog import RoleLog
from raftredis.replica.routing import CLUSTERDOWN, Router
from raftredis.replica.settings import ClusterSettings
from raftredis.replica.slowwatch import ExecSink, SlowWatch
from raftredis.replica.snapshots import Snapshots
from raftredis.replica.tasks import TaskSet
from raftredis.reply import Error
from raftredis.statemachine import StateMachine
from raftredis.transport.forward import PublishForward

log = logging.getLogger("raftredis.replica")


# How long the Ready loop may run Readys back to back before it yields to the event loop
# (committed entries come in bounded pieces, so this bounds its hold between pieces).
LOOP_TURN_BUDGET_S = 0.010


class _NotReadonlyConn:
    """Stands for the original connection when a failed read is routed again: only the
    leader may serve it (a linearizable read), whatever READONLY said."""

    readonly = False
    tls = False


class _NotReadonlyTlsConn(_NotReadonlyConn):
    tls = True


_NOT_READONLY_CONN = _NotReadonlyConn()
_NOT_READONLY_TLS_CONN = _NotReadonlyTlsConn()


def _tls(conn: object) -> bool:
    """Whether the client came in over TLS (its redirects then name TLS ports)."""
    return bool(getattr(conn, "tls", False))
NOT_A_MEMBER = Error("CLUSTERDOWN this node is not a member of the cluster (removed, or not "
                     "joined yet)")


@dataclass(frozen=True, slots=True)
class LoopStats:
    max_stall_ms: int  # the event loop's worst lateness in the last minute
    stalls: int  # times it was late by stall_threshold_ms or more
    stall_threshold_ms: int
    elections_started: int  # campaigns this node started (pre-vote ones too)
    leader_changes: int  # new (leader, term) pairs this node learned
    keepalive: bool  # the keep-alive side channel runs
    vouches: int  # election timers restarted / followers counted active, by keep-alive
    # A follower has heard its leader's helper say it leads this term: only from then on
    # can a stall of the leader be vouched for (a leader wedged at once is not).
    leader_heard: bool


@dataclass(frozen=True, slots=True)
class GroupCounters:
    proposals: int
    entries_proposed: int
    reads: int
    read_rounds: int
    snapshots_taken: int
    snapshots_installed: int


def bootstrap_conf(config: NodeConfig) -> ConfState:
    """The configuration a brand-new data directory starts with: --peers' voters, or
    none for a node started to --join (it is added by the cluster, as a learner). A
    directory that holds state keeps its own (storage records this only when new)."""
    return ConfState() if config.join else ConfState(voters=config.voters)


def handshake_meta(config: NodeConfig) -> dict[str, str]:
    """What this node tells its peers in the handshake: where clients reach it, plain
    and over TLS (a follower's MOVED names the leader's TLS port to a TLS client)."""
    meta = {"client": f"{config.announce_host}:{config.announce_port}",
            "peer": f"{config.peer_host}:{config.peer_port}"}  # (for a peer new to them)
    if config.tls_port:
        meta["tls-client"] = f"{config.announce_host}:{config.announce_tls_port}"
    return meta


def production_ports(config: NodeConfig) -> Ports:
    """Disk storage with its disk thread, the system clock, TCP peers."""
    from raftredis.storage import AsyncPersister, DiskStorage, FsyncPolicy

    storage = DiskStorage.open(config.data_dir, initial_conf=bootstrap_conf(config),
                               fsync=FsyncPolicy(config.fsync))
    peers = {pid: (p.host, p.port) for pid, p in config.peer_map.items() if pid != config.id}
    transport = None
    if peers or config.join or config.secret:
        # With a secret, a lone node listens too: it can grow (members join online).
        def transport(on_message, on_peer_meta) -> Transport:
            from raftredis.tls import peer_contexts
            from raftredis.transport.peers import PeerTransport

            return PeerTransport(
                config.id, config.secret.encode(), config.peer_host, config.peer_port, peers,
                on_message=on_message, meta=handshake_meta(config),
                on_peer_meta=on_peer_meta,
                tls=peer_contexts(config.tls_files) if config.tls_cluster == "yes"
                and config.tls_files is not None else None,
            )
    keepalive = None
    if (peers or config.join) and config.stall_limit_ms > 0:  # a joiner learns its peers
        times = KeepAliveTimes.for_node(config.tick_ms, config.heartbeat_ticks,
                                        config.election_ticks, config.stall_limit_ms)
        keepalive = KeepAlive(config.id, config.secret.encode(),
                              (config.peer_host, config.peer_port), peers, times)
    rng = random.Random()
    return Ports(clock=SystemClock(), storage=storage, persister=AsyncPersister(storage),
                 rng=rng, transport=transport, fork_snapshots=True,
                 read_ctx_prefix=rng.getrandbits(64).to_bytes(8, "big"), keepalive=keepalive)


def _needs_memory(spec: CommandSpec, args: list[bytes]) -> bool:
    """Redis's denyoom, looking through SESSION.EXEC to the command it wraps."""
    if "denyoom" not in spec.flags:
        return False
    if spec.name == "session.exec":
        inner = wrapped_spec(args)
        return inner is None or "denyoom" in inner.flags
    return True


def _script_user(conn, spec: CommandSpec, args: list[bytes]) -> bytes | None:
    """The user a script runs as: an ACL-limited connection's (its calls are checked),
    else None (nobody to check)."""
    if getattr(conn, "acl_limited", False) and runs_script(spec, args):
        return conn.user.name
    return None


# How execute() takes a command at the leader, by spec name (computed once per spec).
_PLAIN_WRITE = 1  # a write proposed as is: no script, no blocking, no session wrapper
_PLAIN_WRITE_OOM = 2  # the same, and denyoom: maxmemory may refuse it first
_PLAIN_READ = 3  # a read served by ReadIndex as is: no script, no blocking, no wrapper
_OTHER = 4


def _lane(spec: CommandSpec) -> int:
    if spec.group == "scripting" or "blocking" in spec.flags or spec.name == "session.exec":
        return _OTHER
    if spec.route == Route.READ:
        return _PLAIN_READ
    if spec.route != Route.WRITE:
        return _OTHER
    return _PLAIN_WRITE_OOM if "denyoom" in spec.flags else _PLAIN_WRITE


_LANES: dict[str, int] = {}


class ReplicaGroup:
    """One Raft group member. Implements raftredis.server.backend.Backend."""

    def __init__(self, config: NodeConfig, ports: Ports | None = None) -> None:
        loop = asyncio.get_running_loop()
        ports = ports if ports is not None else production_ports(config)
        self.config = config
        self.id = config.id
        self._loop = loop
        self._ports = ports
        self._clock = ports.clock
        self._storage: GroupStorage = ports.storage
        self._persister = ports.persister
        # A commit-only hard state not yet written (see _handle_ready).
        self._lazy_hard_state: HardState | None = None
        self._transport: Transport | None = None
        self._wake = asyncio.Event()
        self._running = False
        self._tasks = TaskSet(loop)
        self._tick_handle: asyncio.TimerHandle | None = None
        self.on_fatal: Callable[[], None] | None = None
        self.on_role_change: Callable[[Role], None] | None = None
        # Observability: how late the event loop runs (LATENCY, INFO raft) and why the
        # role changed (logged with term and reason).
        self.loopwatch = LoopWatch(loop, self._clock)
        self.roles = RoleLog(self.id, config.tick_ms * config.election_ticks)
        self.vouches = 0  # election timers restarted / followers counted, by keep-alive
        self._tick_in_flight: asyncio.Future | None = None  # a clock tick for reads

        self.sm = StateMachine()
        self.stamps = EntryClock(self._clock)
        self.settings = ClusterSettings(config, loop, self._storage_fsync, self.sm.memory)
        self.slow = SlowWatch()  # execution times of what runs after dispatch
        self.applier = Applier(self.sm, self.stamps, self.settings.apply, self.slow)
        self._timed_read = self.slow.timed(self.sm.read)
        # Reads of TLS clients still waiting for their ReadIndex round.
        self._tls_reads: weakref.WeakSet[asyncio.Future] = weakref.WeakSet()
        self.snapshots = Snapshots(
            self.sm, self.applier, self.stamps, self._storage, self._persister, self._clock,
            self._tasks, loop, config.data_dir, lambda: config.snapshot_threshold,
            fork=ports.fork_snapshots)
        self.duties = LeaderDuties(self.sm, self.stamps,
                                    lambda op: self.proposals.submit(op, with_future=False),
                                    lambda op: self.proposals.submit(op))
        self.proposals = Proposals(loop, self._clock, self.stamps, self._wake.set,
                                    on_not_logged=self.duties.not_logged)
        self.reads = Reads(loop, self._wake.set, self._reroute_read,
                           applied=lambda: self.applier.applied,
                           ctx_prefix=ports.read_ctx_prefix)
        timeout_s = config.tick_ms * config.election_ticks / 1000
        self.router = Router(self.id, f"{config.announce_host}:{config.announce_port}",
                              self._clock, self._tasks, loop, timeout_s,
                              config.cluster_down_wait_ms / 1000, lambda: self._running,
                              handshake_meta(config).get("tls-client", ""))
        self.core: RaftCore | None = None
        own = MemberAddr(f"{config.peer_host}:{config.peer_port}",
                         f"{config.announce_host}:{config.announce_port}")
        self.membership = Membership(
            self.id, lambda: self.core, lambda: self._transport, self.router, own,
            {pid: f"{p.host}:{p.port}" for pid, p in config.peer_map.items()},
            config.promote_lag, self._wake.set, applied_conf=lambda: self.applier.conf)
        self.tracker = KeyTracker(loop, self._clock, self.stamps, self.sm, self._tasks,
                                applied=lambda: self.applier.applied,
                                last_index=self._last_index,
                                watched_exec_waiting=lambda: self.proposals.watched_exec_waiting)
        self.applier.listen(self.tracker.active, self.tracker.on_changes)
        self.applier.listen(self.duties.waiting, self.duties.on_changes)
        # PUBLISH through the log; followers forward theirs to the leader.
        self.publisher = Publisher(
            self.id, loop, self.router, lambda op: self.proposals.submit(op),
            lambda msg: self._transport.send(msg) if self._transport is not None else None,
            lambda: self.term, config.cluster_down_wait_ms / 1000)
        self.applier.publish = self.publisher.deliver

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        cfg = self.config
        self.applier.restored(0, bootstrap_conf(cfg))
        self.snapshots.restore_at_start()
        self._stamp_floor_from_log()
        raft_cfg = self._ports.raft_config or RaftConfig(election_tick=cfg.election_ticks,
                                                         heartbeat_tick=cfg.heartbeat_ticks)
        self.core = RaftCore(self.id, self._storage, raft_cfg, self._ports.rng,
                             applied=self.applier.applied,
                             incarnation=self._ports.read_ctx_prefix or None)
        self.settings.replaying_until(self.core.log.last_index())
        self.roles.started(self.core.term, self._clock.monotonic(),
                           raft_cfg.election_tick * cfg.tick_ms)
        if self._ports.transport is not None:
            self._transport = self._ports.transport(self._on_peer_message, self._on_peer_meta)
            admission = getattr(self._transport, "set_admission", None)
            if admission is not None:  # authenticated peers new to us: membership decides
                admission(self.membership.admit_peer)
            await self._transport.start()
        if self._ports.keepalive is not None:
            self.membership.on_peers = self._ports.keepalive.set_peers  # new members too
        self.membership.maybe_sync()  # the persisted membership wins over --peers
        self._running = True
        if self._ports.keepalive is not None and not self._ports.keepalive.start():
            self._ports.keepalive = None
        self.loopwatch.start()
        self._tasks.spawn(self._ready_loop(), name="ready-loop")
        self._tasks.spawn(self._housekeeping(), name="housekeeping")
        self._schedule_tick()
        self._wake.set()

    def _stamp_floor_from_log(self) -> None:
        """The log's tail back to its newest NORMAL entry holds the newest stamp (stamps
        only grow along the log; elections add NOOPs with no stamp), and a new leader may
        propose before it has re-applied anything."""
        storage = self._storage
        first, hi = storage.first_index(), storage.last_index() + 1
        while hi > first:
            lo = max(first, hi - 64)
            chunk = storage.entries(lo, hi)
            normal = [e for e in chunk if e.kind == EntryKind.NORMAL and len(e.data) >= 8]
            if normal:
                self.stamps.note_logged(logops.stamp_of(normal[-1].data))
                return
            hi = lo

    async def stop(self) -> None:
        self._running = False
        self.loopwatch.stop()
        if self._ports.keepalive is not None:
            self._ports.keepalive.stop()
        if self._tick_handle:
            self._tick_handle.cancel()
        self._wake.set()
        await self._tasks.cancel_all()
        self._fail_all(CLUSTERDOWN)
        if self._transport is not None:
            await self._transport.stop()
        if self._lazy_hard_state is not None:  # a clean stop keeps the latest commit index
            try:
                await self._persister.persist(self._lazy_hard_state, ())
            except Exception:
                log.exception("could not write the last commit index at stop")
            self._lazy_hard_state = None
        await self._persister.close()
        close = getattr(self._storage, "close", None)
        if close is not None:
            close()

    def _fail_all(self, reply: object) -> None:
        self.proposals.fail_all(reply)
        self.reads.fail_all(reply)
        self.publisher.fail_all(reply)

    def _storage_fsync(self, policy) -> None:
        setter = getattr(self._storage, "set_fsync_policy", None)
        if setter is not None:
            setter(policy)

    def _last_index(self) -> int:
        return self.core.log.last_index() if self.core is not None else 0

    # ------------------------------------------------------------------ timers
    def _schedule_tick(self) -> None:
        self._tick_handle = self._loop.call_later(self.config.tick_ms / 1000, self._on_tick)

    def _on_tick(self) -> None:
        if not self._running:
            return
        core = self.core
        assert core is not None
        keepalive = self._ports.keepalive
        if keepalive is not None:
            now = self._clock.monotonic()
            keepalive.loop_turned(now, core.term, core.role == Role.LEADER)
            for pid in keepalive.vouching(core.term, now):
                if pid == core.leader or core.role == Role.LEADER:
                    self.vouches += 1
                core.note_alive(pid, core.term)
        core.tick()
        self._wake.set()
        self._schedule_tick()

    async def _housekeeping(self) -> None:
        """Leader duties, and the uncertain-outcome deadline."""
        period = self.config.active_expire_ms / 1000
        wait_s = self.config.cluster_down_wait_ms / 1000
        while self._running:
            await asyncio.sleep(period)
            try:
                if self.router.is_leader:
                    self.duties.run()
                    self.membership.promote_caught_up()
                self.proposals.expire_uncertain(wait_s)
            except Exception:  # never let housekeeping die silently
                log.exception("housekeeping failed")

    # ------------------------------------------------------------------ peer input
    def _on_peer_message(self, msg: Message) -> None:
        core = self.core
        if core is None or not self._running:
            return
        if isinstance(msg, PublishForward):  # not Raft's: a follower's PUBLISH
            self.publisher.on_forward(msg)
            return
        if isinstance(msg, Append | Heartbeat | InstallSnapshot):
            self.router.heard_from(msg.src)
        core.step(msg)
        self._wake.set()

    def _on_peer_meta(self, peer_id: int, meta: dict) -> None:
        self.router.learn_address(peer_id, meta.get("client", ""))
        self.router.learn_address(peer_id, meta.get("tls-client", ""), tls=True)

    # ------------------------------------------------------------------ Ready loop
    async def _ready_loop(self) -> None:
        core = self.core
        assert core is not None
        while self._running:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._flush()
                turn_started = self._clock.monotonic()
                while core.has_ready():
                    rd = core.ready()
                    await self._handle_ready(rd)
                    core.advance(rd)
                    self.membership.maybe_sync()
                    self._flush()
                    if self._clock.monotonic() - turn_started > LOOP_TURN_BUDGET_S:
                        # A long backlog (a big catch-up, a slow state machine) must not
                        # hold the event loop: let peer messages, ticks and clients in.
                        await asyncio.sleep(0)
                        turn_started = self._clock.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failure here (disk full, corrupt storage) must stop the node rather than
                # let it answer from a state it could not persist.
                log.exception("fatal error in the Ready loop; stopping the node")
                self._running = False
                self._fail_all(CLUSTERDOWN)
                if self.on_fatal is not None:
                    self.on_fatal()
                return

    def _flush(self) -> None:
        core = self.core
        assert core is not None
        self.proposals.flush(core, self.router.is_leader, self.tracker)
        self.reads.flush(core)

    async def _handle_ready(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state)
        self._send(rd.messages)
        if rd.snapshot is not None:
            await self.snapshots.install_received(rd.snapshot)
            index = rd.snapshot.meta.index
            self.tracker.snapshot_installed(index)
            self.proposals.snapshot_installed(index)
        committed = rd.committed_entries
        reads_taken = False
        if rd.must_sync or rd.entries:
            hs = rd.hard_state if rd.hard_state is not None else self._lazy_hard_state
            self._lazy_hard_state = None
            writing = asyncio.ensure_future(self._persister.persist(hs, rd.entries))
            try:
                if rd.snapshot is None:
                    # The disk works while we apply what is durable already and answer
                    # its clients, then what commits meanwhile (raft.ready, Pipelining):
                    # an answer never waits for the fsync of the entries after it.
                    early = 0
                    while early < len(committed) and committed[early].index <= rd.durable_hi:
                        early += 1
                    if early:
                        self._apply(committed[:early])
                        committed = committed[early:]
                    self._take_reads(rd.read_states, rd.dropped_reads)
                    reads_taken = True
                await self._while_writing(writing, apply=rd.snapshot is None)
                await writing
            except asyncio.CancelledError:
                writing.cancel()
                raise
            for ent in reversed(rd.entries):
                if ent.kind == EntryKind.NORMAL and len(ent.data) >= 8:
                    self.stamps.note_logged(logops.stamp_of(ent.data))
                    break
        elif rd.hard_state is not None:
            # Only the commit index moved. Raft keeps it in no durable state (a restarted
            # node learns it again from its leader), so it goes to disk with the next
            # durable write rather than costing an fsync and a disk round trip before
            # the entries it commits can be applied and answered.
            self._lazy_hard_state = rd.hard_state
        self._send(rd.messages_after_persist)
        if committed:
            self._apply(committed)
        if reads_taken:
            self.reads.serve(self._read_now, self._timed_read, self._need_time)
        else:
            self._take_reads(rd.read_states, rd.dropped_reads)

    def _take_reads(self, states: tuple[ReadState, ...], dropped: tuple[bytes, ...]) -> None:
        if states:
            self.reads.confirmed(states)
        if dropped:
            self.reads.dropped(dropped)
        self.reads.serve(self._read_now, self._timed_read, self._need_time)

    async def _while_writing(self, writing: asyncio.Future, apply: bool) -> None:
        """Until the pending Ready's write is durable: send what the core says needs no
        persist (heartbeats and their answers: a slow fsync must not look like a dead
        node), and with `apply`, apply each entry that commits meanwhile and serve each
        read confirmed meanwhile, as soon as the core knows (peer messages, ticks and
        the write's end wake us). Proposals and new read rounds wait for the next
        Ready, which batches them."""
        core = self.core
        assert core is not None
        writing.add_done_callback(lambda _: self._wake.set())
        while not writing.done():
            await self._wake.wait()
            self._wake.clear()
            if not self._running:
                return
            self._send(core.take_messages())
            if not apply:
                continue
            ents = core.take_committed()
            if ents:
                self._apply(ents)
            states, dropped = core.take_read_states()
            if ents or states or dropped:
                self._take_reads(states, dropped)
        # (Whatever else woke us meanwhile, proposals, reads, peer messages, is looked at
        # after advance: the loop flushes the batches and asks the core for a Ready.)

    def _read_now(self) -> int | None:
        return self.stamps.read_now(bool(self.sm.db.expires))

    def _need_time(self) -> None:
        """Reads wait for the log's time to catch up (EntryClock.read_now): log a clock
        tick (an expiry with no keys: just a stamp), one at a time."""
        if self._tick_in_flight is not None and not self._tick_in_flight.done():
            return
        self._tick_in_flight = self.proposals.submit(logops.expire([]))

    def _send(self, msgs: tuple[Message, ...]) -> None:
        if not msgs:
            return
        core = self.core
        assert core is not None
        for m in msgs:
            if m.dst == self.id:
                core.step(m)
            elif self._transport is not None:
                self._transport.send(m)

    def _apply(self, committed) -> None:
        applier, proposals = self.applier, self.proposals
        for ent in committed:
            if ent.index <= applier.applied:
                continue
            prop = proposals.claim(ent.index)
            ours = prop is not None and prop.term == ent.term
            replies = applier.apply(ent, prop.ops if ours else None, want_replies=ours)
            if prop is not None:
                proposals.settled(prop, ent.term, replies)  # counted for the metrics
                proposals.answer(prop, ent.term, replies)
            if ent.kind == EntryKind.CONFIG:
                self.membership.applied(ent)
        self.snapshots.maybe_take()

    def _on_soft_state(self, ss: SoftState) -> None:
        was_leader = self.router.is_leader
        if self.core is not None:
            # Routing forgets when the old leader was last heard once it learns the new
            # soft state: log the change (term and reason) first.
            self.roles.on_soft_state(ss, self.core, self._clock.monotonic(),
                                     self.router.leader_heard_at)
        self.router.on_soft_state(ss)
        if was_leader and ss.role != Role.LEADER:
            self.proposals.lost_leadership()
            self.membership.lost_leadership()
        if was_leader != (ss.role == Role.LEADER):
            self.duties.role_changed()
            if ss.role == Role.LEADER:
                self.stamps.led()
                self.settings.leading(lambda op: self.proposals.submit(op, with_future=False))
        if self.on_role_change is not None:
            self.on_role_change(ss.role)

    # ------------------------------------------------------------------ Backend: routing
    def execute(self, conn, spec: CommandSpec, args: list[bytes]) -> object:
        lane = _LANES.get(spec.name)
        if lane is None:
            lane = _LANES[spec.name] = _lane(spec)
        if lane != _OTHER and self.router.is_leader:
            # The common read or write: what the general path below does for it, minus
            # the tests that cannot apply (no script user, not blocking, no wrapper).
            if lane == _PLAIN_READ:
                return self._submit_read(conn, args)
            if lane == _PLAIN_WRITE_OOM and self.sm.memory.maxmemory and \
                    (oom := self.duties.admit_write()) is not None:
                return oom  # refused before the log, as Redis refuses it
            return self.proposals.submit_command(args)
        if not self.router.is_leader and not self.router.known_leader() and \
                not self.membership.is_member():
            return NOT_A_MEMBER  # removed, or not joined yet: no data to serve, no leader to name
        # A script that cannot write (no-writes) is a read: no log entry, ReadIndex.
        route = spec.route if spec.group != "scripting" else self.sm.route(spec, args)
        # A script of an ACL-limited user runs as that user (its calls are checked), and
        # always through the log: the user travels with the entry.
        as_user = _script_user(conn, spec, args)
        if self.router.is_leader:
            if as_user is not None:
                if route == Route.WRITE and _needs_memory(spec, args) and \
                        (oom := self.duties.admit_write()) is not None:
                    return oom
                return self.proposals.submit(logops.command_as(as_user, args))
            if route == Route.WRITE:
                if _needs_memory(spec, args) and (oom := self.duties.admit_write()) is not None:
                    return oom  # refused before the log, as Redis refuses it
                if "blocking" in spec.flags:
                    tls = _tls(conn)
                    return self.tracker.blocking(conn, spec, args, lambda: self.router.is_leader,
                                               lambda slot: self.router.redirect_now(slot, tls),
                                               self.proposals.submit_command)
                return self.proposals.submit_command(args)
            return self._submit_read(conn, args)
        if route == Route.READ and getattr(conn, "readonly", False) and \
                self.membership.is_member():
            # (A node removed or not yet joined never serves reads: it may be far behind.)
            # READONLY: a possibly stale read from this replica, as Redis Cluster replicas do.
            if as_user is not None:
                return self.sm.read_as(as_user, args, self.stamps.now())
            return self.sm.read(args, self.stamps.now())
        keys = spec.keys(args)
        return self.router.redirect(key_slot(keys[0]) if keys else 0,
                                     lambda: self.execute(conn, spec, args), _tls(conn))

    def _submit_read(self, conn, args: list[bytes]) -> asyncio.Future:
        fut = self.reads.submit(args)
        if _tls(conn):
            self._tls_reads.add(fut)  # routed again after a failed round: as TLS
        return fut

    def execute_multi(self, conn, commands: list[tuple[CommandSpec, list[bytes]]]) -> object:
        # The marks are read now: dispatch clears conn.watched once this returns, and a
        # retry after an election must still honour them.
        as_user = next((u for spec, args in commands
                        if (u := _script_user(conn, spec, args)) is not None), None)
        return self._execute_multi(commands, dict(getattr(conn, "watched", None) or {}),
                                   _tls(conn), as_user)

    def _execute_multi(self, commands: list[tuple[CommandSpec, list[bytes]]],
                       marks: dict, tls: bool, as_user: bytes | None = None) -> object:
        if self.router.is_leader:
            if any(_needs_memory(spec, args) for spec, args in commands) and \
                    self.duties.admit_write() is not None:
                return EXEC_OOM
            lines = [args for _, args in commands]
            multi = logops.multi(lines) if as_user is None else logops.multi_as(as_user, lines)
            if marks:
                return self.proposals.submit(WatchedExec(WATCHED_EXEC, marks, multi))
            return self.proposals.submit(multi)
        slot = 0
        for spec, args in commands:
            keys = spec.keys(args)
            if keys:
                slot = key_slot(keys[0])
                break
        return self.router.redirect(slot, lambda: self._execute_multi(commands, marks, tls,
                                                                      as_user), tls)

    def check_route(self, conn, spec: CommandSpec, args: list[bytes]) -> Error | None:
        """Inside MULTI: None if this node can run the command, else the redirect now."""
        if self.router.is_leader:
            return None
        keys = spec.keys(args)
        return self.router.redirect_now(key_slot(keys[0]) if keys else 0, _tls(conn))

    def watch(self, conn, keys: list[bytes]) -> object:
        if not self.router.is_leader:
            return self.router.redirect_now(key_slot(keys[0]), _tls(conn))
        return self.tracker.watch(conn, keys)

    def _reroute_read(self, args: list[bytes], fut: asyncio.Future) -> None:
        """A read whose ReadIndex round failed: it changed nothing, so route it again."""
        spec = lookup(args[0])
        if spec is None:
            if not fut.done():
                fut.set_result(CLUSTERDOWN)
            return
        tls = fut in self._tls_reads
        value = self.execute(_NOT_READONLY_TLS_CONN if tls else _NOT_READONLY_CONN, spec, args)
        if isinstance(value, asyncio.Future):
            value.add_done_callback(lambda f: fut.done() or fut.set_result(f.result()))
        elif not fut.done():
            fut.set_result(value)

    # ------------------------------------------------------------------ CONFIG
    def attach_settings(self, settings) -> None:
        self.settings.attach(settings)

    def attach_exec_sink(self, sink: ExecSink) -> None:
        """Execution times (SLOWLOG, commandstats) of the commands that run after
        dispatch has returned."""
        self.slow.attach(sink)

    def config_set(self, conn, pairs: list[tuple[bytes, bytes]]) -> object:
        return self.settings.config_set(
            pairs, self.router.is_leader,
            lambda: self.router.redirect(0, lambda: self.config_set(conn, pairs), _tls(conn)),
            lambda op: self.proposals.submit(op))

    # ------------------------------------------------------------------ ACL
    @property
    def acl(self) -> UserTable:
        """The replicated user table, part of the state machine's state."""
        return self.sm.acl

    def acl_change(self, conn, op: list[bytes]) -> object:
        """ACL SETUSER / DELUSER, checked and with passwords hashed: through the log."""
        if not self.router.is_leader:
            return self.router.redirect(0, lambda: self.acl_change(conn, op))
        return self.proposals.submit(logops.acl_change(op))

    # ------------------------------------------------------------------ events
    def attach_events(self, events) -> None:
        """The server's EventHub: PUBLISH delivery, keyspace notifications and
        tracking invalidations from every applied entry (raftredis.events)."""
        self.publisher.attach(events)
        self.applier.listen(events.active, events.on_changes)
        # A restored snapshot (entry None) changed keys nobody was told about.
        self.applier.observe(lambda index, ent: ent is None and events.state_replaced())

    def publish(self, channel: bytes, message: bytes, shard: bool) -> object:
        return self.publisher.publish(channel, message, shard)

    # ------------------------------------------------------------------ snapshots
    async def take_snapshot(self) -> int:
        return await self.snapshots.take()

    # ------------------------------------------------------------------ what the group shows
    @property
    def is_leader(self) -> bool:
        return self.router.is_leader

    @property
    def role(self) -> Role:
        return self.router.role

    @property
    def applied(self) -> int:
        return self.applier.applied

    @property
    def applied_conf(self) -> ConfState:
        return self.applier.conf

    @property
    def term(self) -> int:
        return self.core.term if self.core is not None else 0

    @property
    def running(self) -> bool:
        return self._running

    def known_leader(self) -> int:
        return self.router.known_leader()

    def client_address(self, node_id: int, tls: bool = False) -> str | None:
        """Where clients reach `node_id`: its TLS address for a client that came in over
        TLS, when it has one (CLUSTER SLOTS, SHARDS, NODES; Redis 7.2 does the same)."""
        return (self.router.address(node_id, tls) or self.membership.addr(node_id).client
                or None)

    def peer_address(self, node_id: int) -> str:
        return self.membership.addr(node_id).peer

    def learners(self) -> frozenset[int]:
        return self.membership.learners()

    def change_membership(self, op: str, node_id: int, addr: MemberAddr | None = None) -> object:
        """CLUSTER JOIN / ADDLEARNER / PROMOTE / FORGET: proposed on the leader (the
        reply is OK once committed), redirected by a follower."""
        if self.router.is_leader:
            got = self.membership.propose(op, node_id, addr)
            if got is not None:
                return got
        elif not self.router.known_leader() and not self.membership.is_member():
            return NOT_A_MEMBER  # removed: no leader will ever be heard to redirect to
        return self.router.redirect(0, lambda: self.change_membership(op, node_id, addr))

    def members(self) -> tuple[int, list[int]]:
        """(leader id or 0, voters and learners other than the leader, sorted)."""
        leader = self.known_leader()
        conf = self.core.conf if self.core is not None else self.applier.conf
        ids = sorted(set(conf.voters) | set(conf.learners) | {self.id})
        return leader, [i for i in ids if i != leader]

    def when_leader_known(self, fn: Callable[[], object]) -> asyncio.Future:
        """Run fn once a leader is known (bounded by cluster_down_wait; else CLUSTERDOWN)."""
        return self.router.after_leader_known(fn)

    def request_leadership(self) -> bool:
        """CLUSTER FAILOVER: ask the leader for a graceful transfer to this node."""
        if self.core is None or not self.core.request_leadership():
            return False
        self._wake.set()
        return True

    def campaign_now(self) -> bool:
        """Start an election at once (CLUSTER FAILOVER FORCE/TAKEOVER); False if not a
        voter."""
        if self.core is None or not self.core.campaign_now():
            return False
        self._wake.set()
        return True

    def raft_status(self) -> RaftStatus:
        assert self.core is not None
        return self.core.status()

    def storage_stats(self) -> dict:
        stats = getattr(self._storage, "stats", None)
        return stats() if stats is not None else {}

    def peer_links(self) -> dict[int, dict]:
        """The transport's view of each peer link (connected, messages, bytes)."""
        status = getattr(self._transport, "status", None)
        return status() if status is not None else {}

    def counters(self) -> GroupCounters:
        return GroupCounters(
            proposals=self.proposals.proposed_ops,
            entries_proposed=self.proposals.proposed_entries,
            reads=self.reads.served, read_rounds=self.reads.rounds,
            snapshots_taken=self.snapshots.taken,
            snapshots_installed=self.snapshots.installed)

    def loop_stats(self) -> LoopStats:
        watch, roles = self.loopwatch, self.roles
        return LoopStats(max_stall_ms=watch.max_stall_ms(), stalls=watch.stalls,
                         stall_threshold_ms=watch.threshold_ms,
                         elections_started=roles.elections_started,
                         leader_changes=roles.leader_changes,
                         keepalive=self._ports.keepalive is not None
                         and self._ports.keepalive.running(), vouches=self.vouches,
                         leader_heard=self._leader_heard())

    def _leader_heard(self) -> bool:
        ka, core = self._ports.keepalive, self.core
        if ka is None or core is None or core.leader in (0, self.id):
            return False
        return ka.heard_leader(core.leader, core.term)

    def latency(self, args: list[bytes]) -> object:
        """LATENCY <subcommand> ...: this node's loop stalls (the server's optional hook)."""
        return latency_command(self.loopwatch.latency, args)

    def cluster_command(self, conn, args: list[bytes]) -> object:
        return ClusterView(self).command(conn, args)

    def info_sections(self) -> dict[str, list[tuple[str, object]]]:
        sections = ClusterView(self).info_sections()
        for name, pairs in eviction_info(self.sm, self.duties.evictor).items():
            sections[name] = sections.get(name, []) + pairs
        return sections
