"""XREAD and XREADGROUP.

Both serve what is there now. BLOCK is parsed and checked as Redis does, but the state
machine never waits: a read that would block answers the null array a timed-out wait
answers (the node layer does not yet wait for streams, see the module docstring of
blocking.py). XREADGROUP therefore carries no `blocking` flag, so the node proposes it
once instead of retrying it as a blocking pop.

Replies are RESP2's shape, [[key, entries], ...]; RESP3 Redis sends a map of key ->
entries, which our encoder has no type for.
"""

from __future__ import annotations

from raftredis.reply import NULL_ARRAY, SYNTAX_ERR, Error, KeyedPairs
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_int, to_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.streams import entry_reply, get_stream
from raftredis.statemachine.streamtype import (
    INVALID_READ,
    MAX_ID,
    MIN_ID,
    Consumer,
    Group,
    Pending,
    Stream,
    StreamID,
    next_id,
    parse_id,
)

command = Family("stream", "stream", since="5.0.0").command

TIMEOUT_NOT_INT = Error("ERR timeout is not an integer or out of range")
TIMEOUT_NEGATIVE = Error("ERR timeout is negative")


def nogroup(key: bytes, group: bytes, where: str = "") -> Error:
    k, g = key.decode("utf-8", "replace"), group.decode("utf-8", "replace")
    return Error(f"NOGROUP No such key '{k}' or consumer group '{g}'{where}")


def consumer_of(g: Group, name: bytes, now: int) -> Consumer:
    """The named consumer, created if new; its seen time is now (Redis refreshes it)."""
    c = g.consumers.get(name)
    if c is None:
        c = Consumer(now)
        g.consumers[name] = c
    c.seen_time = now
    return c


