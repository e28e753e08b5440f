"""Transport micro-benchmarks.

    python3 -m raftredis.transport.bench [entries] [data_bytes]   # the codec
    python3 -m raftredis.transport.bench link [seconds]           # two PeerTransports

`codec` prints entries/second for encoding an Append (first time, and again for a
second follower from the entries cache) and for decoding it. Best of several runs.

`link` runs two PeerTransports on loopback in this one process and event loop (so the
figure is the whole cost, sender and receiver, of a message on one core) and prints
messages/s and payload MB/s for small heartbeats and for Appends carrying a 1 MiB
entry. Best of several rounds, since the machine may be shared.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable

from raftredis.raft.messages import Append, Heartbeat, Message
from raftredis.raft.types import Entry
from raftredis.transport.codec import Encoder, decode, encode


def _best(fn: Callable[[], object], reps: int, rounds: int = 7) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, time.perf_counter() - t)
    return best / reps


def codec(argv: list[str]) -> None:
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


async def _link_round(make: Callable[[int], Message], count: int, burst: int) -> float:
    """Seconds to carry `count` messages from node 1 to node 2, sent in bursts."""
    from raftredis.transport.peers import PeerTransport

    got = 0
    done = asyncio.Event()

    def sink(_msg: Message) -> None:
        nonlocal got
        got += 1
        if got >= target:
            done.set()

    secret = b"bench-secret-0123456789"
    # b knows node 1 (or it refuses it) but never sends; port 1 has no listener.
    b = PeerTransport(2, secret, "127.0.0.1", 0, {1: ("127.0.0.1", 1)}, sink, queue_limit=burst)
    await b.start()
    a = PeerTransport(1, secret, "127.0.0.1", 0, {2: ("127.0.0.1", b.listen_port)},
                      lambda _m: None, queue_limit=burst)
    await a.start()
    try:
        # Warm up (connect and handshake) outside the timed part.
        target = 1
        a.send(make(0))
        await asyncio.wait_for(done.wait(), 30)
        got = 0
        started = time.perf_counter()
        for k in range(0, count, burst):
            target = min(count, k + burst)
            done.clear()
            for i in range(k, target):
                a.send(make(i))
            await asyncio.wait_for(done.wait(), 60)
        return time.perf_counter() - started
    finally:
        await a.stop()
        await b.stop()


def link(argv: list[str]) -> None:
    logging.getLogger("raftredis.transport").setLevel(logging.ERROR)  # b's failed dials
    rounds = int(argv[0]) if argv else 5
    big = b"x" * (1 << 20)
    cases: list[tuple[str, Callable[[int], Message], int, int]] = [
        ("heartbeat", lambda i: Heartbeat(1, 2, 7, i, b"ctx"), 50_000, 4096),
        # One at a time, as a follower's heartbeats go: one write and one record each.
        ("heartbeat 1x1", lambda i: Heartbeat(1, 2, 7, i, b"ctx"), 5_000, 1),
        ("append 1 MiB", lambda i: Append(1, 2, 7, i, 7, (Entry(7, i + 1, data=big),), i),
         400, 32),
    ]
    for label, make, count, burst in cases:
        wire = len(encode(make(1)))
        best = min(asyncio.run(_link_round(make, count, burst)) for _ in range(rounds))
        print(f"{label:14s} {count / best:>11,.0f} msg/s  {count * wire / best / 1e6:9.1f} MB/s"
              f"  ({wire:,} B encoded, best of {rounds})")


def main(argv: list[str]) -> None:
    if argv and argv[0] == "link":
        link(argv[1:])
    else:
        codec(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
