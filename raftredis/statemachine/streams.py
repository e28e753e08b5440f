"""Stream commands on entries: XADD, XTRIM, XDEL, XLEN, XRANGE, XREVRANGE, XSETID.

Automatic IDs (`*`) take their milliseconds from the log entry's time, so every replica
generates the same IDs. A stream emptied by XDEL or XTRIM stays, as in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftredis.reply import NO_SUCH_KEY, NULL_ARRAY, OK, SYNTAX_ERR, Error, wrong_arity
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.streamtype import (
    BAD_ID,
    MAX_ID,
    MIN_ID,
    NODE_MAX_ENTRIES,
    U64,
    Stream,
    StreamID,
    fmt_id,
    next_id,
    parse_id,
    parse_u64,
    prev_id,
)

ID_ZERO = Error("ERR The ID specified in XADD must be greater than 0-0")
ID_SMALL = Error("ERR The ID specified in XADD is equal or smaller than the target stream top item")
EXHAUSTED = Error("ERR The stream has exhausted the last possible ID, unable to add more items")
BAD_START = Error("ERR invalid start ID for the interval")
BAD_END = Error("ERR invalid end ID for the interval")

command = Family("stream", "stream", since="5.0.0").command


def get_stream(ctx: Ctx, key: bytes, write: bool = False) -> Stream | None:
    return ctx.db.get_typed(key, ctx.now, Stream, write)  # type: ignore[return-value]


def entry_reply(sid: StreamID, fields: list[bytes] | None) -> list[object]:
    return [fmt_id(sid), list(fields) if fields is not None else None]


def parse_interval(arg: bytes, missing_seq: int, start: bool) -> StreamID:
    """An XRANGE bound: an ID, `-`/`+`, or `(ID` for an exclusive one."""
    if arg[:1] == b"(" and len(arg) > 1:
        sid = parse_id(arg[1:], missing_seq, strict=True)
        moved = next_id(sid) if start else prev_id(sid)
        if moved is None:
            raise fail(BAD_START if start else BAD_END)
        return moved
    return parse_id(arg, missing_seq)


# ---- XADD / XTRIM -------------------------------------------------------------------------


@dataclass(slots=True)
class Trim:
    maxlen: int | None = None
    minid: StreamID | None = None
    approx: bool = False
    limit: int = 0


def parse_trim(args: list[bytes], i: int, xadd: bool) -> tuple[Trim | None, int, bool, bytes]:
    """XADD/XTRIM options from args[i]: (trim or None, index of the ID, NOMKSTREAM, ID).
    For XTRIM the index is len(args) and the ID empty."""
    t = Trim()
    strategy = False
    limit: int | None = None
    nomk = False
    n = len(args)
    while i < n:
        more = n - 1 - i
        opt = args[i].upper()
        if xadd and args[i] == b"*":
            break
        if opt in (b"MAXLEN", b"MINID") and more:
            if strategy:
                raise fail(Error("ERR syntax error, MAXLEN and MINID options at the same time "
                                 "are not compatible"))
            t.approx = False
            if more >= 2 and args[i + 1] in (b"~", b"="):
                t.approx = args[i + 1] == b"~"
                i += 1
            if opt == b"MAXLEN":
                t.maxlen = parse_int(args[i + 1])
                if t.maxlen < 0:
                    raise fail(Error("ERR The MAXLEN argument must be >= 0."))
            else:
                t.minid = parse_id(args[i + 1], 0, strict=True)
            strategy = True
            i += 2
            continue
        if opt == b"LIMIT" and more:
            limit = parse_int(args[i + 1])
            if limit < 0:
                raise fail(Error("ERR The LIMIT argument must be >= 0."))
            i += 2
            continue
        if xadd and opt == b"NOMKSTREAM":
            nomk = True
            i += 1
            continue
        if xadd:
            break
        raise fail(SYNTAX_ERR)
    if limit is not None and not strategy:
        raise fail(Error("ERR syntax error, LIMIT cannot be used without specifying a "
                         "trimming strategy"))
    if not xadd and not strategy:
        raise fail(Error("ERR syntax error, XTRIM must be called with a trimming strategy"))
    if limit is not None and not t.approx:
        raise fail(Error("ERR syntax error, LIMIT cannot be used without the special ~ option"))
    if t.approx:
        t.limit = 100 * NODE_MAX_ENTRIES if limit is None else limit
    return (t if strategy else None), i, nomk, args[i] if i < n else b""


def _auto_id(s: Stream, now: int, ms_arg: int | None) -> StreamID:
    last = s.last_id
    if ms_arg is None:  # "*": the entry's time, or just after the last ID
        if now > last[0]:
            return now, 0
        nxt = next_id(last)
        if nxt is None:
            raise fail(ID_SMALL)
        return nxt
    if ms_arg == last[0]:  # "ms-*"
        if last[1] == U64:
            raise fail(ID_SMALL)
        return ms_arg, last[1] + 1
    if ms_arg < last[0]:
        raise fail(ID_SMALL)
    return ms_arg, 0


@command("xadd", -5, "write denyoom fast", summary="Appends a new entry to a stream")
def cmd_xadd(ctx: Ctx, args: list[bytes]) -> object:
    trim, at, nomk, id_arg = parse_trim(args, 2, True)
    auto_ms: int | None = None
    given: StreamID | None = None
    if id_arg != b"*":
        if id_arg.endswith(b"-*"):  # the given milliseconds, the next sequence number
            auto_ms = parse_u64(id_arg[:-2])
            if auto_ms is None:
                raise fail(BAD_ID)
        else:
            given = parse_id(id_arg, 0, strict=True)
            if given == MIN_ID:
                raise fail(ID_ZERO)
    fields = args[at + 1:]
    if not fields or len(fields) % 2:
        raise fail(wrong_arity("xadd"))
    s = get_stream(ctx, args[1], True)
    if s is None:
        if nomk:
            return None
        s = Stream()
        ctx.db.put(args[1], s)
    if s.last_id == MAX_ID:
        raise fail(EXHAUSTED)
    if given is not None:
        if given <= s.last_id:
            raise fail(ID_SMALL)
        sid = given
    else:
        sid = _auto_id(s, ctx.now, auto_ms if id_arg != b"*" else None)
    s.append(sid, list(fields))
    if trim is not None:
        s.trim(trim.maxlen, trim.minid, trim.approx, trim.limit)
    return fmt_id(sid)


@command("xtrim", -4, "write",
         summary="Trims the stream to (approximately if '~' is passed) a certain size")
def cmd_xtrim(ctx: Ctx, args: list[bytes]) -> object:
    trim, _, _, _ = parse_trim(args, 2, False)
    assert trim is not None
    s = get_stream(ctx, args[1], True)
    if s is None:
        return 0
    return s.trim(trim.maxlen, trim.minid, trim.approx, trim.limit)


# ---- XDEL / XLEN / XSETID -----------------------------------------------------------------


@command("xdel", -3, "write fast", summary=(
    "Removes the specified entries from the stream. Returns the number of items actually "
    "deleted, that may be different from the number of IDs passed in case certain IDs do "
    "not exist."))
def cmd_xdel(ctx: Ctx, args: list[bytes]) -> object:
    s = get_stream(ctx, args[1], True)
    if s is None:
        return 0
    ids = [parse_id(a, 0, strict=True) for a in args[2:]]
    n = 0
    for sid in ids:
        if s.delete(sid):
            s.max_deleted = max(s.max_deleted, sid)
            n += 1
    return n


@command("xlen", 2, "readonly fast", summary="Return the number of entries in a stream")
def cmd_xlen(ctx: Ctx, args: list[bytes]) -> object:
    s = get_stream(ctx, args[1])
    return 0 if s is None else len(s)


@command("xsetid", -3, "write denyoom fast",
         summary="An internal command for replicating stream values")
def cmd_xsetid(ctx: Ctx, args: list[bytes]) -> object:
    sid = parse_id(args[2], 0, strict=True)
    added = -1
    max_del = MIN_ID
    i = 3
    while i < len(args):
        opt, more = args[i].upper(), len(args) - 1 - i
        if opt == b"ENTRIESADDED" and more:
            added = parse_int(args[i + 1])
            if added < 0:
                raise fail(Error("ERR entries_added must be positive"))
        elif opt == b"MAXDELETEDID" and more:
            max_del = parse_id(args[i + 1], 0, strict=True)
            if sid < max_del:
                raise fail(Error("ERR The ID specified in XSETID is smaller than the provided "
                                 "max_deleted_entry_id"))
        else:
            raise fail(SYNTAX_ERR)
        i += 2
    s = get_stream(ctx, args[1], True)
    if s is None:
        raise fail(NO_SUCH_KEY)
    if len(s):
        if sid < s.entries.keys()[-1]:
            raise fail(Error("ERR The ID specified in XSETID is smaller than the target stream "
                             "top item"))
        if added != -1 and len(s) > added:
            raise fail(Error("ERR The entries_added specified in XSETID is smaller than the "
                             "target stream length"))
    s.last_id = sid
    if added != -1:
        s.entries_added = added
    if max_del != MIN_ID:
        s.max_deleted = max_del
    return OK


# ---- XRANGE / XREVRANGE -------------------------------------------------------------------


def _range(ctx: Ctx, args: list[bytes], rev: bool) -> object:
    start_arg, end_arg = (args[3], args[2]) if rev else (args[2], args[3])
    start = parse_interval(start_arg, 0, True)
    end = parse_interval(end_arg, U64, False)
    count = -1
    i = 4
    while i < len(args):
        if args[i].upper() == b"COUNT" and i + 1 < len(args):
            count = max(parse_int(args[i + 1]), 0)
            i += 2
        else:
            raise fail(SYNTAX_ERR)
    s = get_stream(ctx, args[1])
    if s is None:
        return []
    if count == 0:
        return NULL_ARRAY  # as Redis answers COUNT 0 (or a negative one)
    if start > end:
        return []
    ids = s.entries.irange(start, end, reverse=rev)
    out = []
    for sid in ids:
        out.append(entry_reply(sid, s.entries[sid]))
        if count > 0 and len(out) >= count:
            break
    return out


@command("xrange", -4, "readonly", summary=(
    "Return a range of elements in a stream, with IDs matching the specified IDs interval"))
def cmd_xrange(ctx: Ctx, args: list[bytes]) -> object:
    return _range(ctx, args, False)


@command("xrevrange", -4, "readonly", summary=(
    "Return a range of elements in a stream, with IDs matching the specified IDs interval, "
    "in reverse order (from greater to smaller IDs) compared to XRANGE"))
def cmd_xrevrange(ctx: Ctx, args: list[bytes]) -> object:
    return _range(ctx, args, True)


__all__ = ["MAX_ID", "entry_reply", "get_stream", "parse_interval"]
