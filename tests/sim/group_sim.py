"""The simulator for the real replica group: `raftredis.replica.ReplicaGroup`, the very
code a node runs (Ready loop, proposals and their futures, ReadIndex waiters, WATCH,
snapshots taken and sent while writes continue, the entry clock, leader duties), on
a deterministic event loop (tests/sim/simloop.py) with virtual time.

One seed drives every choice: message loss, duplication, delay and late stragglers
(past an election timeout), partitions (one node cut off, or a split) with a minimum
duration, crashes at any point (a persist in flight is lost) and restarts from what
was durable, each node's clock skew and tick rate, the clients' operations, and membership changes
(spares started empty join through the group's own CLUSTER JOIN path and are promoted
by the leader's duty once caught up; members are removed, the leader included, and keep
running). Clients
speak to the group through its Backend interface (execute / execute_multi / watch)
and follow MOVED redirects; what they asked and were told forms a history.

Checkers run while it runs: election safety, every index applied with the same
entry everywhere, term / commit / applied monotonic per incarnation and applied <=
commit, entry stamps never falling along the log. At the end: acknowledged writes
are in the committed log, the history is linearizable (registers, a counter, and
compare-and-set through WATCH/MULTI/EXEC), and after healing every member converges to
the same state. A failure raises SimFailure with the seed and the replay command:

    python3 -m tests.sim.run --group --seed 7 -v
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import logging
import random
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from raftredis.commands.spec import lookup
from raftredis.config import NodeConfig
from raftredis.raft.config import RaftConfig
from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.messages import Message
from raftredis.raft.types import ConfState, Entry, EntryKind, Role, SnapshotMeta
from raftredis.replica import Ports, ReplicaGroup
from raftredis.replica import ops as logops
from raftredis.reply import NULL_ARRAY, Error
from tests import linearizability as lin
from tests.sim.simloop import MACHINE, SimLoop, machine_context

TICK_MS = 10
T = TypeVar("T")


class SimFailure(AssertionError):
    pass


def replay_command(seed: int, nodes: int) -> str:
    return f"python3 -m tests.sim.run --group --seed {seed} --nodes {nodes} -v"


@dataclass
class GroupSimParams:
    nodes: int = 3
    fault_s: float = 2.5  # virtual seconds of faults and client load
    liveness_s: float = 5.0  # bound for convergence once healed
    loss: float = 0.03
    dup: float = 0.02
    max_delay_ms: float = 6.0
    late: float = 0.01  # chance a message arrives 150-900 ms late (many terms later)
    fault_every_s: float = 0.12
    crash_chance: float = 0.25  # per fault decision
    partition_chance: float = 0.35
    stall_chance: float = 0.2  # a node's disk stalls for 20-150 ms
    slow_apply_chance: float = 0.15  # a follower applies slowly, then the leader crashes
    min_partition_s: float = 0.05
    clients: int = 4
    keys: int = 3
    client_timeout_s: float = 0.8
    max_skew_ms: int = 400
    spares: int = 2  # nodes started empty, outside the configuration, that may join
    membership_chance: float = 0.12  # per fault decision: one membership change


# ------------------------------------------------------------------ ports of one node
class SimStorage(MemoryStorage):
    """MemoryStorage plus the snapshot files the group writes and reads. Its contents are
    what is durable: it survives the node's crashes."""

    def open_snapshot(self) -> io.BytesIO | None:
        snap = self.snapshot()
        return io.BytesIO(snap.data) if snap.meta.index else None

    def snapshot_writer(self, index: int, term: int, conf: ConfState) -> _Sink:
        return _Sink(self, index, conf)

    def install_snapshot_file(self, meta: SnapshotMeta, path: str) -> None:
        raise AssertionError("the simulator writes snapshots inline, never by fork")

    def stats(self) -> dict:
        meta = self.snapshot_meta()
        return {"first_index": self.first_index(), "last_index": self.last_index(),
                "snapshot_index": meta.index}


class _Sink:
    def __init__(self, storage: SimStorage, index: int, conf: ConfState) -> None:
        self._storage, self._index, self._conf = storage, index, conf
        self._buf = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self._buf.write(data)

    def close(self) -> None:
        self._storage.create_snapshot(self._index, self._conf, self._buf.getvalue())

    def abort(self) -> None:
        self._buf = io.BytesIO()


class NodeCrashed(OSError):
    """Storage of a crashed node: nothing written after the crash is kept."""


