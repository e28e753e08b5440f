"""AsyncPersister: the event-loop side of the storage.

The node hands each Ready's hard state and entries to `persist()` and awaits it
before sending acknowledgements. Disk work runs on ONE background thread, so
the loop never waits on fsync and writes keep their order. Requests that arrive
while a write is in flight are merged into the next write: one fsync covers
them all (group commit across Ready rounds).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from raftredis.raft.types import Entry, HardState
from raftredis.storage.disk import DiskStorage
from raftredis.storage.diskthread import DiskThread

T = TypeVar("T")
MAX_MERGED_ENTRIES = 65536  # bound on one merged write, so one fsync never covers unbounded work


def merge_batches(
    batches: Sequence[tuple[HardState | None, Sequence[Entry]]],
) -> tuple[HardState | None, list[Entry]]:
    """Fold consecutive persist requests into one with the same end state: the last hard
    state wins; a later batch starting at or before the end of the merged entries cuts
    them there first (the same conflicting-suffix rule append() applies)."""
    hs: HardState | None = None
    out: list[Entry] = []
    for h, ents in batches:
        if h is not None:
            hs = h
        if not ents:
            continue
        if out and ents[0].index <= out[-1].index:
            cut = ents[0].index - out[0].index
            if cut < 0:
                # reaches back before this merge: must go to storage on its own
                raise _CannotMerge
            del out[cut:]
        elif out and ents[0].index != out[-1].index + 1:
            raise _CannotMerge
        out.extend(ents)
    return hs, out


class _CannotMerge(Exception):
    pass


class AsyncPersister:
    """Ordered, group-committed persistence on one background thread."""

    def __init__(self, storage: DiskStorage) -> None:
        self._storage = storage
        self._disk = DiskThread("raftredis-disk")
        # queued work, in order: ("persist", (hs, entries), fut) or ("call", fn, fut)
        self._queue: list[tuple[str, Any, asyncio.Future]] = []
        self._running = False
        self._closed = False

    @property
    def storage(self) -> DiskStorage:
        return self._storage

    async def persist(self, hard_state: HardState | None, entries: Sequence[Entry]) -> None:
        """Resolves once hard state and entries are written and fsynced (per policy).
        Raises what the storage raised; later requests are not affected."""
        return await self._submit("persist", (hard_state, list(entries)))

    async def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` (e.g. a snapshot writer's close, create_snapshot) on the disk thread,
        in order with the persists queued before it."""
        return await self._submit("call", fn)

    async def _submit(self, kind: str, arg: Any) -> Any:
        if self._closed:
            raise RuntimeError("persister is closed")
        if not self._running and not self._queue:
            # Nothing queued or in flight (the node's usual case: one Ready at a time):
            # hand the work to the disk thread directly, without a drain task in between.
            self._running = True
            try:
                if kind == "persist":
                    hs, ents = arg
                    fn = functools.partial(self._storage.persist, hs, ents)
                else:
                    fn = arg
                return await self._disk.submit(fn)
            finally:
                self._running = False
                if self._queue:  # work that arrived meanwhile, in order
                    self._running = True
                    asyncio.get_running_loop().create_task(self._drain())
        fut = asyncio.get_running_loop().create_future()
        self._queue.append((kind, arg, fut))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self._queue:
                kind, arg, fut = self._queue[0]
                if kind == "call":
                    self._queue.pop(0)
                    await self._run(arg, [fut])
                    continue
                # take the run of consecutive persists, up to a bound, as one write
                n, total = 0, 0
                while n < len(self._queue) and self._queue[n][0] == "persist":
                    total += len(self._queue[n][1][1])
                    if n and total > MAX_MERGED_ENTRIES:
                        break
                    n += 1
                group = self._queue[:n]
                try:
                    hs, ents = merge_batches([g[1] for g in group])
                except _CannotMerge:
                    group = group[:1]
                    hs, ents = group[0][1]
                del self._queue[: len(group)]
                write = functools.partial(self._storage.persist, hs, ents)
                await self._run(write, [g[2] for g in group])
        finally:
            self._running = False

    async def _run(self, fn: Callable[[], Any], futs: list[asyncio.Future]) -> None:
        try:
            result = await self._disk.submit(fn)
        except Exception as exc:  # handed to every waiter of this write
            for f in futs:
                if not f.done():
                    f.set_exception(exc)
            return
        for f in futs:
            if not f.done():
                f.set_result(result if len(futs) == 1 else None)

    async def close(self) -> None:
        """Finish queued work, then stop the thread (the storage itself stays open)."""
        if self._closed:
            return
        await self._submit("call", lambda: None)  # queued last: resolves after all earlier work
        self._closed = True
        self._disk.shutdown()
