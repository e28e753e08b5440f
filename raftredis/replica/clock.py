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


READ_LEASE_MS = 250


class EntryClock:
    """The stamp floor: the newest stamp logged here and the newest stamp applied.

    Reads of TTL state must agree with the log's order across leader changes, whatever
    the skew between the nodes' clocks (a key read as expired must never read as alive
    later). So a leader's linearizable read never judges expiry at a time more than
    READ_LEASE_MS past the newest *applied* stamp (`read_now`: past it, a clock tick is
    logged first), and a new leader starts its clock at least READ_LEASE_MS past the
    newest stamp in its log (`led`), which holds every committed entry: so it is past
    every time an earlier leader used for a read. The price: after a leader change
    the log's time may jump ahead by up to READ_LEASE_MS (keys expire that much early,
    once), and the first TTL-sensitive read after an idle spell waits for one tick.
    """

    __slots__ = ("_clock", "max_stamp", "apply_clock", "lead_floor")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.max_stamp = 0  # the newest stamp anywhere in our log
        self.apply_clock = 0  # the newest stamp applied (never goes backwards)
        self.lead_floor = 0  # where this leader's time starts (see led)

    def now(self) -> int:
        """The stamp for a new entry, or 'now' for a read: never behind the log."""
        t = self._clock.wall_ms()
        floor = self.max_stamp if self.max_stamp > self.apply_clock else self.apply_clock
        if self.lead_floor > floor:
            floor = self.lead_floor
        return t if t > floor else floor

    def read_now(self, time_matters: bool, lease_ms: int = READ_LEASE_MS) -> int | None:
        """'now' for a leader's linearizable read, or None while that would be more than
        lease_ms past the newest applied stamp and the answer may depend on time (some
        key has a TTL): then a clock tick must be logged and applied first."""
        t = self.now()
        if time_matters and t > self.apply_clock + lease_ms:
            return None
        return t

    def led(self, lease_ms: int = READ_LEASE_MS) -> None:
        """This node became leader: start past any time an earlier leader read at."""
        floor = self.max_stamp + lease_ms
        if floor > self.lead_floor:
            self.lead_floor = floor

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
