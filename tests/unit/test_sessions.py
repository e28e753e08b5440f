"""The session table: exactly-once per (session, seq), deterministic expiry and
eviction by log time, bounded memory, and snapshots that carry it all."""

from __future__ import annotations

import io
import struct

import pytest

from raftredis.commands import COMMANDS
from raftredis.reply import Error, Status
from raftredis.statemachine import sessions as S
from raftredis.statemachine import snapshot as snap
from raftredis.statemachine.machine import StateMachine
from raftredis.statemachine.snapshot import SnapshotError

NOW = 1_700_000_000_000


def b(*parts: object) -> list[bytes]:
    return [p if isinstance(p, bytes) else str(p).encode() for p in parts]


def open_session(sm: StateMachine, now: int = NOW, timeout: int | None = None) -> int:
    args = b("SESSION.OPEN") if timeout is None else b("SESSION.OPEN", timeout)
    sid = sm.apply(args, now)
    assert isinstance(sid, int) and sid > 0, sid
    return sid


def ex(sm: StateMachine, sid: int, seq: int, *cmd: object, now: int = NOW) -> object:
    return sm.apply(b("SESSION.EXEC", sid, seq, *cmd), now)


def restored(sm: StateMachine) -> StateMachine:
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    other = StateMachine()
    other.restore_snapshot(io.BytesIO(buf.getvalue()))
    return other


def test_ids_count_up_and_are_never_reused() -> None:
    sm = StateMachine()
    a, c = open_session(sm), open_session(sm)
    assert (a, c) == (1, 2)
    assert sm.apply(b("SESSION.CLOSE", a), NOW) == 1
    assert sm.apply(b("SESSION.CLOSE", a), NOW) == 0
    assert open_session(sm) == 3


def test_duplicate_seq_gets_saved_reply_without_second_application() -> None:
    sm = StateMachine()
    sid = open_session(sm)
    assert ex(sm, sid, 1, "INCR", "n") == 1
    assert ex(sm, sid, 1, "INCR", "n") == 1  # the retry
    assert ex(sm, sid, 2, "INCR", "n") == 2
    assert ex(sm, sid, 1, "INCR", "n") == 1  # a late retry after a newer seq
    assert sm.read(b("GET", "n"), NOW) == b"2"


def test_retry_after_newer_seq_and_out_of_order_seqs() -> None:
    sm = StateMachine()
    sid = open_session(sm)
    # Pipelined: seq 3 is applied before seq 2 arrives; 2 is still applied once.
    assert ex(sm, sid, 3, "RPUSH", "l", "c") == 1
    assert ex(sm, sid, 2, "RPUSH", "l", "b") == 2
    assert ex(sm, sid, 2, "RPUSH", "l", "b") == 2
    assert ex(sm, sid, 3, "RPUSH", "l", "c") == 1
    assert sm.read(b("LRANGE", "l", 0, -1), NOW) == [b"c", b"b"]


def test_errors_of_the_wrapped_command_are_saved_too() -> None:
    sm = StateMachine()
    sid = open_session(sm)
    sm.apply(b("SET", "s", "x"), NOW)
    first = ex(sm, sid, 1, "INCR", "s")
    assert isinstance(first, Error) and first.startswith("ERR value is not an integer")
    sm.apply(b("SET", "s", "5"), NOW)
    assert ex(sm, sid, 1, "INCR", "s") == first  # the saved reply, not a fresh INCR
    assert sm.read(b("GET", "s"), NOW) == b"5"
    assert ex(sm, sid, 2, "NOSUCHCMD", "x").startswith("ERR unknown command")
    assert ex(sm, sid, 3, "GET").startswith("ERR wrong number of arguments for 'get'")
    assert ex(sm, sid, 4, "SET", "k", "v") == Status("OK")
    assert isinstance(ex(sm, sid, 4, "SET", "k", "v"), Status)


