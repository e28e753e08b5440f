"""Correctness of the replica group (raftredis/replica/): each test pins one bug found by
reading the Ready loop, proposals, WATCH and snapshots. A one-voter group runs in-process
on a temp dir (no peers, so no transport); its injected clock is a fake the test moves by
hand."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from raftredis.commands.spec import lookup
from raftredis.config import NodeConfig
from raftredis.raft.types import ConfState, Entry, EntryKind, HardState, Role, SoftState
from raftredis.replica import ReplicaGroup
from raftredis.replica import ops as logops
from raftredis.replica.group import production_ports
from raftredis.reply import NULL_ARRAY, OK, Error
from raftredis.storage import DiskStorage

DEADLINE_S = 10.0


class Clock:
    """The wall clock the group stamps entries with (ms), set by the test; monotonic
    time stays real so timeouts work."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def wall_ms(self) -> int:
        return self.ms

    def monotonic(self) -> float:
        return time.monotonic()


CLOCKS: dict[int, Clock] = {}


@pytest.fixture
def clock() -> Clock:
    c = Clock(1_000_000_000)
    CLOCKS[0] = c
    yield c
    CLOCKS.clear()


class Conn:
    """What the node reads of a client connection."""

    def __init__(self) -> None:
        self.watched: dict = {}
        self.readonly = False
        self.closed = False
        self.blocked = False


def make_config(data_dir: Path, **kw) -> NodeConfig:
    kw.setdefault("active_expire_ms", 20)
    cfg = NodeConfig(id=1, port=0, data_dir=str(data_dir), fsync="always", tick_ms=5,
                     election_ticks=4, heartbeat_ticks=1, cluster_down_wait_ms=500, **kw)
    cfg.finish()
    return cfg


async def wait_for(cond: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def make_group(data_dir: Path, **kw) -> ReplicaGroup:
    cfg = make_config(data_dir, **kw)
    ports = production_ports(cfg)
    if CLOCKS:
        ports = dataclasses.replace(ports, clock=CLOCKS[0])
    return ReplicaGroup(cfg, ports)


async def started(data_dir: Path, **kw) -> ReplicaGroup:
    node = make_group(data_dir, **kw)
    await node.start()
    try:
        await wait_for(lambda: node.is_leader, "the single voter to lead")
    except BaseException:
        await node.stop()
        raise
    return node


async def run(node: ReplicaGroup, conn: Conn, *args: bytes) -> object:
    spec = lookup(args[0])
    assert spec is not None
    out = node.execute(conn, spec, list(args))
    if isinstance(out, asyncio.Future):
        out = await asyncio.wait_for(out, DEADLINE_S)
    return out


def last_stamp(data_dir: Path) -> int:
    """The stamp of the newest NORMAL entry in the node's log on disk."""
    with DiskStorage.open(str(data_dir), initial_conf=ConfState(voters=frozenset({1}))) as st:
        for ent in reversed(st.entries(st.first_index(), st.last_index() + 1)):
            if ent.kind == EntryKind.NORMAL:
                return logops.stamp_of(ent.data)
    raise AssertionError("no NORMAL entry in the log")


def go(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro_fn(), 60))


# ---------------------------------------------------------------- stamp monotonicity
def test_stamp_does_not_go_back_after_restart_from_a_snapshot(tmp_path: Path,
                                                               clock: Clock) -> None:
    """A node restarted from a snapshot that covers its whole log knew no stamp at all,
    so with a clock behind the old leader's it stamped new entries in the past: TTL
    deadlines computed before the restart then lay in its future again, and replicas that
    kept the higher clock in memory applied the same entry at a different 'now'."""

    async def body() -> None:
        node = await started(tmp_path)
        try:
            assert await run(node, Conn(), b"SET", b"a", b"1") is not None
            clock.ms += 10_000
            assert await run(node, Conn(), b"SET", b"b", b"2") is not None
            high = node.stamps.apply_clock
            await node.take_snapshot()
            st = node.storage_stats()
            assert st["snapshot_index"] == st["last_index"]
        finally:
            await node.stop()
        clock.ms -= 60_000  # the next run's clock is a minute behind
        node = await started(tmp_path)
        try:
            await run(node, Conn(), b"SET", b"c", b"3")
        finally:
            await node.stop()
        assert last_stamp(tmp_path) >= high

    go(body)


