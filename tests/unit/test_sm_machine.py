"""The machine as a whole: determinism across replicas, MULTI, the command table, glob."""

from __future__ import annotations

import io
import random

import pytest

from raftredis.commands import COMMANDS, Route
from raftredis.reply import OK, Error
from raftredis.statemachine import StateMachine
from raftredis.statemachine.glob import glob_match
from raftredis.statemachine.registry import HANDLERS
from tests.unit.test_sm_support import NOW, WRONGTYPE, M, make_wrongtype

OPS = [
    lambda r, k: [b"SET", k, b"%d" % r.randrange(100)],
    lambda r, k: [b"SET", k, b"v", b"PX", b"%d" % r.randrange(1, 50)],
    lambda r, k: [b"INCR", k],
    lambda r, k: [b"APPEND", k, b"x"],
    lambda r, k: [b"DEL", k],
    lambda r, k: [b"PEXPIRE", k, b"%d" % r.randrange(-5, 50)],
    lambda r, k: [b"RENAME", k, b"k%d" % r.randrange(20)],
    lambda r, k: [b"RANDOMKEY"],
    lambda r, k: [b"GETEX", k, b"PERSIST"],
    lambda r, k: [b"SETRANGE", k, b"%d" % r.randrange(10), b"ab"],
    lambda r, k: [b"COPY", k, b"k%d" % r.randrange(20), b"REPLACE"],
    lambda r, k: [b"INCRBYFLOAT", k, b"0.25"],
]


def entries(seed: int, n: int) -> list[tuple[list[bytes], int, int]]:
    r = random.Random(seed)
    now = NOW
    out = []
    for _ in range(n):
        now += r.randrange(0, 5)
        key = b"k%d" % r.randrange(20)
        out.append((r.choice(OPS)(r, key), now, r.randrange(2**32)))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_two_replicas_same_state_and_replies(seed: int) -> None:
    a, b = StateMachine(), StateMachine()
    log = entries(seed, 2000)
    replies_a, replies_b = [], []
    for i, (args, now, s) in enumerate(log):
        if i % 100 == 0:  # the leader proposes expiry at times; both apply the same entry
            expired = a.expired_keys(now, 10)
            assert a.apply_expire(expired, now) == b.apply_expire(expired, now)
        replies_a.append(a.apply(list(args), now, s))
        replies_b.append(b.apply(list(args), now, s))
    assert replies_a == replies_b
    assert a.db.data == b.db.data and a.db.expires == b.db.expires
    buf_a, buf_b = io.BytesIO(), io.BytesIO()
    a.write_snapshot(buf_a)
    b.write_snapshot(buf_b)
    assert buf_a.getvalue() == buf_b.getvalue()
    # A replica restored from a snapshot continues identically.
    c = StateMachine()
    c.restore_snapshot(io.BytesIO(buf_a.getvalue()))
    tail = entries(seed + 100, 300)
    assert [a.apply(list(x), n, s) for x, n, s in tail] == [c.apply(list(x), n, s) for x, n, s in tail]
    assert a.db.data == c.db.data and a.db.expires == c.db.expires


def test_multi_runs_all_and_keeps_going_after_errors() -> None:
    m = M()
    make_wrongtype(m)
    replies = m.sm.apply_multi(
        [[b"SET", b"a", b"1"], [b"INCR", b"h"], [b"INCR", b"a"], [b"GET", b"a"]], NOW, 1
    )
    assert replies == [OK, WRONGTYPE, 2, b"2"]


def test_multi_aborts_on_unknown_or_arity() -> None:
    m = M()
    abort = Error("EXECABORT Transaction discarded because of previous errors.")
    assert m.sm.apply_multi([[b"SET", b"a", b"1"], [b"NOPE"]], NOW) == abort
    assert m.sm.apply_multi([[b"SET", b"a", b"1"], [b"GET"]], NOW) == abort
    assert m.sm.apply_multi([[b"SET", b"a", b"1"], []], NOW) == abort
    assert m.sm.dbsize() == 0
    assert m.sm.apply_multi([], NOW) == []


def test_multi_randomness_is_deterministic() -> None:
    a, b = M(), M()
    for m in (a, b):
        for i in range(30):
            m("SET", f"k{i}", "v")
    cmds = [[b"RANDOMKEY"]] * 5
    assert a.sm.apply_multi(cmds, NOW, 99) == b.sm.apply_multi(cmds, NOW, 99)


def test_every_handler_has_a_spec_and_vice_versa() -> None:
    for name in HANDLERS:
        assert name in COMMANDS, name
    for name, spec in COMMANDS.items():
        if spec.route is not Route.LOCAL:
            assert name in HANDLERS, name


def test_specs_route_and_keys() -> None:
    assert COMMANDS["get"].route is Route.READ
    assert COMMANDS["set"].route is Route.WRITE
    assert COMMANDS["mset"].keys([b"mset", b"a", b"1", b"b", b"2"]) == [b"a", b"b"]
    assert COMMANDS["rename"].keys([b"rename", b"a", b"b"]) == [b"a", b"b"]
    assert COMMANDS["keys"].keys([b"keys", b"*"]) == []
    assert COMMANDS["object"].keys([b"object", b"encoding", b"k"]) == [b"k"]
    assert COMMANDS["object"].keys([b"object", b"help"]) == []
    for name in ("get", "set", "del", "expire", "scan", "ttl", "incr"):
        assert "@" + ("write" if COMMANDS[name].route is Route.WRITE else "read") in (
            COMMANDS[name].acl_categories
        )


def test_handler_bug_becomes_error_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    from raftredis.statemachine import machine

    def boom(ctx: object, args: list[bytes]) -> object:
        raise RuntimeError("bug")

    entry = machine._resolve(b"strlen")
    assert entry is not None
    monkeypatch.setitem(machine._DISPATCH, b"strlen", (boom, *entry[1:]))
    monkeypatch.setattr(machine, "_BY_RAW", {})  # the by-raw-name cache must not keep boom
    sm = StateMachine()
    assert str(sm.apply([b"STRLEN", b"k"], NOW)).startswith("ERR internal error")


@pytest.mark.parametrize(
    "pattern,key,expected",
    [
        (b"*", b"", True),
        (b"*", b"anything", True),
        (b"h?llo", b"hello", True),
        (b"h?llo", b"hllo", False),
        (b"h*llo", b"hllo", True),
        (b"h*llo", b"heeeello", True),
        (b"h[ae]llo", b"hallo", True),
        (b"h[ae]llo", b"hillo", False),
        (b"h[^e]llo", b"hello", False),
        (b"h[^e]llo", b"hallo", True),
        (b"h[a-c]llo", b"hbllo", True),
        (b"h[c-a]llo", b"hbllo", True),  # reversed range swapped
        (b"h[a-c]llo", b"hdllo", False),
        (b"a\\*b", b"a*b", True),
        (b"a\\*b", b"axb", False),
        (b"[\\]]", b"]", True),
        (b"[abc", b"a", True),  # unterminated class runs to the end
        (b"[abc", b"ab", False),
        (b"ab\\", b"ab\\", True),  # trailing backslash is literal
        (b"a*b*c", b"aXbYc", True),
        (b"a*b*c", b"aXcYb", False),
        (b"*a*a*a*a*a*b", b"a" * 5000, False),  # no exponential blow-up
        (b"[]a]", b"]", False),
        (b"\x00*\xff", b"\x00mid\xff", True),
        (b"a?c", b"a\nc", True),
        (b"HELLO", b"hello", False),
    ],
)
def test_glob(pattern: bytes, key: bytes, expected: bool) -> None:
    assert glob_match(pattern, key) is expected
