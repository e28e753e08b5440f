"""Set commands at the StateMachine level: behaviour, options, errors, determinism."""

from __future__ import annotations

import io

import pytest

from raftredis.commands import COMMANDS
from raftredis.reply import WRONGTYPE, Error, Set, Status
from raftredis.statemachine import StateMachine

NOW = 1_000_000


def run(sm: StateMachine, *args: bytes | str, seed: int = 1) -> object:
    return sm.apply([a if isinstance(a, bytes) else a.encode() for a in args], NOW, seed)


def members(sm: StateMachine, key: str) -> set[bytes]:
    r = run(sm, "SMEMBERS", key)
    assert isinstance(r, Set)
    return set(r)


def bs(*xs: str) -> set[bytes]:
    return {x.encode() for x in xs}


@pytest.fixture
def sm() -> StateMachine:
    return StateMachine()


def test_sadd_srem_scard(sm: StateMachine) -> None:
    assert run(sm, "SADD", "s", "a", "b", "a") == 2
    assert run(sm, "SADD", "s", "b", "c") == 1
    assert run(sm, "SCARD", "s") == 3
    assert run(sm, "SCARD", "none") == 0
    assert run(sm, "SREM", "s", "a", "zz") == 1
    assert members(sm, "s") == bs("b", "c")
    assert run(sm, "SREM", "s", "b", "c") == 2
    assert run(sm, "EXISTS", "s") == 0
    assert run(sm, "SMEMBERS", "s") == Set()
    assert run(sm, "TYPE", "t") == Status("none")


def test_membership(sm: StateMachine) -> None:
    run(sm, "SADD", "s", "a", "b")
    assert run(sm, "SISMEMBER", "s", "a") == 1
    assert run(sm, "SISMEMBER", "s", "z") == 0
    assert run(sm, "SISMEMBER", "none", "a") == 0
    assert run(sm, "SMISMEMBER", "s", "a", "z", "b") == [1, 0, 1]
    assert run(sm, "SMISMEMBER", "none", "a", "b") == [0, 0]


def test_spop(sm: StateMachine) -> None:
    run(sm, "SADD", "s", *[str(i) for i in range(10)])
    one = run(sm, "SPOP", "s")
    assert isinstance(one, bytes) and run(sm, "SISMEMBER", "s", one) == 0
    three = run(sm, "SPOP", "s", "3")
    assert isinstance(three, Set) and len(set(three)) == 3
    assert run(sm, "SCARD", "s") == 6
    assert run(sm, "SPOP", "s", "0") == Set()
    rest = run(sm, "SPOP", "s", "100")
    assert isinstance(rest, Set) and len(rest) == 6
    assert set(rest) | set(three) | {one} == {str(i).encode() for i in range(10)}
    assert run(sm, "EXISTS", "s") == 0
    assert run(sm, "SPOP", "s") is None
    assert run(sm, "SPOP", "s", "2") == Set()
    assert run(sm, "SPOP", "s", "-1") == Error("ERR value is out of range, must be positive")
    assert run(sm, "SPOP", "s", "1", "2") == Error("ERR syntax error")


def test_random_picks_same_on_every_replica() -> None:
    a, b = StateMachine(), StateMachine()
    for sm in (a, b):
        run(sm, "SADD", "s", *[f"m{i}" for i in range(200)])
    for seed in range(10):
        assert run(a, "SRANDMEMBER", "s", "7", seed=seed) == run(b, "SRANDMEMBER", "s", "7", seed=seed)
        assert run(a, "SPOP", "s", seed=seed) == run(b, "SPOP", "s", seed=seed)
        assert run(a, "SPOP", "s", "3", seed=seed) == run(b, "SPOP", "s", "3", seed=seed)
    assert run(a, "SMEMBERS", "s") == run(b, "SMEMBERS", "s")


def test_srandmember(sm: StateMachine) -> None:
    assert run(sm, "SRANDMEMBER", "none") is None
    assert run(sm, "SRANDMEMBER", "none", "5") == []
    run(sm, "SADD", "s", "a", "b", "c")
    assert run(sm, "SRANDMEMBER", "s") in (b"a", b"b", b"c")
    two = run(sm, "SRANDMEMBER", "s", "2")
    assert isinstance(two, list) and len(set(two)) == 2
    assert sorted(run(sm, "SRANDMEMBER", "s", "10")) == [b"a", b"b", b"c"]  # type: ignore[arg-type]
    many = run(sm, "SRANDMEMBER", "s", "-10")
    assert isinstance(many, list) and len(many) == 10 and set(many) <= bs("a", "b", "c")
    assert run(sm, "SRANDMEMBER", "s", "0") == []
    assert run(sm, "SCARD", "s") == 3
    assert run(sm, "SRANDMEMBER", "s", "x") == Error("ERR value is not an integer or out of range")


def test_algebra(sm: StateMachine) -> None:
    run(sm, "SADD", "a", "1", "2", "3", "4")
    run(sm, "SADD", "b", "3", "4", "5")
    run(sm, "SADD", "c", "4", "6")
    assert set(run(sm, "SINTER", "a", "b")) == bs("3", "4")  # type: ignore[arg-type]
    assert set(run(sm, "SINTER", "a", "b", "c")) == bs("4")  # type: ignore[arg-type]
    assert run(sm, "SINTER", "a", "none") == Set()
    assert set(run(sm, "SUNION", "a", "b", "none")) == bs("1", "2", "3", "4", "5")  # type: ignore[arg-type]
    assert set(run(sm, "SDIFF", "a", "b", "c")) == bs("1", "2")  # type: ignore[arg-type]
    assert run(sm, "SDIFF", "none", "a") == Set()
    assert isinstance(run(sm, "SUNION", "a"), Set)


