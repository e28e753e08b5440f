"""The command table. Importing this package registers every command.

Connection, server, cluster, transaction and session commands are specified here (their
handlers live in raftredis.server, or the state machine's session table); data commands
are declared once, spec and handler together, by the state machine's family modules,
and `data` turns them into specs.
"""

from __future__ import annotations

from raftredis.commands import (  # noqa: F401  (each module registers its specs)
    admin,
    cluster,
    connection,
    data,
    pubsub,
    server,
    sessions,
    transactions,
)
from raftredis.commands.spec import COMMANDS, CommandSpec, Route, lookup, register

__all__ = ["COMMANDS", "CommandSpec", "Route", "lookup", "register"]