def test_stamp_floor_is_found_behind_many_noop_entries(tmp_path: Path, clock: Clock) -> None:
    """At start the node looked at the last 64 log entries only: after a run of elections
    with no writes (each adds a NOOP), the newest stamp was not among them."""

    async def body() -> None:
        node = await started(tmp_path)
        try:
            await run(node, Conn(), b"SET", b"a", b"1")
            high = node.stamps.max_stamp
        finally:
            await node.stop()
        with DiskStorage.open(str(tmp_path), initial_conf=ConfState(voters=frozenset({1}))) as st:
            hs = st.hard_state()
            last = st.last_index()
            term = st.term(last)
            noops = [Entry(term, last + i, EntryKind.NOOP, b"") for i in range(1, 101)]
            st.persist(HardState(hs.term, hs.vote, hs.commit), noops)
        clock.ms -= 60_000
        node = make_group(tmp_path)
        await node.start()
        try:
            # Before anything is re-applied (a new leader may propose first): the floor
            # must already cover the whole log.
            floor = node.stamps.now()
            await wait_for(lambda: node.is_leader, "the single voter to lead")
            await run(node, Conn(), b"SET", b"b", b"2")
        finally:
            await node.stop()
        assert floor >= high
        assert last_stamp(tmp_path) >= high

    go(body)


# ---------------------------------------------------------------- WATCH
def test_exec_held_behind_a_write_to_the_watched_key_aborts(tmp_path: Path,
                                                           clock: Clock) -> None:
    """EXEC under WATCH is held while earlier entries are unapplied. Dispatch clears the
    connection's WATCH marks as soon as EXEC is handed over, so key tracking switched
    itself off, the write to the watched key (sent after WATCH returned) went unnoted,
    and the transaction ran instead of aborting."""

    async def body() -> None:
        node = await started(tmp_path)
        try:
            a, b = Conn(), Conn()
            await run(node, a, b"SET", b"k", b"0")
            assert node.watch(a, [b"k"]) is not None
            # The same event-loop turn: B's write, then A's EXEC, as the protocol would.
            fb = node.execute(b, lookup(b"SET"), [b"SET", b"k", b"by-b"])
            fa = node.execute_multi(a, [(lookup(b"SET"), [b"SET", b"k", b"by-a"])])
            a.watched.clear()  # what dispatch does right after execute_multi
            await asyncio.wait_for(fb, DEADLINE_S)
            assert await asyncio.wait_for(fa, DEADLINE_S) is NULL_ARRAY
            assert await run(node, Conn(), b"GET", b"k") == b"by-b"
        finally:
            await node.stop()

    go(body)


def test_exec_retried_after_an_election_keeps_its_watch(tmp_path: Path, clock: Clock) -> None:
    """EXEC arriving while no leader is known waits for the election and is retried;
    the retry read conn.watched again, which dispatch had cleared, so it ran unwatched
    even though the key changed after WATCH."""

    async def body() -> None:
        node = await started(tmp_path)
        try:
            a, b = Conn(), Conn()
            await run(node, a, b"SET", b"k", b"0")
            assert node.watch(a, [b"k"]) is not None
            # The node has just learned (from a Ready) that it lost leadership.
            node.router.on_soft_state(SoftState(leader=0, role=Role.FOLLOWER))
            fa = node.execute_multi(a, [(lookup(b"SET"), [b"SET", b"k", b"by-a"])])
            a.watched.clear()
            assert isinstance(fa, asyncio.Future) and not fa.done()
            # It leads again; another client changes k before A's EXEC is retried.
            node.router.on_soft_state(SoftState(leader=node.id, role=Role.LEADER))
            fb = node.execute(b, lookup(b"SET"), [b"SET", b"k", b"by-b"])
            await asyncio.wait_for(fb, DEADLINE_S)
            assert await asyncio.wait_for(fa, DEADLINE_S) is NULL_ARRAY
            assert await run(node, Conn(), b"GET", b"k") == b"by-b"
        finally:
            await node.stop()

    go(body)


# ---------------------------------------------------------------- proposals
class _StubCore:
    """Hands out the indexes a test chooses, as RaftCore.propose would."""

    def __init__(self) -> None:
        self.next: tuple[int, int] = (1, 1)
        self.proposed: list[bytes] = []

    def propose(self, data: bytes) -> tuple[int, int]:
        self.proposed.append(data)
        return self.next


class _CountingCore(_StubCore):
    """Each proposal gets the next index, in term 1."""

    def propose(self, data: bytes) -> tuple[int, int]:
        self.proposed.append(data)
        return len(self.proposed), 1


class _Judge:
    def log_applied_to_end(self) -> bool:
        return True

    def broken(self, marks: dict, stamp: int) -> bool:
        return False


