"""Snapshots taken by a forked child: a child that hangs is killed after the timeout,
the log is kept, and a later snapshot succeeds."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

import raftredis.replica.snapshots as snapshots_mod
from raftredis.statemachine import StateMachine
from tests.unit.test_replica_group import Conn, go, run, started


@pytest.mark.skipif(not hasattr(os, "fork"), reason="snapshots fork only where fork exists")
def test_hung_snapshot_child_is_killed_and_the_next_snapshot_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots_mod, "SNAPSHOT_CHILD_TIMEOUT_S", 0.5)
    parent = os.getpid()
    real_write = StateMachine.write_snapshot

    def hang_in_child(self, fp):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            threading.Event().wait()  # the forked child never finishes
        return real_write(self, fp)

    async def main() -> None:
        node = await started(tmp_path)
        try:
            conn = Conn()
            assert await run(node, conn, b"SET", b"k", b"v") is not None
            monkeypatch.setattr(StateMachine, "write_snapshot", hang_in_child)
            with pytest.raises(RuntimeError, match="hung"):
                await asyncio.wait_for(node.take_snapshot(), 20)
            assert node.storage_stats()["snapshot_index"] == 0  # nothing was installed
            leftovers = [p for p in os.listdir(tmp_path) if p.startswith("forked-snapshot")]
            assert leftovers == []
            monkeypatch.setattr(StateMachine, "write_snapshot", real_write)
            index = await asyncio.wait_for(node.take_snapshot(), 20)
            assert index > 0 and node.storage_stats()["snapshot_index"] == index
        finally:
            await node.stop()

    go(main)