def test_store_forms(sm: StateMachine) -> None:
    run(sm, "SADD", "a", "1", "2", "3")
    run(sm, "SADD", "b", "2", "3", "4")
    assert run(sm, "SINTERSTORE", "d", "a", "b") == 2
    assert members(sm, "d") == bs("2", "3")
    assert run(sm, "SUNIONSTORE", "d", "a", "b") == 4
    assert run(sm, "SDIFFSTORE", "d", "a", "b") == 1
    assert members(sm, "d") == bs("1")
    # destination may be a source; an empty result deletes it; a TTL does not survive
    assert run(sm, "SUNIONSTORE", "a", "a", "b") == 4
    run(sm, "EXPIRE", "d", "100")
    assert run(sm, "SINTERSTORE", "d", "a", "none") == 0
    assert run(sm, "EXISTS", "d") == 0
    run(sm, "SET", "str", "x")
    assert run(sm, "SUNIONSTORE", "str", "a") == 4  # overwrites any type
    assert run(sm, "TYPE", "str") == Status("set")


def test_sintercard(sm: StateMachine) -> None:
    run(sm, "SADD", "a", "1", "2", "3", "4")
    run(sm, "SADD", "b", "2", "3", "4", "5")
    assert run(sm, "SINTERCARD", "2", "a", "b") == 3
    assert run(sm, "SINTERCARD", "2", "a", "b", "LIMIT", "2") == 2
    assert run(sm, "SINTERCARD", "2", "a", "b", "LIMIT", "0") == 3
    assert run(sm, "SINTERCARD", "1", "none") == 0
    assert run(sm, "SINTERCARD", "0", "a") == Error("ERR numkeys should be greater than 0")
    assert run(sm, "SINTERCARD", "x", "a") == Error("ERR numkeys should be greater than 0")
    assert run(sm, "SINTERCARD", "3", "a", "b") == Error("ERR Number of keys can't be greater than number of args")
    assert run(sm, "SINTERCARD", "2", "a", "b", "LIMIT", "-1") == Error("ERR LIMIT can't be negative")
    assert run(sm, "SINTERCARD", "1", "a", "b") == Error("ERR syntax error")
    spec = COMMANDS["sintercard"]
    assert spec.keys([b"SINTERCARD", b"2", b"a", b"b", b"LIMIT", b"1"]) == [b"a", b"b"]
    assert spec.keys([b"SINTERCARD", b"9", b"a"]) == []
    assert spec.movablekeys


def test_smove(sm: StateMachine) -> None:
    run(sm, "SADD", "src", "a", "b")
    assert run(sm, "SMOVE", "src", "dst", "a") == 1
    assert run(sm, "SMOVE", "src", "dst", "zz") == 0
    assert run(sm, "SMOVE", "src", "src", "b") == 1
    assert run(sm, "SMOVE", "src", "dst", "b") == 1
    assert run(sm, "EXISTS", "src") == 0
    assert members(sm, "dst") == bs("a", "b")
    run(sm, "SET", "str", "x")
    assert run(sm, "SMOVE", "none", "str", "a") == WRONGTYPE
    assert run(sm, "SMOVE", "dst", "str", "a") == WRONGTYPE
    assert members(sm, "dst") == bs("a", "b")


def test_wrongtype(sm: StateMachine) -> None:
    run(sm, "SET", "str", "x")
    run(sm, "SADD", "s", "a")
    for cmd in (
        ("SADD", "str", "a"), ("SREM", "str", "a"), ("SMEMBERS", "str"), ("SISMEMBER", "str", "a"),
        ("SMISMEMBER", "str", "a"), ("SCARD", "str"), ("SPOP", "str"), ("SRANDMEMBER", "str"),
        ("SINTER", "s", "str"), ("SUNION", "str", "s"), ("SDIFF", "s", "str"),
        ("SINTERSTORE", "d", "none", "str"), ("SINTERCARD", "2", "s", "str"), ("SSCAN", "str", "0"),
    ):
        assert run(sm, *cmd) == WRONGTYPE, cmd
    assert run(sm, "EXISTS", "d") == 0


def test_sscan_and_encodings(sm: StateMachine) -> None:
    run(sm, "SADD", "s", "1", "2", "3")
    assert run(sm, "OBJECT", "ENCODING", "s") == b"intset"
    r = run(sm, "SSCAN", "s", "0", "MATCH", "[12]")
    assert r == [b"0", [b"1", b"2"]]
    run(sm, "SADD", "s", "a")
    assert run(sm, "OBJECT", "ENCODING", "s") == b"listpack"
    run(sm, "SADD", "big", *[f"m{i}" for i in range(500)])
    assert run(sm, "OBJECT", "ENCODING", "big") == b"hashtable"
    seen: list[bytes] = []
    cursor = b"0"
    for _ in range(1000):
        reply = run(sm, "SSCAN", "big", cursor, "COUNT", "20")
        assert isinstance(reply, list)
        cursor, got = reply
        seen.extend(got)
        run(sm, "SREM", "big", "m0")
        if cursor == b"0":
            break
    assert cursor == b"0"
    assert set(seen) >= {f"m{i}".encode() for i in range(1, 500)}
    assert len(seen) == len(set(seen))


def test_snapshot_round_trip_keeps_order(sm: StateMachine) -> None:
    run(sm, "SADD", "s", *[f"m{i}" for i in range(50)])
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    other = StateMachine()
    other.restore_snapshot(io.BytesIO(buf.getvalue()))
    assert run(other, "SMEMBERS", "s") == run(sm, "SMEMBERS", "s")
    assert run(other, "SPOP", "s", "5", seed=9) == run(sm, "SPOP", "s", "5", seed=9)
