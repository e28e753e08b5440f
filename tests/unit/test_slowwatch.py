"""SLOWLOG timing in the replica layer: the execution of a command, not its wait."""

from __future__ import annotations

from raftredis.raft.types import Entry
from raftredis.replica import ops as logops
from raftredis.replica.applier import Applier
from raftredis.replica.clock import EntryClock
from raftredis.replica.slowwatch import SlowWatch
from raftredis.statemachine import StateMachine


class Sink:
    def __init__(self, threshold_us: int) -> None:
        self.threshold_us = threshold_us
        self.seen: list[tuple[str, list[bytes], str]] = []

    def consider(self, spec_name, args, started_ns, peer, client_name) -> None:
        self.seen.append((spec_name, list(args), peer))


class FixedClock:
    def wall_ms(self) -> int:
        return 1_700_000_000_000

    def monotonic(self) -> float:
        return 0.0


def _applier(sink: Sink | None) -> Applier:
    watch = SlowWatch()
    if sink is not None:
        watch.attach(sink)
    return Applier(StateMachine(), EntryClock(FixedClock()), lambda pairs, index: None, watch)


def _entry(index: int, ops: list) -> Entry:
    return Entry(term=1, index=index, data=logops.encode_entry(1_700_000_000_000, ops))


def test_own_commands_are_reported_over_the_threshold() -> None:
    sink = Sink(0)  # 0: every command
    ap = _applier(sink)
    ops = [logops.command([b"SET", b"k", b"v"]), logops.command([b"INCR", b"n"])]
    replies = ap.apply(_entry(1, ops), ops, want_replies=True)
    assert replies is not None and len(replies) == 2
    assert [(n, a) for n, a, _ in sink.seen] == [("set", [b"SET", b"k", b"v"]),
                                                 ("incr", [b"INCR", b"n"])]


def test_others_commands_and_an_off_threshold_are_not_timed() -> None:
    sink = Sink(0)
    ap = _applier(sink)
    ops = [logops.command([b"SET", b"k", b"v"])]
    ap.apply(_entry(1, ops), None, want_replies=False)  # a follower, or not our proposal
    assert sink.seen == []
    sink.threshold_us = -1
    ap.apply(_entry(2, ops), ops, want_replies=True)
    assert sink.seen == []


def test_a_fast_command_stays_under_a_high_threshold() -> None:
    sink = Sink(10_000_000)  # 10 s
    ap = _applier(sink)
    ops = [logops.command([b"SET", b"k", b"v"])]
    ap.apply(_entry(1, ops), ops, want_replies=True)
    assert sink.seen == []


def test_timed_reads_report_slow_runs_only() -> None:
    sink = Sink(0)
    watch = SlowWatch()
    watch.attach(sink)
    calls = []
    run = watch.timed(lambda args, now: calls.append(args) or b"x")
    assert run([b"GET", b"k"], 0) == b"x"
    assert sink.seen == [("get", [b"GET", b"k"], "")]
    sink.threshold_us = 10_000_000
    run([b"GET", b"k"], 0)
    assert len(sink.seen) == 1 and len(calls) == 2
