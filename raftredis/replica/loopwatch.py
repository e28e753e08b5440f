"""How late the event loop runs, as Redis's latency monitor would show it.

Heartbeats, election timers and peer I/O share the node's one event loop with every
client command, so a command that holds the loop for a few hundred milliseconds can
cost a healthy leader its leadership. `LoopWatch` makes that visible: a small callback
scheduled every `period_s` (loop.call_later) measures how late it fired, with the
group's injected clock so the deterministic simulator runs it too. It keeps

- the worst lateness of the last `window_s` seconds (INFO raft: raft_loop_max_stall_ms),
- how many times the loop was late by `threshold_ms` or more (raft_loop_stalls),
- each such stall as a sample of the "event-loop" event in a `LatencyMonitor`, which
  answers LATENCY LATEST / HISTORY / RESET / DOCTOR with Redis 7's shapes.

Lateness includes the callback's own scheduling jitter (well under a millisecond on
an idle loop). Sampling sees a hold of D ms as D minus the part of the period that had
gone by when it began: between D - period and D (a 300 ms hold shows as 200-300 ms).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from raftredis.replica.clock import Clock
from raftredis.reply import Error, Map, Status, Verbatim

EVENT_LOOP = "event-loop"
LOOP_PERIOD_S = 0.100  # how often the watch callback runs
LOOP_STALL_THRESHOLD_MS = 100  # a lateness of this much or more is a stall (and a sample)
LOOP_WINDOW_S = 60.0  # raft_loop_max_stall_ms is the worst of this recent window
LATENCY_HISTORY_LEN = 160  # samples kept per event, as Redis's LATENCY_TS_LEN


@dataclass(slots=True)
class _Sample:
    time: int  # wall seconds
    latency: int  # ms


class _Series:
    __slots__ = ("samples", "max")

    def __init__(self) -> None:
        self.samples: deque[_Sample] = deque(maxlen=LATENCY_HISTORY_LEN)
        self.max = 0  # the worst sample ever (until reset)


class LatencyMonitor:
    """Latency events as Redis's latency.c keeps them: per event, at most 160 samples
    of (unix seconds, ms); two samples within the same second merge into their max."""

    def __init__(self) -> None:
        self._events: dict[str, _Series] = {}

    def add_sample(self, event: str, when_s: int, latency_ms: int) -> None:
        series = self._events.get(event)
        if series is None:
            series = self._events[event] = _Series()
        if latency_ms > series.max:
            series.max = latency_ms
        samples = series.samples
        if samples and samples[-1].time == when_s:
            if latency_ms > samples[-1].latency:
                samples[-1].latency = latency_ms
            return
        samples.append(_Sample(when_s, latency_ms))

    def events(self) -> list[str]:
        return list(self._events)

    # ------------------------------------------------------------------ LATENCY replies
    def latest(self) -> list[list[object]]:
        """LATENCY LATEST: [event, time of the latest sample, its latency, all-time max]."""
        out: list[list[object]] = []
        for name, series in self._events.items():
            last = series.samples[-1]
            out.append([name.encode(), last.time, last.latency, series.max])
        return out

    def history(self, event: str) -> list[list[int]]:
        """LATENCY HISTORY <event>: [time, latency] pairs, oldest first ([] if unknown)."""
        series = self._events.get(event)
        if series is None:
            return []
        return [[s.time, s.latency] for s in series.samples]

    def reset(self, events: list[str] | None = None) -> int:
        """LATENCY RESET [event ...]: how many event series were dropped."""
        if not events:
            n = len(self._events)
            self._events.clear()
            return n
        n = 0
        for name in events:
            if self._events.pop(name, None) is not None:
                n += 1
        return n

    def graph(self, event: str) -> str | None:
        """LATENCY GRAPH <event>: a short text chart of the samples (None: no samples)."""
        series = self._events.get(event)
        if series is None or not series.samples:
            return None
        samples = list(series.samples)
        hi = max(s.latency for s in samples)
        lo = min(s.latency for s in samples)
        lines = [f"{event} - high {hi} ms, low {lo} ms (all time high {series.max} ms)",
                 "-" * 80]
        for s in samples[-40:]:
            bar = "#" * max(1, round(s.latency * 60 / hi)) if hi else ""
            lines.append(f"{s.time} {s.latency:>6} ms {bar}")
        return "\n".join(lines) + "\n"

    def doctor(self) -> str:
        """LATENCY DOCTOR: a short human report in the spirit of Redis's."""
        if not self._events:
            return ("Dave, no latency spike was observed during the lifetime of this Redis "
                    "instance, not in the slightest bit. I honestly think you ought to sit "
                    "down calmly, take a stress pill, and think things over.\n")
        lines = ["Dave, I have observed latency spikes in this Redis instance. "
                 "You don't mind talking about it, do you Dave?", ""]
        for i, (name, series) in enumerate(self._events.items(), 1):
            lat = [s.latency for s in series.samples]
            avg = sum(lat) // len(lat)
            mdev = sum(abs(x - avg) for x in lat) // len(lat)
            times = [s.time for s in series.samples]
            period = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0
            lines.append(f"{i}. {name}: {len(lat)} latency spikes (average {avg}ms, mean "
                         f"deviation {mdev}ms, period {period:.2f} sec). Worst all time "
                         f"event {series.max}ms.")
        lines += ["", "I have a few advices for you:", ""]
        if EVENT_LOOP in self._events:
            lines.append(
                "- The event loop was held by one long piece of work (a big KEYS, SCAN, "
                "SMEMBERS, a large value, a long pipeline, applying a big log entry or "
                "restoring a snapshot). While it is held, this node sends no heartbeats "
                "and answers no peer, so a long enough stall costs a leader its leadership: "
                "compare with the election timeout and look at the role changes in the "
                "node's log (INFO raft: raft_elections_started, raft_leader_changes).")
        lines.append(
            "- Deleting, expiring or evicting large objects is a blocking operation. If you "
            "have very large objects that are often deleted, expired, or evicted, try to "
            "fragment those objects into multiple smaller objects.")
        return "\n".join(lines) + "\n"


