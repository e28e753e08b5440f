"""The command table. Importing this package registers every command family."""

from __future__ import annotations

import importlib

from raftredis.commands.spec import COMMANDS, CommandSpec, Route, lookup, register

# Each family module calls register(); listed here so the table is complete on import.
_FAMILIES = (
    "connection",
    "server",
    "cluster",
    "strings",
    "keyspace",
    "hashes",
    "lists",
    "sets",
    "zsets",
    "transactions",
    "sessions",
)

for _name in _FAMILIES:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:  # a family not written yet
        if _e.name != f"{__name__}.{_name}":
            raise

__all__ = ["COMMANDS", "CommandSpec", "Route", "lookup", "register"]
