"""Durable Raft storage: log segments, hard state, snapshot files, crash recovery."""

from raftredis.storage.disk import DiskStorage, FsyncPolicy, SnapshotWriter
from raftredis.storage.errors import StorageCorruptError
from raftredis.storage.writer import AsyncPersister

__all__ = ["AsyncPersister", "DiskStorage", "FsyncPolicy", "SnapshotWriter", "StorageCorruptError"]
