"""The command table's shape: one CommandSpec per command.

`raftredis.commands` imports every module that registers specs, so the table is complete
once the package is imported. Connection/admin commands are specified in this package
(`connection`, `server`, `cluster`, `transactions`, `sessions`) and handled in
`raftredis.server`; data commands are declared once, spec and handler together, by the
state machine's family modules (`commands.data` turns those into specs). The table
drives: arity checks, COMMAND / COMMAND INFO / COMMAND DOCS, key extraction for the
CRC16 slot in MOVED, and routing (`Route`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field


class Route(enum.IntEnum):
    """Where a command runs in the cluster."""

    LOCAL = 0  # answered by the node that received it (PING, HELLO, CLUSTER, INFO, ...)
    WRITE = 1  # proposed through the Raft log on the leader
    READ = 2  # served on the leader after a ReadIndex round (or a follower with READONLY)


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str  # lower case, e.g. "set"; container commands use "config|get" style for subcommands
    arity: int  # Redis convention: N = exactly N args (name included), -N = at least N
    flags: frozenset[str]  # Redis 7 flags: write, readonly, admin, fast, denyoom, noscript, ...
    first_key: int = 0  # 0 = no keys
    last_key: int = 0  # -1 = last argument, -2 = second to last, ...
    step: int = 0
    route: Route = Route.LOCAL
    acl_categories: frozenset[str] = frozenset()
    summary: str = ""
    since: str = "1.0.0"
    group: str = "generic"
    # For commands whose keys cannot be given by (first, last, step) (e.g. SINTERCARD numkeys ...):
    # returns the argument positions of the keys, given the full argument list.
    key_fn: Callable[[list[bytes]], list[int]] | None = field(default=None, compare=False)
    subcommands: tuple[CommandSpec, ...] = ()

    def check_arity(self, argc: int) -> bool:
        return argc == self.arity if self.arity >= 0 else argc >= -self.arity

    def key_positions(self, args: list[bytes]) -> list[int]:
        """Argument positions (0 = the command name) that hold keys."""
        if self.key_fn is not None:
            return self.key_fn(args)
        if self.first_key <= 0:
            return []
        n = len(args)
        last = self.last_key if self.last_key >= 0 else n + self.last_key
        last = min(last, n - 1)
        step = self.step or 1
        return list(range(self.first_key, last + 1, step))

    def keys(self, args: list[bytes]) -> list[bytes]:
        return [args[i] for i in self.key_positions(args)]

    @property
    def movablekeys(self) -> bool:
        return self.key_fn is not None


COMMANDS: dict[str, CommandSpec] = {}
# Lookup by the raw command name as sent, any case; filled lazily.
_BY_BYTES: dict[bytes, CommandSpec] = {}


def register(*specs: CommandSpec) -> None:
    for spec in specs:
        if spec.name in COMMANDS:
            raise ValueError(f"command {spec.name!r} registered twice")
        COMMANDS[spec.name] = spec


def lookup(name: bytes) -> CommandSpec | None:
    """Find a command by its name as sent by the client (case-insensitive)."""
    spec = _BY_BYTES.get(name)
    if spec is None:
        try:
            spec = COMMANDS.get(name.decode("ascii").lower())
        except UnicodeDecodeError:
            return None
        if spec is not None and len(_BY_BYTES) < 4096:
            _BY_BYTES[name] = spec
    return spec


_SUBCOMMANDS: dict[str, dict[str, CommandSpec]] = {}  # container -> its subcommands by name


def find_subcommand(spec: CommandSpec, sub: bytes) -> CommandSpec | None:
    """A container's subcommand by its name as sent (case-insensitive), or None."""
    table = _SUBCOMMANDS.get(spec.name)
    if table is None:
        table = {s.name.split("|", 1)[1]: s for s in spec.subcommands}
        _SUBCOMMANDS[spec.name] = table
    try:
        return table.get(sub.decode("ascii").lower())
    except UnicodeDecodeError:
        return None
