"""Hash commands at the StateMachine level: behaviour, options, errors, snapshots."""

from __future__ import annotations

import io

import pytest

from raftredis.reply import OK, WRONGTYPE, Error, Map, Pairs, Status
from raftredis.statemachine import StateMachine

NOW = 1_000_000


def run(sm: StateMachine, *args: bytes | str, seed: int = 1) -> object:
    return sm.apply([a if isinstance(a, bytes) else a.encode() for a in args], NOW, seed)


@pytest.fixture
def sm() -> StateMachine:
    return StateMachine()


def test_hset_hget_counts_new_fields(sm: StateMachine) -> None:
    assert run(sm, "HSET", "h", "a", "1", "b", "2") == 2
    assert run(sm, "HSET", "h", "a", "9", "c", "3") == 1
    assert run(sm, "HGET", "h", "a") == b"9"
    assert run(sm, "HGET", "h", "zz") is None
    assert run(sm, "HGET", "nokey", "a") is None
    assert run(sm, "HMSET", "h", "d", "4") == OK
    assert run(sm, "HLEN", "h") == 4
    assert run(sm, "TYPE", "h") == Status("hash")


def test_hset_odd_arguments_is_arity_error(sm: StateMachine) -> None:
    assert run(sm, "HSET", "h", "a", "1", "b") == Error("ERR wrong number of arguments for 'hset' command")
    assert run(sm, "HMSET", "h", "a") == Error("ERR wrong number of arguments for 'hmset' command")
    assert run(sm, "EXISTS", "h") == 0


def test_hgetall_keys_vals_in_insertion_order(sm: StateMachine) -> None:
    run(sm, "HSET", "h", "x", "1", "y", "2", "z", "3")
    all_ = run(sm, "HGETALL", "h")
    assert isinstance(all_, Map) and list(all_.items()) == [(b"x", b"1"), (b"y", b"2"), (b"z", b"3")]
    assert run(sm, "HKEYS", "h") == [b"x", b"y", b"z"]
    assert run(sm, "HVALS", "h") == [b"1", b"2", b"3"]
    assert run(sm, "HGETALL", "none") == Map()
    assert run(sm, "HMGET", "h", "x", "nope", "z") == [b"1", None, b"3"]
    assert run(sm, "HMGET", "none", "a", "b") == [None, None]


def test_hdel_removes_and_deletes_empty_hash(sm: StateMachine) -> None:
    run(sm, "HSET", "h", "a", "1", "b", "2")
    assert run(sm, "HDEL", "h", "a", "a", "zz") == 1
    assert run(sm, "HEXISTS", "h", "a") == 0
    assert run(sm, "HEXISTS", "h", "b") == 1
    assert run(sm, "HDEL", "h", "b") == 1
    assert run(sm, "EXISTS", "h") == 0
    assert run(sm, "HDEL", "h", "b") == 0


def test_hsetnx_and_hstrlen(sm: StateMachine) -> None:
    assert run(sm, "HSETNX", "h", "f", "hello") == 1
    assert run(sm, "HSETNX", "h", "f", "other") == 0
    assert run(sm, "HGET", "h", "f") == b"hello"
    assert run(sm, "HSTRLEN", "h", "f") == 5
    assert run(sm, "HSTRLEN", "h", "missing") == 0
    assert run(sm, "HSTRLEN", "nokey", "f") == 0


def test_hincrby_and_errors(sm: StateMachine) -> None:
    assert run(sm, "HINCRBY", "h", "n", "5") == 5
    assert run(sm, "HINCRBY", "h", "n", "-7") == -2
    run(sm, "HSET", "h", "s", "abc", "big", str(2**63 - 1))
    assert run(sm, "HINCRBY", "h", "s", "1") == Error("ERR hash value is not an integer")
    assert run(sm, "HINCRBY", "h", "n", "x") == Error("ERR value is not an integer or out of range")
    assert run(sm, "HINCRBY", "h", "big", "1") == Error("ERR increment or decrement would overflow")
    assert run(sm, "HGET", "h", "big") == str(2**63 - 1).encode()
    # a failed increment on a missing key creates nothing
    assert run(sm, "HINCRBY", "new", "f", "notanumber") == Error("ERR value is not an integer or out of range")
    assert run(sm, "EXISTS", "new") == 0


