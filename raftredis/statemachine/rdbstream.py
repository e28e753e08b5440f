"""Streams in Redis's serialized value format (DUMP / RESTORE), on rdbcodec's primitives.

Written as RDB_TYPE_STREAM_LISTPACKS_2 (19, Redis 7.0, RDB version 10). Read: that,
the older STREAM_LISTPACKS (15, Redis 5 and 6: no first ID, deletion and
entries-added counters, no group entries-read) and STREAM_LISTPACKS_3 (21, Redis 7.2:
a consumer's active time besides its seen time).

The value: the listpack nodes, each keyed by its master ID (16 bytes, big endian);
the length, last ID, [first ID, max deleted ID, entries added]; then the groups, each
with its last ID, [entries read], its pending entries (raw 16-byte ID, delivery time
as 8 bytes little endian, delivery count) and its consumers (name, seen time, [active
time], the IDs they own). A node's listpack opens with its master entry (live count,
deleted count, the master's field names, 0); each entry is flags, ms and seq offsets
from the master ID, then its values alone when its fields are the master's
(SAMEFIELDS) or its field count and pairs, then its element count.

Plain data is the snapshot's (streamtype): [entries, meta, groups, nodes].
"""

from __future__ import annotations

import struct

from raftredis.statemachine.rdbcodec import (
    BadPayload,
    Reader,
    frame,
    listpack_items,
    listpack_of,
    lp_entry,
    lp_int_entry,
    rdb_len,
    rdb_string,
)

T_STREAM, T_STREAM_2, T_STREAM_3 = 15, 19, 21
STREAM_TYPES = (T_STREAM, T_STREAM_2, T_STREAM_3)
F_DELETED, F_SAMEFIELDS = 1, 2
U64 = (1 << 64) - 1
_NODE_ENTRIES = 100  # Redis's stream-node-max-entries, for entries outside any node


def _id_key(ms: int, seq: int) -> bytes:
    return struct.pack(">QQ", ms, seq)


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


# ------------------------------------------------------------------ writing
def _node_listpack(entries: list[list]) -> tuple[bytes, bytes]:
    """(master ID key, listpack) of one node of live entries [ms, seq, fields]."""
    mms, mseq = entries[0][0], entries[0][1]
    master = list(entries[0][2][::2])
    parts = [lp_int_entry(len(entries)), lp_int_entry(0), lp_int_entry(len(master))]
    parts += [lp_entry(f) for f in master] + [lp_int_entry(0)]
    for ms, seq, fields in entries:
        names = fields[::2]
        same = names == master
        parts += [lp_int_entry(F_SAMEFIELDS if same else 0),
                  lp_int_entry(_signed((ms - mms) & U64)),
                  lp_int_entry(_signed((seq - mseq) & U64))]
        if same:
            parts += [lp_entry(v) for v in fields[1::2]]
            parts.append(lp_int_entry(len(names) + 3))
        else:
            parts.append(lp_int_entry(len(names)))
            parts += [lp_entry(x) for x in fields]
            parts.append(lp_int_entry(2 * len(names) + 4))
    return _id_key(mms, mseq), listpack_of(parts)


def _chunks(entries: list, nodes: list) -> list[list]:
    """The entries split at the snapshot's node boundaries (Redis trims by node)."""
    out: list[list] = []
    i = 0
    for _fms, _fseq, lms, lseq, *_rest in nodes:
        j = i
        while j < len(entries) and (entries[j][0], entries[j][1]) <= (lms, lseq):
            j += 1
        if j > i:
            out.append(entries[i:j])
        i = j
    out += [entries[k:k + _NODE_ENTRIES] for k in range(i, len(entries), _NODE_ENTRIES)]
    return out


def encode(plain: object) -> bytes:
    """The DUMP payload of a stream given as its snapshot's plain data."""
    entries, meta, groups, nodes = plain  # type: ignore[misc]
    lms, lseq, added, dms, dseq = meta
    chunks = _chunks(entries, nodes)
    out = [bytes([T_STREAM_2]), rdb_len(len(chunks))]
    for chunk in chunks:
        key, lp = _node_listpack(chunk)
        out += [rdb_string(key), rdb_string(lp)]
    first = (entries[0][0], entries[0][1]) if entries else (0, 0)
    for n in (len(entries), lms, lseq, *first, dms, dseq, added, len(groups)):
        out.append(rdb_len(n))
    for name, gms, gseq, read, pel, consumers in groups:
        out += [rdb_string(name), rdb_len(gms), rdb_len(gseq), rdb_len(read & U64),
                rdb_len(len(pel))]
        owned: dict[bytes, list[bytes]] = {c[0]: [] for c in consumers}
        for ms, seq, cname, when, count in pel:
            out += [_id_key(ms, seq), struct.pack("<q", when), rdb_len(count)]
            owned[cname].append(_id_key(ms, seq))
        out.append(rdb_len(len(consumers)))
        for cname, seen in consumers:
            out += [rdb_string(cname), struct.pack("<q", seen), rdb_len(len(owned[cname]))]
            out += owned[cname]
    return frame(b"".join(out))


