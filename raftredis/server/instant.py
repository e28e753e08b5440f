"""INFO's instantaneous_* figures, measured as Redis measures them: every 100 ms the
server samples a counter's rate over the last interval into a ring of 16 samples, and
the figure is the ring's mean (so it covers the last ~1.6 s and falls back to 0 once
the load stops). redis_exporter reads instantaneous_ops_per_sec and the kbps pair."""

from __future__ import annotations

SAMPLE_PERIOD_S = 0.1  # Redis samples in serverCron, every 100 ms
SAMPLES = 16  # Redis's STATS_METRIC_SAMPLES


class InstantRate:
    """The mean per-second rate of one monotonic counter over the last SAMPLES samples."""

    __slots__ = ("_last_t", "_last_v", "_ring", "_next")

    def __init__(self) -> None:
        self._last_t: float | None = None
        self._last_v = 0
        self._ring = [0.0] * SAMPLES
        self._next = 0

    def sample(self, now: float, value: int) -> None:
        if self._last_t is not None and now > self._last_t:
            self._ring[self._next] = (value - self._last_v) / (now - self._last_t)
            self._next = (self._next + 1) % SAMPLES
        self._last_t, self._last_v = now, value

    def per_sec(self) -> float:
        return sum(self._ring) / SAMPLES


class InstantStats:
    """Commands, bytes in and bytes out of one server: INFO stats' instantaneous_*."""

    __slots__ = ("ops", "net_in", "net_out")

    def __init__(self) -> None:
        self.ops, self.net_in, self.net_out = InstantRate(), InstantRate(), InstantRate()

    def sample(self, now: float, commands: int, net_in: int, net_out: int) -> None:
        self.ops.sample(now, commands)
        self.net_in.sample(now, net_in)
        self.net_out.sample(now, net_out)

    def info_fields(self) -> list[tuple[str, object]]:
        return [("instantaneous_ops_per_sec", int(self.ops.per_sec())),
                ("instantaneous_input_kbps", f"{self.net_in.per_sec() / 1024:.2f}"),
                ("instantaneous_output_kbps", f"{self.net_out.per_sec() / 1024:.2f}")]
