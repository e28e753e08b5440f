"""The keyspace: keys, values and TTL deadlines, with deterministic expiry.

`data` maps key -> value (a string is a bare `bytes`). `expires` maps key -> absolute
deadline in ms, only for keys that have one, and `_deadlines` keeps (deadline, key)
sorted so the leader can find expired keys without scanning everything.

A key whose deadline <= now is *logically* missing: `get` hides it without touching
anything (reads must not mutate), and writes remove it first (`get_for_write`).
Only writes and `expire_keys` (the leader's proposed deletes) remove keys, so every
replica changes state only through the log.

Family modules use this API only: reading `data`/`expires` directly is fine, but keys
must be added and removed through `set`/`put`/`delete` so the indexes stay right.

Memory accounting (see memory.py) is kept incrementally: before a key may change (set,
put, fetched for a write, its TTL changed) it is marked with the figure `used` counts
for it, and `settle()`, which the machine calls after each command, re-estimates only
the marked keys; `delete` takes a key's counted figure off at once. Between commands
`used` is the sum of `key_size` over the keyspace, whatever writes led there; no
per-key figure is stored (a dict slot per key would cost a sixth of a small key).
`access` holds each key's LRU/LFU reading (access.py); deletes drop it here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import islice

from sortedcontainers import SortedList

from raftredis.statemachine.access import AccessClock
from raftredis.statemachine.lazyfree import LazyFree
from raftredis.statemachine.memory import MemoryPolicy, key_size
from raftredis.statemachine.scanindex import ScanIndex
from raftredis.statemachine.values import wrongtype


class Keyspace:
    __slots__ = ("data", "expires", "_deadlines", "_scan", "raw", "used", "_dirty",
                 "access", "clock", "expired_count", "lazy")

    def __init__(self) -> None:
        self.data: dict[bytes, object] = {}
        self.expires: dict[bytes, int] = {}
        self._deadlines: SortedList = SortedList()
        self._scan: ScanIndex | None = None
        # Strings changed in place (APPEND, SETRANGE, SETBIT, ...), which OBJECT ENCODING
        # reports as "raw" whatever their length, as Redis does. Any new value clears the
        # mark; it is not snapshotted (a restore re-encodes, as Redis's RDB load does).
        self.raw: set[bytes] = set()
        self.used = 0  # the sum of key_size over the keys (between commands)
        # Keys to re-estimate at the next settle -> the figure `used` counts for them now.
        self._dirty: dict[bytes, int] = {}
        self.access: dict[bytes, int] = {}  # key -> LRU/LFU reading (not replicated)
        self.clock = AccessClock(MemoryPolicy())  # turns accesses into readings
        self.expired_count = 0  # keys removed because their deadline passed (INFO)
        self.lazy = LazyFree()  # frees removed big values off the event loop

    def __len__(self) -> int:
        return len(self.data)

    # ---- lookups ------------------------------------------------------------------------
    def get(self, key: bytes, now: int) -> object | None:
        """The live value of key, or None if missing or expired. Never mutates."""
        v = self.data.get(key)
        if v is not None and self.expires:
            d = self.expires.get(key)
            if d is not None and d <= now:
                return None
        return v

    def get_for_write(self, key: bytes, now: int) -> object | None:
        """Like get, but an expired key is deleted first so the caller starts fresh."""
        v = self.data.get(key)
        if v is not None and self.expires:
            d = self.expires.get(key)
            if d is not None and d <= now:
                self.delete(key)
                self.expired_count += 1
                return None
        if v is not None and type(v) is not bytes and key not in self._dirty:
            self._mark(key)  # the caller may change it in place (a string cannot be)
        return v

    def get_typed(self, key: bytes, now: int, pytype: type, write: bool = False) -> object | None:
        """The live value if it is of `pytype`; None if missing; WRONGTYPE otherwise."""
        v = self.get_for_write(key, now) if write else self.get(key, now)
        if v is not None and type(v) is not pytype:
            raise wrongtype()
        return v

    def exists(self, key: bytes, now: int) -> bool:
        return self.get(key, now) is not None

    def is_expired(self, key: bytes, now: int) -> bool:
        d = self.expires.get(key)
        return d is not None and d <= now

    def deadline(self, key: bytes) -> int | None:
        return self.expires.get(key)

    # ---- writes -------------------------------------------------------------------------
    def set(self, key: bytes, value: object) -> None:
        """Store value under key and drop any TTL (SET semantics)."""
        data = self.data
        if key not in self._dirty:
            old = data.get(key)
            if type(value) is bytes and (old is None or type(old) is bytes):
                # A string over a string or nothing: both immutable, so the change in
                # `used` is known now and settle has nothing to do (SET drops the TTL).
                self.used += key_size(key, value, False) - (
                    0 if old is None else key_size(key, old, key in self.expires))  # type: ignore[arg-type]
            else:
                self._mark(key)
        if key in data:
            if key in self.expires:
                self._drop_deadline(key)
        elif self._scan is not None:
            self._scan.add(key)
        if self.raw:
            self.raw.discard(key)
        data[key] = value

    def put(self, key: bytes, value: object) -> None:
        """Store value under key keeping any TTL (APPEND, INCR, SETRANGE semantics).
        Callers use get_for_write first so an expired key's TTL does not carry over."""
        data = self.data
        if key not in self._dirty:
            self._mark(key)
        if key not in data and self._scan is not None:
            self._scan.add(key)
        if self.raw:
            self.raw.discard(key)
        data[key] = value

    def put_raw(self, key: bytes, value: bytes) -> None:
        """put() for a string changed in place: OBJECT ENCODING says raw."""
        self.put(key, value)
        self.raw.add(key)

    def delete(self, key: bytes) -> bool:
        """Remove key (expired or not); True if it was there."""
        data = self.data
        if key not in data:
            return False
        dirty = self._dirty
        self.used -= dirty.pop(key) if key in dirty else \
            key_size(key, data[key], key in self.expires)
        self.lazy.discard(data.pop(key))
        if key in self.expires:
            self._drop_deadline(key)
        if self._scan is not None:
            self._scan.discard(key)
        if self.raw:
            self.raw.discard(key)
        self.access.pop(key, None)
        return True

    def set_deadline(self, key: bytes, deadline: int) -> None:
        """Give an existing key an absolute deadline in ms (replacing any earlier one)."""
        if key not in self._dirty:
            self._mark(key)
        old = self.expires.get(key)
        if old is not None:
            self._deadlines.remove((old, key))
        self.expires[key] = deadline
        self._deadlines.add((deadline, key))

    def persist(self, key: bytes) -> bool:
        """Drop key's TTL; True if it had one."""
        if key not in self.expires:
            return False
        if key not in self._dirty:
            self._mark(key)
        self._drop_deadline(key)
        return True

    def clear(self) -> None:
        lazy = self.lazy
        for big in (self.data, self.expires, self._deadlines, self.access):
            lazy.discard(big)
        self.data = {}
        self.expires = {}
        self._deadlines = SortedList()
        self._scan = None
        self.raw = set()
        self.used = 0
        self._dirty = {}
        self.access = {}

    def _drop_deadline(self, key: bytes) -> None:
        d = self.expires.pop(key)
        self._deadlines.remove((d, key))

    # ---- expiry -------------------------------------------------------------------------
    def expired_keys(self, now: int, limit: int) -> list[bytes]:
        """Up to `limit` keys whose deadline <= now, earliest first. Never mutates."""
        out: list[bytes] = []
        for d, key in islice(self._deadlines, max(0, limit)):
            if d > now:
                break
            out.append(key)
        return out

    def expire_keys(self, keys: list[bytes], now: int) -> int:
        """Delete those of `keys` whose deadline <= now; a key re-set since keeps living."""
        n = 0
        for key in keys:
            d = self.expires.get(key)
            if d is not None and d <= now:
                self.delete(key)
                n += 1
        self.expired_count += n
        return n

    # ---- memory accounting --------------------------------------------------------------
    def touch(self, key: bytes, now: int) -> None:
        """Note an access to key (if it exists) in its LRU/LFU reading."""
        if key in self.data:
            self.clock.touch(self.access, key, now)

    def _mark(self, key: bytes) -> None:
        """Before key changes: remember the figure `used` counts for it (0 if absent)."""
        v = self.data.get(key)
        self._dirty[key] = 0 if v is None else key_size(key, v, key in self.expires)

    def settle(self) -> None:
        """Re-estimate the keys marked since the last settle (see the module's note)."""
        dirty = self._dirty
        if not dirty:
            return
        data, expires = self.data, self.expires
        used = self.used
        for key, counted in dirty.items():
            v = data.get(key)
            used += (0 if v is None else key_size(key, v, key in expires)) - counted
        self.used = used
        dirty.clear()  # (not a new dict per command)

    def size_of(self, key: bytes) -> int:
        """The figure `used` counts for key (0 if absent), between commands."""
        v = self.data.get(key)
        return 0 if v is None else key_size(key, v, key in self.expires)

    def recount(self) -> int:
        """The sum of key_size over every key, from scratch (restore, and tests)."""
        exp = self.expires
        return sum(key_size(k, v, k in exp) for k, v in self.data.items())

    # ---- eviction candidates (the leader's choice) --------------------------------------
    def random_keys(self, rng: random.Random, n: int, volatile: bool) -> list[bytes]:
        """Up to n keys picked at random (repeats possible): among keys with a TTL when
        `volatile`, else among all keys (which builds the scan index once)."""
        if volatile:
            dl = self._deadlines
            size = len(dl)
            return [dl[rng.randrange(size)][1] for _ in range(n)] if size else []
        idx = self.scan_index()
        size = len(idx)
        return [idx.at(rng.randrange(size)) for _ in range(n)] if size else []

    def keys_by_deadline(self) -> Iterator[bytes]:
        """Keys with a TTL, soonest deadline first (volatile-ttl). Do not change the
        keyspace while iterating."""
        return (k for _, k in self._deadlines)

    # ---- iteration ----------------------------------------------------------------------
    def scan_index(self) -> ScanIndex:
        if self._scan is None:
            self._scan = ScanIndex(self.data)
        return self._scan

    def live_keys(self, now: int) -> list[bytes]:
        """Every key not expired at `now`, in insertion order."""
        exp = self.expires
        if not exp:
            return list(self.data)
        return [k for k in self.data if (d := exp.get(k)) is None or d > now]

    def nth_key(self, index: int) -> bytes:
        """The key at position `index` in insertion order (O(n); RANDOMKEY only)."""
        return next(islice(self.data, index, None))

    # ---- restore ------------------------------------------------------------------------
    def load(self, data: dict[bytes, object], expires: dict[bytes, int]) -> None:
        """Replace everything at once (snapshot restore); inputs already validated."""
        self.data = data
        self.expires = expires
        self._deadlines = SortedList((d, k) for k, d in expires.items())
        self._scan = None
        self.raw = set()
        self.access = {}
        self._dirty = {}
        self.used = self.recount()
