"""What one replica group needs from the world, as narrow interfaces, so that the
production node (disk, TCP peers, the system clock) and the deterministic simulator
(memory, a simulated network, a virtual clock) run the very same group code.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Protocol, TypeVar

from raftredis.raft.config import RaftConfig
from raftredis.raft.messages import Message
from raftredis.raft.storage import Storage
from raftredis.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta
from raftredis.replica.clock import Clock
from raftredis.replica.keepalive import KeepAlive

T = TypeVar("T")


class SnapshotSink(Protocol):
    """A snapshot being written: bytes in, then close() makes it the log's base."""

    def write(self, data: bytes) -> int: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class GroupStorage(Storage, Protocol):
    """The Raft log and snapshot store (raft.storage.Storage) plus snapshot files."""

    def open_snapshot(self) -> BinaryIO | None: ...

    def snapshot_writer(self, index: int, term: int, conf: ConfState) -> SnapshotSink: ...

    def install_snapshot(self, snap: Snapshot) -> None: ...

    def install_snapshot_file(self, meta: SnapshotMeta, path: str) -> None: ...

    def stats(self) -> dict: ...


class Persister(Protocol):
    """Runs storage work off the event loop, in order (the disk thread in production)."""

    async def persist(self, hard_state: HardState | None, entries: Sequence[Entry]) -> None: ...

    async def call(self, fn: Callable[[], T]) -> T: ...

    async def close(self) -> None: ...


class Transport(Protocol):
    def send(self, msg: Message) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


OnMessage = Callable[[Message], None]
OnPeerMeta = Callable[[int, dict], None]
TransportFactory = Callable[[OnMessage, OnPeerMeta], Transport]


@dataclass
class Ports:
    """Everything injected into a ReplicaGroup."""

    clock: Clock
    storage: GroupStorage
    persister: Persister
    rng: random.Random
    transport: TransportFactory | None = None  # None: a one-node group, no peers
    fork_snapshots: bool = True  # write snapshots from a forked child (production)
    read_ctx_prefix: bytes = b""  # unique per incarnation (see replica.reads)
    raft_config: RaftConfig | None = None  # None: from the NodeConfig's tick settings
    # The keep-alive side channel (replica.keepalive); None: elections follow the loop.
    keepalive: KeepAlive | None = None
