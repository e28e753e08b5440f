"""A SCAN order over the keyspace that survives inserts and deletes.

Keys are ordered by CRC32 of the key (ties by the key bytes), and the cursor is the
next CRC value still to visit, plus one (so 0 means "start" and "done"). Because a
key's place in that order never changes, a key present for a whole scan is returned
exactly once, whatever else is added or removed meanwhile, and the cursor means the
same on every replica (CRC32, unlike hash(), is not salted per process).

The index costs ~50 bytes per key, so it is built on the first SCAN only and kept
up to date by the keyspace from then on.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from sortedcontainers import SortedKeyList

CURSOR_LIMIT = 1 << 32  # cursors run from 1 to 2**32 (crc + 1)


class ScanIndex:
    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[bytes]) -> None:
        self._keys = SortedKeyList(keys, key=zlib.crc32)

    def add(self, key: bytes) -> None:
        self._keys.add(key)

    def discard(self, key: bytes) -> None:
        self._keys.discard(key)

    def __len__(self) -> int:
        return len(self._keys)

    def batch(self, cursor: int, count: int) -> tuple[int, list[bytes]]:
        """About `count` keys from `cursor` on, never splitting keys of equal CRC, and
        the next cursor (0 when the end is reached)."""
        if cursor >= CURSOR_LIMIT + 1:
            return 0, []
        start_crc = cursor - 1 if cursor > 0 else 0
        sk = self._keys
        i = sk.bisect_key_left(start_crc)
        n = len(sk)
        out: list[bytes] = []
        while i < n and len(out) < count:
            crc = zlib.crc32(sk[i])
            j = sk.bisect_key_right(crc)
            group = list(sk.islice(i, j))
            if len(group) > 1:
                group.sort()  # insertion order may differ between replicas; bytes order does not
            out.extend(group)
            i = j
        if i >= n:
            return 0, out
        return zlib.crc32(sk[i]) + 1, out

    def at(self, i: int) -> bytes:
        """The key at position i of the CRC order (random picks for eviction)."""
        return self._keys[i]
