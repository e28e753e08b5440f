"""Codec micro-benchmark: `python3 -m raftredis.transport.bench [entries] [data_bytes]`.

Prints entries/second for encoding an Append (first time, and again for a second
follower from the entries cache) and for decoding it. Best of several runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from raftredis.raft.messages import Append
from raftredis.raft.types import Entry
from raftredis.transport.codec import Encoder, decode


def _best(fn: Callable[[], object], reps: int, rounds: int = 7) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, time.perf_counter() - t)
    return best / reps


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 500
    size = int(argv[1]) if len(argv) > 1 else 100
    entries = tuple(Entry(5, 1000 + i, data=b"x" * size) for i in range(n))
    enc = Encoder()

    def fresh() -> None:
        # A new tuple each time: what a leader does for each new batch of proposals.
        enc.encode(Append(1, 2, 5, 999, 5, tuple(list(entries)), 1000))

    raw = enc.encode(Append(1, 2, 5, 999, 5, entries, 1000))
    reps = max(1, 20000 // n)
    for label, fn in (
        ("encode (new tuple)", fresh),
        ("encode (cached, next follower)", lambda: enc.encode(Append(1, 3, 5, 999, 5,
                                                                     entries, 1000))),
        ("decode", lambda: decode(raw)),
    ):
        per = _best(fn, reps)
        print(f"{label:32s} {n / per:>14,.0f} entries/s  {per * 1e6:9.1f} us per Append")
    print(f"Append of {n} entries x {size} B = {len(raw):,} bytes on the wire")


if __name__ == "__main__":
    main(sys.argv[1:])
