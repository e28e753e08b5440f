"""Pieces shared by the container families (hashes, lists, sets, sorted sets).

Determinism matters here: Python's `set` iterates in an order salted per process,
so containers are built on dicts (insertion-ordered, the same on every replica) and
random picks index into that order with the entry's generator.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from raftredis.reply import SYNTAX_ERR, CommandError, Error
from raftredis.statemachine.errors import INVALID_CURSOR, fail
from raftredis.statemachine.glob import compile_glob
from raftredis.statemachine.parse import INT64_MIN, parse_int
from raftredis.statemachine.scanindex import ScanIndex

# Containers this small come back whole from one *SCAN call with cursor 0, as Redis
# does for its listpack encoding; bigger ones get a CRC-ordered index on first scan.
SCAN_ALL_LIMIT = 128
SCAN_COUNT_LIMIT = 100_000  # work per *SCAN call, whatever COUNT says
# Random replies (SRANDMEMBER/HRANDFIELD with a negative count) may repeat elements,
# so their length is not bounded by the container: cap it.
MAX_RANDOM_COUNT = 1 << 24
OUT_OF_RANGE = Error("ERR value is out of range")
MUST_BE_POSITIVE = Error("ERR value is out of range, must be positive")
_UINT64_MAX = (1 << 64) - 1


class IndexedDict(dict):
    """A dict that may carry a lazily built scan index (large HSCAN/SSCAN only).

    Every code path that adds or removes keys goes through `add_key`/`drop_key`
    below so the index, once built, stays exact."""

    __slots__ = ("scan",)


def add_key(d: IndexedDict, key: bytes) -> None:
    idx = getattr(d, "scan", None)
    if idx is not None:
        idx.add(key)


def drop_key(d: IndexedDict, key: bytes) -> None:
    idx = getattr(d, "scan", None)
    if idx is not None:
        idx.discard(key)


# ---- argument parsing ---------------------------------------------------------------------


def parse_positive_count(arg: bytes) -> int:
    """LPOP/SPOP/ZPOPMIN count: a non-negative int64, with Redis's own error text."""
    try:
        n = parse_int(arg)
    except CommandError:
        raise fail(MUST_BE_POSITIVE) from None
    if n < 0:
        raise fail(MUST_BE_POSITIVE)
    return n


def parse_random_count(arg: bytes) -> int:
    """SRANDMEMBER/HRANDFIELD count: any int64 but LONG_MIN, bounded in magnitude."""
    n = parse_int(arg)
    if n == INT64_MIN or abs(n) > MAX_RANDOM_COUNT:
        raise fail(OUT_OF_RANGE)
    return n


def parse_scan_args(args: list[bytes], start: int) -> tuple[int, int, Callable[[bytes], bool] | None, bool]:
    """`cursor [MATCH pat] [COUNT n] [NOVALUES]` from args[start]:
    (cursor, count, matcher or None, novalues)."""
    cur = args[start]
    if not cur.isdigit() or len(cur) > 20 or int(cur) > _UINT64_MAX:
        raise fail(INVALID_CURSOR)
    count = 10
    match = None
    novalues = False
    i = start + 1
    while i < len(args):
        opt = args[i].upper()
        if opt == b"NOVALUES":
            novalues = True
            i += 1
            continue
        if i + 1 >= len(args):
            raise fail(SYNTAX_ERR)
        if opt == b"COUNT":
            count = parse_int(args[i + 1])
            if count < 1:
                raise fail(SYNTAX_ERR)
        elif opt == b"MATCH":
            match = None if args[i + 1] == b"*" else compile_glob(args[i + 1])
        else:
            raise fail(SYNTAX_ERR)
        i += 2
    return int(cur), min(count, SCAN_COUNT_LIMIT), match, novalues


def scan_batch(d: IndexedDict, cursor: int, count: int,
               compact: bool | None = None) -> tuple[int, list[bytes]]:
    """The keys of d for one scan step and the next cursor (0 when done). A `compact`
    container (what Redis holds as a listpack or an intset) comes back whole whatever
    the cursor and COUNT, as Redis returns those; without the flag, small ones do.

    A key present for a whole scan is returned exactly once: the index orders keys by
    CRC32, which neither inserts nor deletes change, and means the same everywhere."""
    if compact if compact is not None else len(d) <= SCAN_ALL_LIMIT:
        return 0, list(d)
    idx = getattr(d, "scan", None)
    if idx is None:
        idx = ScanIndex(d)
        d.scan = idx
    return idx.batch(cursor, count)


# ---- deterministic random picks -----------------------------------------------------------


def nth(items: Iterable[bytes], i: int) -> bytes:
    return next(islice(items, i, None))


def pick_distinct(d: dict, count: int, rng: random.Random) -> list[bytes]:
    """`count` (< len(d)) distinct keys of d in random order, in one pass over d."""
    n = len(d)
    chosen = rng.sample(range(n), count)
    want = sorted(chosen)
    found: dict[int, bytes] = {}
    it: Iterator[bytes] = iter(d)
    pos = 0
    for target in want:
        found[target] = next(islice(it, target - pos, None))
        pos = target + 1
    return [found[i] for i in chosen]


def pick_repeating(d: dict, count: int, rng: random.Random) -> list[bytes]:
    """`count` keys of d picked independently (repeats allowed)."""
    keys = list(d)
    n = len(keys)
    return [keys[rng.randrange(n)] for _ in range(count)]
