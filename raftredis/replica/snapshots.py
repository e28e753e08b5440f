"""Snapshots of one group: taken when the log has grown past a threshold, restored at
start and when the leader sends one.

Snapshot data starts with the apply clock at its index, so a node restored from it
(at start or by InstallSnapshot) neither stamps below it nor applies the log tail at
another "now" than the replicas that applied everything (older snapshots lack it:
clock 0). Taking one forks a child that writes the keyspace (copy-on-write, as
Redis's BGSAVE), so clients are not stalled while a large keyspace is serialised;
the disk thread then makes the file durable and compacts the log, in order with log
writes. Where fork is not available (or not wanted, as in the simulator) the
keyspace is written inline.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import struct
from collections.abc import Callable
from typing import BinaryIO

from raftredis.raft.types import Snapshot, SnapshotMeta
from raftredis.replica.applier import Applier
from raftredis.replica.clock import Clock, EntryClock
from raftredis.replica.ports import GroupStorage, Persister
from raftredis.replica.tasks import TaskSet
from raftredis.statemachine import StateMachine

log = logging.getLogger("raftredis.replica")

SNAPSHOT_CHILD_TIMEOUT_S = 600  # a forked snapshot writer taking longer is presumed hung
_CLOCK_HEAD = struct.Struct(">4sQ")
_CLOCK_MAGIC = b"RRCK"


class Snapshots:
    def __init__(self, sm: StateMachine, applier: Applier, stamps: EntryClock,
                 storage: GroupStorage, persister: Persister, clock: Clock, tasks: TaskSet,
                 loop: asyncio.AbstractEventLoop, data_dir: str,
                 threshold: Callable[[], int], fork: bool) -> None:
        self._sm = sm
        self._applier = applier
        self._stamps = stamps
        self._storage = storage
        self._persister = persister
        self._clock = clock
        self._tasks = tasks
        self._loop = loop
        self._dir = data_dir
        self._threshold = threshold
        self._fork = fork and hasattr(os, "fork")
        self._running = False
        self.taken = 0
        self.installed = 0
        self.on_taken: Callable[[float], None] | None = None  # seconds a take() took

    # ------------------------------------------------------------------ restoring
    def _decode(self, fp: BinaryIO) -> tuple[int, tuple]:
        """(apply clock, decoded state) of snapshot data; SnapshotError if bad."""
        start = fp.tell()
        head = fp.read(_CLOCK_HEAD.size)
        clock = 0
        if len(head) == _CLOCK_HEAD.size and head[:4] == _CLOCK_MAGIC:
            _, clock = _CLOCK_HEAD.unpack(head)
        else:
            fp.seek(start)  # a snapshot from before the clock was recorded
        return clock, self._sm.decode_snapshot(fp)

    def restore(self, fp: BinaryIO) -> None:
        """Restore the state machine (and the apply clock) from snapshot data."""
        clock, decoded = self._decode(fp)
        self._sm.load_snapshot(decoded)
        self._stamps.restored(clock)

    def restore_at_start(self) -> None:
        meta = self._storage.snapshot_meta()
        if meta.index > 0:
            fp = self._storage.open_snapshot()
            if fp is not None:
                with fp:
                    self.restore(fp)
            self._applier.restored(meta.index, meta.conf)

    async def install_received(self, snap: Snapshot) -> None:
        """A snapshot from the leader (in a Ready): check it, make it our log's base, then
        restore from it (raft.ready: the state is never ahead of what storage holds, so
        a snapshot taken meanwhile cannot describe a log we do not have)."""
        # Decoded first: a snapshot the state machine refuses must not replace our log.
        started = self._clock.monotonic()
        clock, decoded = self._decode(io.BytesIO(snap.data))
        storage = self._storage
        await self._persister.call(lambda: storage.install_snapshot(snap))
        self._sm.load_snapshot(decoded)
        self._stamps.restored(clock)
        self._applier.restored(snap.meta.index, snap.meta.conf)
        self.installed += 1
        log.info("snapshot from the leader installed: index %d, term %d, %d bytes, in %.0f ms",
                 snap.meta.index, snap.meta.term, len(snap.data),
                 (self._clock.monotonic() - started) * 1000)

    # ------------------------------------------------------------------ taking
    def maybe_take(self) -> None:
        if self._running:
            return
        if self._applier.applied - self._storage.snapshot_meta().index < self._threshold():
            return
        self._running = True
        self._tasks.spawn(self._take_logged(), name="snapshot")

    async def _take_logged(self) -> None:
        try:
            await self.take()
        except Exception:
            log.exception("snapshot failed; the log is kept and the next one will retry")
        finally:
            self._running = False

    @property
    def running(self) -> bool:
        """A snapshot is being written (by the threshold or by SAVE / BGSAVE)."""
        return self._running

    async def take_requested(self) -> int:
        """SAVE / BGSAVE: a snapshot now (the caller checked `running` first)."""
        self._running = True
        try:
            return await self.take()
        finally:
            self._running = False

    async def take(self) -> int:
        """Snapshot the state at the applied index and compact the log."""
        storage, persister = self._storage, self._persister
        index = self._applier.applied
        if index <= storage.snapshot_meta().index:
            return storage.snapshot_meta().index
        meta = SnapshotMeta(index=index, term=storage.term(index), conf=self._applier.conf)
        head = _CLOCK_HEAD.pack(_CLOCK_MAGIC, self._stamps.apply_clock)
        started = self._clock.monotonic()
        if self._fork:
            await self._take_forked(meta, head)
        else:
            writer = storage.snapshot_writer(meta.index, meta.term, meta.conf)
            try:
                writer.write(head)
                self._sm.write_snapshot(writer)
            except BaseException:
                writer.abort()
                raise
            await persister.call(writer.close)
        self.taken += 1
        took = self._clock.monotonic() - started
        size = storage.stats().get("snapshot_bytes", 0) if hasattr(storage, "stats") else 0
        log.info("snapshot at index %d written: %d bytes in %.0f ms", index, size, took * 1000)
        if self.on_taken is not None:
            self.on_taken(took)
        return index

    async def _take_forked(self, meta: SnapshotMeta, head: bytes) -> None:
        storage = self._storage
        path = os.path.join(self._dir, f"forked-snapshot-{meta.index}.tmp")
        try:
            pid = os.fork()
            if pid == 0:  # the child: write, make durable, leave without cleanup
                code = 1
                try:
                    with open(path, "wb") as fp:
                        fp.write(head)
                        self._sm.write_snapshot(fp)
                        fp.flush()
                        os.fsync(fp.fileno())
                    code = 0
                finally:
                    os._exit(code)
            waiting = self._loop.run_in_executor(None, os.waitpid, pid, 0)
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
            await self._persister.call(lambda: storage.install_snapshot_file(meta, path))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