def test_window_bounds_replies_and_old_seqs_are_refused_not_reapplied() -> None:
    sm = StateMachine()
    sid = open_session(sm)
    total = S.WINDOW + 10
    for seq in range(1, total + 1):
        assert ex(sm, sid, seq, "INCR", "n") == seq
    sess = sm.sessions.sessions[sid]
    assert len(sess.replies) == S.WINDOW
    old = ex(sm, sid, 1, "INCR", "n")
    assert isinstance(old, Error) and "no longer kept" in old
    assert ex(sm, sid, total, "INCR", "n") == total
    assert sm.read(b("GET", "n"), NOW) == str(total).encode()


def test_large_reply_is_remembered_as_applied_only() -> None:
    sm = StateMachine()
    sid = open_session(sm)
    big = b"x" * (S.MAX_KEPT_REPLY + 1)
    sm.apply([b"SET", b"big", big], NOW)
    assert sm.apply([b"SESSION.EXEC", str(sid).encode(), b"1", b"GETDEL", b"big"], NOW) == big
    again = sm.apply([b"SESSION.EXEC", str(sid).encode(), b"1", b"GETDEL", b"big"], NOW)
    assert isinstance(again, Error) and "too large to keep" in again


def test_expiry_by_entry_time_only() -> None:
    sm = StateMachine()
    sid = open_session(sm, timeout=5000)
    assert ex(sm, sid, 1, "INCR", "n", now=NOW + 4999) == 1
    # Activity at NOW+4999 pushed the deadline to NOW+9999.
    assert ex(sm, sid, 2, "INCR", "n", now=NOW + 9998) == 2
    late = ex(sm, sid, 2, "INCR", "n", now=NOW + 9998 + 5000)
    assert isinstance(late, Error) and late.startswith("SESSIONEXPIRED")
    assert ex(sm, sid, 3, "INCR", "n", now=NOW + 20000).startswith("SESSIONEXPIRED")
    assert sm.read(b("GET", "n"), NOW) == b"2"
    assert len(sm.sessions) == 0


def test_unknown_session_and_bad_arguments() -> None:
    sm = StateMachine()
    assert ex(sm, 42, 1, "INCR", "n").startswith("SESSIONEXPIRED session 42")
    sid = open_session(sm)
    for bad_seq in ("0", "-1", "abc", "01", "9" * 30):
        r = ex(sm, sid, bad_seq, "INCR", "n")
        assert r == "ERR SESSION seq must be a positive integer", bad_seq
    assert ex(sm, "x", 1, "INCR", "n") == "ERR SESSION id must be a positive integer"
    for t in ("10", "abc", str(S.MAX_TIMEOUT_MS + 1)):
        assert sm.apply(b("SESSION.OPEN", t), NOW).startswith("ERR SESSION timeout-ms"), t
    assert sm.apply(b("SESSION.OPEN", 1000, 2), NOW).startswith("ERR wrong number")
    assert sm.apply(b("SESSION.EXEC", sid, 1), NOW).startswith("ERR wrong number")
    assert sm.read(b("GET", "n"), NOW) is None


def test_wrapping_connection_multi_or_sessions_is_refused() -> None:
    sm = StateMachine()
    sid = open_session(sm)
    for cmd in (("PING",), ("MULTI",), ("SESSION.OPEN",), ("SESSION.EXEC", sid, 9, "INCR", "n")):
        r = ex(sm, sid, 1, *cmd)
        assert isinstance(r, Error) and "cannot wrap" in r, cmd
    assert ex(sm, sid, 1, "INCR", "n") == 1  # the refused ones did not use up seq 1


def test_session_commands_inside_multi_are_refused() -> None:
    sm = StateMachine()
    sid = open_session(sm)
    out = sm.apply_multi([b("SESSION.EXEC", sid, 1, "INCR", "n"), b("INCR", "m")], NOW)
    assert isinstance(out, list)
    assert out[0] == "ERR SESSION commands cannot run inside MULTI"
    assert out[1] == 1


