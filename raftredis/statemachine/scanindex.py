"""A SCAN order over the keyspace that survives inserts and deletes.

Keys are ordered by CRC32 of the key (ties by the key bytes), and the cursor is the
next CRC value still to visit, plus one (so 0 means "start" and "done"). Because a
key's place in that order never changes, a key present for a whole scan is returned
exactly once, whatever else is added or removed meanwhile, and the cursor means the
same on every replica (CRC32, unlike hash(), is not salted per process).

The order is kept in 4096 buckets by the CRC's top 12 bits, each a list sorted by
(crc, key), with a Fenwick tree over the bucket sizes for positional picks (`at`).
Why buckets and not one sorted container: building the index for a million keys
must not be one long C call (a sort with a C key function holds the GIL for a second
or more, and the node's keep-alive thread needs the GIL to vouch for the busy loop);
here the build is Python loops and small sorts, which hand the GIL over every few
milliseconds, and each insert or delete touches one short list.

The index is built on the first SCAN (or random pick) only and kept up to date by
the keyspace from then on.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterable

CURSOR_LIMIT = 1 << 32  # cursors run from 1 to 2**32 (crc + 1)
_SHIFT = 20  # 32-bit CRC >> 20: 4096 buckets
_BUCKETS = 1 << (32 - _SHIFT)


def _order(key: bytes) -> tuple[int, bytes]:
    return zlib.crc32(key), key


class ScanIndex:
    __slots__ = ("_buckets", "_tree", "_len")

    def __init__(self, keys: Iterable[bytes]) -> None:
        buckets: list[list[bytes]] = [[] for _ in range(_BUCKETS)]
        crc = zlib.crc32
        n = 0
        for k in keys:
            buckets[crc(k) >> _SHIFT].append(k)
            n += 1
        for b in buckets:
            if len(b) > 1:
                b.sort(key=_order)
        self._buckets = buckets
        self._len = n
        # Fenwick tree over bucket sizes (1-based).
        tree = [0] * (_BUCKETS + 1)
        for i, b in enumerate(buckets, 1):
            tree[i] += len(b)
            j = i + (i & -i)
            if j <= _BUCKETS:
                tree[j] += tree[i]
        self._tree = tree

    def _bump(self, bucket: int, delta: int) -> None:
        tree = self._tree
        i = bucket + 1
        while i <= _BUCKETS:
            tree[i] += delta
            i += i & -i

    def add(self, key: bytes) -> None:
        c = zlib.crc32(key)
        b = self._buckets[c >> _SHIFT]
        t = (c, key)
        i = bisect.bisect_left(b, t, key=_order)
        if i < len(b) and b[i] == key:
            return
        b.insert(i, key)
        self._len += 1
        self._bump(c >> _SHIFT, 1)

    def discard(self, key: bytes) -> None:
        c = zlib.crc32(key)
        b = self._buckets[c >> _SHIFT]
        i = bisect.bisect_left(b, (c, key), key=_order)
        if i < len(b) and b[i] == key:
            del b[i]
            self._len -= 1
            self._bump(c >> _SHIFT, -1)

    def __len__(self) -> int:
        return self._len

    def batch(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """About `count` keys from `cursor` on, never splitting keys of equal CRC, and
        the next cursor (0 when the end is reached)."""
        if cursor >= CURSOR_LIMIT + 1:
            return 0, []
        start_crc = cursor - 1 if cursor > 0 else 0
        crc = zlib.crc32
        out: list[bytes] = []
        last_crc = -1
        bi = start_crc >> _SHIFT
        i = bisect.bisect_left(self._buckets[bi], (start_crc, b""), key=_order)
        while bi < _BUCKETS:
            b = self._buckets[bi]
            while i < len(b):
                k = b[i]
                c = crc(k)
                if len(out) >= count and c != last_crc:
                    return c + 1, out
                out.append(k)
                last_crc = c
                i += 1
            bi += 1
            i = 0
        return 0, out

    def at(self, i: int) -> bytes:
        """The key at position i of the CRC order (random picks for eviction)."""
        if not 0 <= i < self._len:
            raise IndexError(i)
        tree = self._tree
        pos, step = 0, _BUCKETS
        while step:  # the last bucket whose prefix count is <= i
            nxt = pos + step
            if nxt <= _BUCKETS and tree[nxt] <= i:
                pos = nxt
                i -= tree[nxt]
            step >>= 1
        return self._buckets[pos][i]