def test_hincrbyfloat_formats_like_redis(sm: StateMachine) -> None:
    assert run(sm, "HINCRBYFLOAT", "h", "f", "10.5") == b"10.5"
    assert run(sm, "HINCRBYFLOAT", "h", "f", "0.1") == b"10.6"
    assert run(sm, "HINCRBYFLOAT", "h", "f", "-5.6") == b"5"
    assert run(sm, "HINCRBYFLOAT", "h", "f", "5.0e3") == b"5005"
    run(sm, "HSET", "h", "s", "abc")
    assert run(sm, "HINCRBYFLOAT", "h", "s", "1") == Error("ERR hash value is not a float")
    assert run(sm, "HINCRBYFLOAT", "h", "f", "abc") == Error("ERR value is not a valid float")
    # Redis checks the increment itself first, then the result.
    assert run(sm, "HINCRBYFLOAT", "h", "f", "inf") == Error("ERR value is NaN or Infinity")
    run(sm, "HSET", "h", "big", "1.7e308")
    assert run(sm, "HINCRBYFLOAT", "h", "big", "1.7e308") == Error(
        "ERR increment would produce NaN or Infinity")


def test_wrongtype_everywhere(sm: StateMachine) -> None:
    run(sm, "SET", "s", "x")
    for cmd in (
        ("HSET", "s", "a", "1"), ("HGET", "s", "a"), ("HMGET", "s", "a"), ("HDEL", "s", "a"),
        ("HGETALL", "s"), ("HKEYS", "s"), ("HVALS", "s"), ("HLEN", "s"), ("HEXISTS", "s", "a"),
        ("HINCRBY", "s", "a", "1"), ("HINCRBYFLOAT", "s", "a", "1"), ("HSETNX", "s", "a", "1"),
        ("HSTRLEN", "s", "a"), ("HSCAN", "s", "0"), ("HRANDFIELD", "s"),
    ):
        assert run(sm, *cmd) == WRONGTYPE, cmd
    run(sm, "HSET", "h", "a", "1")
    assert run(sm, "GET", "h") == WRONGTYPE


def test_hrandfield_is_deterministic_per_seed(sm: StateMachine) -> None:
    run(sm, "HSET", "h", *[x for i in range(20) for x in (f"f{i}", f"v{i}")])
    other = StateMachine()
    run(other, "HSET", "h", *[x for i in range(20) for x in (f"f{i}", f"v{i}")])
    for seed in range(5):
        assert run(sm, "HRANDFIELD", "h", "5", seed=seed) == run(other, "HRANDFIELD", "h", "5", seed=seed)
    five = run(sm, "HRANDFIELD", "h", "5")
    assert isinstance(five, list) and len(five) == 5 and len(set(five)) == 5
    assert sorted(run(sm, "HRANDFIELD", "h", "100")) == sorted(f"f{i}".encode() for i in range(20))
    rep = run(sm, "HRANDFIELD", "h", "-50")
    assert isinstance(rep, list) and len(rep) == 50
    one = run(sm, "HRANDFIELD", "h")
    assert isinstance(one, bytes) and one.startswith(b"f")
    wv = run(sm, "HRANDFIELD", "h", "3", "WITHVALUES")
    assert isinstance(wv, Pairs) and len(wv) == 6
    for i in range(0, 6, 2):
        assert wv[i + 1] == b"v" + wv[i][1:]