def streams_keys(args: list[bytes]) -> list[int]:
    """XREAD/XREADGROUP: the keys are the first half of what follows STREAMS."""
    for i in range(1, len(args)):
        if args[i].upper() == b"STREAMS":
            rest = len(args) - i - 1
            if rest % 2 or rest == 0:
                return []
            return list(range(i + 1, i + 1 + rest // 2))
    return []


def _deliver(s: Stream, g: Group, c: Consumer, cname: bytes, sid: StreamID, now: int,
             noack: bool) -> None:
    if sid > g.last_id:
        if g.entries_read != INVALID_READ and not s.has_tombstones(sid):
            g.entries_read += 1
        elif s.entries_added:
            g.entries_read = s.estimate_read(sid)
        g.last_id = sid
    if noack:
        return
    p = g.pel.get(sid)
    if p is not None:  # an XGROUP SETID back in time: the entry changes hands
        old = g.consumers.get(p.consumer)
        if old is not None:
            old.pel.pop(sid, None)
        p.consumer, p.delivery_time, p.delivery_count = cname, now, 1
    else:
        g.pel[sid] = Pending(cname, now, 1)
    c.pel[sid] = None


def _read(ctx: Ctx, args: list[bytes], group_mode: bool) -> object:
    count = 0
    streams_at = 0
    group = cname = None
    noack = False
    name = "XREADGROUP" if group_mode else "XREAD"
    i, n = 1, len(args)
    while i < n:
        opt, more = args[i].upper(), n - i - 1
        if opt == b"BLOCK" and more:
            t = to_int(args[i + 1])
            if t is None:
                raise fail(TIMEOUT_NOT_INT)
            if t < 0:
                raise fail(TIMEOUT_NEGATIVE)
            i += 2
        elif opt == b"COUNT" and more:
            count = max(parse_int(args[i + 1]), 0)
            i += 2
        elif opt == b"STREAMS" and more:
            streams_at = i + 1
            if (n - streams_at) % 2:
                symbol = ">" if group_mode else "$"
                raise fail(Error(f"ERR Unbalanced {name} list of streams: for each stream "
                                 f"key an ID or '{symbol}' must be specified."))
            break
        elif opt == b"GROUP" and more >= 2:
            if not group_mode:
                raise fail(Error("ERR The GROUP option is only supported by XREADGROUP. You "
                                 "called XREAD instead."))
            group, cname = args[i + 1], args[i + 2]
            i += 3
        elif opt == b"NOACK":
            if not group_mode:
                raise fail(Error("ERR The NOACK option is only supported by XREADGROUP. You "
                                 "called XREAD instead."))
            noack = True
            i += 1
        else:
            raise fail(SYNTAX_ERR)
    if not streams_at:
        raise fail(SYNTAX_ERR)
    if group_mode and group is None:
        raise fail(Error("ERR Missing GROUP option for XREADGROUP"))
    half = (n - streams_at) // 2
    keys, id_args = args[streams_at:streams_at + half], args[streams_at + half:]
    plan: list[tuple[bytes, Stream | None, Group | None, StreamID]] = []
    for key, id_arg in zip(keys, id_args, strict=True):
        s = get_stream(ctx, key, ctx.write)
        g = None
        if group is not None:
            g = None if s is None else s.groups.get(group)
            if g is None:
                raise fail(nogroup(key, group, " in XREADGROUP with GROUP option"))
        if id_arg == b"$":
            if group_mode:
                raise fail(Error("ERR The $ ID is meaningless in the context of XREADGROUP: "
                                 "you want to read the history of this consumer by specifying "
                                 "a proper ID, or use the > ID to get new messages. The $ ID "
                                 "would just return an empty result set."))
            plan.append((key, s, g, s.last_id if s is not None else MIN_ID))
        elif id_arg == b">":
            if not group_mode:
                raise fail(Error("ERR The > ID can be specified only when calling XREADGROUP "
                                 "using the GROUP <group> <consumer> option."))
            plan.append((key, s, g, MAX_ID))
        else:
            plan.append((key, s, g, parse_id(id_arg, 0, strict=True)))
    out = KeyedPairs()  # a map in RESP3, [key, entries] pairs in RESP2
    for key, s, g, after in plan:
        if s is None:
            continue
        if g is None:
            if s.entries and s.entries.keys()[-1] > after:
                out.append((key, [entry_reply(*e) for e in _entries(s, after, count)]))
            continue
        assert cname is not None
        c = consumer_of(g, cname, ctx.now)
        if after != MAX_ID:
            out.append((key, _history(s, g, c, after, count, ctx.now)))
            continue
        if not s.entries or s.entries.keys()[-1] <= g.last_id:
            continue
        batch = _entries(s, g.last_id, count)
        for sid, _fields in batch:
            _deliver(s, g, c, cname, sid, ctx.now, noack)
        out.append((key, [entry_reply(*e) for e in batch]))
    return out if out else NULL_ARRAY


def _entries(s: Stream, after: StreamID, count: int) -> list[tuple[StreamID, list[bytes]]]:
    start = next_id(after)
    if start is None:
        return []
    out: list[tuple[StreamID, list[bytes]]] = []
    for sid in s.entries.irange(start, MAX_ID):
        out.append((sid, s.entries[sid]))
        if count and len(out) >= count:
            break
    return out


def _history(s: Stream, g: Group, c: Consumer, after: StreamID, count: int,
             now: int) -> list[object]:
    """The consumer's pending entries after `after`; a deleted one comes as [id, nil]."""
    start = next_id(after)
    out: list[object] = []
    if start is None:
        return out
    for sid in c.pel.irange(start, MAX_ID):
        if count and len(out) >= count:
            break
        fields = s.entries.get(sid)
        if fields is None:
            out.append([entry_reply(sid, None)[0], NULL_ARRAY])
            continue
        p = g.pel[sid]
        p.delivery_time = now
        p.delivery_count += 1
        out.append(entry_reply(sid, fields))
    return out


@command("xread", -4, "readonly blocking", 0, 0, 0, key_fn=streams_keys, summary=(
    "Return never seen elements in multiple streams, with IDs greater than the ones reported "
    "by the caller for each stream. Can block."))
def cmd_xread(ctx: Ctx, args: list[bytes]) -> object:
    return _read(ctx, args, False)


@command("xreadgroup", -7, "write", 0, 0, 0, acl="blocking", key_fn=streams_keys, summary=(
    "Return new entries from a stream using a consumer group, or access the history of the "
    "pending entries for a given consumer. Can block."))
def cmd_xreadgroup(ctx: Ctx, args: list[bytes]) -> object:
    return _read(ctx, args, True)

