"""Access statistics per key: an LRU clock or an LFU counter, as Redis keeps in its
24-bit object field, for the leader's eviction choices and OBJECT IDLETIME / FREQ.

They are not replicated state: they change where commands are served (reads on the
leader, READONLY reads on a follower, and every applied write on every node), no
decision of a replica depends on them, and only the leader's shape what it proposes
for eviction. A new leader starts from its own figures (fed by the writes it applied
as a follower), so after a failover the ranking is fresh: documented in README.

An entry is an int in db.access: >= 0 is an LRU reading (the time in 100 ms ticks),
< 0 an LFU one, -1 - (minutes << 8 | counter) with Redis's 16-bit minute clock, so a
reading of the other kind (the policy changed) is recognised and started afresh.
"""

from __future__ import annotations

import random
from typing import Any

from raftredis.statemachine.memory import MemoryPolicy

LRU_TICK_MS = 100
LFU_INIT_VAL = 5  # Redis's LFU_INIT_VAL: a new key is not the first to go
_MINUTES = 1 << 16


class AccessClock:
    """Turns accesses into db.access readings under the current policy. One int object
    per LRU tick (and per LFU value of the current minute) is shared by every key read
    in it, so the readings cost a dict slot per key, not an int object too. (Those shared
    objects are typed `object`: compiled, an `int` field is a machine integer, boxed into
    a new int object at every store, 32 bytes per key and a free of the one it replaced.)"""

    __slots__ = ("policy", "_rng", "_tick", "_tick_obj", "_lfu_minute", "_lfu_objs",
                 "_seen", "_lfu")

    def __init__(self, policy: MemoryPolicy) -> None:
        self.policy = policy
        # Counter increments are probabilistic as in Redis; not replicated, so any
        # generator will do (owned here, never the global one).
        self._rng = random.Random(0x1F)
        self._tick = -1
        self._tick_obj: object = 0
        self._lfu_minute = -1
        self._lfu_objs: dict[int, object] = {}
        self._seen = ""  # the policy name `_lfu` was derived from (touch runs per access)
        self._lfu = False

    def touch(self, access: dict[bytes, Any], key: bytes, now_ms: int) -> None:
        # (values Any: the shared reading objects are stored as they are, not re-boxed)
        name = self.policy.policy
        if name is not self._seen:
            self._seen, self._lfu = name, name.endswith("-lfu")
        if self._lfu:
            access[key] = self._lfu_value(self._lfu_next(access.get(key), now_ms), now_ms)
        else:
            tick = now_ms // LRU_TICK_MS
            if tick != self._tick:
                self._tick, self._tick_obj = tick, tick
            access[key] = self._tick_obj

    # ---- LRU ------------------------------------------------------------------------------
    @staticmethod
    def idle_ms(reading: int | None, now_ms: int) -> int:
        """Milliseconds since the last access (an LFU or missing reading: as old as can be,
        so a key with no LRU reading is the first candidate)."""
        if reading is None or reading < 0:
            return now_ms
        return max(0, now_ms - reading * LRU_TICK_MS)

    # ---- LFU ------------------------------------------------------------------------------
    def freq(self, reading: int | None, now_ms: int) -> int:
        """The counter after decay (Redis's LFUDecrAndReturn); no LFU reading: LFU_INIT_VAL."""
        if reading is None or reading >= 0:
            return LFU_INIT_VAL
        packed = -1 - reading
        counter, minute = packed & 0xFF, packed >> 8
        decay = self.policy.lfu_decay_time
        if decay <= 0:
            return counter
        elapsed = (now_ms // 60_000 - minute) % _MINUTES
        return max(0, counter - elapsed // decay)

    def _lfu_next(self, reading: int | None, now_ms: int) -> int:
        if reading is None or reading >= 0:
            return LFU_INIT_VAL
        counter = self.freq(reading, now_ms)
        if counter < 255:  # Redis's LFULogIncr
            base = max(0, counter - LFU_INIT_VAL)
            if self._rng.random() < 1.0 / (base * self.policy.lfu_log_factor + 1):
                counter += 1
        return counter

    def _lfu_value(self, counter: int, now_ms: int) -> object:
        minute = (now_ms // 60_000) % _MINUTES
        if minute != self._lfu_minute:
            self._lfu_minute, self._lfu_objs = minute, {}
        obj = self._lfu_objs.get(counter)
        if obj is None:
            # (read back: compiled, `obj` would be narrowed to int, kept unboxed, and
            # boxed anew for the table and for the caller)
            self._lfu_objs[counter] = -1 - ((minute << 8) | counter)
            obj = self._lfu_objs[counter]
        return obj
