"""What the client-port server needs from whatever executes data commands.

The server owns connections, parsing, connection-level commands (PING, HELLO,
AUTH, CLIENT, SELECT, QUIT, READONLY/READWRITE/ASKING, COMMAND, CONFIG,
MULTI/DISCARD queueing, TIME) and reply encoding. Everything that touches the
keyspace or the cluster goes through a Backend:

* `raftredis.replica.ReplicaGroup` — the real one: a Raft group of one or more nodes.
  It decides routing: run through the log (Route.WRITE), ReadIndex then read
  (Route.READ), or answer `MOVED <slot> <host>:<port>` / `CLUSTERDOWN`.
* `raftredis.server.local_backend.LocalBackend` — applies commands directly to
  a StateMachine with the wall clock; for tests of the front end only.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from raftredis.commands.spec import CommandSpec


class ConnInfo(Protocol):
    """The parts of a client connection's state a backend may look at."""

    id: int
    readonly: bool  # READONLY was sent: stale reads on a follower are allowed
    resp: int  # 2 or 3


class Backend(Protocol):
    def execute(
        self, conn: ConnInfo, spec: CommandSpec, args: list[bytes]
    ) -> object | asyncio.Future:
        """Run one data command (spec.route is WRITE or READ; arity already checked).

        Returns either a reply value (see raftredis.reply) right away — e.g. a MOVED
        error, or a read served locally — or a Future that resolves to one. Futures
        never raise: failures resolve to Error replies. Replies to one connection are
        written in request order by the server regardless of completion order."""
        ...

    def execute_multi(
        self, conn: ConnInfo, commands: list[tuple[CommandSpec, list[bytes]]]
    ) -> object | asyncio.Future:
        """Run a MULTI/EXEC transaction atomically (one log entry). Resolves to the list
        of replies, or an Error (e.g. MOVED before anything was applied)."""
        ...

    def cluster_command(self, conn: ConnInfo, args: list[bytes]) -> object:
        """CLUSTER <subcommand> ... (SLOTS, SHARDS, NODES, INFO, MYID, KEYSLOT, ...)."""
        ...

    def info_sections(self) -> dict[str, list[tuple[str, object]]]:
        """INFO sections the backend owns (replication, persistence, keyspace, raft,
        cluster, ...) as ordered (field, value) pairs; the server adds server,
        clients, memory, stats, cpu and renders them."""
        ...

    # Optional hooks: the server uses them when the backend has them (the Node does).
    #   watch(conn, keys) -> reply              WATCH: note what EXEC must check, or MOVED
    #   check_route(conn, spec, args) -> Error | None
    #                                           inside MULTI: redirect before queueing
    #   config_set(conn, pairs) -> reply | Future
    #                                           CONFIG SET, cluster-wide through the log
