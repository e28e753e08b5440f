"""What all connections of one server share: backend, settings, the client registry,
statistics. Handlers receive it as `srv`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from raftredis.acl.check import may_stay_subscribed
from raftredis.acl.log import AclLog
from raftredis.acl.table import UserTable
from raftredis.acl.user import User
from raftredis.events import EventHub
from raftredis.server.backend import Backend
from raftredis.server.client import ClientState
from raftredis.server.cmdstats import CommandStats
from raftredis.server.instant import InstantStats
from raftredis.server.pause import ClientPause
from raftredis.server.settings import ServerSettings
from raftredis.server.slowlog import SlowLog

SERVER_NAME = "redis"
# The Redis version we present (CLIENT SETINFO and the RESP3 replies we give are 7.2's).
REDIS_VERSION = "7.2.0"
ERROR_KINDS_LIMIT = 128


class Connection(Protocol):
    """The server's view of one live connection (implemented by RespProtocol)."""

    client: ClientState

    def kill(self) -> None: ...

    def query_buffered(self) -> int: ...

    def pending_replies(self) -> int: ...

    def output_buffered(self) -> int: ...


@dataclass(slots=True)
class Stats:
    total_connections_received: int = 0
    total_commands_processed: int = 0
    rejected_connections: int = 0
    total_net_input_bytes: int = 0
    total_net_output_bytes: int = 0
    total_error_replies: int = 0
    unexpected_error_replies: int = 0
    client_output_buffer_limit_disconnections: int = 0
    commands: dict[str, int] = field(default_factory=dict)  # calls by command name
    error_kinds: dict[str, int] = field(default_factory=dict)  # error replies by first word
    cmdstats: CommandStats = field(default_factory=CommandStats)  # INFO commandstats
    instant: InstantStats = field(default_factory=InstantStats)  # INFO instantaneous_*
    # ACL refusals by reason (auth, command, key, channel): INFO's acl_access_denied_*
    acl_denied: dict[str, int] = field(default_factory=dict)

    def note_error(self, text: str) -> None:
        """Count an error reply by its code (ERR, MOVED, ...); at most ERROR_KINDS_LIMIT
        codes, as Redis's errorstats (scripts can make up their own)."""
        kind = text.split(" ", 1)[0][:64]
        kinds = self.error_kinds
        if kind in kinds:
            kinds[kind] += 1
        elif len(kinds) < ERROR_KINDS_LIMIT:
            kinds[kind] = 1


@dataclass(slots=True, eq=False)
class ServerState:
    backend: Backend
    settings: ServerSettings
    host: str = "127.0.0.1"
    port: int = 0
    clients: dict[int, Connection] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    started_wall: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)
    run_id: str = field(default_factory=lambda: os.urandom(20).hex())
    # Pub/sub index, tracking table, keyspace-notification setting (fed by the backend).
    events: EventHub = field(init=False)
    slowlog: SlowLog = field(init=False)
    pause: ClientPause = field(default_factory=ClientPause)  # CLIENT PAUSE on this node
    # Connections accepted on the TLS port and still in their handshake (they count
    # against maxclients); set by the server that has a TLS listener.
    handshaking: Callable[[], int] = lambda: 0
    # ACL users: the backend's replicated table (or one of our own), and this node's
    # ACL LOG.
    acl: UserTable = field(init=False)
    acl_log: AclLog = field(default_factory=AclLog)

    def __post_init__(self) -> None:
        self.events = EventHub(self.settings, self.clients.get)
        self.slowlog = SlowLog(int(self.settings["slowlog-log-slower-than"]),  # type: ignore[call-overload]
                               int(self.settings["slowlog-max-len"]))  # type: ignore[call-overload]
        self.settings.on_change(self.slowlog.setting_changed)
        table = getattr(self.backend, "acl", None)
        self.acl = table if isinstance(table, UserTable) else UserTable()
        # requirepass is the default user's password, as in Redis.
        self.acl.take_requirepass(str(self.settings["requirepass"]))
        self.settings.on_change(self._setting_changed)
        self.acl.listen(self._user_changed)

    def _setting_changed(self, name: str, value: object) -> None:
        if name == "requirepass":
            self.acl.take_requirepass(str(value))

    def _user_changed(self, user: User, deleted: bool) -> None:
        """Connections running as a changed user take its new rules (and are closed if
        subscribed to channels the rules no longer allow); those of a deleted user are
        closed (as Redis does), back to the default user first."""
        for conn in list(self.clients.values()):
            client = conn.client
            if client.user is not user:
                continue
            if deleted:
                client.authenticated = False
                client.set_user(self.acl.default)
                conn.kill()
            else:
                client.set_user(user)
                if client.in_pubsub() and not may_stay_subscribed(
                        user, client.channels | client.shard_channels, client.patterns):
                    conn.kill()  # subscribed to what it may no longer hear (as Redis)

    def auth_required(self) -> bool:
        default = self.acl.default
        return not default.nopass or not default.enabled
