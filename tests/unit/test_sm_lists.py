"""List commands at the StateMachine level, blocking commands' non-blocking attempt."""

from __future__ import annotations

import io

import pytest

from raftredis.reply import NULL_ARRAY, OK, WRONGTYPE, Error, Status
from raftredis.statemachine import StateMachine
from raftredis.statemachine.blocking import parse_timeout_ms

NOW = 1_000_000


def run(sm: StateMachine, *args: bytes | str) -> object:
    return sm.apply([a if isinstance(a, bytes) else a.encode() for a in args], NOW, 1)


def items(sm: StateMachine, key: str) -> object:
    return run(sm, "LRANGE", key, "0", "-1")


def b(*xs: str) -> list[bytes]:
    return [x.encode() for x in xs]


@pytest.fixture
def sm() -> StateMachine:
    return StateMachine()


def test_push_order_and_length(sm: StateMachine) -> None:
    assert run(sm, "LPUSH", "l", "a", "b", "c") == 3
    assert run(sm, "RPUSH", "l", "x", "y") == 5
    assert items(sm, "l") == b("c", "b", "a", "x", "y")
    assert run(sm, "LLEN", "l") == 5
    assert run(sm, "LLEN", "none") == 0
    assert run(sm, "TYPE", "l") == Status("list")


def test_pushx_only_on_existing(sm: StateMachine) -> None:
    assert run(sm, "LPUSHX", "l", "a") == 0
    assert run(sm, "RPUSHX", "l", "a") == 0
    assert run(sm, "EXISTS", "l") == 0
    run(sm, "RPUSH", "l", "m")
    assert run(sm, "LPUSHX", "l", "a", "b") == 3
    assert run(sm, "RPUSHX", "l", "z") == 4
    assert items(sm, "l") == b("b", "a", "m", "z")


def test_pop_with_and_without_count(sm: StateMachine) -> None:
    run(sm, "RPUSH", "l", "1", "2", "3", "4", "5")
    assert run(sm, "LPOP", "l") == b"1"
    assert run(sm, "RPOP", "l") == b"5"
    assert run(sm, "LPOP", "l", "2") == b("2", "3")
    assert run(sm, "LPOP", "l", "0") == []
    assert run(sm, "RPOP", "l", "10") == b("4")
    assert run(sm, "EXISTS", "l") == 0
    assert run(sm, "LPOP", "l") is None
    assert run(sm, "LPOP", "l", "2") is NULL_ARRAY
    assert run(sm, "LPOP", "l", "-1") == Error("ERR value is out of range, must be positive")
    assert run(sm, "LPOP", "l", "x") == Error("ERR value is out of range, must be positive")
    assert run(sm, "LPOP", "l", "1", "2") == Error("ERR wrong number of arguments for 'lpop' command")


@pytest.mark.parametrize(
    "start,stop,expect",
    [
        ("0", "-1", "abcde"), ("1", "2", "bc"), ("-2", "-1", "de"), ("-100", "1", "ab"),
        ("3", "100", "de"), ("4", "2", ""), ("5", "10", ""), ("-1", "-2", ""),
    ],
)
def test_lrange_index_rules(sm: StateMachine, start: str, stop: str, expect: str) -> None:
    run(sm, "RPUSH", "l", *"abcde")
    assert run(sm, "LRANGE", "l", start, stop) == [c.encode() for c in expect]


def test_lrange_lindex_errors_and_missing(sm: StateMachine) -> None:
    assert run(sm, "LRANGE", "none", "0", "-1") == []
    assert run(sm, "LRANGE", "none", "a", "1") == Error("ERR value is not an integer or out of range")
    run(sm, "RPUSH", "l", "a", "b")
    assert run(sm, "LINDEX", "l", "0") == b"a"
    assert run(sm, "LINDEX", "l", "-1") == b"b"
    assert run(sm, "LINDEX", "l", "2") is None
    assert run(sm, "LINDEX", "l", "-3") is None
    assert run(sm, "LINDEX", "none", "0") is None
    assert run(sm, "LINDEX", "l", "x") == Error("ERR value is not an integer or out of range")


