"""A deterministic asyncio event loop with virtual time, for the simulator.

The stock loop's scheduling (ready queue, timer heap) is kept; only the poll is
replaced: with nothing ready, `select(timeout)` jumps the virtual clock straight to
the next timer instead of waiting. No file descriptors, no threads: everything that
runs on this loop is driven by its callbacks and timers alone, so the same program
and seed give the same interleaving every time. Real I/O on it is an error.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events

TURN_S = 1e-6  # virtual time one turn of the loop takes


class _VirtualSelector:
    def __init__(self, loop: SimLoop) -> None:
        self._loop = loop

    def select(self, timeout: float | None) -> list:
        if timeout is None:
            raise RuntimeError("simulated loop has nothing to run and no timer: deadlock")
        if timeout > 0:
            self._loop.advance_to_next_timer(timeout)
        else:
            self._loop.advance_to_next_timer(0.0)
        return []

    def close(self) -> None:
        pass


class SimLoop(asyncio.base_events.BaseEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._selector = _VirtualSelector(self)
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._now

    def advance_to_next_timer(self, dt: float) -> None:
        # Every turn of the loop costs a microsecond, as running code does on a real
        # clock: otherwise "until the deadline" loops whose remaining time is too small to
        # move a float clock would spin for ever at one instant. A poll with a timeout
        # then jumps exactly onto the next timer (now + dt can round back to now).
        target = self._now + max(dt, TURN_S)
        if dt > 0 and self._scheduled:
            target = max(target, self._scheduled[0]._when)
        self._now = target

    def spend(self, seconds: float) -> None:
        """Running code took this long (virtual CPU time): timers due meanwhile run late."""
        self._now += seconds

    def _process_events(self, event_list: list) -> None:
        pass

    def _write_to_self(self) -> None:
        pass  # nothing can wait in select: there is no real poll to wake

    def run_in_executor(self, executor, func, *args):  # type: ignore[override]
        raise RuntimeError("no threads in the simulator: inject a synchronous port")
