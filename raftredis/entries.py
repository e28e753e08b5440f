"""The application payload of NORMAL log entries.

Layout: an 8-byte big-endian timestamp (the leader's clock in ms when it proposed
the entry) followed by a msgpack array of operations. The stamp sits in a fixed
prefix so a node can learn the newest stamp of its log without decoding the rest
(a new leader must never stamp earlier than anything already in its log).

Many client commands share one entry: the node batches every command that arrived
in one event-loop turn, so one append, one fsync and one replication round serve
them all. Operations:

    [OP_COMMAND, args]          one Redis command (args: list of bytes)
    [OP_MULTI, [args, ...]]     MULTI/EXEC: applied atomically
    [OP_EXPIRE, [key, ...]]     active expiry: delete those keys if expired at the stamp
    [OP_CONFIG, [[name, value], ...]]  CONFIG SET of cluster-wide settings

Randomness for a command (SPOP, RANDOMKEY, ...) is derived from (index, position)
so that every replica makes the same choice.
"""

from __future__ import annotations

import struct

import msgpack

OP_COMMAND = 0
OP_MULTI = 1
OP_EXPIRE = 2
OP_SESSION = 3
OP_CONFIG = 4  # [OP_CONFIG, [[name, value], ...]]: a cluster-wide CONFIG SET
# Batch-only, never logged: [WATCHED_EXEC, marks, [OP_MULTI, ...]] is an EXEC under WATCH
# that the leader decides just before logging (it logs the inner OP_MULTI or nothing).
WATCHED_EXEC = -1

_STAMP = struct.Struct(">Q")
MAX_OPS_PER_ENTRY = 1 << 16


class EntryDecodeError(ValueError):
    pass


def encode(stamp_ms: int, ops: list) -> bytes:
    return _STAMP.pack(stamp_ms) + msgpack.packb(ops, use_bin_type=True)


def stamp_of(data: bytes) -> int:
    if len(data) < 8:
        raise EntryDecodeError("entry shorter than its timestamp")
    return _STAMP.unpack_from(data)[0]


def decode(data: bytes) -> tuple[int, list]:
    stamp = stamp_of(data)
    try:
        ops = msgpack.unpackb(
            memoryview(data)[8:], raw=True, use_list=True, strict_map_key=False
        )
    except Exception as exc:  # msgpack raises several types for bad input
        raise EntryDecodeError(f"undecodable entry payload: {exc}") from exc
    if not isinstance(ops, list):
        raise EntryDecodeError("entry payload is not an array")
    return stamp, ops


def op_size(op: list) -> int:
    """About how many bytes an operation takes in an entry (payload plus framing)."""
    kind = op[0]
    if kind == OP_COMMAND:
        return 16 + sum(len(a) + 5 for a in op[1])
    if kind == OP_MULTI:
        return 16 + sum(len(a) + 5 for args in op[1] for a in args)
    if kind == OP_EXPIRE:
        return 16 + sum(len(k) + 5 for k in op[1])
    if kind == WATCHED_EXEC:
        return op_size(op[2])
    return 256


def seed_for(index: int, position: int) -> int:
    """Per-command randomness, the same on every replica."""
    return (index * 0x9E3779B1 + position * 0x85EBCA77) & 0xFFFFFFFFFFFF