def test_a_proposal_replaced_at_the_same_index_is_answered(clock: Clock) -> None:
    """A deposed leader keeps its unanswered proposals; if a later leader truncated them
    and this node leads again within the uncertain window, its new proposal at the same
    index replaced the old record, whose client then waited forever."""
    from raftredis.replica.clock import EntryClock
    from raftredis.replica.proposals import Proposals

    async def body() -> None:
        loop = asyncio.get_running_loop()
        props = Proposals(loop, clock, EntryClock(clock), lambda: None)
        core = _StubCore()
        core.next = (5, 2)
        old = props.submit_command([b"SET", b"x", b"1"])
        props.flush(core, True, _Judge())  # type: ignore[arg-type]
        props.lost_leadership()
        core.next = (5, 3)  # the same index again, in a later term of ours
        new = props.submit_command([b"SET", b"y", b"2"])
        props.flush(core, True, _Judge())  # type: ignore[arg-type]
        assert old.done(), "the replaced proposal's client was never answered"
        reply = old.result()
        assert isinstance(reply, Error) and reply.startswith("TRYAGAIN")
        prop = props.claim(5)
        assert prop is not None and prop.term == 3
        props.answer(prop, 3, [b"OK"])
        assert new.result() == b"OK"

    go(body)


def test_an_entry_of_another_term_at_our_index_answers_tryagain(clock: Clock) -> None:
    """Our entry at index i was replaced by another leader's entry at i: its clients
    learn it was not applied (TRYAGAIN), never the other entry's replies."""
    from raftredis.replica.clock import EntryClock
    from raftredis.replica.proposals import Proposals

    async def body() -> None:
        loop = asyncio.get_running_loop()
        props = Proposals(loop, clock, EntryClock(clock), lambda: None)
        core = _StubCore()
        core.next = (7, 2)
        fut = props.submit_command([b"SET", b"x", b"1"])
        props.flush(core, True, _Judge())  # type: ignore[arg-type]
        prop = props.claim(7)
        assert prop is not None
        props.answer(prop, 4, None)  # applied index 7 held a term-4 entry
        reply = fut.result()
        assert isinstance(reply, Error) and reply.startswith("TRYAGAIN")

    go(body)


def test_a_batch_past_the_op_limit_is_cut_into_entries(clock: Clock) -> None:
    """One entry holds at most MAX_OPS_PER_ENTRY operations (bounding one entry's apply
    work); the command past it goes into the next entry, and each keeps its future."""
    from raftredis.replica.clock import EntryClock
    from raftredis.replica.proposals import Proposals

    async def body() -> None:
        loop = asyncio.get_running_loop()
        props = Proposals(loop, clock, EntryClock(clock), lambda: None)
        core = _CountingCore()
        n = logops.MAX_OPS_PER_ENTRY + 1
        futs = [props.submit_command([b"SET", b"k%d" % i, b"v"]) for i in range(n)]
        props.flush(core, True, _Judge())  # type: ignore[arg-type]
        sizes = [len(logops.decode_entry(data)[1]) for data in core.proposed]
        assert sizes == [logops.MAX_OPS_PER_ENTRY, 1]
        assert not any(f.done() for f in futs)  # answered when applied, not before

    go(body)


# ---------------------------------------------------------------- entry sizes
def test_a_pipeline_of_big_values_is_split_into_bounded_entries(tmp_path: Path,
                                                               clock: Clock) -> None:
    """A batch was halved once at most: 40 pipelined 1 MiB SETs went into entries of many
    MiB; past the peer transport's 64 MiB frame limit such an entry can never be sent, and
    every write behind it stalls for good."""

    async def body() -> None:
        node = await started(tmp_path)
        try:
            conn = Conn()
            spec = lookup(b"SET")
            big = b"v" * (1 << 20)
            futs = [node.execute(conn, spec, [b"SET", b"k%d" % i, big]) for i in range(40)]
            replies = await asyncio.wait_for(asyncio.gather(*futs), DEADLINE_S)
            assert all(r is not None and not isinstance(r, Error) for r in replies)
        finally:
            await node.stop()
        with DiskStorage.open(str(tmp_path), initial_conf=ConfState(voters=frozenset({1}))) as st:
            sizes = [len(e.data) for e in st.entries(st.first_index(), st.last_index() + 1)]
        assert max(sizes) <= logops.MAX_ENTRY_BYTES + (1 << 20) + 4096

    go(body)