def test_lset(sm: StateMachine) -> None:
    assert run(sm, "LSET", "none", "0", "x") == Error("ERR no such key")
    run(sm, "RPUSH", "l", "a", "b", "c")
    assert run(sm, "LSET", "l", "1", "B") == OK
    assert run(sm, "LSET", "l", "-1", "C") == OK
    assert run(sm, "LSET", "l", "3", "x") == Error("ERR index out of range")
    assert items(sm, "l") == b("a", "B", "C")


def test_lrem_directions(sm: StateMachine) -> None:
    run(sm, "RPUSH", "l", *"xaxbxcx")
    assert run(sm, "LREM", "l", "2", "x") == 2
    assert items(sm, "l") == b("a", "b", "x", "c", "x")
    assert run(sm, "LREM", "l", "-1", "x") == 1
    assert items(sm, "l") == b("a", "b", "x", "c")
    assert run(sm, "LREM", "l", "0", "zz") == 0
    run(sm, "RPUSH", "m", "q", "q")
    assert run(sm, "LREM", "m", "0", "q") == 2
    assert run(sm, "EXISTS", "m") == 0
    assert run(sm, "LREM", "none", "0", "q") == 0


def test_ltrim(sm: StateMachine) -> None:
    run(sm, "RPUSH", "l", *"abcdef")
    assert run(sm, "LTRIM", "l", "1", "-2") == OK
    assert items(sm, "l") == b("b", "c", "d", "e")
    assert run(sm, "LTRIM", "l", "5", "10") == OK
    assert run(sm, "EXISTS", "l") == 0
    assert run(sm, "LTRIM", "none", "0", "1") == OK


def test_linsert(sm: StateMachine) -> None:
    assert run(sm, "LINSERT", "none", "BEFORE", "a", "x") == 0
    run(sm, "RPUSH", "l", "a", "b", "a")
    assert run(sm, "LINSERT", "l", "BEFORE", "a", "x") == 4
    assert run(sm, "LINSERT", "l", "after", "b", "y") == 5
    assert run(sm, "LINSERT", "l", "AFTER", "zz", "y") == -1
    assert run(sm, "LINSERT", "l", "MIDDLE", "a", "y") == Error("ERR syntax error")
    assert items(sm, "l") == b("x", "a", "b", "y", "a")


def test_lpos_options(sm: StateMachine) -> None:
    run(sm, "RPUSH", "l", *"abcdcbc")
    assert run(sm, "LPOS", "l", "c") == 2
    assert run(sm, "LPOS", "l", "c", "RANK", "2") == 4
    assert run(sm, "LPOS", "l", "c", "RANK", "-1") == 6
    assert run(sm, "LPOS", "l", "c", "COUNT", "2") == [2, 4]
    assert run(sm, "LPOS", "l", "c", "COUNT", "0") == [2, 4, 6]
    assert run(sm, "LPOS", "l", "c", "RANK", "-1", "COUNT", "2") == [6, 4]
    assert run(sm, "LPOS", "l", "c", "COUNT", "0", "MAXLEN", "4") == [2]
    assert run(sm, "LPOS", "l", "z") is None
    assert run(sm, "LPOS", "l", "z", "COUNT", "0") == []
    assert run(sm, "LPOS", "none", "z") is None
    assert run(sm, "LPOS", "l", "c", "RANK", "0") == Error(
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
        "or use negative to start from the end of the list"
    )
    assert run(sm, "LPOS", "l", "c", "COUNT", "-1") == Error("ERR COUNT can't be negative")
    assert run(sm, "LPOS", "l", "c", "MAXLEN", "-1") == Error("ERR MAXLEN can't be negative")
    assert run(sm, "LPOS", "l", "c", "FOO", "1") == Error("ERR syntax error")
    assert run(sm, "LPOS", "l", "c", "RANK") == Error("ERR syntax error")


