"""Linearizable reads on the leader (ReadIndex, Raft §6.4).

Reads that arrive while the Ready loop is busy share one ReadIndex round. When the
core confirms leadership for a round it names the commit index the reads must see;
they are served once the applied index reaches it, never before. A round the core
drops (leadership lost) changed nothing, so its reads are routed again.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable, Iterable

from raftredis.raft.core import NotLeaderError, RaftCore
from raftredis.raft.types import ReadState
from raftredis.reply import Error

log = logging.getLogger("raftredis.replica")

Waiter = tuple[list[bytes], asyncio.Future]


class Reads:
    def __init__(self, loop: asyncio.AbstractEventLoop, wake: Callable[[], None],
                 reroute: Callable[[list[bytes], asyncio.Future], None],
                 applied: Callable[[], int], ctx_prefix: bytes = b"") -> None:
        self._loop = loop
        self._applied = applied
        self._observers: list[Callable[[int, int], None]] = []
        self._wake = wake
        self._reroute = reroute
        # Contexts are unique per incarnation, so an answer to a round of an earlier
        # life of this node can never release a read of this one.
        self._prefix = ctx_prefix
        self._batch: list[Waiter] = []
        self._seq = 0  # read rounds started (the context's number)
        self._order = 0  # tiebreak of confirmed rounds with the same index: FIFO
        self._waiting: dict[bytes, list[Waiter]] = {}
        self._ready: list[tuple[int, int, list[Waiter]]] = []  # (read index, seq, waiters)
        self.rounds = 0
        self.served = 0

    def submit(self, args: list[bytes]) -> asyncio.Future:
        fut = self._loop.create_future()
        self._batch.append((args, fut))
        self._wake()
        return fut

    def flush(self, core: RaftCore) -> None:
        """Start one ReadIndex round for every read batched since the last one."""
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        self._seq += 1
        ctx = self._prefix + self._seq.to_bytes(8, "big")
        try:
            core.read_index(ctx)
        except NotLeaderError:
            for args, fut in batch:
                self._reroute(args, fut)
            return
        self.rounds += 1
        self._waiting[ctx] = batch

    def confirmed(self, states: Iterable[ReadState]) -> None:
        for rs in states:
            waiters = self._waiting.pop(rs.ctx, None)
            if waiters:
                self._order += 1
                heapq.heappush(self._ready, (rs.index, self._order, waiters))

    def dropped(self, ctxs: Iterable[bytes]) -> None:
        for ctx in ctxs:
            for args, fut in self._waiting.pop(ctx, ()):
                self._reroute(args, fut)

    def observe(self, fn: Callable[[int, int], None]) -> None:
        """`fn(read_index, applied)` sees every release of confirmed reads (the
        simulator's checker: a read is answered only from a state at its index)."""
        self._observers.append(fn)

    def serve(self, now: Callable[[], int | None], read: Callable[[list[bytes], int], object],
              need_time: Callable[[], None] = lambda: None) -> None:
        """Answer every confirmed read whose index the applied index has reached, at the
        time `now()` gives; None from it means the log's time must advance first: the
        reads wait (and `need_time()` asks for a clock tick)."""
        ready = self._ready
        applied = self._applied()
        if not ready or ready[0][0] > applied:
            return
        t = now()
        if t is None:
            need_time()
            return
        while ready and ready[0][0] <= applied:
            index, _, waiters = heapq.heappop(ready)
            self._release(index, waiters, t, read)

    def _release(self, index: int, waiters: list[Waiter], now: int,
                 read: Callable[[list[bytes], int], object]) -> None:
        for fn in self._observers:
            fn(index, self._applied())
        self.served += len(waiters)
        for args, fut in waiters:
            if not fut.done():
                try:
                    fut.set_result(read(args, now))
                except Exception as exc:
                    log.exception("read failed")
                    fut.set_result(Error(f"ERR internal error: {type(exc).__name__}"))

    def fail_all(self, reply: object) -> None:
        groups = [self._batch, *self._waiting.values(), *(w for _, _, w in self._ready)]
        for waiters in groups:
            for _, fut in waiters:
                if not fut.done():
                    fut.set_result(reply)
        self._batch, self._waiting, self._ready = [], {}, []
