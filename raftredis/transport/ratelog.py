"""Rate-limited log lines: whoever can open a socket to the peer port must not be able to
fill the disk with our warnings.

Per key, the first event is logged in full; further events within `interval` are only
counted, and one summary line per interval says how many there were and repeats the
last one (so its address and reason are still seen). Once a key has been quiet for an
interval, its next event is logged in full again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

DEFAULT_INTERVAL = 10.0


class _Window:
    __slots__ = ("start", "count", "last", "level", "scheduled")

    def __init__(self, start: float) -> None:
        self.start = start
        self.count = 0  # events suppressed since `start`
        self.last = ""
        self.level = logging.INFO
        self.scheduled = False


class RateLimitedLog:
    def __init__(
        self, logger: logging.Logger, interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self.interval = interval
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def event(self, key: str, level: int, message: str) -> None:
        """Log `message` unless `key` was already logged within the interval."""
        now = self._clock()
        w = self._windows.get(key)
        if w is None or (now - w.start >= self.interval and w.count == 0):
            self._windows[key] = _Window(now)
            self._log.log(level, "%s", message)
            return
        if now - w.start >= self.interval:  # overdue (no loop to flush on time): flush now
            self.flush(key)
            self._windows[key] = _Window(now)
            self._log.log(level, "%s", message)
            return
        w.count += 1
        w.last = message
        w.level = max(w.level, level)
        if not w.scheduled:
            w.scheduled = self._schedule(w.start + self.interval - now, key)

    def _schedule(self, delay: float, key: str) -> bool:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False  # flushed by the next event instead
        loop.call_later(max(0.0, delay), self.flush, key)
        return True

    def flush(self, key: str) -> None:
        """Write the summary of what `key` suppressed, and start a new interval."""
        w = self._windows.get(key)
        if w is None or w.count == 0:
            return
        elapsed = self._clock() - w.start
        self._log.log(w.level, "%s [%d more like this in the last %.1fs, not logged one by "
                      "one]", w.last, w.count, elapsed)
        # A new window from now: a flood goes on producing one line per interval.
        self._windows[key] = _Window(self._clock())

    def flush_all(self) -> None:
        for key in list(self._windows):
            self.flush(key)

    def suppressed(self, key: str) -> int:
        w = self._windows.get(key)
        return 0 if w is None else w.count
