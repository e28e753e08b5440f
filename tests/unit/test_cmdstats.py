"""INFO commandstats / latencystats bookkeeping."""

from __future__ import annotations

import random

from raftredis.reply import Error
from raftredis.server.cmdstats import (
    CommandStats,
    ExecRecorder,
    _bucket,
    _bucket_high,
    note_outcome,
    parse_percentiles,
)
from raftredis.server.slowlog import SlowLog


def test_buckets_are_monotonic_and_within_3_percent() -> None:
    prev = -1
    for ns in list(range(0, 5000)) + [random.Random(1).randrange(1, 10**12) for _ in range(2000)]:
        b = _bucket(ns)
        assert _bucket_high(b) >= ns
        assert _bucket_high(b) <= max(ns * 1.032, ns + 1)  # 1/32 of a power of two at most
    for ns in range(0, 100_000, 7):
        b = _bucket(ns)
        assert b >= prev
        prev = b


def test_commandstats_line_as_redis_writes_it() -> None:
    st = CommandStats()
    st.executed("set", 3000, False)
    st.executed("set", 5000, True)
    st.rejected("set")
    assert st.commandstats() == [
        ("cmdstat_set", "calls=2,usec=8,usec_per_call=4.00,rejected_calls=1,failed_calls=1")]


def test_percentiles() -> None:
    st = CommandStats()
    for ns in range(1000, 101_000, 1000):  # 1..100 us
        st.executed("get", ns, False)
    line = dict(st.latencystats(parse_percentiles("50 99 99.9")))["latency_percentiles_usec_get"]
    shown = dict(kv.split("=") for kv in line.split(","))
    assert list(shown) == ["p50", "p99", "p99.9"]
    assert 50 <= float(shown["p50"]) <= 50 * 1.04
    assert 99 <= float(shown["p99"]) <= 100 * 1.04
    assert float(shown["p99.9"]) >= float(shown["p99"])


def test_outcome_classes() -> None:
    st = CommandStats()
    note_outcome(st, "set", 10, b"OK")
    note_outcome(st, "set", 10, Error("WRONGTYPE Operation against a key"))
    note_outcome(st, "set", 10, Error("MOVED 1 127.0.0.1:7001"))
    note_outcome(st, "set", 10, "plain str is a bulk reply, not an error")
    s = st.get("set")
    assert s is not None and (s.calls, s.failed, s.rejected) == (3, 1, 1)


class _Srv:
    def __init__(self) -> None:
        class Stats:
            cmdstats = CommandStats()
        self.stats = Stats()
        self.slowlog = SlowLog(threshold_us=0)


def test_recorder_names_subcommands_and_feeds_the_slowlog() -> None:
    srv = _Srv()
    rec = ExecRecorder(srv)
    rec.executed([b"XGROUP", b"CREATE", b"s", b"g", b"$"], 0, 2000, b"OK")
    rec.executed([b"set", b"k", b"v"], 0, 2000, b"OK")
    rec.executed([b"NOSUCH"], 0, 2000, b"OK")
    names = [k for k, _ in srv.stats.cmdstats.commandstats()]
    assert names == ["cmdstat_xgroup|create", "cmdstat_set"]
    assert len(srv.slowlog) == 2