def test_hrandfield_edges_and_errors(sm: StateMachine) -> None:
    assert run(sm, "HRANDFIELD", "none") is None
    assert run(sm, "HRANDFIELD", "none", "3") == []
    run(sm, "HSET", "h", "a", "1")
    assert run(sm, "HRANDFIELD", "h", "0") == []
    assert run(sm, "HRANDFIELD", "h", "1", "bogus") == Error("ERR syntax error")
    assert run(sm, "HRANDFIELD", "h", "x") == Error("ERR value is not an integer or out of range")
    assert run(sm, "HRANDFIELD", "h", str(-(2**63))) == Error("ERR value is out of range")


def test_hscan_small_and_large(sm: StateMachine) -> None:
    run(sm, "HSET", "h", "a", "1", "b", "2", "ab", "3")
    assert run(sm, "HSCAN", "h", "0") == [b"0", [b"a", b"1", b"b", b"2", b"ab", b"3"]]
    assert run(sm, "HSCAN", "h", "0", "MATCH", "a*") == [b"0", [b"a", b"1", b"ab", b"3"]]
    assert run(sm, "HSCAN", "h", "0", "NOVALUES") == [b"0", [b"a", b"b", b"ab"]]
    assert run(sm, "HSCAN", "h", "x") == Error("ERR invalid cursor")
    assert run(sm, "HSCAN", "h", "0", "COUNT", "0") == Error("ERR syntax error")
    assert run(sm, "HSCAN", "none", "0") == [b"0", []]
    # A big hash is walked in steps; fields deleted and added meanwhile do not make
    # the fields present throughout appear twice or go missing.
    n = 1000
    run(sm, "HSET", "big", *[x for i in range(n) for x in (f"k{i}", "v")])
    seen: list[bytes] = []
    cursor = b"0"
    steps = 0
    while True:
        reply = run(sm, "HSCAN", "big", cursor, "COUNT", "50")
        assert isinstance(reply, list)
        cursor, items = reply
        seen.extend(items[0::2])
        steps += 1
        if steps == 3:
            run(sm, "HDEL", "big", "k1", "k2")
            run(sm, "HSET", "big", "new1", "v", "new2", "v")
        if cursor == b"0":
            break
        assert steps < 200
    assert steps > 5
    must = {f"k{i}".encode() for i in range(3, n)}
    assert must <= set(seen)
    assert len(seen) == len(set(seen))


def test_snapshot_round_trip(sm: StateMachine) -> None:
    run(sm, "HSET", "h", "a", "1", "b", b"\x00\xff")
    run(sm, "PEXPIRE", "h", "5000")
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    other = StateMachine()
    other.restore_snapshot(io.BytesIO(buf.getvalue()))
    assert run(other, "HGETALL", "h") == Map({b"a": b"1", b"b": b"\x00\xff"})
    assert run(other, "PTTL", "h") == 5000
    assert run(other, "HSET", "h", "c", "3") == 1


def test_copy_is_independent_and_object_encoding(sm: StateMachine) -> None:
    run(sm, "HSET", "h", "a", "1")
    assert run(sm, "COPY", "h", "h2") == 1
    run(sm, "HSET", "h2", "b", "2")
    assert run(sm, "HLEN", "h") == 1
    assert run(sm, "OBJECT", "ENCODING", "h") == b"listpack"
    run(sm, "HSET", "h", "long", "x" * 100)
    assert run(sm, "OBJECT", "ENCODING", "h") == b"hashtable"


def test_reads_do_not_mutate_and_expired_hash_is_gone(sm: StateMachine) -> None:
    run(sm, "HSET", "h", "a", "1")
    run(sm, "PEXPIRE", "h", "10")
    assert sm.read([b"HGET", b"h", b"a"], NOW + 5) == b"1"
    assert sm.read([b"HGET", b"h", b"a"], NOW + 10) is None
    assert sm.read([b"HSET", b"h", b"a", b"1"], NOW) == Error("ERR command is not read-only")
    assert sm.apply([b"HSET", b"h", b"b", b"2"], NOW + 20) == 1
    assert sm.apply([b"PTTL", b"h"], NOW + 20) == -1  # an expired key's TTL does not carry over
