"""Streams compared byte for byte with a real redis-server: entries, IDs, trimming
(exact, and `~` by whole nodes), consumer groups, pending entries, claims, XINFO.
Replies that hold clock readings (idle times, delivery and seen times) are compared
with those readings masked; the rest of each reply must match exactly."""

from __future__ import annotations

import io

import pytest

from raftredis.reply import NULL_ARRAY
from raftredis.statemachine import StateMachine
from tests.unit.sm_redis import NOW, Ref, cases, redis_ref

ref = redis_ref()

_CLOCKED = {b"idle", b"seen-time", b"radix-tree-nodes"}


def mask(v: object) -> object:
    """Clock readings and radix-tree sizes out; everything else kept."""
    if isinstance(v, Exception):
        return ("err", str(v))
    if isinstance(v, dict):
        return {k: (0 if k in _CLOCKED else mask(x)) for k, x in v.items()}
    if isinstance(v, list):
        out = []
        for i, x in enumerate(v):
            if i and isinstance(v[i - 1], bytes) and v[i - 1] in _CLOCKED:
                out.append(0)
            elif isinstance(x, int) and x > 10**12:
                out.append(0)  # a time in ms since the epoch
            else:
                out.append(mask(x))
        # an XPENDING line: [id, consumer, idle, deliveries]
        if (len(out) == 4 and isinstance(out[0], bytes) and b"-" in out[0]
                and isinstance(out[2], int)):
            out[2] = 0
        return out
    return v


def check(ref: Ref, case: list, resps: tuple = (2,)) -> None:
    ref.check(case, resps=resps, mask=mask)


BASIC = [
    [("XADD", "s", "1-1", "a", "1", "b", "2"), ("XADD", "s", "1-2", "c", "3"),
     ("XADD", "s", "2-*", "d", "4"), ("XADD", "s", "2-*", "e", "5"), ("XADD", "s", "3", "f", "6"),
     ("XLEN", "s"), ("XRANGE", "s", "-", "+"), ("XRANGE", "s", "1", "2"),
     ("XRANGE", "s", "1-2", "+", "COUNT", "2"), ("XRANGE", "s", "(1-1", "(3-0"),
     ("XRANGE", "s", "-", "+", "COUNT", "0"), ("XRANGE", "s", "-", "+", "COUNT", "-5"),
     ("XRANGE", "s", "3", "1"), ("XREVRANGE", "s", "+", "-"), ("XREVRANGE", "s", "2", "1",
                                                              "COUNT", "1"),
     ("XREVRANGE", "s", "(3", "-"), ("XRANGE", "nokey", "-", "+"), ("XLEN", "nokey"),
     ("TYPE", "s"), ("OBJECT", "ENCODING", "s")],
    # XADD errors and edge IDs
    [("XADD", "s", "5-5", "a", "1"), ("XADD", "s", "5-5", "a", "1"), ("XADD", "s", "4", "a", "1"),
     ("XADD", "s", "0-0", "a", "1"), ("XADD", "t", "0", "a", "1"), ("EXISTS", "t"),
     ("XADD", "s", "5-*", "a", "1"), ("XADD", "s", "4-*", "a", "1"), ("XADD", "s", "x", "a", "1"),
     ("XADD", "s", "6-x", "a", "1"), ("XADD", "s", "-1", "a", "1"), ("XADD", "s", "+", "a", "1"),
     ("XADD", "s", "7-0", "a"), ("XADD", "s", "7-0"), ("XADD", "s", "NOMKSTREAM", "8-0", "a",
                                                       "1"),
     ("XADD", "new", "NOMKSTREAM", "1-1", "a", "1"), ("EXISTS", "new"),
     ("XADD", "s", "18446744073709551615-18446744073709551615", "a", "1"),
     ("XADD", "s", "18446744073709551615-*", "a", "1"), ("XADD", "s", "*", "a", "1"),
     ("XADD", "u", "18446744073709551615-*", "a", "1"),
     ("XADD", "u", "18446744073709551616-1", "a", "1"), ("SET", "str", "v"),
     ("XADD", "str", "1-1", "a", "1"), ("XLEN", "str"), ("XRANGE", "str", "-", "+")],
    # XRANGE errors
    [("XADD", "s", "1-1", "a", "1"), ("XRANGE", "s", "x", "+"), ("XRANGE", "s", "-", "y"),
     ("XRANGE", "s", "(", "+"), ("XRANGE", "s", "(18446744073709551615-18446744073709551615",
                                 "+"),
     ("XRANGE", "s", "-", "(0-0"), ("XRANGE", "s", "-", "+", "COUNT"),
     ("XRANGE", "s", "-", "+", "COUNT", "x"), ("XRANGE", "s", "-", "+", "BOGUS", "1"),
     ("XRANGE", "s", "(-", "+"), ("XRANGE", "s", "-", "(+")],
    # XDEL and XSETID
    [("XADD", "s", "1-1", "a", "1"), ("XADD", "s", "2-1", "b", "2"), ("XADD", "s", "3-1", "c",
                                                                       "3"),
     ("XDEL", "s", "2-1", "9-9", "2-1"), ("XDEL", "s", "x"), ("XDEL", "s", "1-1", "x"),
     ("XLEN", "s"), ("XDEL", "nokey", "1-1"), ("XDEL", "s", "1-1", "3-1"), ("XLEN", "s"),
     ("EXISTS", "s"), ("XADD", "s", "3-2", "d", "4"), ("XRANGE", "s", "-", "+"),
     ("XSETID", "s", "10-0"), ("XADD", "s", "10-*", "e", "5"), ("XSETID", "s", "1-0"),
     ("XSETID", "s", "20-0", "ENTRIESADDED", "100", "MAXDELETEDID", "15-0"),
     ("XSETID", "s", "20-0", "ENTRIESADDED", "0"), ("XSETID", "s", "20-0", "ENTRIESADDED", "-1"),
     ("XSETID", "s", "20-0", "MAXDELETEDID", "30-0"), ("XSETID", "s", "20-0", "BOGUS", "1"),
     ("XSETID", "s", "14-0"), ("XSETID", "nokey", "1-1"), ("XSETID", "s", "x"),
     ("XADD", "s", "20-0", "f", "6"), ("XADD", "s", "20-1", "f", "6")],
]