class LoopWatch:
    """A periodic callback on the event loop that measures how late it fires."""

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Clock,
                 latency: LatencyMonitor | None = None, *, period_s: float = LOOP_PERIOD_S,
                 threshold_ms: int = LOOP_STALL_THRESHOLD_MS,
                 window_s: float = LOOP_WINDOW_S, event: str = EVENT_LOOP) -> None:
        self._loop = loop
        self._clock = clock
        self.latency = latency if latency is not None else LatencyMonitor()
        self.period_s = period_s
        self.threshold_ms = threshold_ms
        self.window_s = window_s
        self.event = event
        self.stalls = 0  # lateness >= threshold_ms, since start
        self.worst_ms = 0  # the worst lateness since start
        # A monotonic deque for the sliding-window max: (monotonic time, lateness ms),
        # lateness strictly falling from front to back.
        self._window: deque[tuple[float, int]] = deque()
        self.due = 0.0  # monotonic time the next callback is due
        self._handle: asyncio.TimerHandle | None = None
        # Observability hook: every lateness measured, in seconds (a histogram).
        self.on_lateness: Callable[[float], None] | None = None

    def start(self) -> None:
        if self._handle is None:
            self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        self.due = self._clock.monotonic() + self.period_s
        self._handle = self._loop.call_later(self.period_s, self._fire)

    def _fire(self) -> None:
        self._handle = None
        now = self._clock.monotonic()
        self.observe(now, (now - self.due) * 1000.0)
        self._schedule()

    def observe(self, now: float, late_ms: float) -> None:
        """Record that the loop ran `late_ms` late at monotonic time `now`."""
        late = int(late_ms + 0.5) if late_ms > 0 else 0
        if self.on_lateness is not None:
            self.on_lateness(late_ms / 1000.0)
        if late > self.worst_ms:
            self.worst_ms = late
        win = self._window
        while win and win[-1][1] <= late:
            win.pop()
        win.append((now, late))
        if late >= self.threshold_ms:
            self.stalls += 1
            self.latency.add_sample(self.event, self._clock.wall_ms() // 1000, late)

    def max_stall_ms(self, now: float | None = None) -> int:
        """The worst lateness within the last window_s seconds."""
        if now is None:
            now = self._clock.monotonic()
        win = self._window
        while win and win[0][0] < now - self.window_s:
            win.popleft()
        return win[0][1] if win else 0


LATENCY_HELP = (
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for "
    "the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
)


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def latency_command(monitor: LatencyMonitor, args: list[bytes]) -> object:
    """LATENCY <subcommand> ... with Redis 7's replies (arity already checked by the
    command table). HISTOGRAM answers an empty map: per-command latency histograms are
    not tracked here."""
    sub = args[1].lower()
    if sub == b"latest":
        return monitor.latest()
    if sub == b"history":
        return monitor.history(_text(args[2]))
    if sub == b"reset":
        return monitor.reset([_text(a) for a in args[2:]])
    if sub == b"doctor":
        return Verbatim(monitor.doctor())
    if sub == b"graph":
        event = _text(args[2])
        chart = monitor.graph(event)
        if chart is None:
            return Error(f"ERR No samples available for event '{event}'")
        return Verbatim(chart)
    if sub == b"histogram":
        return Map()
    if sub == b"help":
        return [Status(line) for line in LATENCY_HELP]
    return Error(f"ERR unknown subcommand '{_text(args[1])[:128]}'. Try LATENCY HELP.")
