"""A cluster node: the one place that wires the Raft core, disk storage, the peer
transport and the state machine together, and the Backend the client port uses.

The Ready loop (one task) does, for each Ready of the core, in this order:
  1. send `messages` (the leader's appends go out while it writes its own log, §10.2.1);
  2. persist snapshot, hard state and entries (one write + one fsync on a thread);
  3. send `messages_after_persist` (vote grants, append acks: only once durable);
  4. apply committed entries, resolve proposal futures, serve ReadIndex reads;
  5. advance the core.
Client commands that arrive while a persist is in flight wait in a batch; the next
turn proposes the whole batch as ONE log entry (group commit and batching in one).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import io
import logging
import os
import random
import signal
import struct
import time
import weakref
from collections.abc import Callable
from typing import Any

from raftredis import entries
from raftredis.cluster_view import ClusterView
from raftredis.commands.slots import key_slot
from raftredis.commands.spec import CommandSpec, Route, lookup
from raftredis.config import NodeConfig
from raftredis.node_config import ConfigMixin
from raftredis.node_keys import KeyTrackingMixin
from raftredis.raft.config import RaftConfig
from raftredis.raft.core import NotLeaderError, ProposalDroppedError, RaftCore
from raftredis.raft.messages import Append, Heartbeat, InstallSnapshot, Message
from raftredis.raft.ready import Ready
from raftredis.raft.types import ConfState, EntryKind, Role, SnapshotMeta, SoftState
from raftredis.reply import Error
from raftredis.statemachine import StateMachine
from raftredis.storage import AsyncPersister, DiskStorage, FsyncPolicy

log = logging.getLogger("raftredis.node")

CLUSTERDOWN = Error("CLUSTERDOWN The cluster is down")
# Never proposed, or proposed and then overwritten by another leader's entry: safe to retry.
NOT_APPLIED = Error("TRYAGAIN Not applied: leadership changed before the command was logged, retry")
OVERWRITTEN = Error("TRYAGAIN Not applied: the entry was replaced by a new leader's log, retry")
# Proposed by a leader that lost leadership before learning the outcome.
UNCERTAIN = Error(
    "UNCERTAIN The command may or may not have been applied: leadership was lost before it "
    "committed"
)
MAX_ENTRY_BYTES = 1 << 20  # a batch is cut into entries of about this size
# One command must fit in one peer frame (64 MiB) with room to spare, or it could never be
# replicated and every write behind it would wait for good: refuse it up front instead.
MAX_COMMAND_BYTES = 48 << 20
SNAPSHOT_CHILD_TIMEOUT_S = 600  # a forked snapshot writer taking longer is presumed hung
# Snapshot data starts with the apply clock at its index, so a node restored from it (at
# start or by InstallSnapshot) neither stamps below it nor applies the log tail at another
# "now" than the replicas that applied everything (older snapshots lack it: clock 0).
_SNAP_CLOCK = struct.Struct(">4sQ")
_SNAP_CLOCK_MAGIC = b"RRCK"
MAX_OPS_PER_ENTRY = 4096


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class _NotReadonlyConn:
    """Stands for the original connection when a failed read is routed again: only the
    leader may serve it (a linearizable read), whatever READONLY said."""

    readonly = False


_NOT_READONLY_CONN = _NotReadonlyConn()


class _Proposal:
    __slots__ = ("term", "futures", "ops", "uncertain_since")

    def __init__(self, term: int, futures: list[asyncio.Future | None], ops: list) -> None:
        self.term = term
        self.futures = futures
        self.ops = ops  # what was encoded into the entry: the leader need not decode it
        self.uncertain_since: float | None = None


class Node(KeyTrackingMixin, ConfigMixin):
    """One Raft node. Implements raftredis.server.backend.Backend. WATCH and blocking
    pops live in raftredis.node_keys, CONFIG in raftredis.node_config."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.id = config.id
        self.loop: asyncio.AbstractEventLoop | None = None
        self.storage: DiskStorage | None = None
        self.persister: AsyncPersister | None = None
        self.sm = StateMachine()
        self.core: RaftCore | None = None
        self.transport: Any = None
        self.view = ClusterView(self)
        # Client addresses ("host:port") announced by each node, learned in the handshake.
        self.client_addr: dict[int, str] = {self.id: f"{config.announce_host}:{config.announce_port}"}
        self.applied = 0
        self.applied_conf = ConfState(voters=config.voters)
        self._apply_clock = 0  # the newest entry stamp applied (never goes backwards)
        self._max_stamp = 0  # the newest stamp anywhere in our log
        self._role = Role.FOLLOWER
        self._leader = 0
        self._leader_heard = 0.0  # monotonic time we last heard from the leader
        self._wake = asyncio.Event()
        self._batch_ops: list[list] = []
        self._batch_futs: list[asyncio.Future | None] = []
        self._batch_bytes = 0
        self._proposals: dict[int, _Proposal] = {}
        self._read_batch: list[tuple[list[bytes], asyncio.Future]] = []
        self._read_seq = 0
        self._read_waiting: dict[bytes, list[tuple[list[bytes], asyncio.Future]]] = {}
        self._read_ready: list[tuple[int, int, list[tuple[list[bytes], asyncio.Future]]]] = []
        self._leader_changed = asyncio.Event()
        self._expiring: set[bytes] = set()
        # Key tracking, on only while someone WATCHes or blocks (zero cost otherwise):
        # the applied index of each key's last change since tracking began.
        self._watchers: weakref.WeakSet = weakref.WeakSet()
        # key -> events of the commands blocked on it, in the order they blocked (FIFO)
        self._key_waiters: dict[bytes, dict[asyncio.Event, None]] = {}
        self._mod_index: dict[bytes, int] = {}
        self._track_since = -1  # -1: not tracking; else changes at or below it are unknown
        self._flushed_at = 0  # index of the last FLUSHALL/FLUSHDB seen while tracking
        # EXECs under WATCH not yet decided: dispatch clears conn.watched as soon as EXEC is
        # handed over, so these keep key tracking on until they are decided.
        self._watched_execs = 0
        self._tasks: list[asyncio.Task] = []
        self._tick_handle: asyncio.TimerHandle | None = None
        self._running = False
        self._snapshotting = False
        self.stats = {"proposals": 0, "entries_proposed": 0, "reads": 0, "read_rounds": 0,
                      "snapshots_taken": 0, "snapshots_installed": 0}
        self.on_role_change: Callable[[Role], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        cfg = self.config
        self.storage = DiskStorage.open(
            cfg.data_dir, initial_conf=ConfState(voters=cfg.voters),
            fsync=FsyncPolicy(cfg.fsync),
        )
        self.persister = AsyncPersister(self.storage)
        meta = self.storage.snapshot_meta()
        if meta.index > 0:
            fp = self.storage.open_snapshot()
            if fp is not None:
                with fp:
                    self._restore_snapshot(fp)
            self.applied = meta.index
            self.applied_conf = meta.conf
        for ent in self._tail_entries():
            self._note_stamp(ent)
        raft_cfg = RaftConfig(
            election_tick=cfg.election_ticks, heartbeat_tick=cfg.heartbeat_ticks,
        )
        self.core = RaftCore(self.id, self.storage, raft_cfg, random.Random(), applied=self.applied)
        peers = {pid: (p.host, p.port) for pid, p in cfg.peer_map.items() if pid != self.id}
        if peers:
            from raftredis.transport.peers import PeerTransport

            self.transport = PeerTransport(
                self.id, cfg.secret.encode(), cfg.peer_host, cfg.peer_port, peers,
                on_message=self._on_peer_message,
                meta={"client": self.client_addr[self.id]},
                on_peer_meta=self._on_peer_meta,
            )
            await self.transport.start()
        self._running = True
        self._tasks.append(asyncio.create_task(self._ready_loop(), name="ready-loop"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        self._schedule_tick()
        self._wake.set()

    def _tail_entries(self) -> list:
        """The log's tail back to its newest NORMAL entry (stamps only grow along the log,
        so that one holds the newest stamp): elections add NOOPs with no stamp, and a new
        leader may propose before it has re-applied anything."""
        storage = self.storage
        assert storage is not None
        first, hi = storage.first_index(), storage.last_index() + 1
        out: list = []
        while hi > first:
            lo = max(first, hi - 64)
            chunk = storage.entries(lo, hi)
            out = chunk + out
            if any(e.kind == EntryKind.NORMAL for e in chunk):
                break
            hi = lo
        return out

    def _restore_snapshot(self, fp) -> None:
        """Restore the state machine (and the apply clock) from snapshot data."""
        start = fp.tell()
        head = fp.read(_SNAP_CLOCK.size)
        clock = 0
        if len(head) == _SNAP_CLOCK.size and head[:4] == _SNAP_CLOCK_MAGIC:
            _, clock = _SNAP_CLOCK.unpack(head)
        else:
            fp.seek(start)  # a snapshot from before the clock was recorded
        self.sm.restore_snapshot(fp)
        self._apply_clock = max(self._apply_clock, clock)
        self._max_stamp = max(self._max_stamp, clock)

    async def stop(self) -> None:
        self._running = False
        if self._tick_handle:
            self._tick_handle.cancel()
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._fail_all(CLUSTERDOWN)
        if self.transport is not None:
            await self.transport.stop()
        if self.persister is not None:
            await self.persister.close()
        if self.storage is not None:
            self.storage.close()

    # ------------------------------------------------------------------ timers
    def _schedule_tick(self) -> None:
        assert self.loop is not None
        self._tick_handle = self.loop.call_later(self.config.tick_ms / 1000, self._on_tick)

    def _on_tick(self) -> None:
        if not self._running:
            return
        assert self.core is not None
        self.core.tick()
        self._wake.set()
        self._schedule_tick()

    async def _housekeeping(self) -> None:
        """Active expiry on the leader, and the uncertain-outcome deadline."""
        period = self.config.active_expire_ms / 1000
        while self._running:
            await asyncio.sleep(period)
            try:
                if self._role == Role.LEADER:
                    self._propose_expiry()
                self._expire_uncertain()
            except Exception:  # never let housekeeping die silently
                log.exception("housekeeping failed")

    def _propose_expiry(self) -> None:
        keys = [k for k in self.sm.expired_keys(self._clock(), 256) if k not in self._expiring]
        if keys:
            self._expiring.update(keys)
            self._enqueue([entries.OP_EXPIRE, keys], None)

    def _expire_uncertain(self) -> None:
        limit = time.monotonic() - self.config.cluster_down_wait_ms / 1000
        for index in [i for i, p in self._proposals.items()
                      if p.uncertain_since is not None and p.uncertain_since < limit]:
            self._resolve_all(self._proposals.pop(index).futures, UNCERTAIN)

    # ------------------------------------------------------------------ peer input
    def _on_peer_message(self, msg: Message) -> None:
        assert self.core is not None
        if msg.src == self._leader and isinstance(msg, Append | Heartbeat | InstallSnapshot):
            self._leader_heard = time.monotonic()
        self.core.step(msg)
        self._wake.set()

    def _on_peer_meta(self, peer_id: int, meta: dict[str, str]) -> None:
        addr = meta.get("client", "")
        if addr and " " not in addr and ":" in addr:
            self.client_addr[peer_id] = addr

    # ------------------------------------------------------------------ Ready loop
    async def _ready_loop(self) -> None:
        core = self.core
        assert core is not None
        while self._running:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._flush()
                while core.has_ready():
                    rd = core.ready()
                    await self._handle_ready(rd)
                    core.advance(rd)
                    self._flush()
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

    on_fatal: Callable[[], None] | None = None

    async def _handle_ready(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state)
        self._send(rd.messages)
        if rd.snapshot is not None:
            await self._install_snapshot(rd)
        if rd.hard_state is not None or rd.entries:
            assert self.persister is not None
            await self.persister.persist(rd.hard_state, rd.entries)
            for ent in rd.entries:
                self._note_stamp(ent)
        self._send(rd.messages_after_persist)
        if rd.committed_entries:
            self._apply(rd.committed_entries)
        if rd.read_states:
            for rs in rd.read_states:
                waiters = self._read_waiting.pop(rs.ctx, None)
                if waiters:
                    heapq.heappush(self._read_ready, (rs.index, id(waiters), waiters))
        if rd.dropped_reads:
            for ctx in rd.dropped_reads:
                for args, fut in self._read_waiting.pop(ctx, ()):
                    self._reroute_read(args, fut)
        self._serve_ready_reads()

    def _send(self, msgs: tuple[Message, ...]) -> None:
        if not msgs:
            return
        core = self.core
        assert core is not None
        for m in msgs:
            if m.dst == self.id:
                core.step(m)
            elif self.transport is not None:
                self.transport.send(m)

    async def _install_snapshot(self, rd: Ready) -> None:
        snap = rd.snapshot
        storage, persister = self.storage, self.persister
        assert snap is not None and storage is not None and persister is not None
        # Restore first: a snapshot the state machine refuses must not replace our log.
        self._restore_snapshot(io.BytesIO(snap.data))
        await persister.call(lambda: storage.install_snapshot(snap))
        self.applied = snap.meta.index
        self.applied_conf = snap.meta.conf
        self.stats["snapshots_installed"] += 1
        # Changes folded into the snapshot are unknown: WATCHes before it must abort.
        self._mod_index.clear()
        if self._track_since >= 0:
            self._track_since = snap.meta.index
        for events in self._key_waiters.values():
            for ev in events:
                ev.set()
        # Our own proposals at or below the snapshot index: their fate is unknown to us.
        for index in [i for i in self._proposals if i <= snap.meta.index]:
            self._resolve_all(self._proposals.pop(index).futures, UNCERTAIN)

    def _note_stamp(self, ent) -> None:
        if ent.kind == EntryKind.NORMAL and len(ent.data) >= 8:
            stamp = entries.stamp_of(ent.data)
            if stamp > self._max_stamp:
                self._max_stamp = stamp

    # ------------------------------------------------------------------ applying
    def _apply(self, committed) -> None:
        sm = self.sm
        for ent in committed:
            index = ent.index
            if index <= self.applied:
                continue
            prop = self._proposals.pop(index, None)
            if ent.kind == EntryKind.NORMAL:
                ours = prop is not None and prop.term == ent.term
                replies = self._apply_normal(ent, ours, prop.ops if ours else None)
            else:
                replies = None
                if ent.kind == EntryKind.CONFIG:
                    self.applied_conf = ConfState.decode(ent.data)
            self.applied = index
            if prop is not None:
                if prop.term == ent.term and replies is not None:
                    for fut, reply in zip(prop.futures, replies, strict=False):
                        if fut is not None and not fut.done():
                            fut.set_result(reply)
                else:
                    self._resolve_all(prop.futures, OVERWRITTEN)
        del sm
        self._maybe_snapshot()

    def _apply_normal(self, ent, want_replies: bool, ops: list | None = None) -> list | None:
        """Apply a NORMAL entry. `ops`: the leader's own proposal, identical to what the
        entry's bytes decode to (same index and term), so decoding is skipped."""
        try:
            if ops is None:
                stamp, ops = entries.decode(ent.data)
            else:
                stamp = entries.stamp_of(ent.data)
        except entries.EntryDecodeError:
            # Every replica decodes the same bytes the same way, so skipping is deterministic;
            # it can only come from a bug, so say it loudly.
            log.error("undecodable entry at index %d; skipped on every replica", ent.index)
            return [Error("ERR internal error: undecodable log entry")] if want_replies else None
        now = stamp if stamp > self._apply_clock else self._apply_clock
        self._apply_clock = now
        sm = self.sm
        replies: list | None = [] if want_replies else None
        index = ent.index
        for pos, op in enumerate(ops):
            try:
                kind = op[0]
                if kind == entries.OP_COMMAND:
                    reply = sm.apply(op[1], now, entries.seed_for(index, pos))
                elif kind == entries.OP_MULTI:
                    reply = sm.apply_multi(op[1], now, entries.seed_for(index, pos))
                elif kind == entries.OP_EXPIRE:
                    reply = sm.apply_expire(op[1], now)
                    self._expiring.difference_update(op[1])
                elif kind == entries.OP_CONFIG:
                    reply = self._apply_config(op[1])
                else:
                    reply = Error("ERR unknown log operation")
            except Exception as exc:  # a state machine bug must not split replicas' apply loop
                log.exception("apply failed at index %d op %d", index, pos)
                reply = Error(f"ERR internal error: {type(exc).__name__}")
            if replies is not None:
                replies.append(reply)
            if self._tracking:
                self._note_changes(index, op, reply)
        return replies

    def _maybe_snapshot(self) -> None:
        storage = self.storage
        assert storage is not None
        if self._snapshotting:
            return
        if self.applied - storage.snapshot_meta().index < self.config.snapshot_threshold:
            return
        self._snapshotting = True
        asyncio.ensure_future(self._snapshot_task())

    async def _snapshot_task(self) -> None:
        try:
            await self.take_snapshot()
        except Exception:
            log.exception("snapshot failed; the log is kept and the next one will retry")
        finally:
            self._snapshotting = False

    async def take_snapshot(self) -> int:
        """Snapshot the state at the applied index and compact the log.

        The keyspace is written by a forked child (copy-on-write, as Redis's BGSAVE), so
        clients are not stalled while a large keyspace is serialised; the disk thread then
        makes the file durable and compacts the log, in order with log writes."""
        storage, persister = self.storage, self.persister
        assert storage is not None and persister is not None
        index = self.applied
        if index <= storage.snapshot_meta().index:
            return storage.snapshot_meta().index
        meta = SnapshotMeta(index=index, term=storage.term(index), conf=self.applied_conf)
        clock_head = _SNAP_CLOCK.pack(_SNAP_CLOCK_MAGIC, self._apply_clock)
        started = time.monotonic()
        if hasattr(os, "fork"):
            path = os.path.join(self.config.data_dir, f"forked-snapshot-{index}.tmp")
            try:
                pid = os.fork()
                if pid == 0:  # the child: write, make durable, leave without cleanup
                    code = 1
                    try:
                        with open(path, "wb") as fp:
                            fp.write(clock_head)
                            self.sm.write_snapshot(fp)
                            fp.flush()
                            os.fsync(fp.fileno())
                        code = 0
                    finally:
                        os._exit(code)
                assert self.loop is not None
                waiting = self.loop.run_in_executor(None, os.waitpid, pid, 0)
                try:
                    _, status = await asyncio.wait_for(asyncio.shield(waiting),
                                                       SNAPSHOT_CHILD_TIMEOUT_S)
                except TimeoutError:
                    # A hung child (fork copies a threaded process) must not block every
                    # later snapshot: kill it, reap it, and let the next attempt retry.
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    await waiting
                    raise RuntimeError(f"snapshot child {pid} hung; killed after "
                                       f"{SNAPSHOT_CHILD_TIMEOUT_S} s") from None
                if status != 0:
                    raise RuntimeError(f"snapshot child exited with status {status}")
                await persister.call(lambda: storage.install_snapshot_file(meta, path))
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        else:
            writer = storage.snapshot_writer(meta.index, meta.term, meta.conf)
            try:
                writer.write(clock_head)
                self.sm.write_snapshot(writer)
            except BaseException:
                writer.abort()
                raise
            await persister.call(writer.close)
        self.stats["snapshots_taken"] += 1
        log.info("snapshot at index %d written in %.0f ms", index,
                 (time.monotonic() - started) * 1000)
        return index

    # ------------------------------------------------------------------ role changes
    def _on_soft_state(self, ss: SoftState) -> None:
        was_leader = self._role == Role.LEADER
        if ss.leader != self._leader:
            self._leader_heard = time.monotonic() if ss.leader else 0.0
        self._leader = ss.leader
        self._role = ss.role
        if was_leader and ss.role != Role.LEADER:
            now = time.monotonic()
            for prop in self._proposals.values():
                if prop.uncertain_since is None:
                    prop.uncertain_since = now
            self._expiring.clear()
        if ss.role == Role.LEADER:
            self._expiring.clear()
        if self._leader:
            # Wake requests waiting for an election; later waiters use a fresh event.
            self._leader_changed.set()
            self._leader_changed = asyncio.Event()
        if self.on_role_change is not None:
            self.on_role_change(ss.role)

    def known_leader(self) -> int:
        """The leader we may advertise: self, or one heard from within an election timeout."""
        if self._role == Role.LEADER:
            return self.id
        if not self._leader:
            return 0
        timeout = self.config.tick_ms * self.config.election_ticks / 1000
        if time.monotonic() - self._leader_heard > timeout:
            return 0
        return self._leader

    @property
    def is_leader(self) -> bool:
        return self._role == Role.LEADER

    # ------------------------------------------------------------------ Backend: routing
    def execute(self, conn, spec: CommandSpec, args: list[bytes]) -> object:
        if self._role == Role.LEADER:
            if spec.route == Route.WRITE:
                if "blocking" in spec.flags:
                    return self._blocking(conn, spec, args)
                return self._submit_write([entries.OP_COMMAND, args], args)
            return self._submit_read(args)
        if spec.route == Route.READ and getattr(conn, "readonly", False):
            # READONLY: a possibly stale read from this replica, as Redis Cluster replicas do.
            return self.sm.read(args, self._clock())
        keys = spec.keys(args)
        return self._redirect(key_slot(keys[0]) if keys else 0,
                              lambda: self.execute(conn, spec, args))

    def execute_multi(self, conn, commands: list[tuple[CommandSpec, list[bytes]]]) -> object:
        # The marks are read now: dispatch clears conn.watched once this returns, and a
        # retry after an election must still honour them.
        return self._execute_multi(commands, dict(getattr(conn, "watched", None) or {}))

    def _execute_multi(self, commands: list[tuple[CommandSpec, list[bytes]]],
                       marks: dict) -> object:
        if self._role == Role.LEADER:
            cmds = [args for _, args in commands]
            if marks:
                self._watched_execs += 1
                return self._submit_write([entries.WATCHED_EXEC, marks, [entries.OP_MULTI, cmds]],
                                          *cmds)
            return self._submit_write([entries.OP_MULTI, cmds], *cmds)
        slot = 0
        for spec, args in commands:
            keys = spec.keys(args)
            if keys:
                slot = key_slot(keys[0])
                break
        return self._redirect(slot, lambda: self._execute_multi(commands, marks))

    def check_route(self, conn, spec: CommandSpec, args: list[bytes]) -> Error | None:
        """Inside MULTI: None if this node can run the command, else the redirect now."""
        if self._role == Role.LEADER:
            return None
        keys = spec.keys(args)
        return self._redirect_now(key_slot(keys[0]) if keys else 0)

    def _redirect_now(self, slot: int) -> Error:
        leader = self.known_leader()
        if leader and leader != self.id and leader in self.client_addr:
            return Error(f"MOVED {slot} {self.client_addr[leader]}")
        return CLUSTERDOWN

    def _redirect(self, slot: int, retry: Callable[[], object]) -> object:
        leader = self.known_leader()
        if leader and leader in self.client_addr:
            return Error(f"MOVED {slot} {self.client_addr[leader]}")
        # No leader we can name: wait (bounded) for an election, then route again.
        return self._after_leader_known(retry)

    def _after_leader_known(self, retry: Callable[[], object]) -> asyncio.Future:
        assert self.loop is not None
        result: asyncio.Future = self.loop.create_future()
        deadline = time.monotonic() + self.config.cluster_down_wait_ms / 1000

        async def waiter() -> None:
            while True:
                leader = self.known_leader()
                if leader and (leader == self.id or leader in self.client_addr):
                    break
                if result.cancelled():
                    return  # the client is gone: do not run its command later
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._running:
                    result.set_result(CLUSTERDOWN)
                    return
                # Woken by a leader change; the short cap re-checks the freshness of the
                # leader and whether its client address has arrived.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._leader_changed.wait(), min(remaining, 0.05))
            value = retry()
            if isinstance(value, asyncio.Future):
                value = await value
            if not result.done():
                result.set_result(value)

        asyncio.ensure_future(waiter())
        return result

    # ------------------------------------------------------------------ writes
    def _clock(self) -> int:
        """The leader's stamp for new entries / 'now' for reads: never behind the log."""
        t = now_ms()
        floor = max(self._max_stamp, self._apply_clock)
        return t if t > floor else floor

    def _submit_write(self, op: list, *argss: list[bytes]) -> asyncio.Future:
        fut = self.loop.create_future()  # type: ignore[union-attr]
        size = 0
        nargs = 0
        for args in argss:
            size += sum(map(len, args))
            nargs += len(args)
        if size > MAX_COMMAND_BYTES:
            fut.set_result(Error(f"ERR command too large for the replicated log ({size} bytes;"
                                 f" the limit is {MAX_COMMAND_BYTES})"))
            return fut
        self._batch_ops.append(op)
        self._batch_futs.append(fut)
        self._batch_bytes += 16 + size + 5 * nargs  # as entries.op_size counts
        self._wake.set()
        return fut

    def _enqueue(self, op: list, fut: asyncio.Future | None) -> None:
        self._batch_ops.append(op)
        self._batch_futs.append(fut)
        self._batch_bytes += entries.op_size(op)
        self._wake.set()

    def _flush(self) -> None:
        if self._batch_ops:
            self._flush_writes()
        if self._read_batch:
            self._flush_reads()

    def _flush_writes(self) -> None:
        ops, futs, batch_bytes = self._batch_ops, self._batch_futs, self._batch_bytes
        self._batch_ops, self._batch_futs, self._batch_bytes = [], [], 0
        core = self.core
        assert core is not None
        if self._role != Role.LEADER:
            self._watched_execs = 0
            self._resolve_all(futs, NOT_APPLIED)
            self._unmark_expiring(ops)
            return
        if self._watched_execs:
            ops, futs = self._decide_watched(ops, futs)
            # the ones held for a later turn are back in the batch
            self._watched_execs = sum(1 for op in self._batch_ops if op[0] == entries.WATCHED_EXEC)
            if not ops:
                return
        # Split into entries of bounded size (one big command goes alone) and op count:
        # an entry must fit in one peer frame, or it could never be replicated.
        start, n = 0, len(ops)
        # The common case: the whole batch fits one entry, no need to size each op.
        small = batch_bytes <= MAX_ENTRY_BYTES and n <= MAX_OPS_PER_ENTRY
        while start < n:
            end, size = (n, 0) if small else (start, 0)
            while end < n and end - start < MAX_OPS_PER_ENTRY:
                op_size = entries.op_size(ops[end])
                if end > start and size + op_size > MAX_ENTRY_BYTES:
                    break
                size += op_size
                end += 1
            chunk_ops, chunk_futs = ops[start:end], futs[start:end]
            start = end
            stamp = self._clock()
            data = entries.encode(stamp, chunk_ops)
            try:
                index, term = core.propose(data)
            except (NotLeaderError, ProposalDroppedError):
                self._resolve_all(chunk_futs, NOT_APPLIED)
                self._unmark_expiring(chunk_ops)
                continue
            if stamp > self._max_stamp:
                self._max_stamp = stamp
            self.stats["proposals"] += len(chunk_ops)
            self.stats["entries_proposed"] += 1
            # A record left at this index is a proposal of an earlier term of ours whose
            # entry a later leader truncated: it never committed, and nothing else would
            # ever answer its clients once it is replaced.
            stale = self._proposals.pop(index, None)
            if stale is not None:
                self._resolve_all(stale.futures, OVERWRITTEN)
            if any(f is not None for f in chunk_futs):
                self._proposals[index] = _Proposal(term, chunk_futs, chunk_ops)

    def _unmark_expiring(self, ops: list) -> None:
        """Expiry ops that were not logged: their keys may be proposed again."""
        for op in ops:
            if op[0] == entries.OP_EXPIRE:
                self._expiring.difference_update(op[1])

    @staticmethod
    def _resolve_all(futs, reply) -> None:
        for fut in futs:
            if fut is not None and not fut.done():
                fut.set_result(reply)

    def _fail_all(self, reply) -> None:
        self._resolve_all(self._batch_futs, reply)
        self._batch_ops, self._batch_futs, self._batch_bytes = [], [], 0
        self._watched_execs = 0
        for prop in self._proposals.values():
            self._resolve_all(prop.futures, UNCERTAIN)
        self._proposals.clear()
        for _, fut in self._read_batch:
            if not fut.done():
                fut.set_result(reply)
        self._read_batch = []
        for waiters in self._read_waiting.values():
            for _, fut in waiters:
                if not fut.done():
                    fut.set_result(reply)
        self._read_waiting.clear()
        for _, _, waiters in self._read_ready:
            for _, fut in waiters:
                if not fut.done():
                    fut.set_result(reply)
        self._read_ready = []

    # ------------------------------------------------------------------ reads
    def _submit_read(self, args: list[bytes]) -> asyncio.Future:
        assert self.loop is not None
        fut = self.loop.create_future()
        self._read_batch.append((args, fut))
        self._wake.set()
        return fut

    def _flush_reads(self) -> None:
        batch, self._read_batch = self._read_batch, []
        core = self.core
        assert core is not None
        self._read_seq += 1
        ctx = self._read_seq.to_bytes(8, "big")
        try:
            core.read_index(ctx)
        except NotLeaderError:
            for args, fut in batch:
                self._reroute_read(args, fut)
            return
        self.stats["read_rounds"] += 1
        self._read_waiting[ctx] = batch

    def _serve_ready_reads(self) -> None:
        ready = self._read_ready
        if not ready or ready[0][0] > self.applied:
            return
        now = self._clock()
        read = self.sm.read
        while ready and ready[0][0] <= self.applied:
            _, _, waiters = heapq.heappop(ready)
            self.stats["reads"] += len(waiters)
            for args, fut in waiters:
                if not fut.done():
                    try:
                        fut.set_result(read(args, now))
                    except Exception as exc:
                        log.exception("read failed")
                        fut.set_result(Error(f"ERR internal error: {type(exc).__name__}"))

    def _reroute_read(self, args: list[bytes], fut: asyncio.Future) -> None:
        """A read whose ReadIndex round failed: it changed nothing, so route it again."""

        spec = lookup(args[0])
        if spec is None:
            if not fut.done():
                fut.set_result(CLUSTERDOWN)
            return
        value = self.execute(_NOT_READONLY_CONN, spec, args)
        if isinstance(value, asyncio.Future):
            value.add_done_callback(lambda f: fut.done() or fut.set_result(f.result()))
        elif not fut.done():
            fut.set_result(value)

    # ------------------------------------------------------------------ admin
    def cluster_command(self, conn, args: list[bytes]) -> object:
        return self.view.command(conn, args)

    def info_sections(self) -> dict[str, list[tuple[str, object]]]:
        return self.view.info_sections()

    def status(self) -> dict:
        assert self.core is not None
        return self.core.status()
