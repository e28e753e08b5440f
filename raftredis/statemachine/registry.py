"""Data commands, each declared once by its family module: spec fields and handler together.

    command = Family("string", "string").command

    @command("get", 2, "readonly fast", summary="Returns the string value of a key.")
    def cmd_get(ctx: Ctx, args: list[bytes]) -> object: ...

The decorator records a `CommandDef` in `DEFS` and its handler in `HANDLERS`, so a data
command cannot have a spec without a handler or a handler without a spec.
`raftredis.commands` turns every `CommandDef` into the `CommandSpec` the server routes
by; this module imports nothing from `raftredis.commands`, so either package may be
imported first.

A handler is `fn(ctx, args) -> reply` where args[0] is the command name as sent.
It raises CommandError for bad input (the machine turns it into an Error reply)
and must be deterministic: time comes from `ctx.now`, randomness from `ctx.rng()`.
Whether a command may write is decided by its spec's route (from its flags), not here.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raftredis.statemachine.db import Keyspace


class Ctx:
    """What a handler may use: the keyspace, the entry's time and its random seed."""

    __slots__ = ("db", "now", "seed", "write", "_rng", "scripting")

    def __init__(self, db: Keyspace) -> None:
        self.db = db
        self.scripting: Any = None  # the machine's Scripting (EVAL, FCALL, ...)
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
KeyFn = Callable[[list[bytes]], list[int]]


@dataclass(frozen=True, slots=True)
class CommandDef:
    """One data command as declared (Redis 7 arity, flags and key positions).

    Route and ACL categories follow from the flags as in Redis 7 (write/read, fast/slow,
    blocking); `acl` adds the family's category and any extra ones."""

    name: str  # lower case; a container's subcommand is "container|sub"
    arity: int  # N = exactly N args (name included), -N = at least N
    flags: frozenset[str]
    first: int  # key positions: 0 = no keys; last -1 = last argument
    last: int
    step: int
    group: str  # COMMAND DOCS group
    acl: frozenset[str]  # categories without '@', beyond those the flags imply
    since: str
    summary: str
    key_fn: KeyFn | None = None  # keys that (first, last, step) cannot describe
    handler: Handler | None = None  # None only for a container's subcommands
    subcommands: tuple[CommandDef, ...] = ()
    # Applied through the log although Redis does not flag it `write` (EVAL, SCRIPT LOAD:
    # they change replicated state; COMMAND INFO keeps Redis's flags).
    replicated: bool = False


DEFS: dict[str, CommandDef] = {}
HANDLERS: dict[str, Handler] = {}


def _add_handler(name: str, fn: Handler) -> None:
    if name in HANDLERS:
        raise ValueError(f"handler for {name!r} registered twice")
    HANDLERS[name] = fn


class Family:
    """The defaults one family's commands share: COMMAND DOCS group, ACL category and
    the version most of them appeared in."""

    def __init__(self, group: str, category: str = "", since: str = "1.0.0") -> None:
        self.group = group
        self.category = category
        self.since = since

    def define(self, name: str, arity: int, flags: str, first: int = 1, last: int = 1,
               step: int = 1, *, acl: str = "", since: str = "", summary: str = "",
               key_fn: KeyFn | None = None, group: str = "", handler: Handler | None = None,
               subcommands: tuple[CommandDef, ...] = (), replicated: bool = False) -> CommandDef:
        """A CommandDef with this family's defaults (not registered: see `command`)."""
        cats = set(acl.split())
        if self.category and not subcommands:  # a Redis 7 container has no category itself
            cats.add(self.category)
        return CommandDef(
            name=name, arity=arity, flags=frozenset(flags.split()), first=first, last=last,
            step=step, group=group or self.group, acl=frozenset(cats),
            since=since or self.since, summary=summary, key_fn=key_fn, handler=handler,
            subcommands=subcommands, replicated=replicated,
        )

    def command(self, name: str, arity: int, flags: str, first: int = 1, last: int = 1,
                step: int = 1, *, acl: str = "", since: str = "", summary: str = "",
                key_fn: KeyFn | None = None, group: str = "",
                subcommands: tuple[CommandDef, ...] = (),
                replicated: bool = False) -> Callable[[Handler], Handler]:
        """Decorator: declare the command `name` with the decorated function as handler.
        Stack several to give one function several names (DEL and UNLINK)."""

        def deco(fn: Handler) -> Handler:
            d = self.define(name, arity, flags, first, last, step, acl=acl, since=since,
                            summary=summary, key_fn=key_fn, group=group, handler=fn,
                            subcommands=subcommands, replicated=replicated)
            if name in DEFS:
                raise ValueError(f"command {name!r} defined twice")
            _add_handler(name, fn)
            DEFS[name] = d
            return fn

        return deco


def handler(*names: str) -> Callable[[Handler], Handler]:
    """A handler for commands whose spec lives in `raftredis.commands` because they are
    not plain data commands (SESSION.*, which the machine runs around the session table).
    Data commands use `Family.command`."""

    def deco(fn: Handler) -> Handler:
        for name in names:
            _add_handler(name, fn)
        return fn

    return deco
