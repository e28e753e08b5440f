"""Time for one replica group, injected so the simulator can drive it.

`Clock` is the only place the group reads time: wall milliseconds (to stamp log
entries) and a monotonic second count (timeouts, leader freshness). `EntryClock`
turns the wall clock into the log's time: a stamp for a new entry, or "now" for a
read, never goes below any stamp already in the log or applied, so TTL time never
runs backwards across leader changes or restarts.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall_ms(self) -> int: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class EntryClock:
    """The stamp floor: the newest stamp logged here and the newest stamp applied."""

    __slots__ = ("_clock", "max_stamp", "apply_clock")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.max_stamp = 0  # the newest stamp anywhere in our log
        self.apply_clock = 0  # the newest stamp applied (never goes backwards)

    def now(self) -> int:
        """The stamp for a new entry, or 'now' for a read: never behind the log."""
        t = self._clock.wall_ms()
        floor = self.max_stamp if self.max_stamp > self.apply_clock else self.apply_clock
        return t if t > floor else floor

    def note_logged(self, stamp: int) -> None:
        if stamp > self.max_stamp:
            self.max_stamp = stamp

    def advance_applied(self, stamp: int) -> int:
        """Applying an entry stamped `stamp`: its 'now' (stamps may repeat, never fall)."""
        if stamp > self.apply_clock:
            self.apply_clock = stamp
        return self.apply_clock

    def restored(self, clock: int) -> None:
        """A snapshot taken at apply clock `clock` was restored."""
        if clock > self.apply_clock:
            self.apply_clock = clock
        if clock > self.max_stamp:
            self.max_stamp = clock
