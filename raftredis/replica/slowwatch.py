"""Execution timing of what the group runs after dispatch has returned: its own
replicated commands when they are applied, and ReadIndex reads when they are released
(for SLOWLOG and INFO commandstats / latencystats).

Dispatch times only its synchronous part; a command answered by a future is timed
here, around its execution alone: the wait for the log and the quorum is not
execution, as Redis does not count a blocked client's wait. With a sink attached the
cost is two clock reads and one call per command.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter_ns
from typing import Protocol


class ExecSink(Protocol):
    """What the client port offers (raftredis.server.cmdstats.ExecRecorder)."""

    def executed(self, args: list[bytes], started_ns: int, elapsed_ns: int,
                 reply: object) -> None: ...


class SlowWatch:
    def __init__(self) -> None:
        self.sink: ExecSink | None = None  # None: nothing is timed

    def attach(self, sink: ExecSink) -> None:
        self.sink = sink

    def timed(self, run: Callable[[list[bytes], int], object]
              ) -> Callable[[list[bytes], int], object]:
        """`run(args, now)`, each call reported to the sink."""
        def timed_run(args: list[bytes], now: int) -> object:
            sink = self.sink
            if sink is None:
                return run(args, now)
            t0 = perf_counter_ns()
            reply = run(args, now)
            sink.executed(args, t0, perf_counter_ns() - t0, reply)
            return reply
        return timed_run
