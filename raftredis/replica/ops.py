"""Log operations: what the payload of a NORMAL log entry is made of.

An entry's data is an 8-byte big-endian stamp (the leader's clock in ms when it
proposed the entry) followed by a msgpack array of operations. The stamp sits in a
fixed prefix so a node learns the newest stamp of its log without decoding the rest.

Each operation is a small NamedTuple whose first field is its `OpKind`: a tuple is
what msgpack writes as an array, so an operation *is* its encoding and costs no
conversion on the hot path. Many client commands share one entry (one append, one
fsync, one replication round for a whole event-loop turn).

Randomness for a command (SPOP, RANDOMKEY, ...) is derived from (index, position)
so every replica makes the same choice.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, NamedTuple

import msgpack

# One limit per concept:
# - an entry is cut at about this many bytes (one big command goes alone);
MAX_ENTRY_BYTES = 1 << 20
# - and at this many operations (bounds the work of applying one entry);
MAX_OPS_PER_ENTRY = 4096
# - one command must fit in one peer frame (64 MiB) with room to spare, or it could
#   never be replicated and every write behind it would wait for good.
MAX_COMMAND_BYTES = 48 << 20

_STAMP = struct.Struct(">Q")
_ARG_OVERHEAD = 5  # msgpack bin header, at most
_OP_OVERHEAD = 16


class OpKind(enum.IntEnum):
    COMMAND = 0  # one Redis command
    MULTI = 1  # MULTI/EXEC: applied atomically
    EXPIRE = 2  # active expiry: delete these keys if expired at the entry's stamp
    CONFIG = 4  # CONFIG SET of cluster-wide settings
    PUBLISH = 8  # PUBLISH / SPUBLISH: every node delivers it to its own subscribers
    EVICT = 5  # eviction: delete these keys (the leader chose them; memory is not consulted)
    EVICT_VOLATILE = 6  # the same under a volatile-* policy: only keys that have a TTL
    ACL = 9  # ACL SETUSER / DELUSER (passwords hashed by the leader, never in clear)
    COMMAND_AS = 10  # a script run by an ACL-limited user: its redis.call()s are checked
    MULTI_AS = 11  # the same for a MULTI/EXEC that holds a script
    # (3 was reserved for sessions, which travel as SESSION.EXEC commands instead.)


class Command(NamedTuple):
    kind: int
    args: list[bytes]

    def size(self) -> int:
        return _OP_OVERHEAD + sum(map(len, self.args)) + _ARG_OVERHEAD * len(self.args)


class Multi(NamedTuple):
    kind: int
    commands: list[list[bytes]]

    def size(self) -> int:
        return _OP_OVERHEAD + sum(sum(map(len, a)) + _ARG_OVERHEAD * len(a)
                                  for a in self.commands)


class Expire(NamedTuple):
    kind: int
    keys: list[bytes]

    def size(self) -> int:
        return _OP_OVERHEAD + sum(map(len, self.keys)) + _ARG_OVERHEAD * len(self.keys)


class ConfigSet(NamedTuple):
    kind: int
    pairs: list[list[bytes]]  # [[name, value], ...]

    def size(self) -> int:
        return _OP_OVERHEAD + sum(len(n) + len(v) + 2 * _ARG_OVERHEAD for n, v in self.pairs)


class Evict(NamedTuple):
    kind: int  # EVICT or EVICT_VOLATILE
    keys: list[bytes]

    def size(self) -> int:
        return _OP_OVERHEAD + sum(map(len, self.keys)) + _ARG_OVERHEAD * len(self.keys)


Op = Command | Multi | Expire | ConfigSet | Evict
_BY_KIND: dict[int, type] = {OpKind.COMMAND: Command, OpKind.MULTI: Multi,
                             OpKind.EXPIRE: Expire, OpKind.CONFIG: ConfigSet,
                             OpKind.EVICT: Evict, OpKind.EVICT_VOLATILE: Evict}


class Publish(NamedTuple):
    """A pub/sub message. `fields`: [channel, message, shard (0/1), origin node id,
    origin request id]; the origin (0 if the leader took it from its own client) lets a
    follower that forwarded the PUBLISH answer once it delivered the message itself."""

    kind: int
    fields: list

    def size(self) -> int:
        return _OP_OVERHEAD + len(self.fields[0]) + len(self.fields[1]) + 32


_BY_KIND[OpKind.PUBLISH] = Publish


class AclChange(NamedTuple):
    """[b"setuser", name, rule...] or [b"deluser", name...]."""

    kind: int
    args: list[bytes]

    def size(self) -> int:
        return _OP_OVERHEAD + sum(map(len, self.args)) + _ARG_OVERHEAD * len(self.args)


_BY_KIND[OpKind.ACL] = AclChange


def acl_change(args: list[bytes]) -> AclChange:
    return AclChange(OpKind.ACL, args)


class CommandAs(NamedTuple):
    """[user name, command args]: every replica checks the script's calls against that
    user's rules as they are at this entry (the user table is replicated state)."""

    kind: int
    fields: list

    def size(self) -> int:
        return _OP_OVERHEAD + len(self.fields[0]) + sum(map(len, self.fields[1])) + \
            _ARG_OVERHEAD * (len(self.fields[1]) + 1)


