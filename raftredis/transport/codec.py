"""Raft messages <-> msgpack bytes.

Wire shape: one msgpack array per message, `[code, src, dst, term, *fields]`.
Nested values are arrays too: an entry is `[term, index, kind, data]`, a
snapshot meta `[index, term, [voters...], [learners...]]`.

Decoding trusts nothing: every field's type, count and range is checked, and any
failure is a `CodecError` (never another exception), so a peer sending garbage
costs only its own connection.

The hot path is Append: a leader usually sends the same `entries` tuple object
to every follower, so `Encoder` keeps the encoded bytes of the last few tuples
(keyed by identity, holding a reference so the id cannot be reused) and splices
them into each follower's message instead of encoding them again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from raftredis.raft.messages import (
    Append,
    AppendResp,
    Heartbeat,
    HeartbeatResp,
    InstallSnapshot,
    InstallSnapshotResp,
    Message,
    PreVote,
    PreVoteResp,
    ReadIndex,
    ReadIndexResp,
    TimeoutNow,
    TransferLeader,
    Vote,
    VoteResp,
)
from raftredis.raft.types import ConfState, Entry, EntryKind, SnapshotMeta
from raftredis.transport.forward import PublishForward

U64_MAX = (1 << 64) - 1
# A configuration bigger than this is nonsense on the wire (clusters are 3..7 nodes).
MAX_CONF_IDS = 1024
ENTRIES_CACHE_SIZE = 8


class CodecError(ValueError):
    """The bytes are not a valid encoded message (or a message cannot be encoded)."""


# Type codes: part of the wire format, never renumber.
CODES: dict[type, int] = {
    PreVote: 1,
    PreVoteResp: 2,
    Vote: 3,
    VoteResp: 4,
    Append: 5,
    AppendResp: 6,
    Heartbeat: 7,
    HeartbeatResp: 8,
    InstallSnapshot: 9,
    InstallSnapshotResp: 10,
    TimeoutNow: 11,
    ReadIndex: 12,
    ReadIndexResp: 13,
    PublishForward: 14,
    TransferLeader: 15,
}

_KINDS: dict[int, EntryKind] = {int(k): k for k in EntryKind}

# Decoding builds Entry objects by setting their slots directly: the frozen dataclass
# __init__ costs about twice as much, and Append decode is the replication hot path.
# Only valid while Entry is exactly these four slots with no __post_init__; otherwise
# fall back to the constructor.
_FAST_ENTRY = Entry.__slots__ == ("term", "index", "kind", "data") and not hasattr(
    Entry, "__post_init__"
)

# ---- encoding -----------------------------------------------------------------------------


def _conf_fields(meta: SnapshotMeta) -> list[Any]:
    conf = meta.conf
    out: list[Any] = [meta.index, meta.term, sorted(conf.voters), sorted(conf.learners)]
    if conf.addrs:
        out.append([[n, a] for n, a in conf.addrs])  # members' addresses: optional 5th field
    return out


def _fields(msg: Any) -> list[Any]:
    """The message as a list of plain values (Append's entries excluded)."""
    t = type(msg)
    if t is Heartbeat:
        return [7, msg.src, msg.dst, msg.term, msg.commit, msg.ctx]
    if t is HeartbeatResp:
        return [8, msg.src, msg.dst, msg.term, msg.ctx]
    if t is AppendResp:
        return [6, msg.src, msg.dst, msg.term, msg.success, msg.index,
                msg.conflict_term, msg.conflict_index]
    if t is PreVote:
        return [1, msg.src, msg.dst, msg.term, msg.last_log_index, msg.last_log_term]
    if t is PreVoteResp:
        return [2, msg.src, msg.dst, msg.term, msg.granted]
    if t is Vote:
        return [3, msg.src, msg.dst, msg.term, msg.last_log_index, msg.last_log_term,
                msg.transfer]
    if t is VoteResp:
        return [4, msg.src, msg.dst, msg.term, msg.granted]
    if t is InstallSnapshot:
        return [9, msg.src, msg.dst, msg.term, _conf_fields(msg.meta), msg.offset,
                msg.data, msg.done]
    if t is InstallSnapshotResp:
        return [10, msg.src, msg.dst, msg.term, msg.index, msg.offset, msg.done, msg.success]
    if t is TimeoutNow:
        return [11, msg.src, msg.dst, msg.term]
    if t is ReadIndex:
        return [12, msg.src, msg.dst, msg.term, msg.ctx]
    if t is ReadIndexResp:
        return [13, msg.src, msg.dst, msg.term, msg.ctx, msg.index, msg.ok]
    if t is TransferLeader:
        return [15, msg.src, msg.dst, msg.term]
    if t is PublishForward:
        return [14, msg.src, msg.dst, msg.term, msg.request, msg.channel, msg.message,
                msg.shard]
    raise CodecError(f"not a Raft message: {t.__name__}")


def _encode_entries(entries: tuple[Entry, ...] | list[Entry]) -> bytes:
    try:
        return msgpack.packb(
            [(e.term, e.index, e.kind, e.data) for e in entries], use_bin_type=True
        )
    except AttributeError as exc:
        raise CodecError(f"Append.entries must hold Entry values: {exc}") from None


def _check_scalars(f: list[Any]) -> None:
    # msgpack would happily send a negative number that every peer then rejects (and
    # drops the connection for): refuse it here instead. Entries are not checked per
    # field on encode (too costly on the hot path); the core never makes negative ones.
    for v in f:
        if type(v) is int and v < 0:
            raise CodecError(f"negative value {v} in {f[0]}-coded message")


class Encoder:
    """Encodes messages; remembers the encoded entries of the last few Append tuples.

    One instance per node (shared by all peers) so a tuple fanned out to every
    follower is encoded once. Not thread-safe: use it from one thread (the loop).
    """

    __slots__ = ("_cache", "_cache_size", "hits", "misses")

    def __init__(self, cache_size: int = ENTRIES_CACHE_SIZE) -> None:
        # (tuple, encoded bytes); holding the tuple keeps its id from being reused.
        self._cache: list[tuple[tuple[Entry, ...], bytes]] = []
        self._cache_size = cache_size
        self.hits = 0
        self.misses = 0

    def entries_bytes(self, entries: tuple[Entry, ...] | list[Entry]) -> bytes:
        if type(entries) is not tuple:
            # A list could change between sends: never cache it.
            if type(entries) is not list:
                raise CodecError("Append.entries must be a tuple of Entry")
            return _encode_entries(entries)
        if not entries:
            return b"\x90"  # empty msgpack array
        cache = self._cache
        for i, (tup, raw) in enumerate(cache):
            if tup is entries:
                self.hits += 1
                if i:
                    cache.insert(0, cache.pop(i))
                return raw
        self.misses += 1
        raw = _encode_entries(entries)
        cache.insert(0, (entries, raw))
        if len(cache) > self._cache_size:
            cache.pop()
        return raw

    def encode(self, msg: Message) -> bytes:
        try:
            if type(msg) is Append:
                f = [5, msg.src, msg.dst, msg.term, msg.prev_index, msg.prev_term, msg.commit]
                _check_scalars(f)
                head = msgpack.packb(f)
                # Splice: fixarray(8) header + the 7 packed scalars + the cached entries array.
                return b"\x98" + head[1:] + self.entries_bytes(msg.entries)
            f = _fields(msg)
            _check_scalars(f)
            return msgpack.packb(f, use_bin_type=True)
        except CodecError:
            raise
        except (TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise CodecError(f"cannot encode {type(msg).__name__}: {exc}") from None


_default_encoder = Encoder()


def encode(msg: Message) -> bytes:
    """Encode with the module's shared Encoder (fine for one event loop thread)."""
    return _default_encoder.encode(msg)


# ---- decoding -----------------------------------------------------------------------------


def _u64(v: Any, name: str) -> int:
    if type(v) is not int or v < 0 or v > U64_MAX:
        raise CodecError(f"{name}: expected an unsigned 64-bit integer, got {v!r:.40}")
    return v


def _bool(v: Any, name: str) -> bool:
    if type(v) is not bool:
        raise CodecError(f"{name}: expected a boolean, got {v!r:.40}")
    return v


def _bytes(v: Any, name: str) -> bytes:
    if type(v) is not bytes:
        raise CodecError(f"{name}: expected bytes, got {type(v).__name__}")
    return v


def _ids(v: Any, name: str) -> frozenset[int]:
    if type(v) is not list or len(v) > MAX_CONF_IDS:
        raise CodecError(f"{name}: expected a list of at most {MAX_CONF_IDS} node ids")
    return frozenset(_u64(x, name) for x in v)


def _addrs(v: Any) -> tuple[tuple[int, str], ...]:
    if type(v) is not list or len(v) > MAX_CONF_IDS:
        raise CodecError(f"addrs: expected a list of at most {MAX_CONF_IDS} pairs")
    out = []
    for pair in v:
        if type(pair) is not list or len(pair) != 2 or type(pair[1]) is not str \
                or len(pair[1]) > 1024:
            raise CodecError("addrs: expected [node id, address text] pairs")
        out.append((_u64(pair[0], "addrs id"), pair[1]))
    return tuple(sorted(out))


def _meta(v: Any) -> SnapshotMeta:
    if type(v) is not list or len(v) not in (4, 5):
        raise CodecError("snapshot meta: expected [index, term, voters, learners, (addrs)]")
    conf = ConfState(voters=_ids(v[2], "voters"), learners=_ids(v[3], "learners"),
                     addrs=_addrs(v[4]) if len(v) == 5 else ())
    return SnapshotMeta(index=_u64(v[0], "meta.index"), term=_u64(v[1], "meta.term"), conf=conf)


def _entries(v: Any) -> tuple[Entry, ...]:
    if type(v) is not list:
        raise CodecError("entries: expected an array")
    kinds = _KINDS
    out = []
    append = out.append
    fast = _FAST_ENTRY
    new = object.__new__
    set_term = Entry.term.__set__  # type: ignore[attr-defined]
    set_index = Entry.index.__set__  # type: ignore[attr-defined]
    set_kind = Entry.kind.__set__  # type: ignore[attr-defined]
    set_data = Entry.data.__set__  # type: ignore[attr-defined]
    for e in v:
        # One combined check per entry keeps the common path to a few comparisons.
        if type(e) is not list or len(e) != 4:
            raise CodecError("entry: expected [term, index, kind, data]")
        term, index, kind, data = e
        if (
            type(term) is not int
            or type(index) is not int
            or type(data) is not bytes
            or not (0 <= term <= U64_MAX)
            or not (0 <= index <= U64_MAX)
        ):
            raise CodecError(f"entry: bad field types or range in {e!r:.80}")
        k = kinds.get(kind) if type(kind) is int else None
        if k is None:
            raise CodecError(f"entry: unknown kind {kind!r:.20}")
        if fast:
            ent = new(Entry)
            set_term(ent, term)
            set_index(ent, index)
            set_kind(ent, k)
            set_data(ent, data)
            append(ent)
        else:
            append(Entry(term, index, k, data))
    return tuple(out)


def _check_count(f: list[Any], n: int, name: str) -> None:
    if len(f) != n:
        raise CodecError(f"{name}: expected {n} fields, got {len(f)}")


def _d_prevote(f: list[Any]) -> Message:
    _check_count(f, 6, "PreVote")
    return PreVote(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                   _u64(f[4], "last_log_index"), _u64(f[5], "last_log_term"))


def _d_prevote_resp(f: list[Any]) -> Message:
    _check_count(f, 5, "PreVoteResp")
    return PreVoteResp(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                       _bool(f[4], "granted"))


def _d_vote(f: list[Any]) -> Message:
    _check_count(f, 7, "Vote")
    return Vote(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                _u64(f[4], "last_log_index"), _u64(f[5], "last_log_term"),
                _bool(f[6], "transfer"))


def _d_vote_resp(f: list[Any]) -> Message:
    _check_count(f, 5, "VoteResp")
    return VoteResp(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                    _bool(f[4], "granted"))


def _d_append(f: list[Any]) -> Message:
    _check_count(f, 8, "Append")
    return Append(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                  _u64(f[4], "prev_index"), _u64(f[5], "prev_term"), _entries(f[7]),
                  _u64(f[6], "commit"))


def _d_append_resp(f: list[Any]) -> Message:
    _check_count(f, 8, "AppendResp")
    return AppendResp(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                      _bool(f[4], "success"), _u64(f[5], "index"),
                      _u64(f[6], "conflict_term"), _u64(f[7], "conflict_index"))


def _d_heartbeat(f: list[Any]) -> Message:
    _check_count(f, 6, "Heartbeat")
    return Heartbeat(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                     _u64(f[4], "commit"), _bytes(f[5], "ctx"))


def _d_heartbeat_resp(f: list[Any]) -> Message:
    _check_count(f, 5, "HeartbeatResp")
    return HeartbeatResp(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                         _bytes(f[4], "ctx"))


def _d_install(f: list[Any]) -> Message:
    _check_count(f, 8, "InstallSnapshot")
    return InstallSnapshot(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                           _meta(f[4]), _u64(f[5], "offset"), _bytes(f[6], "data"),
                           _bool(f[7], "done"))


def _d_install_resp(f: list[Any]) -> Message:
    _check_count(f, 8, "InstallSnapshotResp")
    return InstallSnapshotResp(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                               _u64(f[4], "index"), _u64(f[5], "offset"),
                               _bool(f[6], "done"), _bool(f[7], "success"))


def _d_timeout_now(f: list[Any]) -> Message:
    _check_count(f, 4, "TimeoutNow")
    return TimeoutNow(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"))


def _d_transfer_leader(f: list[Any]) -> Message:
    _check_count(f, 4, "TransferLeader")
    return TransferLeader(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"))


def _d_read_index(f: list[Any]) -> Message:
    _check_count(f, 5, "ReadIndex")
    return ReadIndex(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                     _bytes(f[4], "ctx"))


def _d_read_index_resp(f: list[Any]) -> Message:
    _check_count(f, 7, "ReadIndexResp")
    return ReadIndexResp(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                         _bytes(f[4], "ctx"), _u64(f[5], "index"), _bool(f[6], "ok"))


def _d_publish_forward(f: list[Any]) -> Any:
    _check_count(f, 8, "PublishForward")
    return PublishForward(_u64(f[1], "src"), _u64(f[2], "dst"), _u64(f[3], "term"),
                          _u64(f[4], "request"), _bytes(f[5], "channel"),
                          _bytes(f[6], "message"), _bool(f[7], "shard"))


_DECODERS: dict[int, Callable[[list[Any]], Message]] = {
    1: _d_prevote,
    2: _d_prevote_resp,
    3: _d_vote,
    4: _d_vote_resp,
    5: _d_append,
    6: _d_append_resp,
    7: _d_heartbeat,
    8: _d_heartbeat_resp,
    9: _d_install,
    10: _d_install_resp,
    11: _d_timeout_now,
    12: _d_read_index,
    13: _d_read_index_resp,
    14: _d_publish_forward,
    15: _d_transfer_leader,
}


def decode(data: bytes | bytearray | memoryview) -> Message:
    """Decode one message; any malformed input raises CodecError."""
    try:
        # raw=False: a str is never legal, so it must arrive as str and fail the type checks
        # rather than pass as bytes. Lengths are bounded by the buffer size (msgpack default).
        f = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise CodecError(f"not valid msgpack: {type(exc).__name__}: {exc}") from None
    if type(f) is not list or not f:
        raise CodecError("expected a non-empty array")
    code = f[0]
    dec = _DECODERS.get(code) if type(code) is int else None
    if dec is None:
        raise CodecError(f"unknown message code {code!r:.20}")
    try:
        return dec(f)
    except CodecError:
        raise
    except Exception as exc:  # belt and braces: a checker bug must not escape as another type
        raise CodecError(f"invalid message: {type(exc).__name__}: {exc}") from None
