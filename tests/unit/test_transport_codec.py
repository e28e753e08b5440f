"""The peer message codec: every message type round-trips; garbage only ever yields CodecError."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftredis.raft.messages import (
    MESSAGE_TYPES,
    Append,
    AppendResp,
    Heartbeat,
    HeartbeatResp,
    InstallSnapshot,
    InstallSnapshotResp,
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
from raftredis.transport.codec import CODES, CodecError, Encoder, decode, encode
from raftredis.transport.forward import PublishForward

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
ids = st.integers(min_value=1, max_value=(1 << 63) - 1)
small_bytes = st.binary(max_size=64)
entries = st.builds(
    Entry, term=u64, index=u64, kind=st.sampled_from(list(EntryKind)), data=small_bytes
)
confs = st.builds(
    ConfState, voters=st.frozensets(ids, max_size=7), learners=st.frozensets(ids, max_size=3)
)
metas = st.builds(SnapshotMeta, index=u64, term=u64, conf=confs)
common = {"src": ids, "dst": ids, "term": u64}

STRATEGIES = {
    PreVote: st.builds(PreVote, **common, last_log_index=u64, last_log_term=u64),
    PreVoteResp: st.builds(PreVoteResp, **common, granted=st.booleans()),
    Vote: st.builds(Vote, **common, last_log_index=u64, last_log_term=u64,
                    transfer=st.booleans()),
    VoteResp: st.builds(VoteResp, **common, granted=st.booleans()),
    Append: st.builds(Append, **common, prev_index=u64, prev_term=u64,
                      entries=st.lists(entries, max_size=8).map(tuple), commit=u64),
    AppendResp: st.builds(AppendResp, **common, success=st.booleans(), index=u64,
                          conflict_term=u64, conflict_index=u64),
    Heartbeat: st.builds(Heartbeat, **common, commit=u64, ctx=small_bytes),
    HeartbeatResp: st.builds(HeartbeatResp, **common, ctx=small_bytes),
    InstallSnapshot: st.builds(InstallSnapshot, **common, meta=metas, offset=u64,
                               data=st.binary(max_size=256), done=st.booleans()),
    InstallSnapshotResp: st.builds(InstallSnapshotResp, **common, index=u64, offset=u64,
                                   done=st.booleans(), success=st.booleans()),
    TimeoutNow: st.builds(TimeoutNow, **common),
    TransferLeader: st.builds(TransferLeader, **common),
    ReadIndex: st.builds(ReadIndex, **common, ctx=small_bytes),
    ReadIndexResp: st.builds(ReadIndexResp, **common, ctx=small_bytes, index=u64,
                             ok=st.booleans()),
    PublishForward: st.builds(PublishForward, **common, request=u64, channel=small_bytes,
                              message=small_bytes, shard=st.booleans()),
}
any_message = st.one_of(*STRATEGIES.values())
# Raft's messages, and the one the replica adds (a follower's forwarded PUBLISH).
WIRE_TYPES = (*MESSAGE_TYPES, PublishForward)


def test_every_message_type_has_a_code_and_a_strategy() -> None:
    # Raft's messages, and the one the replica adds (a follower's forwarded PUBLISH).
    assert set(STRATEGIES) == set(WIRE_TYPES) == set(CODES)
    assert len(set(CODES.values())) == len(CODES)


@given(any_message)
@settings(max_examples=600)
def test_round_trip(msg) -> None:
    out = decode(encode(msg))
    assert type(out) is type(msg)
    assert out == msg


@given(any_message)
@settings(max_examples=200)
def test_round_trip_with_fresh_encoder_and_cache_hit(msg) -> None:
    enc = Encoder()
    first = enc.encode(msg)
    assert enc.encode(msg) == first  # second time may come from the entries cache
    assert decode(first) == msg


def test_decoded_entries_are_real_entries() -> None:
    msg = Append(1, 2, 3, 4, 5, (Entry(3, 5, EntryKind.CONFIG, b"v=1,2"),), 5)
    e = decode(encode(msg)).entries[0]
    assert type(e) is Entry and e.kind is EntryKind.CONFIG
    assert e == Entry(3, 5, EntryKind.CONFIG, b"v=1,2") and hash(e) == hash(msg.entries[0])
    with pytest.raises(AttributeError):
        e.term = 9  # type: ignore[misc]  # still frozen


def test_entries_of_one_tuple_are_encoded_once_for_all_followers() -> None:
    enc = Encoder()
    ents = tuple(Entry(2, i, data=b"x" * 10) for i in range(1, 101))
    raws = [enc.encode(Append(1, dst, 2, 0, 0, ents, 50)) for dst in (2, 3, 4)]
    assert enc.misses == 1 and enc.hits == 2
    assert [decode(r).dst for r in raws] == [2, 3, 4]
    assert all(decode(r).entries == ents for r in raws)


def test_entries_cache_is_bounded_and_keyed_by_identity() -> None:
    enc = Encoder(cache_size=2)
    tuples = [tuple(Entry(1, i + k) for i in range(3)) for k in range(4)]
    for t in tuples:
        enc.encode(Append(1, 2, 1, 0, 0, t, 0))
    assert enc.misses == 4 and len(enc._cache) == 2
    # The most recent tuple hits; an equal but distinct tuple is a miss (identity, not
    # equality) and still encodes to the same bytes.
    raw = enc.encode(Append(1, 2, 1, 0, 0, tuples[3], 0))
    assert (enc.hits, enc.misses) == (1, 4)
    twin = tuple(list(tuples[3]))
    assert twin is not tuples[3]
    assert enc.encode(Append(1, 2, 1, 0, 0, twin, 0)) == raw
    assert (enc.hits, enc.misses) == (1, 5)
    assert decode(raw).entries == tuples[3]
    # A list is never cached (it could change between sends).
    lst = list(tuples[0])
    enc.encode(Append(1, 2, 1, 0, 0, lst, 0))  # type: ignore[arg-type]
    lst.append(Entry(9, 9))
    assert len(decode(enc.encode(Append(1, 2, 1, 0, 0, lst, 0))).entries) == 4  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        object(),
        Heartbeat(1, 2, -1, 0),  # negative
        Heartbeat(1, 2, 1 << 64, 0),  # too big for u64
        Append(1, 2, 1, 0, 0, (b"not an entry",), 0),  # type: ignore[arg-type]
        Append(1, 2, 1, 0, 0, None, 0),  # type: ignore[arg-type]
    ],
)
def test_encode_rejects_bad_messages_with_codec_error(bad) -> None:
    with pytest.raises(CodecError):
        Encoder().encode(bad)


def _pack(*fields) -> bytes:
    return msgpack.packb(list(fields), use_bin_type=True)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",  # never-used msgpack byte
        b"\x93\x01\x02",  # truncated array
        _pack(),  # empty array
        msgpack.packb({"a": 1}),  # not an array
        msgpack.packb(7),
        _pack(99, 1, 2, 3),  # unknown code
        _pack("7", 1, 2, 3, 4, b""),  # code of the wrong type
        _pack(True, 1, 2, 3),  # a bool is not a code
        _pack(7, 1, 2, 3, 4),  # Heartbeat missing ctx
        _pack(7, 1, 2, 3, 4, b"", b""),  # one field too many
        _pack(7, -1, 2, 3, 4, b""),  # negative id
        _pack(7, 1, 2, 3, 4, "ctx"),  # str where bytes are required
        _pack(7, 1, 2, 3.0, 4, b""),  # float where an int is required
        _pack(7, True, 2, 3, 4, b""),  # bool where an int is required
        _pack(4, 1, 2, 3, 1),  # int where a bool is required
        _pack(5, 1, 2, 3, 0, 0, 0, [[1, 1, 7, b""]]),  # unknown entry kind
        _pack(5, 1, 2, 3, 0, 0, 0, [[1, 1, 0]]),  # entry missing data
        _pack(5, 1, 2, 3, 0, 0, 0, [[1, -1, 0, b""]]),  # negative entry index
        _pack(5, 1, 2, 3, 0, 0, 0, [[1, 1, 0, "s"]]),  # entry data as str
        _pack(5, 1, 2, 3, 0, 0, 0, [(1, 1, True, b"")]),  # bool kind
        _pack(5, 1, 2, 3, 0, 0, 0, {"e": 1}),  # entries as a map
        _pack(9, 1, 2, 3, [1, 1, [1], [2], 9], 0, b"", True),  # meta with 5 fields
        _pack(9, 1, 2, 3, [1, 1, [1, "x"], []], 0, b"", True),  # bad voter id
        _pack(9, 1, 2, 3, [1, 1, list(range(2000)), []], 0, b"", True),  # too many voters
        msgpack.packb([7, 1, 2, 3, 4, msgpack.ExtType(5, b"xx")]),  # ext type
        b"\x91" * 100_000,  # deep nesting
        _pack(7, 1, 2, 3, 4, b"") + b"\x00",  # trailing bytes
    ],
)
def test_decode_rejects_malformed_input(raw: bytes) -> None:
    with pytest.raises(CodecError):
        decode(raw)


@given(st.binary(max_size=512))
@settings(max_examples=2000)
def test_random_bytes_only_raise_codec_error(raw: bytes) -> None:
    try:
        msg = decode(raw)
    except CodecError:
        return
    assert type(msg) in WIRE_TYPES  # a lucky valid message must be a real one


@given(any_message, st.data())
@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_encodings_only_raise_codec_error(msg, data) -> None:
    raw = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if op == "flip" and raw:
            raw[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del raw[pos:]
        else:
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    try:
        out = decode(bytes(raw))
    except CodecError:
        return
    assert type(out) in WIRE_TYPES


@given(st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1) | st.floats()
    | st.text(max_size=8) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=4), inner,
                                                                  max_size=4),
    max_leaves=30,
), st.integers(0, 20))
@settings(max_examples=300)  # 1000 took 25 s of the default suite
def test_wellformed_msgpack_of_wrong_shape_only_raises_codec_error(body, code) -> None:
    raw = msgpack.packb([code, *body] if isinstance(body, list) else [code, body],
                        use_bin_type=True)
    try:
        out = decode(raw)
    except CodecError:
        return
    assert type(out) in WIRE_TYPES
