"""Tunables of the Raft core. Time is counted in abstract ticks (the node decides
how long a tick is)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RaftConfig:
    election_tick: int = 10  # min election timeout in ticks; randomized in [et, 2*et)
    heartbeat_tick: int = 1
    max_size_per_msg: int = 1 << 20  # byte limit of entries per Append (Entry.size())
    max_inflight: int = 256  # appends in flight per follower in replicate state
    # Bytes of entries (Entry.size()) in flight per follower; 0: no byte limit. One
    # message always goes when nothing is in flight, however big.
    max_inflight_bytes: int = 32 << 20
    pre_vote: bool = True
    check_quorum: bool = True
    snapshot_chunk_size: int = 1 << 20
    max_snapshot_bytes: int = 1 << 31  # refuse bigger incoming snapshots
    # Proposals are refused (ProposalDroppedError) beyond this many uncommitted entries,
    # so an isolated leader cannot grow its log without bound.
    max_uncommitted_entries: int = 1 << 16
    # Bytes of committed entries handed out by one Ready (at least one entry).
    max_committed_size_per_ready: int = 64 << 20
    # Reads forwarded to the leader that got no answer within this many ticks are
    # reported in Ready.dropped_reads (the answer may have been lost).
    read_timeout_tick: int = 20

    def __post_init__(self) -> None:
        if self.election_tick <= self.heartbeat_tick or self.heartbeat_tick < 1:
            raise ValueError("need 1 <= heartbeat_tick < election_tick")
        if self.max_inflight < 1 or self.max_size_per_msg < 1 or self.snapshot_chunk_size < 1:
            raise ValueError("limits must be positive")
        if self.max_inflight_bytes < 0:
            raise ValueError("max_inflight_bytes must be >= 0 (0: no byte limit)")