def test_table_bound_evicts_least_recently_active() -> None:
    sm = StateMachine()
    sm.sessions.max_sessions = 3
    a, c, d = open_session(sm), open_session(sm), open_session(sm)
    assert ex(sm, a, 1, "INCR", "n", now=NOW + 1) == 1  # a is now the most recent
    e = open_session(sm, now=NOW + 2)  # evicts c
    assert ex(sm, c, 1, "INCR", "n", now=NOW + 3).startswith("SESSIONEXPIRED")
    assert ex(sm, a, 1, "INCR", "n", now=NOW + 3) == 1
    assert ex(sm, d, 1, "INCR", "n", now=NOW + 3) == 2
    assert ex(sm, e, 1, "INCR", "n", now=NOW + 3) == 3
    assert len(sm.sessions) == 3


def test_full_table_drops_expired_before_evicting_live_ones() -> None:
    sm = StateMachine()
    sm.sessions.max_sessions = 2
    long_lived = open_session(sm, timeout=100_000)
    short = open_session(sm, timeout=1000)
    # long_lived is at the front and not expired, so the sweep stops there; the full scan
    # at OPEN must still find the expired short one instead of evicting long_lived.
    new = open_session(sm, now=NOW + 2000)
    assert ex(sm, short, 1, "INCR", "n", now=NOW + 2000).startswith("SESSIONEXPIRED")
    assert ex(sm, long_lived, 1, "INCR", "n", now=NOW + 2000) == 1
    assert ex(sm, new, 1, "INCR", "n", now=NOW + 2000) == 2


def test_snapshot_in_between_keeps_exactly_once() -> None:
    sm = StateMachine()
    sid = open_session(sm, timeout=60_000)
    for seq in range(1, 6):
        ex(sm, sid, seq, "INCR", "n")
    ex(sm, sid, 6, "HSET", "h", "f", "v")
    ex(sm, sid, 7, "SMEMBERS", "nokey")
    other = restored(sm)
    assert other.sessions.next_id == sm.sessions.next_id
    assert ex(other, sid, 5, "INCR", "n") == 5  # retried after the snapshot: saved reply
    assert ex(other, sid, 6, "HSET", "h", "f", "v") == 1
    assert ex(other, sid, 8, "INCR", "n") == 6
    assert other.read(b("GET", "n"), NOW) == b"6"
    assert open_session(other) == sid + 1  # the id counter survived
    # Expiry uses the restored activity time.
    assert ex(other, sid, 9, "INCR", "n", now=NOW + 120_001).startswith("SESSIONEXPIRED")


def test_saved_reply_types_survive_snapshot() -> None:
    sm = StateMachine()
    sid = open_session(sm)
    sm.apply(b("ZADD", "z", 1, "a", 2, "b"), NOW)
    cmds = [("SET", "k", "v"), ("GET", "k"), ("GET", "none"), ("ZRANGE", "z", 0, -1, "WITHSCORES"),
            ("INCRBYFLOAT", "f", "1.5"), ("HGETALL", "nohash"), ("LPOP", "nolist", 2),
            ("SET", "k", "v", "NX", "GET"), ("INCR", "k")]
    first = [ex(sm, sid, i + 1, *c) for i, c in enumerate(cmds)]
    other = restored(sm)
    again = [ex(other, sid, i + 1, *c) for i, c in enumerate(cmds)]
    assert again == first
    assert [type(x) for x in again] == [type(x) for x in first]


def test_two_replicas_stay_identical() -> None:
    import random

    rng = random.Random(7)
    a, c = StateMachine(), StateMachine()
    a.sessions.max_sessions = c.sessions.max_sessions = 5
    now = NOW
    log: list[list[bytes]] = []
    for _ in range(2000):
        now += rng.randrange(0, 400)
        r = rng.random()
        if r < 0.05:
            args = b("SESSION.OPEN", rng.choice([1000, 5000, 60_000]))
        elif r < 0.07:
            args = b("SESSION.CLOSE", rng.randrange(1, 40))
        else:
            args = b("SESSION.EXEC", rng.randrange(1, 40), rng.randrange(1, 60), "INCR",
                     f"k{rng.randrange(5)}")
        log.append(args)
        ra, rc = a.apply(args, now), c.apply(args, now)
        assert ra == rc
        if rng.random() < 0.01:
            c = restored(c)
            c.sessions.max_sessions = 5
    assert list(a.sessions.records()) == list(c.sessions.records())
    assert [a.read(b("GET", f"k{i}"), now) for i in range(5)] == [
        c.read(b("GET", f"k{i}"), now) for i in range(5)]