# ------------------------------------------------------------------ reading
def _ints(items: list[bytes], i: int, n: int) -> list[int]:
    if i + n > len(items):
        raise BadPayload("stream listpack entry beyond its end")
    try:
        return [int(x) for x in items[i:i + n]]
    except ValueError:
        raise BadPayload("stream listpack integer expected") from None


def _read_node(key: bytes, blob: bytes) -> tuple[list[list], int]:
    """(live entries [ms, seq, fields], entries in the node, live and deleted)."""
    if len(key) != 16:
        raise BadPayload("stream node key is not an ID")
    mms, mseq = struct.unpack(">QQ", key)
    items = listpack_items(blob)
    count, deleted, nf = _ints(items, 0, 3)
    master = items[3:3 + nf]
    if len(master) != nf or _ints(items, 3 + nf, 1) != [0]:
        raise BadPayload("bad stream master entry")
    if count + deleted == 0:
        raise BadPayload("empty stream node")
    i = 4 + nf
    live: list[list] = []
    for _ in range(count + deleted):
        flags, dms, dseq = _ints(items, i, 3)
        i += 3
        if flags & F_SAMEFIELDS:
            values = items[i:i + nf]
            i += nf
            fields = [x for pair in zip(master, values, strict=False) for x in pair]
        else:
            (n,) = _ints(items, i, 1)
            fields = items[i + 1:i + 1 + 2 * n]
            i += 1 + 2 * n
        _ints(items, i, 1)  # the entry's element count
        i += 1
        if i > len(items) or not fields:
            raise BadPayload("stream entry beyond its node")
        if not flags & F_DELETED:
            live.append([(mms + dms) & U64, (mseq + dseq) & U64, fields])
    if i != len(items) or len(live) != count:
        raise BadPayload("stream node counts do not match its entries")
    return live, count + deleted


def _time(r: Reader) -> int:
    return max(0, struct.unpack("<q", r.take(8))[0])


def decode(payload: bytes) -> object:
    """A stream payload's plain data; BadPayload if it is not one we read."""
    try:
        return _decode(payload)
    except (IndexError, struct.error, OverflowError) as e:
        raise BadPayload(str(e)) from None


def _decode(payload: bytes) -> object:
    r = Reader(payload)
    t = r.byte()
    if t not in STREAM_TYPES:
        raise BadPayload(f"not a stream (RDB type {t})")
    entries: list[list] = []
    nodes: list[list] = []
    for _ in range(r.plain_len()):
        key, blob = r.string(), r.string()
        live, total = _read_node(key, blob)
        for e in live:
            if entries and (e[0], e[1]) <= (entries[-1][0], entries[-1][1]):
                raise BadPayload("stream IDs out of order")
            entries.append(e)
        if live:
            size = 16 + sum(sum(map(len, e[2])) + 2 * len(e[2]) + 4 for e in live)
            nodes.append([live[0][0], live[0][1], live[-1][0], live[-1][1], total,
                          len(live), size])
    length, lms, lseq = r.number(), r.number(), r.number()
    if length != len(entries):
        raise BadPayload("stream length does not match its entries")
    dms = dseq = 0
    added = length
    if t != T_STREAM:
        r.number(), r.number()  # the first ID: the first entry's, rebuilt
        dms, dseq, added = r.number(), r.number(), r.number()
    if entries and (entries[-1][0], entries[-1][1]) > (lms, lseq):
        raise BadPayload("stream entry after its last ID")
    groups: list[list] = []
    for _ in range(r.plain_len()):
        name, gms, gseq = r.string(), r.number(), r.number()
        if any(g[0] == name for g in groups):
            raise BadPayload("duplicate consumer group")
        read = _signed(r.number()) if t != T_STREAM else -1
        if read < -1:
            raise BadPayload("bad group entries-read")
        pending: dict[tuple[int, int], list] = {}
        for _ in range(r.plain_len()):
            sid = struct.unpack(">QQ", r.take(16))
            if sid in pending:
                raise BadPayload("duplicate pending entry")
            pending[sid] = [_time(r), r.number(), None]
        consumers: list[list] = []
        for _ in range(r.plain_len()):
            cname, seen = r.string(), _time(r)
            if any(c[0] == cname for c in consumers):
                raise BadPayload("duplicate consumer")
            if t == T_STREAM_3:
                _time(r)  # the active time (Redis 7.2): not kept here
            for _ in range(r.plain_len()):
                p = pending.get(struct.unpack(">QQ", r.take(16)))
                if p is None or p[2] is not None:
                    raise BadPayload("consumer entry not in its group's pending list")
                p[2] = cname
            consumers.append([cname, seen])
        if any(p[2] is None for p in pending.values()):
            raise BadPayload("pending entry without a consumer")
        pel = [[ms, seq, c, when, count] for (ms, seq), (when, count, c) in sorted(pending.items())]
        groups.append([name, gms, gseq, read, pel, consumers])
    return [entries, [lms, lseq, added, dms, dseq], groups, nodes]
