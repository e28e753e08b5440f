"""Execution timing in the replica layer: a command's execution, not its wait."""

from __future__ import annotations

from raftredis.raft.types import Entry
from raftredis.replica import ops as logops
from raftredis.replica.applier import Applier
from raftredis.replica.clock import EntryClock
from raftredis.replica.slowwatch import SlowWatch
from raftredis.statemachine import StateMachine


class Sink:
    def __init__(self) -> None:
        self.seen: list[tuple[list[bytes], int, object]] = []

    def executed(self, args, started_ns, elapsed_ns, reply) -> None:
        self.seen.append((list(args), elapsed_ns, reply))


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


def test_own_commands_are_reported_with_their_replies() -> None:
    sink = Sink()
    ap = _applier(sink)
    ops = [logops.command([b"SET", b"k", b"v"]), logops.command([b"INCR", b"k"]),
           logops.multi([[b"SET", b"n", b"1"], [b"INCR", b"n"]])]
    replies = ap.apply(_entry(1, ops), ops, want_replies=True)
    assert replies is not None and len(replies) == 3
    assert [(a, r) for a, _, r in sink.seen] == [
        ([b"SET", b"k", b"v"], replies[0]), ([b"INCR", b"k"], replies[1]),
        ([b"EXEC"], replies[2])]
    assert str(replies[1]).startswith("ERR")  # INCR of "v": a failed call, reported too
    assert all(ns >= 0 for _, ns, _ in sink.seen)


def test_others_commands_are_not_timed() -> None:
    sink = Sink()
    ap = _applier(sink)
    ops = [logops.command([b"SET", b"k", b"v"])]
    ap.apply(_entry(1, ops), None, want_replies=False)  # a follower, or not our proposal
    assert sink.seen == []


def test_timed_reads_are_reported() -> None:
    watch = SlowWatch()
    run = watch.timed(lambda args, now: b"x")
    assert run([b"GET", b"k"], 0) == b"x"  # no sink: untimed
    sink = Sink()
    watch.attach(sink)
    assert run([b"GET", b"k"], 0) == b"x"
    assert [(a, r) for a, _, r in sink.seen] == [([b"GET", b"k"], b"x")]
