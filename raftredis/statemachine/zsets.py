"""Sorted set commands: ZADD, ZRANGE (by rank, score, lex), pops, removals, ZSCAN, ...

A sorted set is a `ZSet`: `scores` maps member -> score (insertion-ordered, so scans
agree between replicas) and `order` is a sortedcontainers SortedList of
(score, member) tuples, which sorts exactly as Redis does: by score, ties by the
member's bytes. Scores are Python floats (IEEE doubles, as Redis's); NaN never
gets in.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sortedcontainers import SortedList

from raftredis.reply import NOT_FLOAT, NULL_ARRAY, SYNTAX_ERR, Double, Error, Pairs
from raftredis.statemachine.containers import (
    IndexedDict,
    add_key,
    drop_key,
    parse_positive_count,
    parse_scan_args,
    scan_batch,
)
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_float, parse_int, to_float
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.values import ValueType, register_type

XX_NX = Error("ERR XX and NX options at the same time are not compatible")
GT_LT_NX = Error("ERR GT, LT, and/or NX options at the same time are not compatible")
INCR_PAIR = Error("ERR INCR option supports a single increment-element pair")
SCORE_NAN = Error("ERR resulting score is not a number (NaN)")
MINMAX_NOT_FLOAT = Error("ERR min or max is not a float")
MINMAX_NOT_LEX = Error("ERR min or max not valid string range item")
LIMIT_NEEDS_BY = Error(
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
)
WITHSCORES_BYLEX = Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
LISTPACK_ENTRIES = 128  # zset-max-listpack-entries / -value
LISTPACK_VALUE = 64

command = Family("sorted-set", "sortedset", since="1.2.0").command


class ZSet:
    __slots__ = ("scores", "order", "big")

    def __init__(self) -> None:
        self.scores: IndexedDict = IndexedDict()
        self.order: SortedList = SortedList()
        # Redis never turns a skiplist back into a listpack: set once a removal could
        # have made the content look small again (not snapshotted: a restore re-encodes,
        # as Redis does when it loads an RDB).
        self.big = False

    def __len__(self) -> int:
        return len(self.scores)

    def add(self, member: bytes, score: float) -> None:
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return
            self.order.remove((old, member))
        else:
            add_key(self.scores, member)
        self.scores[member] = score
        self.order.add((score, member))

    def remove(self, member: bytes) -> bool:
        if not self.big and (len(self.scores) > LISTPACK_ENTRIES or len(member) > LISTPACK_VALUE):
            self.big = member in self.scores
        old = self.scores.pop(member, None)
        if old is None:
            return False
        drop_key(self.scores, member)
        self.order.remove((old, member))
        return True


def _encode(z: object) -> object:
    assert isinstance(z, ZSet)
    out: list[object] = []
    for m, s in z.scores.items():
        out.append(m)
        out.append(s)
    return out


def _decode(data: object) -> object:
    if not isinstance(data, list) or len(data) % 2:
        raise ValueError("zset value is not a flat member/score array")
    z = ZSet()
    for i in range(0, len(data), 2):
        m, s = data[i], data[i + 1]
        if type(m) is not bytes or type(s) is not float or math.isnan(s):
            raise ValueError("zset member is not bytes or its score is not a number")
        if m in z.scores:
            raise ValueError("zset holds a member twice")
        z.scores[m] = s
    z.order = SortedList((s, m) for m, s in z.scores.items())
    return z


def _copy(z: object) -> object:
    assert isinstance(z, ZSet)
    c = ZSet()
    c.scores = IndexedDict(z.scores)
    c.order = SortedList(z.order)
    c.big = z.big
    return c


def _encoding(z: object) -> str:
    assert isinstance(z, ZSet)
    if z.big:
        return "skiplist"
    if len(z) <= LISTPACK_ENTRIES and all(len(m) <= LISTPACK_VALUE for m in z.scores):
        return "listpack"
    return "skiplist"


ZSET_TYPE = ValueType(
    name="zset", code=4, pytype=ZSet, encode=_encode, decode=_decode, copy=_copy,
    encoding=_encoding,
)
register_type(ZSET_TYPE)


def _get(ctx: Ctx, key: bytes) -> ZSet | None:
    return ctx.db.get_typed(key, ctx.now, ZSet, write=ctx.write)  # type: ignore[return-value]


def _drop_if_empty(ctx: Ctx, key: bytes, z: ZSet) -> None:
    if not z.scores:
        ctx.db.delete(key)


def _store(ctx: Ctx, key: bytes, z: ZSet) -> None:
    """STORE semantics: replace key (dropping its TTL), or delete it for an empty result."""
    if z.scores:
        ctx.db.set(key, z)
    else:
        ctx.db.get_for_write(key, ctx.now)
        ctx.db.delete(key)


# For the other sorted-set modules (zsetops, zsetpops, geo).
get_zset = _get
store_zset = _store


def _score_text(s: float) -> bytes:
    """A score as ZSCAN sends it (a bulk string even in RESP3): shortest round-trip
    text, integers without a fraction, inf/-inf spelled out."""
    if math.isinf(s):
        return b"inf" if s > 0 else b"-inf"
    if s.is_integer() and abs(s) < 1e17:
        return b"%d" % int(s)
    return repr(s).encode()


# ---- ranges -------------------------------------------------------------------------------


def _parse_score_bound(arg: bytes) -> tuple[float, bool]:
    """(value, exclusive) for a ZRANGEBYSCORE bound such as 1.5, (1.5, -inf, +inf."""
    excl = arg[:1] == b"("
    v = to_float(arg[1:] if excl else arg)
    if v is None:
        raise fail(MINMAX_NOT_FLOAT)
    return v, excl


def _parse_lex_bound(arg: bytes) -> tuple[int, bytes, bool]:
    """(kind, value, exclusive) where kind -1 is '-', +1 is '+', 0 a real bound."""
    if arg == b"-":
        return -1, b"", False
    if arg == b"+":
        return 1, b"", False
    if arg[:1] == b"(":
        return 0, arg[1:], True
    if arg[:1] == b"[":
        return 0, arg[1:], False
    raise fail(MINMAX_NOT_LEX)


def _first_true(order: SortedList, lo: int, hi: int, pred: Callable[[bytes], bool]) -> int:
    """Smallest i in [lo, hi) whose member satisfies a predicate monotone in member
    order (hi if none): Redis walks its skiplist the same way for lex ranges."""
    while lo < hi:
        mid = (lo + hi) // 2
        if pred(order[mid][1]):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _score_span(z: ZSet, mn: tuple[float, bool], mx: tuple[float, bool]) -> tuple[int, int]:
    """Index range [lo, hi) of z.order with min <= score <= max (bounds as parsed)."""
    order, n = z.order, len(z.order)
    v, excl = mn
    if excl:
        lo = n if v == math.inf else order.bisect_left((math.nextafter(v, math.inf), b""))
    else:
        lo = order.bisect_left((v, b""))
    v, excl = mx
    if excl:
        hi = order.bisect_left((v, b""))
    else:
        hi = n if v == math.inf else order.bisect_left((math.nextafter(v, math.inf), b""))
    return lo, max(lo, hi)


def _lex_span(z: ZSet, mn: tuple[int, bytes, bool], mx: tuple[int, bytes, bool]) -> tuple[int, int]:
    order, n = z.order, len(z.order)
    kind, v, excl = mn
    if kind < 0:
        lo = 0
    elif kind > 0:
        lo = n
    else:
        lo = _first_true(order, 0, n, (lambda m: m > v) if excl else (lambda m: m >= v))
    kind, v, excl = mx
    if kind > 0:
        hi = n
    elif kind < 0:
        hi = 0
    else:
        hi = _first_true(order, 0, n, (lambda m: m >= v) if excl else (lambda m: m > v))
    return lo, max(lo, hi)


def _rank_span(n: int, start: int, end: int) -> tuple[int, int]:
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return 0, 0
    return start, min(end, n - 1) + 1


class _RangeQuery:
    __slots__ = ("by", "rev", "withscores", "offset", "count", "a", "b")

    def __init__(self) -> None:
        self.by = "rank"  # "rank" | "score" | "lex"
        self.rev = False
        self.withscores = False
        self.offset = 0
        self.count = -1  # -1: no LIMIT
        self.a: object = None
        self.b: object = None


def _parse_range(args: list[bytes], start: int, by: str, rev: bool, allowed: set[bytes]) -> _RangeQuery:
    """Parse `a b [options]` starting at args[start]. `by`/`rev` are the command's
    fixed mode (ZRANGEBYSCORE, ZREVRANGE, ...); `allowed` the options it accepts."""
    q = _RangeQuery()
    q.by, q.rev = by, rev
    limit = False
    by_set = False
    i = start + 2
    while i < len(args):
        opt = args[i].upper()
        if opt not in allowed:
            raise fail(SYNTAX_ERR)
        if opt == b"WITHSCORES":
            q.withscores = True
        elif opt == b"REV":
            q.rev = True
        elif opt in (b"BYSCORE", b"BYLEX"):
            if by_set:
                raise fail(SYNTAX_ERR)
            by_set = True
            q.by = "score" if opt == b"BYSCORE" else "lex"
        elif opt == b"LIMIT":
            if i + 2 >= len(args):
                raise fail(SYNTAX_ERR)
            q.offset = parse_int(args[i + 1])
            q.count = parse_int(args[i + 2])
            limit = True
            i += 2
        i += 1
    if limit and q.by == "rank":
        raise fail(LIMIT_NEEDS_BY)
    if q.withscores and q.by == "lex":
        raise fail(WITHSCORES_BYLEX)
    a, b = args[start], args[start + 1]
    if q.rev and q.by != "rank":
        a, b = b, a  # ZRANGE ... BYSCORE REV and ZREVRANGEBYSCORE take max then min
    if q.by == "rank":
        q.a, q.b = parse_int(a), parse_int(b)
    elif q.by == "score":
        q.a, q.b = _parse_score_bound(a), _parse_score_bound(b)
    else:
        q.a, q.b = _parse_lex_bound(a), _parse_lex_bound(b)
    return q


def _run_range(z: ZSet, q: _RangeQuery) -> list[tuple[float, bytes]]:
    n = len(z.order)
    if q.by == "rank":
        lo, hi = _rank_span(n, q.a, q.b)  # type: ignore[arg-type]
        if q.rev:
            lo, hi = n - hi, n - lo
    elif q.by == "score":
        lo, hi = _score_span(z, q.a, q.b)  # type: ignore[arg-type]
    else:
        lo, hi = _lex_span(z, q.a, q.b)  # type: ignore[arg-type]
    if q.offset < 0:
        return []
    if q.rev:
        top = hi - q.offset
        bottom = lo if q.count < 0 else max(lo, top - q.count)
        return list(z.order.islice(bottom, max(bottom, top), reverse=True))
    first = lo + q.offset
    last = hi if q.count < 0 else min(hi, first + q.count)
    return list(z.order.islice(first, max(first, last)))


def _range_reply(items: list[tuple[float, bytes]], withscores: bool) -> object:
    if not withscores:
        return [m for _, m in items]
    out = Pairs()
    for s, m in items:
        out.append(m)
        out.append(Double(s))
    return out


_ZRANGE_OPTS = {b"WITHSCORES", b"REV", b"BYSCORE", b"BYLEX", b"LIMIT"}
_BYSCORE_OPTS = {b"WITHSCORES", b"LIMIT"}


def _zrange(ctx: Ctx, args: list[bytes], by: str, rev: bool, allowed: set[bytes]) -> object:
    q = _parse_range(args, 2, by, rev, allowed)
    z = _get(ctx, args[1])
    if z is None:
        return Pairs() if q.withscores else []
    return _range_reply(_run_range(z, q), q.withscores)


@command("zrange", -4, "readonly",
         summary="Returns members in a sorted set within a range of indexes.")
def cmd_zrange(ctx: Ctx, args: list[bytes]) -> object:
    return _zrange(ctx, args, "rank", False, _ZRANGE_OPTS)


@command("zrevrange", -4, "readonly",
         summary="Returns members in a sorted set within a range of indexes in reverse order.")
def cmd_zrevrange(ctx: Ctx, args: list[bytes]) -> object:
    return _zrange(ctx, args, "rank", True, {b"WITHSCORES"})


@command("zrangebyscore", -4, "readonly", since="1.0.5",
         summary="Returns members in a sorted set within a range of scores.")
def cmd_zrangebyscore(ctx: Ctx, args: list[bytes]) -> object:
    return _zrange(ctx, args, "score", False, _BYSCORE_OPTS)


@command("zrevrangebyscore", -4, "readonly", since="2.2.0",
         summary="Returns members in a sorted set within a range of scores in reverse order.")
def cmd_zrevrangebyscore(ctx: Ctx, args: list[bytes]) -> object:
    return _zrange(ctx, args, "score", True, _BYSCORE_OPTS)


@command("zrangebylex", -4, "readonly", since="2.8.9",
         summary="Returns members in a sorted set within a lexicographical range.")
def cmd_zrangebylex(ctx: Ctx, args: list[bytes]) -> object:
    return _zrange(ctx, args, "lex", False, {b"LIMIT"})


@command("zrevrangebylex", -4, "readonly", since="2.8.9",
         summary="Returns members in a sorted set within a lexicographical range in reverse order.")
def cmd_zrevrangebylex(ctx: Ctx, args: list[bytes]) -> object:
    return _zrange(ctx, args, "lex", True, {b"LIMIT"})


@command("zrangestore", -5, "write denyoom", 1, 2, since="6.2.0",
         summary="Stores a range of members from sorted set in a key.")
def cmd_zrangestore(ctx: Ctx, args: list[bytes]) -> object:
    q = _parse_range(args, 3, "rank", False, _ZRANGE_OPTS - {b"WITHSCORES"})
    z = _get(ctx, args[2])
    out = ZSet()
    if z is not None:
        for s, m in _run_range(z, q):
            out.add(m, s)
    _store(ctx, args[1], out)
    return len(out)


@command("zcount", 4, "readonly fast", since="2.0.0",
         summary="Returns the count of members in a sorted set that have scores within a range.")
def cmd_zcount(ctx: Ctx, args: list[bytes]) -> object:
    mn, mx = _parse_score_bound(args[2]), _parse_score_bound(args[3])
    z = _get(ctx, args[1])
    if z is None:
        return 0
    lo, hi = _score_span(z, mn, mx)
    return hi - lo


@command("zlexcount", 4, "readonly fast", since="2.8.9",
         summary="Returns the number of members in a sorted set within a lexicographical range.")
def cmd_zlexcount(ctx: Ctx, args: list[bytes]) -> object:
    mn, mx = _parse_lex_bound(args[2]), _parse_lex_bound(args[3])
    z = _get(ctx, args[1])
    if z is None:
        return 0
    lo, hi = _lex_span(z, mn, mx)
    return hi - lo


# ---- removals by range --------------------------------------------------------------------


def _remove_span(ctx: Ctx, key: bytes, z: ZSet, lo: int, hi: int) -> int:
    doomed = list(z.order.islice(lo, hi))
    for _, m in doomed:
        z.remove(m)
    _drop_if_empty(ctx, key, z)
    return len(doomed)


@command("zremrangebyscore", 4, "write", summary=(
    "Removes members in a sorted set within a range of scores. Deletes the sorted set if "
    "all members were removed."))
def cmd_zremrangebyscore(ctx: Ctx, args: list[bytes]) -> object:
    mn, mx = _parse_score_bound(args[2]), _parse_score_bound(args[3])
    z = _get(ctx, args[1])
    if z is None:
        return 0
    return _remove_span(ctx, args[1], z, *_score_span(z, mn, mx))


@command("zremrangebylex", 4, "write", since="2.8.9", summary=(
    "Removes members in a sorted set within a lexicographical range. Deletes the sorted "
    "set if all members were removed."))
def cmd_zremrangebylex(ctx: Ctx, args: list[bytes]) -> object:
    mn, mx = _parse_lex_bound(args[2]), _parse_lex_bound(args[3])
    z = _get(ctx, args[1])
    if z is None:
        return 0
    return _remove_span(ctx, args[1], z, *_lex_span(z, mn, mx))


@command("zremrangebyrank", 4, "write", since="2.0.0", summary=(
    "Removes members in a sorted set within a range of indexes. Deletes the sorted set if"
    " all members were removed."))
def cmd_zremrangebyrank(ctx: Ctx, args: list[bytes]) -> object:
    start, end = parse_int(args[2]), parse_int(args[3])
    z = _get(ctx, args[1])
    if z is None:
        return 0
    return _remove_span(ctx, args[1], z, *_rank_span(len(z), start, end))


# ---- ZADD / ZINCRBY -----------------------------------------------------------------------


def _zadd_one(
    z: ZSet, member: bytes, score: float, incr: bool, nx: bool, xx: bool, gt: bool, lt: bool
) -> tuple[int, float | None]:
    """Apply one pair; returns (0 nothing / 1 added / 2 updated, resulting score or None)."""
    cur = z.scores.get(member)
    if cur is None:
        if xx:
            return 0, None
        z.add(member, score)
        return 1, score
    if nx:
        return 0, None
    new = cur + score if incr else score
    if math.isnan(new):
        raise fail(SCORE_NAN)
    if (gt and new <= cur) or (lt and new >= cur):
        return 0, None
    if new == cur:
        return 0, new
    z.add(member, new)
    return 2, new


@command("zadd", -4, "write denyoom fast", summary=(
    "Adds one or more members to a sorted set, or updates their scores. Creates the key "
    "if it doesn't exist."))
def cmd_zadd(ctx: Ctx, args: list[bytes]) -> object:
    nx = xx = gt = lt = ch = incr = False
    i = 2
    while i < len(args):
        opt = args[i].upper()
        if opt == b"NX":
            nx = True
        elif opt == b"XX":
            xx = True
        elif opt == b"GT":
            gt = True
        elif opt == b"LT":
            lt = True
        elif opt == b"CH":
            ch = True
        elif opt == b"INCR":
            incr = True
        else:
            break
        i += 1
    rest = args[i:]
    if not rest or len(rest) % 2:
        raise fail(SYNTAX_ERR)
    if nx and xx:
        raise fail(XX_NX)
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise fail(GT_LT_NX)
    if incr and len(rest) > 2:
        raise fail(INCR_PAIR)
    scores = [parse_float(rest[j], NOT_FLOAT) for j in range(0, len(rest), 2)]
    key = args[1]
    z = _get(ctx, key)
    if z is None:
        if xx:
            return None if incr else 0
        z = ZSet()
        ctx.db.put(key, z)
    added = changed = 0
    result: float | None = None
    try:
        for j, score in enumerate(scores):
            what, result = _zadd_one(z, rest[2 * j + 1], score, incr, nx, xx, gt, lt)
            added += what == 1
            changed += what != 0
    finally:
        _drop_if_empty(ctx, key, z)
    if incr:
        return None if result is None else Double(result)
    return changed if ch else added


@command("zincrby", 4, "write denyoom fast",
         summary="Increments the score of a member in a sorted set.")
def cmd_zincrby(ctx: Ctx, args: list[bytes]) -> object:
    delta = parse_float(args[2], NOT_FLOAT)
    key = args[1]
    z = _get(ctx, key)
    if z is None:
        z = ZSet()
        ctx.db.put(key, z)
    try:
        _, result = _zadd_one(z, args[3], delta, True, False, False, False, False)
    finally:
        _drop_if_empty(ctx, key, z)
    assert result is not None
    return Double(result)


# ---- single-member access -----------------------------------------------------------------


@command("zrem", -3, "write fast", summary=(
    "Removes one or more members from a sorted set. Deletes the sorted set if all members"
    " were removed."))
def cmd_zrem(ctx: Ctx, args: list[bytes]) -> object:
    z = _get(ctx, args[1])
    if z is None:
        return 0
    n = sum(1 for m in args[2:] if z.remove(m))
    _drop_if_empty(ctx, args[1], z)
    return n


@command("zscore", 3, "readonly fast", summary="Returns the score of a member in a sorted set.")
def cmd_zscore(ctx: Ctx, args: list[bytes]) -> object:
    z = _get(ctx, args[1])
    s = None if z is None else z.scores.get(args[2])
    return None if s is None else Double(s)


@command("zmscore", -3, "readonly fast", since="6.2.0",
         summary="Returns the score of one or more members in a sorted set.")
def cmd_zmscore(ctx: Ctx, args: list[bytes]) -> object:
    z = _get(ctx, args[1])
    out: list[object] = []
    for m in args[2:]:
        s = None if z is None else z.scores.get(m)
        out.append(None if s is None else Double(s))
    return out


@command("zcard", 2, "readonly fast", summary="Returns the number of members in a sorted set.")
def cmd_zcard(ctx: Ctx, args: list[bytes]) -> object:
    z = _get(ctx, args[1])
    return 0 if z is None else len(z)


def _rank(ctx: Ctx, args: list[bytes], rev: bool) -> object:
    if len(args) > 4 or (len(args) == 4 and args[3].upper() != b"WITHSCORE"):
        raise fail(SYNTAX_ERR)
    withscore = len(args) == 4
    z = _get(ctx, args[1])
    s = None if z is None else z.scores.get(args[2])
    if s is None:
        return NULL_ARRAY if withscore else None
    assert z is not None
    r = z.order.index((s, args[2]))
    if rev:
        r = len(z) - 1 - r
    return [r, Double(s)] if withscore else r


@command("zrank", -3, "readonly fast", since="2.0.0",
         summary="Returns the index of a member in a sorted set ordered by ascending scores.")
def cmd_zrank(ctx: Ctx, args: list[bytes]) -> object:
    return _rank(ctx, args, False)


@command("zrevrank", -3, "readonly fast", since="2.0.0",
         summary="Returns the index of a member in a sorted set ordered by descending scores.")
def cmd_zrevrank(ctx: Ctx, args: list[bytes]) -> object:
    return _rank(ctx, args, True)


# ---- pops and scans -----------------------------------------------------------------------


def _pop(ctx: Ctx, args: list[bytes], top: bool) -> object:
    if len(args) > 3:
        raise fail(SYNTAX_ERR)
    count = parse_positive_count(args[2]) if len(args) == 3 else None
    key = args[1]
    z = _get(ctx, key)
    out = Pairs() if count is not None else []
    if z is None:
        return out
    for _ in range(min(1 if count is None else count, len(z))):
        s, m = z.order[-1] if top else z.order[0]
        z.remove(m)
        out.append(m)
        out.append(Double(s))
    _drop_if_empty(ctx, key, z)
    return out


@command("zpopmin", -2, "write fast", since="5.0.0", summary=(
    "Returns the lowest-scoring members from a sorted set after removing them. Deletes "
    "the sorted set if the last member was popped."))
def cmd_zpopmin(ctx: Ctx, args: list[bytes]) -> object:
    return _pop(ctx, args, False)


@command("zpopmax", -2, "write fast", since="5.0.0", summary=(
    "Returns the highest-scoring members from a sorted set after removing them. Deletes "
    "the sorted set if the last member was popped."))
def cmd_zpopmax(ctx: Ctx, args: list[bytes]) -> object:
    return _pop(ctx, args, True)


@command("zscan", -3, "readonly", since="2.8.0",
         summary="Iterates over members and scores of a sorted set.")
def cmd_zscan(ctx: Ctx, args: list[bytes]) -> object:
    cursor, count, match, novalues = parse_scan_args(args, 2)
    z = _get(ctx, args[1])
    if z is None:
        return [b"0", []]
    nxt, batch = scan_batch(z.scores, cursor, count, _encoding(z) == "listpack")
    out: list[bytes] = []
    for m in batch:
        s = z.scores.get(m)
        if s is None or (match is not None and not match(m)):
            continue
        out.append(m)
        if not novalues:
            out.append(_score_text(s))
    return [str(nxt).encode(), out]
