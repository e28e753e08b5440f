"""Errors of the disk storage beyond the core's StorageError family."""

from __future__ import annotations

from pathlib import Path

from raftredis.raft.storage import StorageError


class StorageCorruptError(StorageError):
    """On-disk state is damaged or inconsistent; the node must not start on it.

    Always names the file and the byte offset where the problem was found, so an
    operator can inspect it (e.g. with `xxd -s OFFSET FILE`).
    """

    def __init__(self, path: str | Path, offset: int, problem: str) -> None:
        self.path = str(path)
        self.offset = offset
        self.problem = problem
        super().__init__(f"{self.path} at byte offset {offset}: {problem}")