def test_version1_snapshot_still_loads_and_fresh_machine_writes_version1() -> None:
    sm = StateMachine()
    sm.apply(b("SET", "a", "1"), NOW)
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    assert buf.getvalue()[4] == snap.VERSION
    other = restored(sm)
    assert other.read(b("GET", "a"), NOW) == b"1" and len(other.sessions) == 0
    open_session(sm)
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    assert buf.getvalue()[4] == snap.VERSION_SESSIONS


def _with_session_section(records: list[object]) -> bytes:
    import zlib

    import msgpack

    out = snap.MAGIC + bytes([snap.VERSION_SESSIONS]) + struct.pack(">IIQ", 0, 0, 0)
    payload = b"".join(msgpack.packb(r, use_bin_type=True) for r in records)
    out += struct.pack(">II", len(payload), zlib.crc32(payload)) + payload
    return out + struct.pack(">IIQ", 0, 0, len(records))


@pytest.mark.parametrize(
    "records",
    [
        [],  # no header
        [[5, 2], [1, 1000, NOW, 1, []]],  # header count wrong
        [[5, 1], [7, 1000, NOW, 1, []]],  # id not below next id
        [[5, 2], [1, 1000, NOW, 1, []], [1, 1000, NOW, 1, []]],  # id twice
        [[5, 1], [1, 10, NOW, 1, []]],  # timeout out of range
        [[5, 1], [1, 1000, NOW, 0, []]],  # low not positive
        [[5, 1], [1, 1000, NOW, 3, [[2, 1]]]],  # reply below low
        [[5, 1], [1, 1000, NOW, 1, [[1, ["zz", 1]]]]],  # unknown reply tag
        [[5, 1], [1, 1000, NOW, 1, [[1, 1], [1, 2]]]],  # seq twice
        [[5, 1], [1, 1000, "x", 1, []]],
        [[5, 1], {"a": 1}],
    ],
)
def test_corrupt_session_section_is_refused_without_touching_state(records) -> None:
    sm = StateMachine()
    sid = open_session(sm)
    ex(sm, sid, 1, "INCR", "n")
    with pytest.raises(SnapshotError):
        sm.restore_snapshot(io.BytesIO(_with_session_section(records)))
    assert ex(sm, sid, 1, "INCR", "n") == 1
    assert sm.read(b("GET", "n"), NOW) == b"1"


def test_truncated_session_section_is_refused() -> None:
    sm = StateMachine()
    sid = open_session(sm)
    ex(sm, sid, 1, "INCR", "n")
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    data = buf.getvalue()
    for cut in (len(data) - 1, len(data) - 12, len(data) - 20):
        with pytest.raises(SnapshotError):
            StateMachine().restore_snapshot(io.BytesIO(data[:cut]))


def test_exec_keys_follow_the_wrapped_command() -> None:
    spec = COMMANDS["session.exec"]
    assert spec.movablekeys and spec.route.name == "WRITE"
    assert spec.keys(b("SESSION.EXEC", 1, 2, "SET", "k", "v")) == [b"k"]
    assert spec.keys(b("SESSION.EXEC", 1, 2, "MSET", "a", 1, "b", 2)) == [b"a", b"b"]
    assert spec.keys(b("SESSION.EXEC", 1, 2, "SINTERCARD", 2, "x", "y")) == [b"x", b"y"]
    assert spec.keys(b("SESSION.EXEC", 1, 2, "PING")) == []
    assert spec.keys(b("SESSION.EXEC", 1, 2, "NOPE", "k")) == []
    assert spec.keys(b("SESSION.EXEC", 1, 2, "GET")) == []  # wrong arity: no keys
    assert COMMANDS["session.open"].keys(b("SESSION.OPEN")) == []
