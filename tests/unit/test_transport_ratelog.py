"""Rate-limited log lines: the first in full, then one summary per interval with a count."""

from __future__ import annotations

import asyncio
import logging

import pytest

from raftredis.transport.ratelog import RateLimitedLog

NAME = "raftredis.transport.test-ratelog"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == NAME]


def test_a_flood_without_a_loop_gives_one_line_then_a_summary(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, NAME)
    clock = Clock()
    rl = RateLimitedLog(logging.getLogger(NAME), 10.0, clock)
    for i in range(1000):
        rl.event("k", logging.WARNING, f"refused {i}")
        clock.now += 0.001
    assert lines(caplog) == ["refused 0"]
    assert rl.suppressed("k") == 999
    clock.now += 10
    rl.event("k", logging.WARNING, "refused late")  # overdue: the summary, then this one
    got = lines(caplog)
    assert len(got) == 3
    assert got[1].startswith("refused 999 [999 more like this in the last")
    assert got[2] == "refused late"


def test_keys_are_independent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, NAME)
    rl = RateLimitedLog(logging.getLogger(NAME), 10.0, Clock())
    for _ in range(5):
        rl.event("quiet", logging.INFO, "silent socket")
    rl.event("auth", logging.WARNING, "wrong secret")
    assert lines(caplog) == ["silent socket", "wrong secret"]


def test_a_quiet_key_logs_in_full_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, NAME)
    clock = Clock()
    rl = RateLimitedLog(logging.getLogger(NAME), 10.0, clock)
    rl.event("k", logging.INFO, "one")
    clock.now += 11
    rl.event("k", logging.INFO, "two")
    assert lines(caplog) == ["one", "two"]


def test_on_a_loop_the_summary_comes_by_itself_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, NAME)

    sent = 0

    async def main() -> None:
        nonlocal sent
        rl = RateLimitedLog(logging.getLogger(NAME), 0.1)
        loop = asyncio.get_running_loop()
        end = loop.time() + 0.55
        n = 0
        while loop.time() < end:
            rl.event("k", logging.WARNING, f"event {n}")
            n += 1
            await asyncio.sleep(0.002)
        async with asyncio.timeout(5):  # the last summary is written within an interval
            while rl.suppressed("k"):
                await asyncio.sleep(0.02)
        assert n > 50
        sent = n

    asyncio.run(main())
    got = lines(caplog)
    assert got[0] == "event 0"
    summaries = [g for g in got if "more like this" in g]
    # A stall of the loop longer than the interval (a loaded machine) opens a new window,
    # whose first event is logged in full again: count those rather than assume none.
    full = [g for g in got if "more like this" not in g]
    assert 3 <= len(summaries) <= 8 and all(g.startswith("event ") for g in full)
    total = sum(int(g.split("[")[1].split()[0]) for g in summaries)
    assert total + len(full) == sent  # every event logged in full or counted, once
    assert total == int(got[-1].split()[1]) - (len(full) - 1)