_BY_KIND[OpKind.COMMAND_AS] = CommandAs


def command_as(user: bytes, args: list[bytes]) -> CommandAs:
    return CommandAs(OpKind.COMMAND_AS, [user, args])


class MultiAs(NamedTuple):
    """[user name, commands]: a MULTI/EXEC holding a script of an ACL-limited user."""

    kind: int
    fields: list

    def size(self) -> int:
        return _OP_OVERHEAD + len(self.fields[0]) + sum(
            sum(map(len, a)) + _ARG_OVERHEAD * len(a) for a in self.fields[1])


_BY_KIND[OpKind.MULTI_AS] = MultiAs


def multi_as(user: bytes, commands: list[list[bytes]]) -> MultiAs:
    return MultiAs(OpKind.MULTI_AS, [user, commands])


def publish(channel: bytes, message: bytes, shard: bool, origin: int = 0,
            request: int = 0) -> Publish:
    return Publish(OpKind.PUBLISH, [channel, message, int(shard), origin, request])


def command(args: list[bytes]) -> Command:
    return Command(OpKind.COMMAND, args)


def multi(commands: list[list[bytes]]) -> Multi:
    return Multi(OpKind.MULTI, commands)


def expire(keys: list[bytes]) -> Expire:
    return Expire(OpKind.EXPIRE, keys)


def evict(keys: list[bytes], volatile: bool) -> Evict:
    return Evict(OpKind.EVICT_VOLATILE if volatile else OpKind.EVICT, keys)


def config_set(pairs: list[list[bytes]]) -> ConfigSet:
    return ConfigSet(OpKind.CONFIG, pairs)


class EntryDecodeError(ValueError):
    pass


class UnknownOp(NamedTuple):
    """An operation this version cannot read: every replica skips it the same way."""

    kind: int
    raw: Any  # (Any, not object: mypyc builds NamedTuple fields from these names)


def encode_entry(stamp_ms: int, ops: list) -> bytes:
    return _STAMP.pack(stamp_ms) + msgpack.packb(ops, use_bin_type=True)


def stamp_of(data: bytes) -> int:
    if len(data) < 8:
        raise EntryDecodeError("entry shorter than its timestamp")
    return _STAMP.unpack_from(data)[0]


def decode_entry(data: bytes) -> tuple[int, list]:
    """(stamp, typed operations). Raises EntryDecodeError on bytes no version wrote."""
    stamp = stamp_of(data)
    try:
        raw = msgpack.unpackb(memoryview(data)[8:], raw=True, use_list=True,
                              strict_map_key=False)
    except Exception as exc:  # msgpack raises several types for bad input
        raise EntryDecodeError(f"undecodable entry payload: {exc}") from exc
    if not isinstance(raw, list):
        raise EntryDecodeError("entry payload is not an array")
    ops: list = []
    by_kind, new = _BY_KIND, tuple.__new__  # (C-level construction: this runs per op)
    for item in raw:
        if type(item) is not list or len(item) != 2 or type(item[0]) is not int:
            ops.append(UnknownOp(-1, item))
            continue
        cls = by_kind.get(item[0])
        ops.append(new(cls, item) if cls is not None else UnknownOp(item[0], item[1]))
    return stamp, ops


def seed_for(index: int, position: int) -> int:
    """Per-command randomness, the same on every replica."""
    return (index * 0x9E3779B1 + position * 0x85EBCA77) & 0xFFFFFFFFFFFF
