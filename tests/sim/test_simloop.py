"""The simulator's event loop: virtual time, and machines that are busy on their own."""

from __future__ import annotations

import asyncio

from tests.sim.simloop import MACHINE, SimLoop, machine_context


def test_time_jumps_to_the_next_timer() -> None:
    loop = SimLoop()
    seen: list[float] = []

    async def main() -> None:
        await asyncio.sleep(5.0)
        seen.append(round(loop.time(), 3))  # (each turn of the loop costs a microsecond)

    loop.run_until_complete(main())
    loop.close()
    assert seen == [5.0]


def test_a_busy_machine_waits_while_the_others_go_on() -> None:
    """What a node spends computing delays only its own callbacks: its timers, its
    tasks and what is delivered to it, not another node's."""
    loop = SimLoop(machines=True)
    ran: list[tuple[str, float]] = []

    def note(what: str) -> None:
        ran.append((what, round(loop.time(), 3)))  # (each turn of the loop costs a µs)

    one, two = machine_context(1), machine_context(2)

    def busy_one() -> None:
        loop.spend_on(1, 0.5)  # machine 1 computes for half a second from t=0.1
        note("1 busy")

    loop.call_later(0.1, busy_one, context=one)
    loop.call_later(0.2, lambda: note("1 timer"), context=one)
    loop.call_later(0.2, lambda: note("2 timer"), context=two)
    loop.call_later(0.3, lambda: note("no machine"))

    async def task_on_one() -> None:
        token = MACHINE.set(1)
        try:
            await asyncio.sleep(0.15)
            note("1 task")
        finally:
            MACHINE.reset(token)

    loop.run_until_complete(task_on_one())
    loop.run_until_complete(asyncio.sleep(1.0))
    loop.close()
    assert ran[:3] == [("1 busy", 0.1), ("2 timer", 0.2), ("no machine", 0.3)]
    # Machine 1's timer and task were due while it was busy: they ran once it was free.
    assert sorted(ran[3:]) == [("1 task", 0.6), ("1 timer", 0.6)]
    assert loop.busy_until(2) == loop.time()
