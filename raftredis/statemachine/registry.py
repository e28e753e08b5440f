"""Data command handlers, registered by name by the family modules.

A handler is `fn(ctx, args) -> reply` where args[0] is the command name as sent.
It raises CommandError for bad input (the machine turns it into an Error reply)
and must be deterministic: time comes from `ctx.now`, randomness from `ctx.rng()`.
Whether a command may write is decided by its CommandSpec's route, not here.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from raftredis.statemachine.db import Keyspace


class Ctx:
    """What a handler may use: the keyspace, the entry's time and its random seed."""

    __slots__ = ("db", "now", "seed", "write", "_rng")

    def __init__(self, db: Keyspace) -> None:
        self.db = db
        self.now = 0
        self.seed = 0
        self.write = False  # True when applying a log entry, False for READ
        self._rng: random.Random | None = None

    def reset(self, now: int, seed: int, write: bool) -> None:
        self.now = now
        self.seed = seed
        self.write = write
        self._rng = None

    def rng(self) -> random.Random:
        """A generator seeded from the entry; commands of one MULTI share it in order."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng


Handler = Callable[[Ctx, list[bytes]], object]

HANDLERS: dict[str, Handler] = {}


def handler(*names: str) -> Callable[[Handler], Handler]:
    """Decorator: `@handler("get")` registers fn for the command (lower-case name)."""

    def deco(fn: Handler) -> Handler:
        for name in names:
            if name in HANDLERS:
                raise ValueError(f"handler for {name!r} registered twice")
            HANDLERS[name] = fn
        return fn

    return deco