class SimPersister:
    """Storage work completes after a seeded delay; a crash before that loses it."""

    def __init__(self, sim: GroupSim, node: SimNode) -> None:
        self._sim, self._node = sim, node
        self.alive = True
        self.stalled_until = 0.0  # a disk stall (an fsync taking many ms) ends then

    async def _delay(self) -> None:
        delay = self._sim.rng.uniform(0.0002, 0.003)
        stall = self.stalled_until - self._sim.loop.time()
        await asyncio.sleep(max(delay, stall))
        if not self.alive:
            await asyncio.get_running_loop().create_future()  # never: the node is gone

    async def persist(self, hard_state, entries: Sequence[Entry]) -> None:
        if not self.alive:
            # A write asked for after the crash (a stopping group's last commit index)
            # fails as on a dead disk; one already in flight above never completes.
            raise NodeCrashed(f"n{self._node.id} has crashed")
        await self._delay()
        st = self._node.storage
        if entries:
            st.append(entries)
        if hard_state is not None:
            st.set_hard_state(hard_state)

    async def call(self, fn):
        await self._delay()
        return fn()

    async def close(self) -> None:
        self.alive = False


class SimTransport:
    def __init__(self, sim: GroupSim, node_id: int, on_message, on_meta) -> None:
        self._sim, self.id = sim, node_id
        self.on_message = on_message
        self._on_meta = on_meta
        self.open = False

    async def start(self) -> None:
        self.open = True
        for peer in self._sim.ids:
            self._on_meta(peer, {"client": f"sim:{peer}"})

    def send(self, msg: Message) -> None:
        if self.open:
            self._sim.network_send(msg)

    async def stop(self) -> None:
        self.open = False


class SimClock:
    """A node's clock: virtual time, skewed, and (with the tick rate) running apart."""

    def __init__(self, loop: SimLoop, skew_ms: int, machine: int) -> None:
        self._loop, self._skew, self._machine = loop, skew_ms, machine

    def wall_ms(self) -> int:
        return 1_700_000_000_000 + int(self.monotonic() * 1000) + self._skew

    def monotonic(self) -> float:
        # Time a busy node has spent computing has passed for it already.
        return self._loop.busy_until(self._machine)


@dataclass
class SimNode:
    id: int
    storage: SimStorage
    skew_ms: int
    tick_ms: int
    apply_cost_s: float = 0.0
    slow_until: float = 0.0  # applying is very slow until then (a slow command, a GC pause)
    group: ReplicaGroup | None = None
    persister: SimPersister | None = None
    transport: SimTransport | None = None
    incarnation: int = 0
    # monotonic per incarnation
    term: int = 0
    commit: int = 0
    applied: int = 0
    last_stamp: int = 0


class Conn:
    """What the group reads of a client connection."""

    _ids = 0

    def __init__(self) -> None:
        Conn._ids += 1
        self.id = Conn._ids
        self.watched: dict = {}
        self.readonly = False
        self.closed = False
        self.blocked = False
        self.resp = 2


class CasRegisterModel:
    """A register with write, read and compare-and-set (WATCH k; GET k; MULTI; SET k v;
    EXEC that committed: value = (seen, new)). Aborted EXECs say nothing (WATCH may
    abort spuriously) and are recorded as failed."""

    kinds = frozenset({"read", "write", "cas"})

    def init(self) -> Hashable:
        return None

    def step(self, state: Hashable, op: lin.Op) -> object:
        if op.kind == "write":
            return op.value
        if op.kind == "cas":
            seen, new = op.value
            if state == seen:
                return new
            # An EXEC whose outcome is unknown may also have aborted: a no-op.
            return state if op.outcome == lin.UNKNOWN else lin.IMPOSSIBLE
        return state if op.value == state else lin.IMPOSSIBLE

    def _seen(self, ops: Sequence[lin.Op]) -> set:
        seen = {o.value for o in ops if o.kind == "read"}
        seen |= {o.value[0] for o in ops if o.kind == "cas"}
        return seen

    @staticmethod
    def _written(o: lin.Op) -> object:
        return o.value[1] if o.kind == "cas" else o.value

    def prune(self, ops: list[lin.Op]) -> list[lin.Op]:
        seen = self._seen(ops)
        return [o for o in ops if not (o.kind == "write" and o.outcome == lin.UNKNOWN
                                       and o.value not in seen)]

    def removable(self, chunk: Sequence[lin.Op], rest: Sequence[lin.Op]) -> bool:
        seen = self._seen(rest)
        return all(o.kind == "read" or (o.kind == "write" and o.value not in seen)
                   for o in chunk)


class Unknown(Exception):
    """The outcome of a request is unknown (timeout, UNCERTAIN)."""


class NotApplied(Exception):
    """The request was definitely not applied (TRYAGAIN, CLUSTERDOWN, node down)."""


