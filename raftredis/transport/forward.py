"""Peer messages that are not Raft's: a follower hands a client's PUBLISH to the leader,
which logs it (raftredis.replica.publish). Same framing and authentication as the
Raft messages (codec codes 14+)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PublishForward:
    src: int
    dst: int
    term: int
    request: int  # the sender's id for this PUBLISH: it answers its client on apply
    channel: bytes
    message: bytes
    shard: bool