TRIM = [
    [*[("XADD", "s", f"{i}-0", "f", "v") for i in range(1, 251)], ("XTRIM", "s", "MAXLEN", "230"),
     ("XLEN", "s"), ("XTRIM", "s", "MAXLEN", "~", "130"), ("XLEN", "s"),
     ("XTRIM", "s", "MAXLEN", "~", "30"), ("XLEN", "s"), ("XTRIM", "s", "MINID", "~", "240"),
     ("XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "5"), ("XTRIM", "s", "MINID", "245"),
     ("XRANGE", "s", "-", "+", "COUNT", "2"), ("XTRIM", "s", "MAXLEN", "=", "3"), ("XLEN", "s"),
     ("XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "0"), ("XLEN", "s"), ("EXISTS", "s")],
    [*[("XADD", "s", f"{i}-0", "f", "v") for i in range(1, 120)],
     ("XADD", "s", "MAXLEN", "~", "10", "200-0", "f", "v"), ("XLEN", "s"),
     ("XADD", "s", "MINID", "110", "201-0", "f", "v"), ("XRANGE", "s", "-", "+", "COUNT", "1"),
     ("XADD", "s", "MAXLEN", "2", "202-0", "f", "v"), ("XRANGE", "s", "-", "+"),
     ("XDEL", "s", "201-0"), ("XTRIM", "s", "MAXLEN", "0"), ("XLEN", "s"),
     ("XADD", "s", "MAXLEN", "0", "300-0", "a", "b"), ("XLEN", "s")],
    [("XADD", "s", "1-0", "a", "b"), ("XTRIM", "s", "MAXLEN", "-1"), ("XTRIM", "s", "MAXLEN", "x"),
     ("XTRIM", "s", "MINID", "x"), ("XTRIM", "s", "MAXLEN", "1", "LIMIT", "10"),
     ("XTRIM", "s", "MAXLEN", "~", "1", "LIMIT", "-1"), ("XTRIM", "s", "MAXLEN", "1", "MINID",
                                                         "1"),
     ("XTRIM", "s", "LIMIT", "1"), ("XTRIM", "s", "BOGUS"), ("XTRIM", "nokey", "MAXLEN", "1"),
     ("XADD", "s", "MAXLEN", "1", "LIMIT", "5", "2-0", "a", "b"),
     ("XADD", "s", "LIMIT", "5", "2-0", "a", "b"), ("XADD", "s", "MAXLEN", "-2", "2-0", "a", "b"),
     ("XADD", "s", "MAXLEN", "1", "MINID", "1", "2-0", "a", "b"), ("SET", "str", "v"),
     ("XTRIM", "str", "MAXLEN", "1")],
]

READ = [
    [("XADD", "a", "1-1", "f", "1"), ("XADD", "a", "2-1", "f", "2"), ("XADD", "b", "5-5", "g", "1"),
     ("XREAD", "STREAMS", "a", "0"), ("XREAD", "COUNT", "1", "STREAMS", "a", "b", "0", "0"),
     ("XREAD", "STREAMS", "a", "b", "1-1", "5-5"), ("XREAD", "STREAMS", "a", "$"),
     ("XREAD", "STREAMS", "nokey", "0"), ("XREAD", "BLOCK", "10", "STREAMS", "a", "$"),
     ("XREAD", "STREAMS", "a", "b", "0"), ("XREAD", "STREAMS", "a", ">"),
     ("XREAD", "COUNT", "x", "STREAMS", "a", "0"), ("XREAD", "BLOCK", "x", "STREAMS", "a", "0"),
     ("XREAD", "BLOCK", "-1", "STREAMS", "a", "0"), ("XREAD", "GROUP", "g", "c", "STREAMS", "a",
                                                     "0"),
     ("XREAD", "NOACK", "STREAMS", "a", "0"), ("XREAD", "BOGUS", "STREAMS", "a", "0"),
     ("XREAD", "COUNT", "1", "a", "0"), ("XREAD", "STREAMS", "a", "x"), ("SET", "str", "v"),
     ("XREAD", "STREAMS", "str", "0"), ("XREAD", "COUNT", "-1", "STREAMS", "a", "1")],
]

GROUPS = [
    [("XADD", "s", "1-1", "a", "1"), ("XADD", "s", "2-1", "b", "2"), ("XADD", "s", "3-1", "c", "3"),
     ("XGROUP", "CREATE", "s", "g", "0"), ("XGROUP", "CREATE", "s", "g", "0"),
     ("XGROUP", "CREATE", "s", "g2", "$"), ("XGROUP", "CREATE", "nokey", "g", "0"),
     ("XGROUP", "CREATE", "nokey", "g", "$", "MKSTREAM"), ("XLEN", "nokey"),
     ("XGROUP", "CREATE", "s", "g3", "x"), ("XGROUP", "CREATE", "s", "g4", "0", "ENTRIESREAD",
                                              "2"),
     ("XGROUP", "CREATE", "s", "g5", "0", "ENTRIESREAD", "-2"), ("XGROUP", "CREATE", "s", "g5",
                                                                  "0", "BOGUS"),
     ("XINFO", "GROUPS", "s"), ("XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "s",
                                ">"),
     ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">"),
     ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", ">"), ("XPENDING", "s", "g"),
     ("?XPENDING", "s", "g", "-", "+", "10"), ("?XPENDING", "s", "g", "-", "+", "10", "c2"),
     ("XPENDING", "s", "g", "-", "+", "10", "nobody"), ("?XPENDING", "s", "g", "(1-1", "+", "1"),
     ("XPENDING", "s", "g", "IDLE", "100000", "-", "+", "10"), ("XINFO", "GROUPS", "s"),
     ("?XINFO", "CONSUMERS", "s", "g"), ("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", "0"),
     ("XACK", "s", "g", "1-1", "9-9"), ("XACK", "s", "g", "1-1"), ("XACK", "s", "nogroup", "2-1"),
     ("XACK", "nokey", "g", "2-1"), ("XACK", "s", "g", "x"), ("XPENDING", "s", "g"),
     ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", "0"), ("XDEL", "s", "2-1"),
     ("XREADGROUP", "GROUP", "g", "c2", "STREAMS", "s", "0"), ("XINFO", "GROUPS", "s"),
     ("?XPENDING", "s", "g", "-", "+", "10")],
    [("XADD", "s", "1-1", "a", "1"), ("XGROUP", "CREATE", "s", "g", "0"),
     ("XREADGROUP", "GROUP", "g", "c", "NOACK", "STREAMS", "s", ">"), ("XPENDING", "s", "g"),
     ("XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"),
     ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "nokey", ">"),
     ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$"),
     ("XREADGROUP", "STREAMS", "s", ">"), ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s"),
     ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"),
     ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "s", ">"),
     ("XGROUP", "SETID", "s", "g", "0"), ("XREADGROUP", "GROUP", "g", "d", "STREAMS", "s", ">"),
     ("XINFO", "GROUPS", "s"), ("XGROUP", "SETID", "s", "g", "$", "ENTRIESREAD", "1"),
     ("XINFO", "GROUPS", "s"), ("XGROUP", "SETID", "s", "nog", "0"),
     ("XGROUP", "SETID", "s", "g", "x"), ("XGROUP", "CREATECONSUMER", "s", "g", "e"),
     ("XGROUP", "CREATECONSUMER", "s", "g", "e"), ("XGROUP", "DELCONSUMER", "s", "g", "d"),
     ("XGROUP", "DELCONSUMER", "s", "g", "nobody"), ("XPENDING", "s", "g"),
     ("XGROUP", "DESTROY", "s", "g"), ("XGROUP", "DESTROY", "s", "g"),
     ("XGROUP", "DESTROY", "nokey", "g"), ("XGROUP", "BOGUS", "s", "g"), ("XGROUP", "CREATE", "s"),
     ("XGROUP", "HELP"), ("XGROUP", "DELCONSUMER", "s", "g", "a", "b"), ("SET", "str", "v"),
     ("XGROUP", "CREATE", "str", "g", "0"), ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "str",
                                              ">")],
    # claiming
    [("XADD", "s", "1-1", "a", "1"), ("XADD", "s", "2-1", "b", "2"), ("XADD", "s", "3-1", "c", "3"),
     ("XGROUP", "CREATE", "s", "g", "0"), ("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">"),
     ("XCLAIM", "s", "g", "c2", "0", "1-1", "2-1"), ("?XPENDING", "s", "g", "-", "+", "10"),
     ("XCLAIM", "s", "g", "c2", "100000", "3-1"), ("XCLAIM", "s", "g", "c3", "0", "3-1", "JUSTID"),
     ("XCLAIM", "s", "g", "c3", "0", "1-1", "RETRYCOUNT", "7", "IDLE", "5000"),
     ("?XPENDING", "s", "g", "IDLE", "4000", "-", "+", "10"),  # idle ms: a clock reading
     ("XCLAIM", "s", "g", "c3", "0", "2-1", "TIME", "1", "FORCE", "LASTID", "9-9"),
     ("XINFO", "GROUPS", "s"), ("XDEL", "s", "2-1"), ("XCLAIM", "s", "g", "c1", "0", "2-1"),
     ("XPENDING", "s", "g"), ("XCLAIM", "s", "g", "c1", "x", "1-1"),
     ("XCLAIM", "s", "g", "c1", "0", "1-1", "IDLE", "x"), ("XCLAIM", "s", "g", "c1", "0", "1-1",
                                                          "BOGUS"),
     ("XCLAIM", "s", "nog", "c1", "0", "1-1"), ("XCLAIM", "nokey", "g", "c1", "0", "1-1"),
     ("XCLAIM", "s", "g", "c1", "0", "9-9", "FORCE"), ("XADD", "s", "4-1", "d", "4"),
     ("XCLAIM", "s", "g", "c1", "0", "4-1", "FORCE"), ("?XPENDING", "s", "g", "-", "+", "10")],
    [*[("XADD", "s", f"{i}-1", "f", str(i)) for i in range(1, 8)],
     ("XGROUP", "CREATE", "s", "g", "0"), ("XREADGROUP", "GROUP", "g", "c1", "STREAMS", "s", ">"),
     ("XDEL", "s", "3-1", "4-1"), ("XAUTOCLAIM", "s", "g", "c2", "0", "0", "COUNT", "2"),
     ("XAUTOCLAIM", "s", "g", "c2", "0", "2-1", "COUNT", "3"),
     ("XAUTOCLAIM", "s", "g", "c2", "0", "(5-1", "JUSTID"),
     ("XAUTOCLAIM", "s", "g", "c2", "100000", "0"), ("?XPENDING", "s", "g", "-", "+", "10"),
     ("XAUTOCLAIM", "s", "g", "c2", "0", "0", "COUNT", "0"),
     ("XAUTOCLAIM", "s", "g", "c2", "x", "0"), ("XAUTOCLAIM", "s", "g", "c2", "0", "x"),
     ("XAUTOCLAIM", "s", "g", "c2", "0", "0", "BOGUS"), ("XAUTOCLAIM", "s", "nog", "c2", "0", "0"),
     ("XAUTOCLAIM", "nokey", "g", "c2", "0", "0"), ("?XINFO", "CONSUMERS", "s", "g")],
]