# ------------------------------------------------------------------ the simulation
class GroupSim:
    def __init__(self, seed: int, params: GroupSimParams | None = None,
                 trace: bool = False) -> None:
        self.seed = seed
        self.p = params or GroupSimParams()
        self.rng = random.Random(seed)
        self.loop = SimLoop(machines=True)  # each node its own machine
        self.ids = list(range(1, self.p.nodes + 1))
        self.conf = ConfState(voters=frozenset(self.ids))
        rng = self.rng
        self.raft = RaftConfig(
            election_tick=10, heartbeat_tick=2,
            max_size_per_msg=rng.choice((200, 1000, 1 << 20)),
            max_inflight=rng.choice((2, 8, 64)),
            snapshot_chunk_size=rng.choice((64, 512, 1 << 20)),
            read_timeout_tick=40,
            pre_vote=rng.random() >= 0.25,
            check_quorum=rng.random() >= 0.25,
            # Small in some seeds, so applying lags commit across several Readys.
            max_committed_size_per_ready=rng.choice((1, 64, 400, 64 << 20)),
        )
        self.snapshot_threshold = rng.choice((6, 15, 40))
        # Virtual CPU time applying one entry takes, per node: a slow machine lets commit
        # run ahead of apply, and it may become the leader with that backlog, which
        # ReadIndex waiters and WATCH must respect.
        slow = rng.random() < 0.5
        self.nodes: dict[int, SimNode] = {}
        # Spares (ids past the cluster's) start empty, as `serve --join` does, until a
        # membership change adds them; a removed id is never added again.
        self.all_ids = list(range(1, self.p.nodes + self.p.spares + 1))
        self.retired: set[int] = set()
        self._machines = {i: machine_context(i) for i in self.all_ids}
        for i in self.all_ids:
            skew = rng.randint(-self.p.max_skew_ms, self.p.max_skew_ms)
            tick = rng.choice((TICK_MS - 1, TICK_MS, TICK_MS + 1))
            conf = self.conf if i in self.ids else ConfState()
            self.nodes[i] = SimNode(i, SimStorage(conf), skew, tick,
                                    apply_cost_s=rng.choice((0.0, 0.001, 0.006)) if slow else 0.0)
        self.cut: set[tuple[int, int]] = set()  # directed links that drop everything
        self.faults = True
        self.clients_on = True
        self.trace: deque[str] | None = deque(maxlen=300) if trace else None
        self.history: list[lin.Op] = []
        self.counter_history: list[lin.Op] = []
        # checker state
        self.leaders: dict[int, int] = {}  # term -> leader id
        self.applied_entries: dict[int, tuple[int, int]] = {}  # index -> (term, crc)
        self.committed_values: set[bytes] = set()
        self.committed_incrs = 0
        self.acked_writes: list[bytes] = []
        self.acked_incrs = 0
        self.stats = {"crashes": 0, "partitions": 0, "ok": 0, "fail": 0, "unknown": 0,
                      "snapshots": 0, "elections": 0, "conf_changes": 0}
        self._failure: SimFailure | None = None

    # ---------------------------------------------------------------- plumbing
    def fail(self, msg: str) -> None:
        text = (f"seed {self.seed} ({self.p.nodes} nodes) t={self.loop.time():.3f}: {msg}\n"
                f"replay: {replay_command(self.seed, self.p.nodes)}")
        if self.trace:
            text += "\nlast events:\n" + "\n".join(self.trace)
        err = SimFailure(text)
        if self._failure is None:
            self._failure = err
        raise err

    def log(self, s: str) -> None:
        if self.trace is not None:
            self.trace.append(f"{self.loop.time():8.3f} {s}")

    def group(self, node_id: int) -> ReplicaGroup | None:
        n = self.nodes[node_id]
        return n.group if n.group is not None and n.group.running else None

    # ---------------------------------------------------------------- network
    def network_send(self, msg: Message) -> None:
        rng = self.rng
        if (msg.src, msg.dst) in self.cut:
            return
        if self.faults and rng.random() < self.p.loss:
            return
        copies = 2 if self.faults and rng.random() < self.p.dup else 1
        for _ in range(copies):
            delay = rng.uniform(0.0002, self.p.max_delay_ms / 1000)
            if self.faults and rng.random() < self.p.late:
                delay = rng.uniform(0.15, 0.9)
            # Delivered on the receiver's machine: it waits while that one is busy.
            self.loop.call_later(delay, self._deliver, msg, context=self._machines[msg.dst])

    def _deliver(self, msg: Message) -> None:
        if (msg.src, msg.dst) in self.cut:
            return
        t = self.nodes[msg.dst].transport
        if t is not None and t.open:
            t.on_message(msg)
            self._check_node(self.nodes[msg.dst])

    # ---------------------------------------------------------------- node lifecycle
    async def start_node(self, n: SimNode) -> None:
        n.incarnation += 1
        spare = n.id not in self.ids
        cfg = NodeConfig(id=n.id, port=7000 + n.id, data_dir=f"/nonexistent/sim-{n.id}",
                         peers="" if spare else ",".join(f"{i}=sim:{17000 + i}" for i in self.ids),
                         join="sim:7001" if spare else "", peer_port=17000 + n.id,
                         secret="simulated-cluster-secret", tick_ms=n.tick_ms, election_ticks=10,
                         heartbeat_ticks=2, cluster_down_wait_ms=300, active_expire_ms=40,
                         snapshot_threshold=self.snapshot_threshold, announce_host="sim",
                         announce_port=n.id)
        cfg.finish()
        persister = SimPersister(self, n)

        def transport(on_message, on_meta) -> SimTransport:
            n.transport = SimTransport(self, n.id, on_message, on_meta)
            return n.transport

        ports = Ports(clock=SimClock(self.loop, n.skew_ms, n.id), storage=n.storage,
                      persister=persister, rng=random.Random(self.rng.random()),
                      transport=transport, fork_snapshots=False,
                      read_ctx_prefix=n.incarnation.to_bytes(4, "big"), raft_config=self.raft)
        group = ReplicaGroup(cfg, ports)
        group.applier.observe(lambda index, ent, n=n, g=group: self._on_applied(n, g, index, ent))
        group.reads.observe(lambda index, applied, n=n: self._on_read_released(n, index, applied))
        n.group, n.persister = group, persister
        n.term = n.commit = n.applied = n.last_stamp = 0
        self.loop.forget_machine(n.id)
        token = MACHINE.set(n.id)  # the group's tasks and timers run on node n's machine
        try:
            await group.start()
        finally:
            MACHINE.reset(token)
        n.applied = group.applied
        n.last_stamp = group.stamps.apply_clock
        self.log(f"n{n.id} started (incarnation {n.incarnation}, applied {n.applied})")

    async def crash_node(self, n: SimNode) -> None:
        group = n.group
        if group is None:
            return
        self.log(f"CRASH n{n.id}")
        self.stats["crashes"] += 1
        assert n.persister is not None
        n.persister.alive = False  # what was not durable is lost
        if n.transport is not None:
            n.transport.open = False
        n.group = None
        await group.stop()

    # ---------------------------------------------------------------- checkers
    def _on_applied(self, n: SimNode, group: ReplicaGroup, index: int,
                    ent: Entry | None) -> None:
        if n.group is not group and n.group is not None:
            return
        if ent is None:  # a snapshot restored: the state at `index`
            if index < n.applied:
                self.fail(f"n{n.id} restored a snapshot at {index} below applied {n.applied}")
            n.applied = index
            n.last_stamp = max(n.last_stamp, group.stamps.apply_clock)
            return
        if ent.index != n.applied + 1:
            self.fail(f"n{n.id} applied {ent.index} after {n.applied}")
        cost = n.apply_cost_s
        if n.slow_until > self.loop.time():
            cost = max(cost, 0.03)
        if cost:
            self.loop.spend_on(n.id, cost)
        n.applied = ent.index
        crc = zlib.crc32(ent.data, ent.kind)
        known = self.applied_entries.get(ent.index)
        if known is None:
            self.applied_entries[ent.index] = (ent.term, crc)
            self._note_committed(ent)
        elif known != (ent.term, crc):
            self.fail(f"state machine safety: n{n.id} applied index {ent.index} term "
                      f"{ent.term}, another node applied term {known[0]} there")
        if ent.kind == EntryKind.NORMAL:
            stamp = logops.stamp_of(ent.data)
            if stamp < n.last_stamp:
                self.fail(f"n{n.id}: entry {ent.index} stamped {stamp}, below the stamp "
                          f"{n.last_stamp} of an entry before it: TTL time went backwards")
            n.last_stamp = stamp
        self._check_node(n)

    def _on_read_released(self, n: SimNode, index: int, applied: int) -> None:
        # ReadIndex's argument: a read confirmed at commit index i is linearizable only if
        # it is answered from a state that includes entry i.
        if applied < index:
            self.fail(f"n{n.id} released reads confirmed at index {index} with only "
                      f"{applied} applied: they may miss acknowledged writes")

    def _note_committed(self, ent: Entry) -> None:
        if ent.kind != EntryKind.NORMAL:
            return
        _, ops = logops.decode_entry(ent.data)
        for op in ops:
            cmds = [op.args] if op.kind == logops.OpKind.COMMAND else (
                op.commands if op.kind == logops.OpKind.MULTI else [])
            for args in cmds:
                if args[0].upper() == b"SET":
                    self.committed_values.add(args[2])
                elif args[0].upper() == b"INCR":
                    self.committed_incrs += 1

    def _check_node(self, n: SimNode) -> None:
        g = n.group
        if g is None or g.core is None:
            return
        core = g.core
        term, commit = core.term, core.log.committed
        if term < n.term:
            self.fail(f"n{n.id} term went back from {n.term} to {term}")
        if commit < n.commit:
            self.fail(f"n{n.id} commit index went back from {n.commit} to {commit}")
        if g.applied < n.applied:
            self.fail(f"n{n.id} applied index went back from {n.applied} to {g.applied}")
        if g.applied > max(commit, g.storage_stats()["snapshot_index"]):
            self.fail(f"n{n.id} applied {g.applied} beyond commit {commit}")
        n.term, n.commit = term, commit
        if core.role == Role.LEADER:
            prev = self.leaders.setdefault(term, n.id)
            if prev != n.id:
                self.fail(f"election safety: n{prev} and n{n.id} both lead term {term}")

    async def _watch_nodes(self) -> None:
        while True:
            await asyncio.sleep(TICK_MS / 1000)
            for n in self.nodes.values():
                self._check_node(n)

    # ---------------------------------------------------------------- faults
    async def _nemesis(self) -> None:
        rng, p = self.rng, self.p
        while self.faults:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * p.fault_every_s)
            if not self.faults:
                return
            if rng.random() < p.membership_chance:
                self._change_membership()
                continue
            r = rng.random()
            up = [n for n in self.nodes.values() if n.group is not None]
            if r < p.crash_chance and len(up) > 1:
                # Half the crashes hit the leader: failovers are where the group's
                # bookkeeping (proposals in doubt, reads, the clock) is tested hardest.
                leaders = [m for m in up if m.group is not None and m.group.is_leader]
                n = leaders[0] if leaders and rng.random() < 0.5 else rng.choice(up)
                await self.crash_node(n)
                self.loop.call_later(rng.uniform(0.03, 0.4), self._restart_later, n)
            elif r < p.crash_chance + p.partition_chance:
                if not self.cut:
                    self._partition()
                    self.loop.call_later(p.min_partition_s + rng.uniform(0, 0.4), self._heal)
            elif r < p.crash_chance + p.partition_chance + p.stall_chance and up:
                leaders = [m for m in up if m.group is not None and m.group.is_leader]
                n = leaders[0] if leaders and rng.random() < 0.7 else rng.choice(up)
                if n.persister is not None:
                    n.persister.stalled_until = self.loop.time() + rng.uniform(0.02, 0.15)
                    self.log(f"DISK STALL n{n.id}")
            elif r < p.crash_chance + p.partition_chance + p.stall_chance + p.slow_apply_chance:
                # The leader dies while every other node applies slowly (a slow command,
                # a GC pause): the next leader takes over with committed entries still to
                # apply, which its ReadIndex waiters and WATCH checks must respect.
                leader = next((m for m in up if m.group is not None and m.group.is_leader),
                              None)
                core = leader.group.core if leader is not None and leader.group else None
                # A voter: a spare outside the configuration can never take over.
                voters = [m for m in up if m is not leader and m.id in core.conf.voters] \
                    if core is not None else []
                if voters:
                    slow = rng.choice(voters)
                    slow.slow_until = self.loop.time() + rng.uniform(0.6, 1.5)
                    self.log(f"SLOW APPLY n{slow.id}")
                    # Commit runs ahead of their apply for a while, then the leader dies,
                    # or hands over to the slow node itself (CLUSTER FAILOVER there): it
                    # leads with that backlog still to apply.
                    await asyncio.sleep(rng.uniform(0.15, 0.5))
                    if leader.group is None:
                        continue
                    if rng.random() < 0.5 and slow.group is not None:
                        self.log(f"FAILOVER to n{slow.id}")
                        slow.group.request_leadership()
                        continue
                    await self.crash_node(leader)
                    self.loop.call_later(rng.uniform(0.1, 0.4), self._restart_later,
                                         leader)

    def _change_membership(self) -> None:
        """On whichever node believes it leads: add a spare (promoted by the group once
        caught up), or remove a member, the leader included, keeping two voters."""
        from raftredis.replica.membership import MemberAddr

        rng = self.rng
        leaders = [n for n in self.nodes.values() if n.group is not None and n.group.is_leader]
        if not leaders:
            return
        g = rng.choice(leaders).group
        assert g is not None and g.core is not None
        conf = g.core.conf
        members = conf.voters | conf.learners
        spares = [i for i in self.all_ids if i not in members and i not in self.retired]
        removable = sorted(conf.learners) + (sorted(conf.voters) if len(conf.voters) > 2 else [])
        if spares and (not removable or rng.random() < 0.5):
            i = rng.choice(spares)
            out = g.change_membership("join", i, MemberAddr(f"sim:{17000 + i}", f"sim:{i}"))
            what = f"join n{i}"
        elif removable:
            i = rng.choice(removable)
            out = g.change_membership("remove", i)
            what = f"remove n{i}"
            self.retired.add(i)  # whatever becomes of the proposal
        else:
            return
        self.stats["conf_changes"] += 1
        self.log(f"n{g.id} CONF {what}: {out if not isinstance(out, asyncio.Future) else '...'}")

    def _restart_later(self, n: SimNode) -> None:
        if n.group is None:
            self._spawn(self.start_node(n))

    def _partition(self) -> None:
        rng = self.rng
        ids = list(self.all_ids)
        rng.shuffle(ids)
        if rng.random() < 0.5:
            side = {ids[0]}  # one node cut off
        else:
            side = set(ids[: rng.randint(1, len(ids) // 2)])
        one_way = rng.random() < 0.2  # only the messages out of `side` are lost
        for a in side:
            for b in self.all_ids:
                if b not in side:
                    self.cut.add((a, b))
                    if not one_way:
                        self.cut.add((b, a))
        self.stats["partitions"] += 1
        self.log(f"PARTITION {sorted(side)}{' (one way)' if one_way else ''}")

    def _heal(self) -> None:
        if self.cut:
            self.log("HEAL")
        self.cut.clear()

    # ---------------------------------------------------------------- clients
    def _spawn(self, coro) -> asyncio.Task:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, SimFailure):
                if self._failure is None:
                    self._failure = exc
            elif self._failure is None:
                self._failure = SimFailure(
                    f"seed {self.seed}: task failed: {exc!r}\n"
                    f"replay: {replay_command(self.seed, self.p.nodes)}")
                self._failure.__cause__ = exc

    async def _request(self, target: list[int], call) -> object:
        """Run `call(group)` on the node we believe leads, following MOVED; returns the
        reply or raises NotApplied / Unknown."""
        for _ in range(4):
            g = self.group(target[0])
            if g is None:
                target[0] = self.rng.choice(self.all_ids)
                raise NotApplied("node down")
            out = call(g)
            if isinstance(out, asyncio.Future):
                try:
                    out = await asyncio.wait_for(out, self.p.client_timeout_s)
                except TimeoutError:
                    raise Unknown("timeout") from None
            if isinstance(out, Error):
                text = str(out)
                if text.startswith("MOVED"):
                    target[0] = int(text.rsplit(":", 1)[1])
                    continue
                if text.startswith(("TRYAGAIN", "CLUSTERDOWN")):
                    target[0] = self.rng.choice(self.all_ids)
                    raise NotApplied(text)
                if text.startswith("UNCERTAIN"):
                    raise Unknown(text)
            return out
        raise NotApplied("too many redirects")

    def _record(self, hist: list[lin.Op], proc: int, kind: str, key: object, value: object,
                invoke: float, outcome: str) -> None:
        complete = self.loop.time() if outcome != lin.UNKNOWN else lin.INF
        hist.append(lin.Op(proc, kind, value, invoke, complete, outcome, key))
        self.stats["ok" if outcome == lin.OK else
                   "fail" if outcome == lin.FAIL else "unknown"] += 1

    async def _client(self, cid: int) -> None:
        rng = random.Random(self.rng.random())
        target = [rng.choice(self.all_ids)]
        seq = 0
        while self.clients_on:
            await asyncio.sleep(rng.uniform(0, 0.03))
            key = b"k%d" % rng.randrange(self.p.keys)
            seq += 1
            value = b"c%d-%d" % (cid, seq)
            r = rng.random()
            if r < 0.35:
                await self._write(cid, target, key, value)
            elif r < 0.7:
                await self._read(cid, target, key)
            elif r < 0.8:
                await self._incr(cid, target)
            elif r < 0.92:
                await self._cas(cid, target, key, value)
            else:
                await self._ttl_write(target, rng)

    async def _write(self, cid: int, target: list[int], key: bytes, value: bytes) -> None:
        args = [b"SET", key, value]
        spec = lookup(b"SET")
        t0 = self.loop.time()
        try:
            out = await self._request(target, lambda g: g.execute(Conn(), spec, args))
        except NotApplied:
            return self._record(self.history, cid, "write", key, value, t0, lin.FAIL)
        except Unknown:
            return self._record(self.history, cid, "write", key, value, t0, lin.UNKNOWN)
        if str(out) != "OK":
            self.fail(f"SET answered {out!r}")
        self.acked_writes.append(value)
        self._record(self.history, cid, "write", key, value, t0, lin.OK)

    async def _read(self, cid: int, target: list[int], key: bytes) -> None:
        spec = lookup(b"GET")
        t0 = self.loop.time()
        try:
            out = await self._request(target, lambda g: g.execute(Conn(), spec, [b"GET", key]))
        except (NotApplied, Unknown):
            return  # a read that failed tells nothing
        if isinstance(out, Error):
            self.fail(f"GET answered {out!r}")
        self._record(self.history, cid, "read", key, out, t0, lin.OK)

    async def _incr(self, cid: int, target: list[int]) -> None:
        spec = lookup(b"INCR")
        t0 = self.loop.time()
        try:
            out = await self._request(target, lambda g: g.execute(Conn(), spec, [b"INCR", b"ctr"]))
        except NotApplied:
            return self._record(self.counter_history, cid, "incr", "ctr", None, t0, lin.FAIL)
        except Unknown:
            return self._record(self.counter_history, cid, "incr", "ctr", None, t0, lin.UNKNOWN)
        if not isinstance(out, int):
            self.fail(f"INCR answered {out!r}")
        self.acked_incrs += 1
        self._record(self.counter_history, cid, "incr", "ctr", out, t0, lin.OK)

    async def _cas(self, cid: int, target: list[int], key: bytes, value: bytes) -> None:
        conn = Conn()
        try:
            await self._cas_on(conn, cid, target, key, value)
        finally:
            # The connection closes: its WATCH marks go (as the server does), rather than
            # whenever the garbage collector gets to it, which is not deterministic.
            conn.watched.clear()
            conn.closed = True

    async def _cas_on(self, conn: Conn, cid: int, target: list[int], key: bytes,
                      value: bytes) -> None:
        """WATCH key; GET key; MULTI; SET key value; EXEC — on one connection."""
        get, set_ = lookup(b"GET"), lookup(b"SET")
        try:
            await self._request(target, lambda g: g.watch(conn, [key]))
            t_read = self.loop.time()
            seen = await self._request(target, lambda g: g.execute(conn, get, [b"GET", key]))
        except (NotApplied, Unknown):
            return
        if isinstance(seen, Error):
            self.fail(f"GET answered {seen!r}")
        self._record(self.history, cid, "read", key, seen, t_read, lin.OK)
        t0 = self.loop.time()
        g = self.group(target[0])
        if g is None:
            return
        out = g.execute_multi(conn, [(set_, [b"SET", key, value])])
        conn.watched.clear()  # what dispatch does once EXEC is handed over
        try:
            if isinstance(out, asyncio.Future):
                out = await asyncio.wait_for(out, self.p.client_timeout_s)
        except TimeoutError:
            return self._record(self.history, cid, "cas", key, (seen, value), t0, lin.UNKNOWN)
        if isinstance(out, list):
            self.acked_writes.append(value)
            return self._record(self.history, cid, "cas", key, (seen, value), t0, lin.OK)
        if out is NULL_ARRAY or out is None:
            return self._record(self.history, cid, "cas", key, (seen, value), t0, lin.FAIL)
        text = str(out)
        if text.startswith("UNCERTAIN"):
            return self._record(self.history, cid, "cas", key, (seen, value), t0, lin.UNKNOWN)
        if text.startswith(("MOVED", "TRYAGAIN", "CLUSTERDOWN")):
            return self._record(self.history, cid, "cas", key, (seen, value), t0, lin.FAIL)
        self.fail(f"EXEC answered {out!r}")

    async def _ttl_write(self, target: list[int], rng: random.Random) -> None:
        """Keys with TTLs: the leader's expiry entries and the entry clock at work (their
        values are checked by replica agreement, not by the register history)."""
        key = b"t%d" % rng.randrange(4)
        args = [b"SET", key, b"x", b"PX", str(rng.randint(5, 400)).encode()]
        spec = lookup(b"SET")
        with contextlib.suppress(NotApplied, Unknown):
            await self._request(target, lambda g: g.execute(Conn(), spec, args))

    # ---------------------------------------------------------------- the run
    async def _main(self) -> dict:
        self._tasks: set[asyncio.Task] = set()
        for n in self.nodes.values():
            await self.start_node(n)
        watcher = self._spawn(self._watch_nodes())
        nemesis = self._spawn(self._nemesis())
        clients = [self._spawn(self._client(c)) for c in range(self.p.clients)]
        await self._sleep_checked(self.p.fault_s)
        # Liveness: faults off, network healed, everyone up; it must converge.
        self.faults = False
        self.clients_on = False
        self._heal()
        await asyncio.wait(clients, timeout=2 * self.p.client_timeout_s)
        nemesis.cancel()
        for n in self.nodes.values():
            if n.group is None:
                await self.start_node(n)
        self.log("LIVENESS phase")
        leader = await self._converge()
        await self._final_reads(leader)
        watcher.cancel()
        for n in self.nodes.values():
            if n.group is not None:
                self.stats["snapshots"] += n.group.counters().snapshots_installed
            await self.crash_node(n)
        for task in list(self._tasks):
            task.cancel()
        self._raise_failure()
        self._check_history()
        self.stats["crashes"] -= len(self.nodes)  # the final stops are not faults
        self.stats["elections"] = len(self.leaders)
        return self.stats

    async def _sleep_checked(self, seconds: float) -> None:
        end = self.loop.time() + seconds
        while self.loop.time() < end:
            await asyncio.sleep(min(0.05, end - self.loop.time()))
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _converge(self) -> int:
        deadline = self.loop.time() + self.p.liveness_s
        target = [self.ids[0]]
        # A write through the leader must succeed ...
        while True:
            if self.loop.time() > deadline:
                self.fail("liveness: no write succeeded after healing")
            try:
                out = await self._request(target, lambda g: g.execute(
                    Conn(), lookup(b"SET"), [b"SET", b"probe", b"done"]))
                if out is not None and not isinstance(out, Error):
                    break
            except (NotApplied, Unknown):
                pass
            await asyncio.sleep(0.02)
            self._raise_failure()
        leader = target[0]
        # ... and every member must reach the same applied index and state (removed nodes
        # keep running but hear nothing more; spares never added hold nothing).
        while True:
            lead = self.group(leader)
            members = sorted(lead.core.conf.voters | lead.core.conf.learners) \
                if lead is not None and lead.core is not None else self.ids
            groups = [self.group(i) for i in members]
            if all(g is not None for g in groups):
                commit = lead.core.log.committed if lead and lead.core else -1
                if all(g.applied == commit for g in groups if g is not None):
                    break
            if self.loop.time() > deadline:
                applied = {i: (g.applied if g else None) for i, g in zip(members, groups,
                                                                        strict=True)}
                self.fail(f"liveness: replicas did not converge: applied {applied}")
            await asyncio.sleep(0.02)
            self._raise_failure()
        states = {}
        for i in members:
            g = self.group(i)
            assert g is not None
            buf = io.BytesIO()
            g.sm.write_snapshot(buf)
            states[i] = zlib.crc32(buf.getvalue())
        if len(set(states.values())) != 1:
            self.fail(f"replicas at the same applied index hold different states: {states}")
        return leader

    async def _final_reads(self, leader: int) -> None:
        target = [leader]
        for k in range(self.p.keys):
            await self._read(-1, target, b"k%d" % k)
        spec = lookup(b"GET")
        t0 = self.loop.time()
        try:
            out = await self._request(target, lambda g: g.execute(Conn(), spec, [b"GET", b"ctr"]))
            value = int(out) if out is not None else None
            self._record(self.counter_history, -1, "read", "ctr", value, t0, lin.OK)
        except (NotApplied, Unknown):
            pass

    def _check_history(self) -> None:
        lost = [v for v in self.acked_writes if v not in self.committed_values]
        if lost:
            self.fail(f"acknowledged writes not in the committed log: {lost[:5]}")
        if self.acked_incrs > self.committed_incrs:
            self.fail(f"{self.acked_incrs} INCRs acknowledged, {self.committed_incrs} committed")
        for hist, model in ((self.history, CasRegisterModel()),
                            (self.counter_history, lin.CounterModel())):
            report = lin.check(hist, model, budget=200_000, shrink=True)
            if report.violations:
                self.fail("not linearizable:\n" + report.explain())

    def run(self) -> dict:
        return self._run_on_loop(self._main())

    def run_script(self, script: Callable[[GroupSim], Awaitable[None]]) -> None:
        """Every node started, the invariant checks running, no faults or clients of
        the random run: `script(self)` sets up one situation and asserts what follows
        (tests of one behaviour on the same simulated machines)."""
        async def main() -> None:
            self._tasks = set()
            for n in self.nodes.values():
                await self.start_node(n)
            self._spawn(self._watch_nodes())
            await script(self)
            self._raise_failure()
            for n in self.nodes.values():
                await self.crash_node(n)
        self._run_on_loop(main())

    def leader(self) -> SimNode | None:
        """The node every voter follows, if there is one."""
        leads = [n for n in self.nodes.values()
                 if n.id in self.ids and n.group is not None and n.group.is_leader]
        if len(leads) != 1:
            return None
        lead = leads[0]
        for i in self.ids:
            g = self.group(i)
            if g is None or g.core is None or g.core.leader != lead.id:
                return None
        return lead

    def _run_on_loop(self, main: Coroutine[Any, Any, T]) -> T:
        logging.getLogger("raftredis").setLevel(logging.CRITICAL)
        gc.collect()  # the collector's counters, too, start the same for every run
        try:
            return self.loop.run_until_complete(main)
        finally:
            self.faults = self.clients_on = False  # the nemesis and clients end their loops
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()


def run_group_seed(seed: int, nodes: int = 3, trace: bool = False,
                   params: GroupSimParams | None = None) -> dict:
    p = params or GroupSimParams(nodes=nodes)
    p.nodes = nodes
    return GroupSim(seed, p, trace=trace).run()

