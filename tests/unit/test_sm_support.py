"""Shared helpers for the state machine tests (no tests of its own)."""

from __future__ import annotations

from raftredis.reply import Error
from raftredis.statemachine import StateMachine
from raftredis.statemachine.values import TYPES_BY_NAME, ValueType, register_type

NOW = 1_700_000_000_000

NOT_INT = Error("ERR value is not an integer or out of range")
SYNTAX = Error("ERR syntax error")
WRONGTYPE = Error("WRONGTYPE Operation against a key holding the wrong kind of value")


def b(x: object) -> bytes:
    return x if isinstance(x, bytes) else str(x).encode()


def err(text: str) -> Error:
    return Error(text)


class M:
    """A state machine with a clock the test moves by hand."""

    def __init__(self) -> None:
        self.sm = StateMachine()
        self.now = NOW

    def __call__(self, *args: object) -> object:
        return self.sm.apply([b(a) for a in args], self.now)

    def read(self, *args: object) -> object:
        return self.sm.read([b(a) for a in args], self.now)


class FakeHash(dict):
    """A non-string value type so WRONGTYPE paths can be tested before hashes exist."""


if "testfake" not in TYPES_BY_NAME:
    register_type(
        ValueType(
            name="testfake",
            code=250,
            pytype=FakeHash,
            encode=lambda v: sorted(v.items()),
            decode=lambda d: FakeHash(d),
            copy=lambda v: FakeHash(v),
            encoding=lambda v: "hashtable",
        )
    )


def make_wrongtype(m: M, key: str = "h") -> None:
    m.sm.db.set(key.encode(), FakeHash({b"f": b"v"}))
