"""Known mutations of the replica group, applied at run time (monkeypatching: no broken
code in the tree), to measure the group simulator's teeth: each must be caught by some
default seed.

    python3 -m tests.sim.group_mutations            # every mutation, the default seeds
"""

from __future__ import annotations

import contextlib
import heapq
import sys
import time
from collections.abc import Callable, Iterator

from raftredis.replica import proposals as proposals_mod
from raftredis.replica import reads as reads_mod
from raftredis.reply import OK
from tests.sim.group_sim import SimFailure, run_group_seed


@contextlib.contextmanager
def answer_replaced_as_applied() -> Iterator[None]:
    """Answer a proposal as applied (OK) when its index was applied with another
    leader's entry, instead of TRYAGAIN."""
    real = proposals_mod.Proposals.answer

    def answer(prop, term, replies):  # type: ignore[no-untyped-def]
        if prop.term != term:
            replies = [OK] * len(prop.futures)
        real(prop, prop.term, replies)

    proposals_mod.Proposals.answer = staticmethod(answer)  # type: ignore[method-assign]
    try:
        yield
    finally:
        proposals_mod.Proposals.answer = staticmethod(real)  # type: ignore[method-assign]


@contextlib.contextmanager
def read_released_before_apply() -> Iterator[None]:
    """Release a read waiter as soon as its ReadIndex round is confirmed, before the
    applied index reaches the read index."""
    real = reads_mod.Reads.serve

    def serve(self, now, read, need_time=lambda: None):  # type: ignore[no-untyped-def]
        ready = self._ready
        if not ready:
            return
        t = now()
        if t is None:
            need_time()
            return
        while ready:  # the index check, gone
            index, _, waiters = heapq.heappop(ready)
            self._release(index, waiters, t, read)

    reads_mod.Reads.serve = serve  # type: ignore[method-assign]
    try:
        yield
    finally:
        reads_mod.Reads.serve = real  # type: ignore[method-assign]


# What the checkers that should catch each mutation say: a mutation "caught" by another
# failure (a crash from a stale patch, a liveness timeout) has no teeth. An OK for a
# replaced entry shows either in the reply a later command gets, or as an acknowledged
# write the committed log lacks; which comes first depends on message timing.
CAUGHT_BY: dict[str, tuple[str, ...]] = {
    "answer-replaced-as-applied": ("answered", "acknowledged writes not in the committed log"),
    "read-released-before-apply": ("released reads",),
}

MUTATIONS: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "answer-replaced-as-applied": answer_replaced_as_applied,
    "read-released-before-apply": read_released_before_apply,
}


def default_seeds(n: int = 300) -> list[tuple[int, int]]:
    """(seed, nodes): the default suite's seeds, 3 and 5 nodes alternating."""
    return [(s, 3 if s % 2 == 0 else 5) for s in range(n)]


def first_catch(mutation: str, seeds: list[tuple[int, int]]) -> tuple[int, int, str] | None:
    """The first (seed, nodes, checker message) that catches the mutation, or None."""
    with MUTATIONS[mutation]():
        for seed, nodes in seeds:
            try:
                run_group_seed(seed, nodes)
            except SimFailure as exc:
                return seed, nodes, str(exc).splitlines()[0]
    return None


def main() -> int:
    survived = 0
    for name in MUTATIONS:
        t0 = time.perf_counter()
        caught = first_catch(name, default_seeds())
        dt = time.perf_counter() - t0
        if caught is None:
            survived += 1
            print(f"SURVIVED {name} ({dt:.1f}s)")
        else:
            print(f"caught   {name} by seed {caught[0]} ({caught[1]} nodes, {dt:.1f}s): "
                  f"{caught[2]}")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
