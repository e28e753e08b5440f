"""Typed Raft messages: frozen, slotted dataclasses.

Every message names its sender (`src`), receiver (`dst`) and the sender's
`term`. The transport codec (raftredis.transport.codec) turns these into msgpack
frames and back; the core never sees bytes from the network.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftredis.raft.types import Entry, SnapshotMeta


@dataclass(frozen=True, slots=True)
class PreVote:
    """§9.6: "would you vote for me at term `term`?" — changes no state at the receiver.
    `term` is the term the candidate would campaign in (its current term + 1)."""

    src: int
    dst: int
    term: int
    last_log_index: int
    last_log_term: int


@dataclass(frozen=True, slots=True)
class PreVoteResp:
    src: int
    dst: int
    term: int  # the term being asked about when granted; the receiver's term when rejected
    granted: bool


@dataclass(frozen=True, slots=True)
class Vote:
    src: int
    dst: int
    term: int
    last_log_index: int
    last_log_term: int
    # True when sent because of TimeoutNow (leadership transfer): the receiver
    # must not ignore it even if it recently heard from a leader (§4.2.3).
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class VoteResp:
    src: int
    dst: int
    term: int
    granted: bool


@dataclass(frozen=True, slots=True)
class Append:
    """AppendEntries: `entries` follow (prev_index, prev_term); `commit` is the leader's."""

    src: int
    dst: int
    term: int
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit: int


@dataclass(frozen=True, slots=True)
class AppendResp:
    """Success: `index` is the last index now matching the leader.
    Rejection: `index` echoes the rejected prev_index, and the conflict hint
    (`conflict_term`, `conflict_index`: the follower's term at that position and
    the first index it holds of that term, or its last index + 1 with term 0 when
    its log is too short) lets the leader skip a whole term per round trip."""

    src: int
    dst: int
    term: int
    success: bool
    index: int
    conflict_term: int = 0
    conflict_index: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Leadership assertion with commit = min(leader commit, follower match).
    `ctx` carries a ReadIndex round id (b"" when none)."""

    src: int
    dst: int
    term: int
    commit: int
    ctx: bytes = b""


@dataclass(frozen=True, slots=True)
class HeartbeatResp:
    src: int
    dst: int
    term: int
    ctx: bytes = b""


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """One chunk of a snapshot (§5.1 of the dissertation: sent in chunks)."""

    src: int
    dst: int
    term: int
    meta: SnapshotMeta
    offset: int
    data: bytes
    done: bool


@dataclass(frozen=True, slots=True)
class InstallSnapshotResp:
    """Acknowledges a chunk. `offset` is the next byte the follower expects
    (the leader restarts from there); `done` True once the whole snapshot is
    installed and persisted, at which point `index` = meta.index."""

    src: int
    dst: int
    term: int
    index: int  # meta.index of the snapshot being received
    offset: int
    done: bool
    success: bool = True


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer: the receiver starts an election at once (skipping pre-vote)."""

    src: int
    dst: int
    term: int


@dataclass(frozen=True, slots=True)
class TransferLeader:
    """A follower asks its leader to hand leadership to it (CLUSTER FAILOVER): the
    leader catches it up, then sends TimeoutNow (a leadership transfer, §3.10)."""

    src: int
    dst: int
    term: int


@dataclass(frozen=True, slots=True)
class ReadIndex:
    """A follower asks the leader for a read index on behalf of its clients."""

    src: int
    dst: int
    term: int
    ctx: bytes


@dataclass(frozen=True, slots=True)
class ReadIndexResp:
    """`index` is the read index; 0 with `ok` False means the leader could not serve it."""

    src: int
    dst: int
    term: int
    ctx: bytes
    index: int
    ok: bool = True


Message = (
    PreVote
    | PreVoteResp
    | Vote
    | VoteResp
    | Append
    | AppendResp
    | Heartbeat
    | HeartbeatResp
    | InstallSnapshot
    | InstallSnapshotResp
    | TimeoutNow
    | TransferLeader
    | ReadIndex
    | ReadIndexResp
)

MESSAGE_TYPES: tuple[type, ...] = (
    PreVote,
    PreVoteResp,
    Vote,
    VoteResp,
    Append,
    AppendResp,
    Heartbeat,
    HeartbeatResp,
    InstallSnapshot,
    InstallSnapshotResp,
    TimeoutNow,
    TransferLeader,
    ReadIndex,
    ReadIndexResp,
)
