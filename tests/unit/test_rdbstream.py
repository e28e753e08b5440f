"""Streams in Redis's DUMP format (rdbstream): a round trip of a stream with nodes,
groups, pending entries and consumers; listpack integers at every width; the older and
newer stream types read; malformed payloads refused with BadPayload."""

from __future__ import annotations

import struct

import pytest

from raftredis.statemachine import rdbcodec as rc
from raftredis.statemachine import rdbstream as rs
from raftredis.statemachine.streamtype import STREAM_TYPE, Stream

T0 = 1_700_000_000_000


def _stream() -> Stream:
    s = Stream()
    for i in range(230):
        fields = [b"a", str(i).encode(), b"b", b"x" * (i % 5)] if i % 4 else [b"c", b"-9" * i]
        s.append((T0 + i // 3, i % 3), fields)
    s.delete((T0 + 1, 1))
    s.max_deleted = (T0 + 1, 1)
    return s


def _plain_with_groups() -> list:
    plain = STREAM_TYPE.encode(_stream())
    ids = [(e[0], e[1]) for e in plain[0][:4]]
    pel = [[*ids[0], b"alice", T0 + 5, 1], [*ids[1], b"bob", T0 + 6, 3],
           [*ids[2], b"alice", T0 + 7, 2]]
    plain[2] = [[b"g1", *ids[2], 3, pel, [[b"alice", T0 + 7], [b"bob", T0 + 6],
                                          [b"carol", T0 + 1]]],
                [b"g2", 0, 0, -1, [], []]]
    return plain


def test_round_trip_keeps_entries_counters_and_groups():
    plain = _plain_with_groups()
    blob = rs.encode(plain)
    assert rc.verify(blob) and blob[0] == rs.T_STREAM_2
    back = rs.decode(blob)
    assert back[0] == plain[0] and back[1] == plain[1] and back[2] == plain[2]
    s = STREAM_TYPE.decode(back)  # the snapshot's own validation accepts it
    assert len(s) == 229 and list(s.groups[b"g1"].consumers[b"alice"].pel) == [
        (T0, 0), (T0, 2)]
    assert sum(n.live for n in s.nodes) == 229


def test_empty_stream_with_a_group():
    plain = [[], [T0, 3, 4, T0, 3], [[b"g", T0, 3, 4, [], []]], []]
    assert rs.decode(rs.encode(plain)) == plain


@pytest.mark.parametrize("v", [0, 127, 128, -1, -4096, 4095, 4096, -32768, 1 << 20,
                               -(1 << 31), 1 << 40, -(1 << 63), (1 << 63) - 1])
def test_listpack_integers_every_width(v):
    lp = rc.listpack_of([rc.lp_int_entry(v), rc.lp_entry(b"x")])
    assert rc.listpack_items(lp) == [str(v).encode(), b"x"]


def _body(blob: bytes) -> bytes:
    return blob[:-10]


def test_reads_redis5_and_redis72_types():
    plain = _plain_with_groups()
    r = rc.Reader(_body(rs.encode(plain)))
    r.byte()
    for _ in range(r.plain_len()):
        r.string(), r.string()
    nodes_end = r.pos
    # Redis 5/6 (type 15): no first ID, max deleted, entries added or entries read.
    body = _body(rs.encode([plain[0], plain[1], [], plain[3]]))
    head, tail = body[1:nodes_end], body[nodes_end:]
    r = rc.Reader(tail)
    length, lms, lseq = r.number(), r.number(), r.number()
    for _ in range(5):
        r.number()
    v1 = bytes([rs.T_STREAM]) + head + b"".join(rc.rdb_len(n) for n in (length, lms, lseq, 0))
    got = rs.decode(rc.frame(v1))
    assert got[0] == plain[0] and got[1] == [lms, lseq, length, 0, 0] and got[2] == []
    # Redis 7.2 (type 21): a consumer's active time follows its seen time.
    one = [plain[0], plain[1], [[b"g", 0, 0, 0, [], [[b"dan", T0]]]], plain[3]]
    body = _body(rs.encode(one))
    seen = struct.pack("<q", T0)
    at = body.rindex(b"dan" + seen) + 3 + 8
    v3 = bytes([rs.T_STREAM_3]) + body[1:at] + struct.pack("<q", T0 + 9) + body[at:]
    assert rs.decode(rc.frame(v3))[2] == one[2]


def test_malformed_payloads_are_refused():
    plain = _plain_with_groups()
    blob = _body(rs.encode(plain))
    bad = [
        blob[:len(blob) // 2],  # truncated
        bytes([rs.T_STREAM_2, 1]) + rc.rdb_string(b"short") + rc.rdb_string(b"x"),
        bytes([rs.T_STREAM_2, 1]) + rc.rdb_string(bytes(16)) + rc.rdb_string(
            rc.listpack([b"0", b"0", b"0", b"0"])),  # a node without entries
    ]
    # The consumer list names a pending entry the group does not hold.
    orphan = [plain[0], plain[1], [[b"g", 0, 0, 0, [], [[b"c", T0]]]], plain[3]]
    body = _body(rs.encode(orphan))
    bad.append(body[:-1] + b"\x01" + struct.pack(">QQ", 9, 9))
    # A pending entry no consumer owns.
    lone = [plain[0], plain[1], [[b"g", 0, 0, 0, [[T0, 0, b"c", T0, 1]], [[b"c", T0]]]],
            plain[3]]
    body = _body(rs.encode(lone))
    bad.append(body[:-17] + b"\x00")
    for body in bad:
        with pytest.raises(rc.BadPayload):
            rs.decode(rc.frame(body))
