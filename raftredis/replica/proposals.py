"""Proposals: client writes from the moment they arrive until their answer.

Writes that arrive while the Ready loop is busy wait in a batch; each loop turn cuts
the batch into entries (bounded in bytes and operations) and proposes them. Every
proposed entry keeps the futures of its commands until that index is applied, and
each future gets exactly one honest answer:

- the reply, when our entry (same index AND term) was applied;
- TRYAGAIN (not applied), when the command was never logged, or its entry was
  replaced by another leader's: safe to retry;
- UNCERTAIN, when we lost leadership after logging it and could not learn the
  outcome within the wait (or a snapshot folded its index in).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple, Protocol

from raftredis.raft.core import NotLeaderError, ProposalDroppedError, RaftCore
from raftredis.replica import ops as logops
from raftredis.replica.clock import Clock, EntryClock
from raftredis.reply import NULL_ARRAY, Error

# Never proposed, or proposed and then overwritten by another leader's entry: safe to retry.
NOT_APPLIED = Error("TRYAGAIN Not applied: leadership changed before the command was logged, retry")
OVERWRITTEN = Error("TRYAGAIN Not applied: the entry was replaced by a new leader's log, retry")
# Proposed by a leader that lost leadership before learning the outcome.
UNCERTAIN = Error(
    "UNCERTAIN The command may or may not have been applied: leadership was lost before it "
    "committed"
)
WATCHED_EXEC = -1  # batch-only kind, never logged


class WatchedExec(NamedTuple):
    """An EXEC under WATCH, decided on the leader right before it would be logged: it
    logs the inner MULTI, or nothing (EXEC answers null) if a watched key changed."""

    kind: int
    marks: dict
    multi: logops.Multi

    def size(self) -> int:
        return self.multi.size()


class WatchJudge(Protocol):
    def log_applied_to_end(self) -> bool:
        """Every entry in our log is applied: WATCH marks can be judged now."""
        ...

    def broken(self, marks: dict, stamp: int) -> bool: ...


class Proposal:
    __slots__ = ("term", "futures", "ops", "uncertain_since")

    def __init__(self, term: int, futures: list[asyncio.Future | None], ops: list) -> None:
        self.term = term
        self.futures = futures
        self.ops = ops  # what was encoded into the entry: the leader need not decode it
        self.uncertain_since: float | None = None


def resolve_all(futs, reply: object) -> None:
    for fut in futs:
        if fut is not None and not fut.done():
            fut.set_result(reply)


class Proposals:
    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Clock, stamps: EntryClock,
                 wake: Callable[[], None],
                 on_not_logged: Callable[[list], None] = lambda ops: None) -> None:
        self._loop = loop
        self._clock = clock
        self._stamps = stamps
        self._wake = wake
        self._on_not_logged = on_not_logged
        self._ops: list = []
        self._futs: list[asyncio.Future | None] = []
        self._bytes = 0
        self._watched = 0  # WatchedExec ops in the batch
        self._pending: dict[int, Proposal] = {}
        self.proposed_ops = 0
        self.proposed_entries = 0
        # Client operations answered from their committed entry, and those answered with
        # an error instead, by reason (metrics: raftredis_raft_proposals_*).
        self.committed_ops = 0
        self.outcomes: dict[str, int] = {"not_applied": 0, "overwritten": 0, "uncertain": 0}

    def _failed(self, reason: str, futs) -> None:
        self.outcomes[reason] += sum(1 for f in futs if f is not None and not f.done())

    # ------------------------------------------------------------------ intake
    def submit_command(self, args: list[bytes]) -> asyncio.Future:
        """One client write command. Too big for one peer frame: refused at once."""
        fut = self._loop.create_future()
        size = sum(map(len, args))
        if size > logops.MAX_COMMAND_BYTES:
            fut.set_result(_too_large(size))
            return fut
        self._ops.append(logops.Command(logops.OpKind.COMMAND, args))
        self._futs.append(fut)
        self._bytes += 16 + size + 5 * len(args)  # as Command.size() counts
        self._wake()
        return fut

    def submit(self, op, with_future: bool = True) -> asyncio.Future | None:
        """Any other operation (MULTI, WatchedExec, expiry, CONFIG)."""
        fut = self._loop.create_future() if with_future else None
        size = op.size()
        if size > logops.MAX_COMMAND_BYTES:
            if fut is not None:
                fut.set_result(_too_large(size))
            self._on_not_logged([op])
            return fut
        self._ops.append(op)
        self._futs.append(fut)
        self._bytes += size
        if op.kind == WATCHED_EXEC:
            self._watched += 1
        self._wake()
        return fut

    @property
    def batched(self) -> bool:
        return bool(self._ops)

    @property
    def watched_exec_waiting(self) -> bool:
        return self._watched > 0

    def in_flight(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------------ proposing
    def flush(self, core: RaftCore, leader: bool, judge: WatchJudge) -> None:
        """Propose the batch as entries (called by the Ready loop between Readys)."""
        if not self._ops:
            return
        ops, futs, batch_bytes, watched = self._ops, self._futs, self._bytes, self._watched
        self._ops, self._futs, self._bytes, self._watched = [], [], 0, 0
        if not leader:
            self._failed("not_applied", futs)
            resolve_all(futs, NOT_APPLIED)
            self._on_not_logged(ops)
            return
        if watched:
            ops, futs = self._decide_watched(ops, futs, judge)
            if not ops:
                return
            batch_bytes = -1  # sizes must be counted again
        self._propose(core, ops, futs, batch_bytes)

    def _decide_watched(self, ops: list, futs: list, judge: WatchJudge) -> tuple[list, list]:
        """An EXEC under WATCH needs every earlier entry applied, so it and everything
        behind it (same order as sent) wait until the log is applied to its end."""
        out_ops: list = []
        out_futs: list = []
        for i, op in enumerate(ops):
            if op.kind != WATCHED_EXEC:
                out_ops.append(op)
                out_futs.append(futs[i])
                continue
            if out_ops or not judge.log_applied_to_end():
                held = ops[i:]
                self._ops = held + self._ops
                self._futs = futs[i:] + self._futs
                self._bytes += sum(o.size() for o in held)
                self._watched += sum(1 for o in held if o.kind == WATCHED_EXEC)
                break
            if judge.broken(op.marks, self._stamps.now()):
                fut = futs[i]
                if fut is not None and not fut.done():
                    fut.set_result(NULL_ARRAY)  # EXEC's null reply: the transaction aborted
                continue
            out_ops.append(op.multi)
            out_futs.append(futs[i])
        return out_ops, out_futs

    def _propose(self, core: RaftCore, ops: list, futs: list, batch_bytes: int) -> None:
        max_bytes, max_ops = logops.MAX_ENTRY_BYTES, logops.MAX_OPS_PER_ENTRY
        n = len(ops)
        # The common case: the whole batch fits one entry, no need to size each op.
        small = 0 <= batch_bytes <= max_bytes and n <= max_ops
        start = 0
        while start < n:
            end, size = (n, 0) if small else (start, 0)
            while end < n and end - start < max_ops:
                op_size = ops[end].size()
                if end > start and size + op_size > max_bytes:
                    break
                size += op_size
                end += 1
            chunk_ops, chunk_futs = ops[start:end], futs[start:end]
            start = end
            stamp = self._stamps.now()
            data = logops.encode_entry(stamp, chunk_ops)
            try:
                index, term = core.propose(data)
            except (NotLeaderError, ProposalDroppedError):
                self._failed("not_applied", chunk_futs)
                resolve_all(chunk_futs, NOT_APPLIED)
                self._on_not_logged(chunk_ops)
                continue
            self._stamps.note_logged(stamp)
            self.proposed_ops += len(chunk_ops)
            self.proposed_entries += 1
            # A record left at this index is a proposal of an earlier term of ours whose
            # entry a later leader truncated: it never committed, and nothing else would
            # ever answer its clients once it is replaced.
            stale = self._pending.pop(index, None)
            if stale is not None:
                self._failed("overwritten", stale.futures)
                resolve_all(stale.futures, OVERWRITTEN)
            if any(f is not None for f in chunk_futs):
                self._pending[index] = Proposal(term, chunk_futs, chunk_ops)

    # ------------------------------------------------------------------ answers
    def claim(self, index: int) -> Proposal | None:
        """The proposal made at `index`, taken off the books (the entry is applied)."""
        return self._pending.pop(index, None) if self._pending else None

    def settled(self, prop: Proposal, term: int, replies: list | None) -> None:
        """Counts what answer() is about to tell the proposal's clients."""
        if prop.term == term and replies is not None:
            self.committed_ops += sum(1 for f in prop.futures if f is not None and not f.done())
        else:
            self._failed("overwritten", prop.futures)

    @staticmethod
    def answer(prop: Proposal, term: int, replies: list | None) -> None:
        """Our proposal's index was applied with an entry of `term`."""
        if prop.term == term and replies is not None:
            for fut, reply in zip(prop.futures, replies, strict=False):
                if fut is not None and not fut.done():
                    fut.set_result(reply)
        else:
            resolve_all(prop.futures, OVERWRITTEN)

    def lost_leadership(self) -> None:
        """Outcomes of what we logged are now in doubt; wait a while to learn them."""
        now = self._clock.monotonic()
        for prop in self._pending.values():
            if prop.uncertain_since is None:
                prop.uncertain_since = now

    def expire_uncertain(self, wait_s: float) -> None:
        limit = self._clock.monotonic() - wait_s
        for index in [i for i, p in self._pending.items()
                      if p.uncertain_since is not None and p.uncertain_since < limit]:
            futs = self._pending.pop(index).futures
            self._failed("uncertain", futs)
            resolve_all(futs, UNCERTAIN)

    def snapshot_installed(self, index: int) -> None:
        """Our proposals at or below a received snapshot's index: their fate is unknown."""
        for i in [i for i in self._pending if i <= index]:
            futs = self._pending.pop(i).futures
            self._failed("uncertain", futs)
            resolve_all(futs, UNCERTAIN)

    def fail_all(self, reply: object) -> None:
        resolve_all(self._futs, reply)
        self._on_not_logged(self._ops)
        self._ops, self._futs, self._bytes, self._watched = [], [], 0, 0
        for prop in self._pending.values():
            self._failed("uncertain", prop.futures)
            resolve_all(prop.futures, UNCERTAIN)
        self._pending.clear()


def _too_large(size: int) -> Error:
    return Error(f"ERR command too large for the replicated log ({size} bytes;"
                 f" the limit is {logops.MAX_COMMAND_BYTES})")
