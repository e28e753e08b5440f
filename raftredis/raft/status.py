"""A typed, immutable snapshot of the core's state, for INFO, CLUSTER views and tools."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from raftredis.raft.types import ConfState, Role


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """The leader's view of one follower or learner."""

    match: int  # highest index known durable on the peer
    next: int  # next index to send
    state: str  # "probe", "replicate" or "snapshot"
    recent_active: bool  # heard from during the current check-quorum period
    paused: bool  # no append may go out now (window full, probe out, snapshot)
    inflight: int  # appends in flight
    inflight_bytes: int  # bytes of entries in flight
    # heard from in this check-quorum period or the previous one (steady for operators)
    heard_recently: bool = True


@dataclass(frozen=True, slots=True)
class RaftStatus:
    id: int
    role: Role
    term: int
    vote: int  # voted for in `term` (0: none)
    leader: int  # 0: unknown
    commit: int
    applied: int
    last_index: int
    first_index: int
    snapshot_index: int  # first_index - 1: the latest snapshot's index (0: none)
    conf: ConfState
    lead_transferee: int  # leader: the target of a transfer in progress (0: none)
    # Leader only (empty otherwise): every other member, voters and learners.
    progress: Mapping[int, PeerStatus] = field(default_factory=lambda: MappingProxyType({}))

    def as_dict(self) -> dict[str, Any]:
        """The untyped shape status() used to return (kept while callers move over)."""
        st: dict[str, Any] = {
            "id": self.id,
            "term": self.term,
            "vote": self.vote,
            "role": self.role.name.lower(),
            "leader": self.leader,
            "commit": self.commit,
            "applied": self.applied,
            "last_index": self.last_index,
            "first_index": self.first_index,
            "snapshot_index": self.snapshot_index,
            "voters": sorted(self.conf.voters),
            "learners": sorted(self.conf.learners),
        }
        if self.role == Role.LEADER:
            st["lead_transferee"] = self.lead_transferee
            st["progress"] = {
                pid: {
                    "match": p.match,
                    "next": p.next,
                    "state": p.state,
                    "recent_active": p.recent_active,
                    "inflight": p.inflight,
                }
                for pid, p in self.progress.items()
            }
        return st

    # Transitional: callers outside raft/ still index the status like the old dict.
    # Remove once they read the fields.
    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.as_dict().get(key, default)


__all__ = ["PeerStatus", "RaftStatus"]
