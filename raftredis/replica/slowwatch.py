"""SLOWLOG for what the group runs after dispatch has returned: its own replicated
commands when they are applied, and ReadIndex reads when they are released.

Dispatch times only its synchronous part; a command answered by a future is timed
here, around its execution alone: the wait for the log and the quorum is not
execution, as Redis does not count a blocked client's wait. The cost when a sink is
attached is two clock reads per command.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter_ns
from typing import Protocol


class SlowSink(Protocol):
    """What raftredis.server.slowlog.SlowLog offers."""

    threshold_us: int  # -1: off

    def consider(self, spec_name: str, args: list[bytes], started_ns: int, peer: str,
                 client_name: str) -> None: ...


class SlowWatch:
    def __init__(self) -> None:
        self._sink: SlowSink | None = None

    def attach(self, sink: SlowSink) -> None:
        self._sink = sink

    def threshold_ns(self) -> int:
        """-1 when nothing is to be timed."""
        sink = self._sink
        if sink is None or sink.threshold_us < 0:
            return -1
        return sink.threshold_us * 1000

    def report(self, args: list[bytes], started_ns: int) -> None:
        """`args` ran from `started_ns` until now, at least the threshold."""
        sink = self._sink
        if sink is None or not args:
            return
        try:
            name = bytes(args[0]).decode("ascii").lower()
        except UnicodeDecodeError:
            return
        # (The connection is not known here: the entry shows no address or name.)
        sink.consider(name, args, started_ns, "", "")

    def timed(self, run: Callable[[list[bytes], int], object]
              ) -> Callable[[list[bytes], int], object]:
        """`run(args, now)` with each call over the threshold reported."""
        def timed_run(args: list[bytes], now: int) -> object:
            limit = self.threshold_ns()
            if limit < 0:
                return run(args, now)
            t0 = perf_counter_ns()
            try:
                return run(args, now)
            finally:
                if perf_counter_ns() - t0 >= limit:
                    self.report(args, t0)
        return timed_run
