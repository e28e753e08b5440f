"""Disk mode of the simulator: every node keeps its Raft state in the real DiskStorage.

Each node has its own directory under a temporary root, fsync policy ALWAYS, and the
app-side Ready loop hands each Ready to DiskStorage.persist() (install_snapshot first when
the Ready carries one). A crash abandons the node's DiskStorage without close() and then,
through tests.crashfs, every file of the node loses a random, seeded part of what was
written after its last fsync; the node restarts from DiskStorage.open() on that directory.
Some crashes fall inside a storage call: an armed fsync raises instead of syncing, so the
write it was to make durable is torn.

Besides the simulator's own checkers, a durability checker compares what a restarted node
recovers with a shadow copy of everything persist() returned for: only fsynced data is
guaranteed, and it must all be there.

    python3 -m tests.sim.run --disk --seeds 1000          # 1000 seeds, 3 and 5 nodes
    python3 -m tests.sim.run --disk --seed 7 --nodes 3 -v # replay one seed with a trace

By default a lost tail is cut off (the file's size on disk shrinks back). `--zero-fill P`
also plays the other power-loss outcome, the new size on disk with some tail sectors never
written (zeros): recovery does not yet accept a last record torn that way (it reports a
checksum error), see the strict xfail in test_sim_disk.py, so it is off by default.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from raftredis.raft.core import RaftCore
from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.ready import Ready
from raftredis.raft.storage import StorageError
from raftredis.raft.types import HardState
from raftredis.storage import DiskStorage, FsyncPolicy
from tests.crashfs import CrashFS, CrashNow, open_fds_under
from tests.sim.cluster import Cluster, SimParams, _Node


def disk_replay_command(seed: int, nodes: int) -> str:
    return f"python3 -m tests.sim.run --disk --seed {seed} --nodes {nodes} -v"


@dataclass
class _InFlight:
    """The storage call a crash interrupted: its effects may be there in part or not at all."""

    hs: HardState | None = None
    first: int | None = None  # first index of the entries being written
    last: int = 0
    install: bool = False  # a snapshot from the leader (may replace the whole log)


class DiskCluster(Cluster):
    def __init__(self, seed: int, params: SimParams | None, trace: bool, root: Path,
                 fs: CrashFS, crash_in_fsync: float = 0.01,
                 check_durability: bool = True) -> None:
        self.root = root
        self.fs = fs
        self.crash_in_fsync = crash_in_fsync
        self.check_durability = check_durability
        # A stream of its own for disk decisions, so the memory-mode choices of a seed
        # (faults, delays, traffic) are drawn the same way up to the first disk crash.
        self.drng = random.Random(f"disk-{seed}")
        self.segment_bytes = self.drng.choice((4096, 16384))  # small: segments roll often
        self.cache_entries = self.drng.choice((4, 64))  # small: reads go to the files too
        self.shadow: dict[int, MemoryStorage] = {}
        self.inflight: dict[int, _InFlight] = {}
        super().__init__(seed, params, trace)
        for k in ("crashes_in_fsync", "files_cut", "bytes_lost", "zero_filled", "recoveries"):
            self.stats[k] = 0

    def replay(self) -> str:
        return disk_replay_command(self.seed, self.p.nodes)

    def node_dir(self, node_id: int) -> Path:
        return self.root / f"n{node_id}"

    # ---- storage lifecycle -------------------------------------------------------------------
    def _new_storage(self, node_id: int) -> DiskStorage:  # type: ignore[override]
        self.shadow[node_id] = MemoryStorage(self.conf)
        return self._open(node_id)

    def _open(self, node_id: int) -> DiskStorage:
        try:
            return DiskStorage.open(self.node_dir(node_id), self.conf, fsync=FsyncPolicy.ALWAYS,
                                    segment_bytes=self.segment_bytes,
                                    cache_entries=self.cache_entries, cache_bytes=1 << 16)
        except StorageError as exc:
            self.fail(f"n{node_id} does not recover from its files after a crash: {exc}")
            raise  # unreachable: fail() raises

    def _start(self, n: _Node) -> None:
        if n.storage is None:
            n.storage = self._open(n.id)
            self.stats["recoveries"] += 1
            self._check_recovered(n, n.storage)
            self.shadow[n.id] = _mirror(n.storage, self.conf)
        super()._start(n)

    def _crash(self, n: _Node, where: str) -> None:
        super()._crash(n, where)
        st = n.storage
        if st is None:
            return
        _abandon(st)
        n.storage = None
        leaked = open_fds_under(self.node_dir(n.id))
        if leaked:
            self.fail(f"n{n.id}: file descriptors still open after the crash: {leaked}")
        rep = self.fs.crash(self.node_dir(n.id), self.drng)
        self.stats["files_cut"] += rep.files_cut
        self.stats["bytes_lost"] += rep.bytes_lost
        self.stats["zero_filled"] += rep.zero_filled
        self._log(f"n{n.id} disk lost {rep.bytes_lost} unsynced bytes in {rep.files_cut} files")

    def close_all(self) -> None:
        for n in self.nodes.values():
            if n.storage is not None:
                n.storage.close()
                n.storage = None

    # ---- the Ready loop's storage steps ---------------------------------------------------------
    def _arm(self, n: _Node) -> bool:
        if self.faults and self.drng.random() < self.crash_in_fsync:
            self.fs.arm(self.node_dir(n.id), self.drng.randint(1, 5))
            return True
        return False

    def _persist(self, n: _Node, rd: Ready) -> bool:
        st = n.storage
        sh = self.shadow[n.id]
        if rd.entries:
            self._check_no_committed_loss(n, rd.entries)
        if rd.snapshot is None and not rd.entries and rd.hard_state is None:
            return True
        armed = self._arm(n)
        try:
            if rd.snapshot is not None:
                self.inflight[n.id] = _InFlight(install=True)
                st.install_snapshot(rd.snapshot)
                self.stats["snapshots_sent"] += 1
                sh.install_snapshot(rd.snapshot)
            if rd.entries or rd.hard_state is not None:
                ents = rd.entries
                self.inflight[n.id] = _InFlight(rd.hard_state, ents[0].index if ents else None,
                                                ents[-1].index if ents else 0)
                st.persist(rd.hard_state, rd.entries)
                sh.append(rd.entries)
                if rd.hard_state is not None:
                    sh.set_hard_state(rd.hard_state)
        except CrashNow:
            self.stats["crashes_in_fsync"] += 1
            self._crash(n, "inside persist, at an fsync")
            return False
        except StorageError as exc:
            self.fail(f"n{n.id} storage refused a Ready: {exc}")
        finally:
            if armed:
                self.fs.disarm(self.node_dir(n.id))
        del self.inflight[n.id]
        if rd.entries:
            self._check_appended(n, rd.entries)
        return True

    def _local_snapshot(self, n: _Node, c: RaftCore) -> bool:
        before = n.storage.snapshot_meta().index
        armed = self._arm(n)
        self.inflight[n.id] = _InFlight()
        try:
            super()._local_snapshot(n, c)
        except CrashNow:
            self.stats["crashes_in_fsync"] += 1
            self._crash(n, "inside create_snapshot, at an fsync")
            return False
        finally:
            if armed:
                self.fs.disarm(self.node_dir(n.id))
        del self.inflight[n.id]
        meta = n.storage.snapshot_meta()
        if meta.index != before:
            self.shadow[n.id].create_snapshot(meta.index, meta.conf, n.storage.snapshot().data)
        return True

    # ---- durability checker ---------------------------------------------------------------------
    def _check_recovered(self, n: _Node, disk: DiskStorage) -> None:
        """Everything a storage call returned for must be back; only the call a crash cut
        short may have left any part of its effect, or none."""
        sh = self.shadow[n.id]
        fl = self.inflight.pop(n.id, None)
        if not self.check_durability:
            return
        hs, want_hs = disk.hard_state(), sh.hard_state()
        if hs != want_hs and not (fl is not None and fl.hs is not None and hs == fl.hs):
            self.fail(f"durability: n{n.id} recovered hard state {hs} but {want_hs} was "
                      f"persisted (in flight at the crash: {fl})")
        if disk.snapshot_meta().index < sh.snapshot_meta().index:
            self.fail(f"durability: n{n.id} recovered snapshot {disk.snapshot_meta().index} "
                      f"but had a durable snapshot at {sh.snapshot_meta().index}")
        if fl is not None and fl.install:
            return  # a half-installed leader snapshot may have replaced the log either way
        limit = fl.first if fl is not None and fl.first is not None else sh.last_index() + 1
        must = min(sh.last_index(), limit - 1)
        if disk.last_index() < must:
            self.fail(f"durability: n{n.id} recovered its log up to {disk.last_index()} but "
                      f"entries up to {must} were persisted (in flight at the crash: {fl})")
        for i in range(max(disk.first_index(), sh.first_index()), must + 1):
            if disk.term(i) != sh.term(i):
                self.fail(f"durability: n{n.id} recovered entry {i} with term "
                          f"{disk.term(i)}, but term {sh.term(i)} was persisted")
        top = max(sh.last_index(), fl.last if fl is not None else 0)
        if disk.last_index() > max(top, disk.snapshot_meta().index):
            self.fail(f"durability: n{n.id} recovered entries up to {disk.last_index()}, "
                      f"beyond anything written ({top})")


def _abandon(st: DiskStorage) -> None:
    """Drop a DiskStorage the way a dying process does: no close(), no sync, no checkpoint;
    only its raw file descriptors are released (the kernel would)."""
    fds = [st._fd, *st._pending_fds]
    st._fd, st._pending_fds, st._closed = -1, [], True
    for fd in fds:
        if fd >= 0:
            os.close(fd)


def _mirror(disk: DiskStorage, conf) -> MemoryStorage:  # noqa: ANN001
    """A MemoryStorage holding what `disk` holds now: the new durability baseline."""
    m = MemoryStorage(conf)
    snap = disk.snapshot()
    if snap.meta.index:
        m.install_snapshot(snap)
    lo, hi = disk.first_index(), disk.last_index() + 1
    if hi > lo:
        m.append(disk.entries(lo, hi))
    m.set_hard_state(disk.hard_state())
    return m


def run_disk_seed(seed: int, nodes: int = 3, trace: bool = False, *,
                  crash_in_fsync: float = 0.01, zero_fill: float = 0.0,
                  check_durability: bool = True, tmp_root: str | None = None, **kw) -> dict:
    """One seed in disk mode under a fresh temporary directory (removed afterwards)."""
    root = Path(tempfile.mkdtemp(prefix=f"rr-simdisk-{seed}-", dir=tmp_root))
    try:
        with CrashFS(zero_fill=zero_fill) as fs:
            c = DiskCluster(seed, SimParams(nodes=nodes, **kw), trace, root, fs,
                            crash_in_fsync=crash_in_fsync, check_durability=check_durability)
            try:
                return c.run()
            finally:
                c.close_all()
    finally:
        shutil.rmtree(root, ignore_errors=True)