def test_lmove_and_rpoplpush(sm: StateMachine) -> None:
    run(sm, "RPUSH", "src", "1", "2", "3")
    assert run(sm, "LMOVE", "src", "dst", "LEFT", "RIGHT") == b"1"
    assert run(sm, "RPOPLPUSH", "src", "dst") == b"3"
    assert items(sm, "dst") == b("3", "1")
    assert run(sm, "LMOVE", "src", "src", "RIGHT", "LEFT") == b"2"  # rotation of one
    assert run(sm, "LMOVE", "dst", "dst", "LEFT", "RIGHT") == b"3"
    assert items(sm, "dst") == b("1", "3")
    assert run(sm, "LMOVE", "src", "dst", "UP", "LEFT") == Error("ERR syntax error")
    run(sm, "LPOP", "src")
    assert run(sm, "LMOVE", "src", "dst", "LEFT", "LEFT") is None
    run(sm, "SET", "str", "x")
    assert run(sm, "LMOVE", "dst", "str", "LEFT", "LEFT") == WRONGTYPE
    assert items(sm, "dst") == b("1", "3")  # nothing moved on the error


def test_blocking_pops_try_once(sm: StateMachine) -> None:
    assert run(sm, "BLPOP", "a", "b", "0") is NULL_ARRAY
    run(sm, "RPUSH", "b", "1", "2")
    assert run(sm, "BLPOP", "a", "b", "1.5") == [b"b", b"1"]
    assert run(sm, "BRPOP", "a", "b", "0") == [b"b", b"2"]
    assert run(sm, "EXISTS", "b") == 0
    assert run(sm, "BLPOP", "a", "-1") == Error("ERR timeout is negative")
    assert run(sm, "BLPOP", "a", "abc") == Error("ERR timeout is not a float or out of range")
    assert run(sm, "BLPOP", "a", "inf") == Error("ERR timeout is out of range")
    run(sm, "RPUSH", "s", "x", "y")
    assert run(sm, "BLMOVE", "s", "d", "RIGHT", "LEFT", "0") == b"y"
    assert run(sm, "BRPOPLPUSH", "s", "d", "0") == b"x"
    assert run(sm, "BLMOVE", "s", "d", "RIGHT", "LEFT", "0") is None
    assert run(sm, "BRPOPLPUSH", "s", "d", "-2") == Error("ERR timeout is negative")
    assert run(sm, "BLMOVE", "s", "d", "UP", "LEFT", "-2") == Error("ERR syntax error")
    run(sm, "SET", "str", "v")
    assert run(sm, "BLPOP", "str", "0") == WRONGTYPE


def test_parse_timeout_ms() -> None:
    assert parse_timeout_ms(b"0") == 0
    assert parse_timeout_ms(b"1.5") == 1500
    assert parse_timeout_ms(b"0.0009") == 0


def test_blocking_specs_have_keys_and_flags() -> None:
    from raftredis.commands import COMMANDS

    assert COMMANDS["blpop"].keys([b"BLPOP", b"a", b"b", b"0"]) == [b"a", b"b"]
    assert COMMANDS["blmove"].keys([b"BLMOVE", b"s", b"d", b"LEFT", b"LEFT", b"0"]) == [b"s", b"d"]
    for name in ("blpop", "brpop", "blmove", "brpoplpush"):
        assert "blocking" in COMMANDS[name].flags


def test_wrongtype(sm: StateMachine) -> None:
    run(sm, "SET", "s", "x")
    for cmd in (
        ("LPUSH", "s", "a"), ("RPUSHX", "s", "a"), ("LPOP", "s"), ("LLEN", "s"),
        ("LRANGE", "s", "0", "1"), ("LINDEX", "s", "0"), ("LSET", "s", "0", "a"),
        ("LREM", "s", "0", "a"), ("LTRIM", "s", "0", "1"), ("LINSERT", "s", "BEFORE", "a", "b"),
        ("LPOS", "s", "a"), ("RPOPLPUSH", "s", "d"),
    ):
        assert run(sm, *cmd) == WRONGTYPE, cmd


def test_snapshot_round_trip_and_encoding(sm: StateMachine) -> None:
    run(sm, "RPUSH", "l", "a", "b", b"\x00")
    run(sm, "RPUSH", "big", *["x" * 100] * 100)
    assert run(sm, "OBJECT", "ENCODING", "l") == b"listpack"
    assert run(sm, "OBJECT", "ENCODING", "big") == b"quicklist"
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    other = StateMachine()
    other.restore_snapshot(io.BytesIO(buf.getvalue()))
    assert items(other, "l") == [b"a", b"b", b"\x00"]
    assert run(other, "LLEN", "big") == 100
    assert run(other, "LPUSH", "l", "z") == 4