INFO = [
    [("XADD", "s", "1-1", "a", "1", "b", "2"), ("XADD", "s", "2-1", "c", "3"),
     ("XADD", "s", "3-1", "d", "4"), ("?XINFO", "STREAM", "s"), ("XDEL", "s", "1-1"),
     ("?XINFO", "STREAM", "s"), ("XGROUP", "CREATE", "s", "g", "0"),
     ("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">"),
     ("XINFO", "GROUPS", "s"), ("?XINFO", "STREAM", "s", "FULL"),
     ("?XINFO", "STREAM", "s", "FULL", "COUNT", "1"), ("?XINFO", "STREAM", "s", "FULL", "COUNT",
                                                       "0"),
     ("XINFO", "STREAM", "s", "BOGUS"), ("XINFO", "STREAM", "s", "FULL", "COUNT"),
     ("XINFO", "STREAM", "nokey"), ("XINFO", "GROUPS", "nokey"), ("XINFO", "CONSUMERS", "s", "nog"),
     ("XINFO", "HELP"), ("XINFO", "BOGUS", "s"), ("XINFO", "GROUPS"), ("XDEL", "s", "2-1", "3-1"),
     ("?XINFO", "STREAM", "s"), ("XINFO", "GROUPS", "s"), ("XGROUP", "CREATE", "e", "g", "$",
                                                           "MKSTREAM"),
     ("?XINFO", "STREAM", "e"), ("XINFO", "GROUPS", "e"), ("SET", "str", "v"),
     ("XINFO", "STREAM", "str")],
]


@pytest.mark.parametrize("case", cases(BASIC + TRIM))
def test_entries_like_redis(ref: Ref, case: list) -> None:
    check(ref, case, (2, 3))


@pytest.mark.parametrize("case", cases(READ + GROUPS + INFO))
def test_groups_and_reads_like_redis_resp2(ref: Ref, case: list) -> None:
    # RESP3 XREAD/XREADGROUP replies are maps in Redis; we send RESP2's shape
    check(ref, case)


def run(sm: StateMachine, now: int, *args: str) -> object:
    return sm.apply([a.encode() for a in args], now)


def test_auto_ids_come_from_the_entry_time() -> None:
    a, b = StateMachine(), StateMachine()
    for sm in (a, b):
        assert run(sm, NOW, "XADD", "s", "*", "f", "1") == b"%d-0" % NOW
        assert run(sm, NOW, "XADD", "s", "*", "f", "2") == b"%d-1" % NOW
        assert run(sm, NOW - 5, "XADD", "s", "*", "f", "3") == b"%d-2" % NOW  # never backwards
        assert run(sm, NOW + 1, "XADD", "s", "*", "f", "4") == b"%d-0" % (NOW + 1)
    assert run(a, NOW, "XRANGE", "s", "-", "+") == run(b, NOW, "XRANGE", "s", "-", "+")


def test_idle_times_use_the_entry_time() -> None:
    sm = StateMachine()
    run(sm, NOW, "XADD", "s", "1-1", "f", "v")
    run(sm, NOW, "XGROUP", "CREATE", "s", "g", "0")
    run(sm, NOW, "XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">")
    assert run(sm, NOW + 750, "XPENDING", "s", "g", "-", "+", "10") == [[b"1-1", b"c", 750, 1]]
    assert run(sm, NOW + 750, "XCLAIM", "s", "g", "d", "1000", "1-1") == []
    assert run(sm, NOW + 1000, "XCLAIM", "s", "g", "d", "1000", "1-1", "JUSTID") == [b"1-1"]
    info = run(sm, NOW + 1200, "XINFO", "CONSUMERS", "s", "g")
    assert [dict(x) for x in info] == [  # type: ignore[union-attr]
        {b"name": b"c", b"pending": 0, b"idle": 1200},
        {b"name": b"d", b"pending": 1, b"idle": 200}]


def test_blocking_reads_answer_at_once() -> None:
    sm = StateMachine()
    run(sm, NOW, "XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
    assert run(sm, NOW, "XREAD", "BLOCK", "0", "STREAMS", "s", "$") is NULL_ARRAY
    assert run(sm, NOW, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s",
               ">") is NULL_ARRAY


def test_streams_survive_a_snapshot() -> None:
    sm = StateMachine()
    for i in range(1, 150):
        run(sm, NOW, "XADD", "s", f"{i}-0", "f", str(i))
    run(sm, NOW, "XDEL", "s", "5-0")
    run(sm, NOW, "XGROUP", "CREATE", "s", "g", "0")
    run(sm, NOW, "XREADGROUP", "GROUP", "g", "c", "COUNT", "3", "STREAMS", "s", ">")
    run(sm, NOW, "XGROUP", "CREATECONSUMER", "s", "g", "idle")
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    other = StateMachine()
    buf.seek(0)
    other.restore_snapshot(buf)
    for cmd in (["XINFO", "STREAM", "s", "FULL"], ["XPENDING", "s", "g", "-", "+", "10"],
                ["XRANGE", "s", "-", "+"], ["XINFO", "GROUPS", "s"]):
        assert run(other, NOW + 5, *cmd) == run(sm, NOW + 5, *cmd)
    # the node layout survives too: the same `~` trim removes the same entries
    assert run(other, NOW, "XTRIM", "s", "MAXLEN", "~", "10") == \
        run(sm, NOW, "XTRIM", "s", "MAXLEN", "~", "10")
