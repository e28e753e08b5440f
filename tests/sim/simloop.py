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
import contextvars

TURN_S = 1e-6  # virtual time one turn of the loop takes

# The simulated machine a callback runs on (0: none, e.g. the simulator's own tasks). A
# callback scheduled in a context that names a machine waits while that machine is busy.
MACHINE: contextvars.ContextVar[int] = contextvars.ContextVar("sim_machine", default=0)


def machine_context(machine: int) -> contextvars.Context:
    """A context whose callbacks run on `machine` (for work addressed to it, such as a
    message delivered to it, scheduled from another machine's code)."""
    ctx = contextvars.copy_context()
    ctx.run(MACHINE.set, machine)
    return ctx


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
    def __init__(self, machines: bool = False) -> None:
        """machines: callbacks run on the machine their context names (MACHINE), and
        wait while it is busy (spend_on)."""
        super().__init__()
        self._machines = machines
        self._now = 0.0
        self._selector = _VirtualSelector(self)
        self._clock_resolution = 1e-9
        self._busy: dict[int, float] = {}  # machine -> busy until (spend_on)

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
        """Running code took this long (virtual CPU time) on the one machine everything
        runs on: the whole world's timers due meanwhile run late."""
        self._now += seconds

    def spend_on(self, machine: int, seconds: float) -> None:
        """Code running on `machine` took this long: only that machine's callbacks wait
        (until busy_until), while the other machines go on, as separate processes do.
        So a machine that applies slowly really falls behind the others."""
        assert self._machines, "a loop made with machines=True"
        self._busy[machine] = max(self._busy.get(machine, 0.0), self._now) + seconds

    def busy_until(self, machine: int) -> float:
        return max(self._now, self._busy.get(machine, 0.0))

    def forget_machine(self, machine: int) -> None:
        self._busy.pop(machine, None)  # it crashed: what it was running is gone

    def call_soon(self, callback, *args, context=None):  # type: ignore[override]
        if not self._machines:
            return super().call_soon(callback, *args, context=context)
        return super().call_soon(self._on_machine, callback, args, context=context)

    def call_at(self, when, callback, *args, context=None):  # type: ignore[override]
        if not self._machines:
            return super().call_at(when, callback, *args, context=context)
        return super().call_at(when, self._on_machine, callback, args, context=context)

    def _on_machine(self, callback, args: tuple) -> None:
        """Run now, or, if this callback's machine is busy, once it is free again."""
        machine = MACHINE.get()
        free_at = self._busy.get(machine, 0.0) if machine else 0.0
        if free_at > self._now:
            super().call_at(free_at, self._on_machine, callback, args)
            return
        callback(*args)

    def _process_events(self, event_list: list) -> None:
        pass

    def _write_to_self(self) -> None:
        pass  # nothing can wait in select: there is no real poll to wake

    def run_in_executor(self, executor, func, *args):  # type: ignore[override]
        raise RuntimeError("no threads in the simulator: inject a synchronous port")
