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
"""

from __future__ import annotations

from itertools import islice

from sortedcontainers import SortedList

from raftredis.statemachine.scanindex import ScanIndex
from raftredis.statemachine.values import wrongtype


class Keyspace:
    __slots__ = ("data", "expires", "_deadlines", "_scan", "raw")

    def __init__(self) -> None:
        self.data: dict[bytes, object] = {}
        self.expires: dict[bytes, int] = {}
        self._deadlines: SortedList = SortedList()
        self._scan: ScanIndex | None = None
        # Strings changed in place (APPEND, SETRANGE, SETBIT, ...), which OBJECT ENCODING
        # reports as "raw" whatever their length, as Redis does. Any new value clears the
        # mark; it is not snapshotted (a restore re-encodes, as Redis's RDB load does).
        self.raw: set[bytes] = set()

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
                return None
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
        del data[key]
        if key in self.expires:
            self._drop_deadline(key)
        if self._scan is not None:
            self._scan.discard(key)
        if self.raw:
            self.raw.discard(key)
        return True

    def set_deadline(self, key: bytes, deadline: int) -> None:
        """Give an existing key an absolute deadline in ms (replacing any earlier one)."""
        old = self.expires.get(key)
        if old is not None:
            self._deadlines.remove((old, key))
        self.expires[key] = deadline
        self._deadlines.add((deadline, key))

    def persist(self, key: bytes) -> bool:
        """Drop key's TTL; True if it had one."""
        if key not in self.expires:
            return False
        self._drop_deadline(key)
        return True

    def clear(self) -> None:
        self.data = {}
        self.expires = {}
        self._deadlines = SortedList()
        self._scan = None
        self.raw = set()

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
        return n

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
