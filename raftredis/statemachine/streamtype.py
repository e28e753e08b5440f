"""The stream value type: entries by ID, consumer groups, and the node layout Redis
trims by.

An ID is a (ms, seq) pair of unsigned 64-bit integers. Entries live in a SortedDict
ID -> flat [field, value, ...] list. Redis keeps entries in listpack nodes of at most
100 entries (stream-node-max-entries) or 4 KiB (stream-node-max-bytes); `~` trimming
removes whole nodes only, so the node boundaries are kept here too (by entry count, and
by an estimate of the bytes), with the live and deleted entries each node holds.

Groups and consumers are kept sorted by name, as Redis's radix trees order them; each
group's pending entries (PEL) are sorted by ID. Delivery times come from the log entry's
timestamp (ctx.now), so every replica holds the same times.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from sortedcontainers import SortedDict

from raftredis.reply import Error
from raftredis.statemachine.errors import fail
from raftredis.statemachine.values import ValueType, register_type

StreamID = tuple[int, int]
U64 = (1 << 64) - 1
MIN_ID: StreamID = (0, 0)
MAX_ID: StreamID = (U64, U64)
NODE_MAX_ENTRIES = 100
NODE_MAX_BYTES = 4096
INVALID_READ = -1  # a group's entries-read counter that is not known

BAD_ID = Error("ERR Invalid stream ID specified as stream command argument")


def fmt_id(i: StreamID) -> bytes:
    return b"%d-%d" % i


def parse_u64(text: bytes) -> int | None:
    if not text or not text.isdigit() or len(text) > 20:
        return None
    v = int(text)
    return v if v <= U64 else None


def parse_id(arg: bytes, missing_seq: int = 0, strict: bool = False) -> StreamID:
    """`ms-seq`, or `ms` with `missing_seq`; `-` and `+` unless strict."""
    if not strict and arg == b"-":
        return MIN_ID
    if not strict and arg == b"+":
        return MAX_ID
    ms_text, dash, seq_text = arg.partition(b"-")
    ms = parse_u64(ms_text)
    seq = parse_u64(seq_text) if dash else missing_seq
    if ms is None or seq is None:
        raise fail(BAD_ID)
    return ms, seq


def next_id(i: StreamID) -> StreamID | None:
    if i[1] < U64:
        return i[0], i[1] + 1
    return None if i[0] == U64 else (i[0] + 1, 0)


def prev_id(i: StreamID) -> StreamID | None:
    if i[1] > 0:
        return i[0], i[1] - 1
    return None if i[0] == 0 else (i[0] - 1, U64)


@dataclass(slots=True)
class Pending:
    consumer: bytes
    delivery_time: int
    delivery_count: int


@dataclass(slots=True)
class Consumer:
    seen_time: int
    pel: SortedDict = field(default_factory=SortedDict)  # ID -> None


@dataclass(slots=True)
class Group:
    last_id: StreamID
    entries_read: int = INVALID_READ
    pel: SortedDict = field(default_factory=SortedDict)  # ID -> Pending
    consumers: SortedDict = field(default_factory=SortedDict)  # name -> Consumer


@dataclass(slots=True)
class Node:
    first: StreamID
    last: StreamID
    total: int  # entries ever appended to the node (live and deleted)
    live: int
    size: int  # estimated bytes


def _entry_size(fields: list[bytes]) -> int:
    return sum(len(f) for f in fields)


class Stream:
    __slots__ = ("entries", "last_id", "entries_added", "max_deleted", "groups", "nodes")

    def __init__(self) -> None:
        self.entries: SortedDict = SortedDict()  # ID -> [field, value, ...]
        self.last_id: StreamID = MIN_ID
        self.entries_added = 0
        self.max_deleted: StreamID = MIN_ID
        self.groups: SortedDict = SortedDict()  # name -> Group
        self.nodes: list[Node] = []

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def first_id(self) -> StreamID:
        return self.entries.keys()[0] if self.entries else MIN_ID

    # ---- entries ------------------------------------------------------------------------
    def append(self, sid: StreamID, fields: list[bytes]) -> None:
        size = _entry_size(fields)
        node = self.nodes[-1] if self.nodes else None
        # Redis opens a new node once the last one is full (by bytes, or by entries
        # counting the deleted ones too).
        if node is None or node.size + size >= NODE_MAX_BYTES or node.total >= NODE_MAX_ENTRIES:
            node = Node(sid, sid, 0, 0, 16)
            self.nodes.append(node)
        node.last = sid
        node.total += 1
        node.live += 1
        node.size += size + 2 * len(fields) + 4
        self.entries[sid] = fields
        self.last_id = sid
        self.entries_added += 1

    def _node_of(self, sid: StreamID) -> int:
        return bisect_right([n.first for n in self.nodes], sid) - 1

    def delete(self, sid: StreamID) -> bool:
        if self.entries.pop(sid, None) is None:
            return False
        i = self._node_of(sid)
        node = self.nodes[i]
        node.live -= 1
        if node.live == 0:
            del self.nodes[i]  # Redis frees a node once all its entries are deleted
        return True

    def trim(self, maxlen: int | None, minid: StreamID | None, approx: bool,
             limit: int) -> int:
        """Redis's streamTrim: whole nodes from the head while they may all go; then,
        unless approximate, single entries of the first node left."""
        deleted = 0
        while self.nodes:
            node = self.nodes[0]
            if limit and deleted + node.live > limit:
                break
            if maxlen is not None:
                whole = len(self.entries) - node.live >= maxlen
            else:
                assert minid is not None
                whole = node.last < minid
            if whole:
                for sid in list(self.entries.irange(node.first, node.last)):
                    del self.entries[sid]
                deleted += node.live
                del self.nodes[0]
                continue
            if approx:
                break
            for sid in list(self.entries.irange(node.first, node.last)):
                if maxlen is not None and len(self.entries) <= maxlen:
                    break
                if minid is not None and sid >= minid:
                    break
                del self.entries[sid]
                node.live -= 1  # (an emptied node stays, as in Redis, until trimmed)
                deleted += 1
            break
        return deleted

    # ---- group counters (Redis 7's lag tracking) --------------------------------------
    def has_tombstones(self, start: StreamID | None, end: StreamID | None = None) -> bool:
        if not self.entries or self.max_deleted == MIN_ID:
            return False
        if self.first_id > self.max_deleted:
            return False
        lo = start if start is not None else MIN_ID
        hi = end if end is not None else MAX_ID
        return lo <= self.max_deleted <= hi

    def estimate_read(self, sid: StreamID) -> int:
        """How many entries were added up to `sid`, or INVALID_READ when unknown."""
        if not self.entries_added:
            return 0
        if not self.entries and sid <= self.last_id:
            return self.entries_added
        if sid == self.last_id:
            return self.entries_added
        if sid > self.last_id:
            return INVALID_READ
        first = self.first_id
        if self.max_deleted == MIN_ID or self.max_deleted < first:
            if sid < first:
                return self.entries_added - len(self.entries)
            if sid == first:
                return self.entries_added - len(self.entries) + 1
        return INVALID_READ

    def lag(self, g: Group) -> int | None:
        if not self.entries_added:
            return 0
        if g.entries_read != INVALID_READ and not self.has_tombstones(g.last_id):
            return self.entries_added - g.entries_read
        read = self.estimate_read(g.last_id)
        return None if read == INVALID_READ else self.entries_added - read


# ---- snapshots ----------------------------------------------------------------------------


def _encode(s: object) -> object:
    assert isinstance(s, Stream)
    groups = []
    for name, g in s.groups.items():
        pel = [[ms, seq, p.consumer, p.delivery_time, p.delivery_count]
               for (ms, seq), p in g.pel.items()]
        consumers = [[cname, c.seen_time] for cname, c in g.consumers.items()]
        groups.append([name, g.last_id[0], g.last_id[1], g.entries_read, pel, consumers])
    return [
        [[ms, seq, f] for (ms, seq), f in s.entries.items()],
        [s.last_id[0], s.last_id[1], s.entries_added, s.max_deleted[0], s.max_deleted[1]],
        groups,
        [[n.first[0], n.first[1], n.last[0], n.last[1], n.total, n.live, n.size]
         for n in s.nodes],
    ]


def _int(v: object) -> int:
    if type(v) is not int or v < -1 or v > U64:
        raise ValueError("stream snapshot holds a bad number")
    return v


def _decode(data: object) -> object:
    if not isinstance(data, list) or len(data) != 4:
        raise ValueError("stream value is not [entries, meta, groups, nodes]")
    entries, meta, groups, nodes = data
    s = Stream()
    for ms, seq, fields in entries:
        if not isinstance(fields, list) or any(type(x) is not bytes for x in fields):
            raise ValueError("stream entry fields are not byte strings")
        s.entries[(_int(ms), _int(seq))] = fields
    lms, lseq, added, dms, dseq = (_int(x) for x in meta)
    s.last_id, s.entries_added, s.max_deleted = (lms, lseq), added, (dms, dseq)
    for name, gms, gseq, read, pel, consumers in groups:
        if type(name) is not bytes:
            raise ValueError("stream group name is not bytes")
        g = Group((_int(gms), _int(gseq)), _int(read))
        for cname, seen in consumers:
            g.consumers[cname] = Consumer(_int(seen))
        for ms, seq, cname, when, count in pel:
            sid = (_int(ms), _int(seq))
            g.pel[sid] = Pending(cname, _int(when), _int(count))
            if cname not in g.consumers:
                raise ValueError("stream PEL names an unknown consumer")
            g.consumers[cname].pel[sid] = None
        s.groups[name] = g
    s.nodes = [Node((_int(a), _int(b)), (_int(c), _int(d)), _int(t), _int(live), _int(size))
               for a, b, c, d, t, live, size in nodes]
    return s


def _copy(s: object) -> object:
    assert isinstance(s, Stream)
    return _decode(_encode(s))


STREAM_TYPE = ValueType(
    name="stream", code=5, pytype=Stream, encode=_encode, decode=_decode, copy=_copy,
    encoding=lambda s: "stream",
)
register_type(STREAM_TYPE)
