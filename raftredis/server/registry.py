"""The table of local command handlers (connection, admin, pub/sub, ...) and what the
handler modules share; dispatch reads the table, the modules fill it. Its own module
so that dispatch can import the handler modules it calls into without a cycle."""

from __future__ import annotations

from collections.abc import Callable

from raftredis.reply import Status
from raftredis.server.client import ClientState
from raftredis.server.state import ServerState

Handler = Callable[[ServerState, ClientState, list[bytes]], object]
# Local handlers by spec name ("ping", "config|get", ...); filled by the handler modules.
HANDLERS: dict[str, Handler] = {}


def handler(*names: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return deco


def help_lines(name: str, lines: list[str]) -> list[object]:
    """A container's HELP reply, as Redis words it."""
    head = f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    return [Status(x) for x in [head, *lines, "HELP", "    Print this help."]]
