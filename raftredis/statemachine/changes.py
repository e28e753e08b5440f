"""What applying a log entry changed, as the state machine saw it.

The applier hands a ChangeSet to whoever follows changes (WATCH, blocking pops, and
later keyspace notifications, client-tracking invalidation): the keys each write
touched and the kind of change, so no listener re-derives keys from operations.
Recording is off (and costs one attribute test per command) while nobody listens.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class ChangeKind(enum.Enum):
    WRITE = "write"  # a write command ran on these keys (it may have left them as they were)
    EXPIRED = "expired"  # the leader's expiry entry deleted these keys
    EVICTED = "evicted"  # the leader's eviction entry deleted these keys
    FLUSH = "flush"  # FLUSHALL / FLUSHDB: every key
    MESSAGE = "message"  # a script's PUBLISH / SPUBLISH (args): every node delivers it


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    keys: tuple[bytes, ...] = ()
    command: str = ""  # the command's name (lower case), "" for expiry
    # For keyspace notifications (raftredis.events.notify): the command line, its reply,
    # and per key whether it was live just before and just after this change.
    args: list[bytes] = field(default_factory=list)
    reply: object = None
    existed: tuple[bool, ...] = ()
    exists: tuple[bool, ...] = ()
    # For keyspace notifications (raftredis.events.notify): the command line, its reply,
    # and per key whether it was live just before and just after this change.
    args: list[bytes] = field(default_factory=list)
    reply: object = None
    existed: tuple[bool, ...] = ()
    exists: tuple[bool, ...] = ()


@dataclass(slots=True)
class ChangeSet:
    """The changes of one applied entry, in apply order."""

    index: int = 0
    changes: list[Change] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def add(self, change: Change) -> None:
        self.changes.append(change)
