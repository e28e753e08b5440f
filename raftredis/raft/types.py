"""Plain data of the Raft core: log entries, hard state, configuration, snapshots.

Everything here is immutable and stdlib-only. The core, storage, transport codec
and node all share these shapes.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field


class EntryKind(enum.IntEnum):
    """What a log entry carries. Stored on disk and sent on the wire as its int value."""

    NORMAL = 0  # application data (opaque bytes for the core)
    NOOP = 1  # appended by a new leader at the start of its term (§6.4); data is b""
    CONFIG = 2  # a cluster configuration; data is ConfState.encode()


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    kind: EntryKind = EntryKind.NORMAL
    data: bytes = b""

    def size(self) -> int:
        """Approximate encoded size in bytes, used for per-message byte limits."""
        return len(self.data) + 24


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before a node answers a vote or acknowledges an append."""

    term: int = 0
    vote: int = 0  # node id voted for in `term`; 0 means none (node ids start at 1)
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ConfState:
    """The cluster membership: voters decide elections and commits; learners only
    receive the log (they catch up before being promoted, §4.2.1).

    `addrs` maps members to an address text the core never reads (the application
    puts each member's peer and client addresses there), sorted by id: a node that
    learns a configuration from the log or a snapshot also learns where its members are.
    """

    voters: frozenset[int] = frozenset()
    learners: frozenset[int] = frozenset()
    addrs: tuple[tuple[int, str], ...] = ()

    def addr_of(self, node: int) -> str:
        for nid, text in self.addrs:
            if nid == node:
                return text
        return ""

    def with_addrs(self, addrs: dict[int, str]) -> ConfState:
        """The same roles, with addresses for the members among `addrs` (others dropped)."""
        members = self.voters | self.learners
        kept = tuple(sorted((n, a) for n, a in addrs.items() if n in members and a))
        return ConfState(self.voters, self.learners, kept)

    def encode(self) -> bytes:
        """Stable stdlib-only encoding used as the data of CONFIG entries. Without
        addresses it is the original text form; with them, JSON."""
        if not self.addrs:
            v = ",".join(str(x) for x in sorted(self.voters))
            ln = ",".join(str(x) for x in sorted(self.learners))
            return f"v={v};l={ln}".encode()
        return json.dumps(
            {"v": sorted(self.voters), "l": sorted(self.learners),
             "a": [[n, a] for n, a in self.addrs]},
            separators=(",", ":"),
        ).encode()

    @staticmethod
    def decode(data: bytes) -> ConfState:
        if data[:1] == b"{":
            obj = json.loads(data)
            addrs = tuple(sorted((int(n), str(a)) for n, a in obj.get("a", ())))
            return ConfState(frozenset(int(x) for x in obj.get("v", ())),
                             frozenset(int(x) for x in obj.get("l", ())), addrs)
        text = data.decode()
        parts = dict(p.split("=", 1) for p in text.split(";"))

        def ids(s: str) -> frozenset[int]:
            return frozenset(int(x) for x in s.split(",") if x)

        return ConfState(voters=ids(parts.get("v", "")), learners=ids(parts.get("l", "")))


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """Describes a snapshot: the log prefix it replaces and the configuration then."""

    index: int = 0  # last included index
    term: int = 0  # term of the last included entry
    conf: ConfState = field(default_factory=ConfState)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A whole snapshot: metadata and the application's opaque state bytes."""

    meta: SnapshotMeta
    data: bytes


class Role(enum.IntEnum):
    FOLLOWER = 0
    PRE_CANDIDATE = 1
    CANDIDATE = 2
    LEADER = 3


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state the application may show (INFO, routing); never persisted."""

    leader: int  # 0 when unknown
    role: Role


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read may be served once the local applied index >= index.

    `ctx` is the opaque request context given to read_index(), so the
    application can find its waiters.
    """

    index: int
    ctx: bytes