def test_a_command_too_big_to_replicate_is_refused_clearly(tmp_path: Path, clock: Clock,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """One command bigger than a peer frame could never be replicated: refuse it up
    front (nothing logged) instead of wedging the log behind it."""
    monkeypatch.setattr(logops, "MAX_COMMAND_BYTES", 1 << 20)

    async def body() -> None:
        node = await started(tmp_path)
        try:
            await run(node, Conn(), b"SET", b"warm", b"up")  # the term's NOOP is on disk
            before = node.storage_stats()["last_index"]
            reply = await run(node, Conn(), b"SET", b"k", b"v" * (2 << 20))
            assert isinstance(reply, Error) and "too large" in reply
            assert node.storage_stats()["last_index"] == before
            assert await run(node, Conn(), b"SET", b"k", b"small") is not None
            assert await run(node, Conn(), b"GET", b"k") == b"small"
        finally:
            await node.stop()

    go(body)


# ---------------------------------------------------------------- expiry
def test_expiry_keys_are_retried_after_a_dropped_proposal(tmp_path: Path, clock: Clock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys whose expiry proposal the core refused (e.g. too much uncommitted) stayed
    marked 'being expired' for the rest of the term, so they were never deleted."""
    from raftredis.raft.core import ProposalDroppedError

    async def body() -> None:
        node = await started(tmp_path)
        try:
            await run(node, Conn(), b"SET", b"k", b"v", b"PX", b"100")
            assert node.core is not None
            real = node.core.propose
            refused: list[bytes] = []

            def propose(data: bytes):
                _, ops = logops.decode_entry(data)
                if not refused and ops and ops[0].kind == logops.OpKind.EXPIRE:
                    refused.append(data)
                    raise ProposalDroppedError("too many uncommitted entries")
                return real(data)

            monkeypatch.setattr(node.core, "propose", propose)
            clock.ms += 1_000
            await wait_for(lambda: bool(refused), "the expiry proposal to be refused")
            await wait_for(lambda: node.sm.dbsize() == 0, "the expired key to be deleted")
        finally:
            await node.stop()

    go(body)


# ---------------------------------------------------------------- blocking
def test_blocked_pop_of_a_closed_connection_ends_quietly(tmp_path: Path, clock: Clock) -> None:
    """The protocol cancels a closed connection's pending futures; the blocking task
    then raised InvalidStateError setting a result on it (an unretrieved task error),
    and must not pop for the gone client."""

    async def body() -> None:
        errors: list[dict] = []
        asyncio.get_running_loop().set_exception_handler(lambda _l, ctx: errors.append(ctx))
        node = await started(tmp_path)
        try:
            conn = Conn()
            fut = node.execute(conn, lookup(b"BLPOP"), [b"BLPOP", b"q", b"0"])
            assert isinstance(fut, asyncio.Future)
            await wait_for(lambda: node.tracker.blocked() > 0, "the pop to block")
            conn.closed = True
            fut.cancel()
            await run(node, Conn(), b"RPUSH", b"q", b"x")
            await wait_for(lambda: node.tracker.blocked() == 0, "the blocked task to end")
            import gc

            gc.collect()
            await asyncio.sleep(0)
            assert await run(node, Conn(), b"LRANGE", b"q", b"0", b"-1") == [b"x"]
            assert not errors, errors
        finally:
            await node.stop()

    go(body)


# ---------------------------------------------------------------- TTL reads and the log's time
def test_an_expired_read_stays_expired_after_a_restart_with_the_clock_behind(
        tmp_path: Path, clock: Clock) -> None:
    """Issue 16, bug 4: a read judged expiry by the wall clock without the log knowing,
    so a leader whose clock is behind (here: the same node restarted with its clock set
    back) read the key as alive again. Now a TTL-sensitive read more than the lease past
    the log's time waits for a clock tick to be logged, and a new leader starts past the
    newest stamp in its log by the lease."""

    async def body() -> None:
        # No active expiry: only the read may carry time into the log.
        node = await started(tmp_path, active_expire_ms=3_600_000)
        try:
            assert await run(node, Conn(), b"SET", b"k", b"v", b"PX", b"1000") is not None
            entries_before = node.core.log.last_index()
            clock.ms += 5_000
            assert await run(node, Conn(), b"GET", b"k") is None
            assert node.core.log.last_index() > entries_before  # the tick
        finally:
            await node.stop()
        clock.ms -= 4_800  # back to 200 ms after the SET: before the key's deadline
        node = await started(tmp_path, active_expire_ms=3_600_000)
        try:
            assert await run(node, Conn(), b"GET", b"k") is None
            assert await run(node, Conn(), b"PTTL", b"k") == -2
        finally:
            await node.stop()

    go(body)


def test_reads_need_no_tick_when_no_key_has_a_ttl(tmp_path: Path, clock: Clock) -> None:
    async def body() -> None:
        node = await started(tmp_path, active_expire_ms=3_600_000)
        try:
            assert await run(node, Conn(), b"SET", b"k", b"v") is not None
            before = node.core.log.last_index()
            clock.ms += 60_000
            assert await run(node, Conn(), b"GET", b"k") == b"v"
            assert node.core.log.last_index() == before
        finally:
            await node.stop()

    go(body)


# ---------------------------------------------------------------- lazy commit index
class CountingPersister:
    """The real disk persister, counting the writes the Ready loop waits for."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.writes: list[tuple[HardState | None, int]] = []

    async def persist(self, hard_state, entries) -> None:
        self.writes.append((hard_state, len(entries)))
        await self.inner.persist(hard_state, entries)

    async def call(self, fn):
        return await self.inner.call(fn)

    async def close(self) -> None:
        await self.inner.close()


P = TypeVar("P")


async def leading_with(data_dir: Path, clock: Clock,
                       wrap: Callable[[Any], P]) -> tuple[ReplicaGroup, P]:
    """A single voter whose persister is `wrap(the real one)`, leading, one SET applied."""
    cfg = make_config(data_dir)
    ports = production_ports(cfg)
    persister = wrap(ports.persister)
    node = ReplicaGroup(cfg, dataclasses.replace(ports, clock=clock, persister=persister))
    await node.start()
    try:
        await wait_for(lambda: node.is_leader, "the single voter to lead")
        await run(node, Conn(), b"SET", b"warm", b"up")
    except BaseException:
        await node.stop()
        raise
    return node, persister


def test_a_commit_only_ready_costs_no_write_and_a_clean_stop_keeps_the_commit(
        tmp_path: Path, clock: Clock) -> None:
    """The commit index is in no durable Raft state, so a Ready that only moves it was
    written and fsynced before its entries were applied: a second disk round trip per
    write. Now it rides with the next durable write, and a clean stop writes it."""

    async def body() -> None:
        node, counting = await leading_with(tmp_path, clock, CountingPersister)
        try:
            before = len(counting.writes)
            for i in range(20):
                assert await run(node, Conn(), b"SET", b"k%d" % i, b"v") is not None
            writes = counting.writes[before:]
            assert all(n > 0 for _, n in writes), f"a write carried no entries: {writes}"
            assert len(writes) <= 20, f"{len(writes)} awaited writes for 20 SETs"
            last = node.core.log.last_index()
            assert node.core.log.committed == last
        finally:
            await node.stop()
        with DiskStorage.open(str(tmp_path),
                              initial_conf=ConfState(voters=frozenset({1}))) as st:
            assert st.hard_state().commit == last

    go(body)


class GatePersister:
    """The real disk persister, holding each write that carries entries until
    `allowed` reaches its number (writes with entries counted from 1)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.asked = 0  # writes with entries asked for
        self.allowed = 1 << 30  # how many of them may go through
        self._changed = asyncio.Event()

    def allow(self, n: int) -> None:
        self.allowed = n
        self._changed.set()

    async def persist(self, hard_state, entries) -> None:
        if entries:
            self.asked += 1
            mine = self.asked
            while mine > self.allowed:
                self._changed.clear()
                await self._changed.wait()
        await self.inner.persist(hard_state, entries)

    async def call(self, fn):
        return await self.inner.call(fn)

    async def close(self) -> None:
        self.allow(1 << 30)
        await self.inner.close()


def test_an_answer_does_not_wait_for_the_write_of_the_entries_after_it(
        tmp_path: Path, clock: Clock) -> None:
    """A committed entry already on disk is applied and answered while the next Ready's
    entries are being written: the Ready loop used to write first and apply after, so
    under load every answer waited one more fsync."""

    async def body() -> None:
        node, gate = await leading_with(tmp_path, clock, GatePersister)
        try:
            gate.allow(gate.asked)  # hold every later write with entries
            spec = lookup(b"SET")
            first = node.execute(Conn(), spec, [b"SET", b"a", b"1"])
            await wait_for(lambda: gate.asked == gate.allowed + 1, "the write of a")
            second = node.execute(Conn(), spec, [b"SET", b"b", b"2"])
            assert isinstance(first, asyncio.Future) and isinstance(second, asyncio.Future)
            gate.allow(gate.allowed + 1)  # a's write completes; b's is then held
            await wait_for(lambda: gate.asked == gate.allowed + 1, "the write of b")
            assert await asyncio.wait_for(first, DEADLINE_S) == OK
            assert not second.done()  # b is not durable, so not committed
            gate.allow(1 << 30)
            assert await asyncio.wait_for(second, DEADLINE_S) == OK
        finally:
            await node.stop()

    go(body)
