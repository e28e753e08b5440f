"""The leader's view of each follower's log (etcd-io/raft's tracker, reshaped)."""

from __future__ import annotations

import enum
from collections import deque


class ProgressState(enum.IntEnum):
    PROBE = 0  # one append at a time until we know where the logs match
    REPLICATE = 1  # optimistic pipelining, bounded by the inflight window
    SNAPSHOT = 2  # sending a snapshot; appends wait


class Progress:
    __slots__ = (
        "match",
        "next",
        "state",
        "probe_sent",
        "inflights",
        "max_inflight",
        "recent_active",
        "snap_index",
        "snap_offset",
        "snap_sent",
    )

    def __init__(self, next_index: int, max_inflight: int) -> None:
        self.match = 0
        self.next = next_index
        self.state = ProgressState.PROBE
        self.probe_sent = False  # PROBE: an append is out, wait for its answer or a heartbeat
        self.inflights: deque[int] = deque()  # last index of each append in flight
        self.max_inflight = max_inflight
        self.recent_active = True  # heard from within the current election timeout
        self.snap_index = 0  # SNAPSHOT: the snapshot being sent
        self.snap_offset = 0  # SNAPSHOT: next byte the follower expects
        self.snap_sent = False  # SNAPSHOT: a chunk is out

    def become_probe(self) -> None:
        if self.state == ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.snap_index + 1)
        else:
            self.next = self.match + 1
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.inflights.clear()

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflights.clear()

    def become_snapshot(self, index: int) -> None:
        self.state = ProgressState.SNAPSHOT
        self.snap_index = index
        self.snap_offset = 0
        self.snap_sent = False
        self.inflights.clear()

    def paused(self) -> bool:
        if self.state == ProgressState.PROBE:
            return self.probe_sent
        if self.state == ProgressState.REPLICATE:
            return len(self.inflights) >= self.max_inflight
        return True

    def maybe_update(self, index: int) -> bool:
        """A success ack up to index. True if match moved forward."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def free_le(self, index: int) -> None:
        q = self.inflights
        while q and q[0] <= index:
            q.popleft()

    def __repr__(self) -> str:
        return f"Progress(match={self.match}, next={self.next}, {self.state.name})"
