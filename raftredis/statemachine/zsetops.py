"""Sorted-set algebra and sampling: ZUNION[STORE], ZINTER[STORE], ZDIFF[STORE],
ZINTERCARD, ZRANDMEMBER.

Inputs may be sorted sets or plain sets (every member scoring 1). Weighted scores and
sums follow Redis's order of operations, so floating-point results match: union and
intersection visit the inputs from the smallest to the largest, a NaN (inf * 0, or
inf + -inf) becomes 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from raftredis.reply import SYNTAX_ERR, Double, Error, Pairs
from raftredis.statemachine.containers import (
    parse_random_count,
    pick_distinct,
    pick_repeating,
)
from raftredis.statemachine.errors import fail
from raftredis.statemachine.keyfns import numkeys
from raftredis.statemachine.parse import INT64_MIN, parse_int, to_float, to_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.sets import SetValue
from raftredis.statemachine.values import wrongtype
from raftredis.statemachine.zsets import ZSet, get_zset, store_zset

WEIGHT_NOT_FLOAT = Error("ERR weight value is not a float")
LIMIT_NEGATIVE = Error("ERR LIMIT can't be negative")
COUNT_RANGE = Error("ERR value is out of range, value must between -9223372036854775807 and "
                    "9223372036854775807")
_AGGREGATES = (b"SUM", b"MIN", b"MAX")

command = Family("sorted-set", "sortedset", since="6.2.0").command


@dataclass(slots=True)
class _Src:
    value: ZSet | SetValue | None
    weight: float = 1.0

    def __len__(self) -> int:
        return 0 if self.value is None else len(self.value)

    def items(self) -> Iterator[tuple[bytes, float]]:
        v = self.value
        if isinstance(v, ZSet):
            for s, m in v.order:
                yield m, s
        elif v is not None:
            for m in v:
                yield m, 1.0

    def score(self, member: bytes) -> float | None:
        v = self.value
        if isinstance(v, ZSet):
            return v.scores.get(member)
        return 1.0 if v is not None and member in v else None


@dataclass(slots=True)
class _Query:
    srcs: list[_Src]
    aggregate: bytes = b"SUM"
    withscores: bool = False
    limit: int = 0


def _weighted(score: float, weight: float) -> float:
    v = score * weight
    return 0.0 if math.isnan(v) else v


def _combine(a: float, b: float, how: bytes) -> float:
    if how == b"SUM":
        v = a + b
        return 0.0 if math.isnan(v) else v
    return min(a, b) if how == b"MIN" else max(a, b)


def _parse(ctx: Ctx, args: list[bytes], at: int, op: str, store: bool,
           card: bool = False) -> _Query:
    """numkeys at `at`, its keys, then the options this command takes."""
    n = parse_int(args[at])
    if n < 1:
        name = args[0].decode("utf-8", "replace").lower()
        raise fail(Error(f"ERR at least 1 input key is needed for '{name}' command"))
    if n > len(args) - at - 1:
        raise fail(SYNTAX_ERR)
    srcs = []
    for key in args[at + 1:at + 1 + n]:
        v = ctx.db.get_for_write(key, ctx.now) if ctx.write else ctx.db.get(key, ctx.now)
        if v is not None and type(v) not in (ZSet, SetValue):
            raise wrongtype()
        srcs.append(_Src(v))  # type: ignore[arg-type]
    q = _Query(srcs)
    i = at + 1 + n
    while i < len(args):
        opt, left = args[i].upper(), len(args) - i
        if op != "diff" and not card and opt == b"WEIGHTS" and left > n:
            for j, src in enumerate(srcs):
                w = to_float(args[i + 1 + j])
                if w is None:
                    raise fail(WEIGHT_NOT_FLOAT)
                src.weight = w
            i += n + 1
        elif op != "diff" and not card and opt == b"AGGREGATE" and left >= 2:
            q.aggregate = args[i + 1].upper()
            if q.aggregate not in _AGGREGATES:
                raise fail(SYNTAX_ERR)
            i += 2
        elif not store and not card and opt == b"WITHSCORES":
            q.withscores = True
            i += 1
        elif card and opt == b"LIMIT" and left >= 2:
            limit = to_int(args[i + 1])
            if limit is None or limit < 0:
                raise fail(LIMIT_NEGATIVE)
            q.limit = limit
            i += 2
        else:
            raise fail(SYNTAX_ERR)
    return q


def _union(q: _Query) -> dict[bytes, float]:
    acc: dict[bytes, float] = {}
    for src in sorted(q.srcs, key=len):
        for m, s in src.items():
            v = _weighted(s, src.weight)
            old = acc.get(m)
            acc[m] = v if old is None else _combine(old, v, q.aggregate)
    return acc


def _inter(q: _Query, limit: int = 0) -> dict[bytes, float]:
    srcs = sorted(q.srcs, key=len)
    out: dict[bytes, float] = {}
    if not len(srcs[0]):
        return out
    first, rest = srcs[0], srcs[1:]
    for m, s in first.items():
        v = _weighted(s, first.weight)
        for src in rest:
            other = src.score(m)
            if other is None:
                break
            v = _combine(v, _weighted(other, src.weight), q.aggregate)
        else:
            out[m] = v
            if limit and len(out) >= limit:
                break
    return out


def _diff(q: _Query) -> dict[bytes, float]:
    first, rest = q.srcs[0], q.srcs[1:]
    return {m: s for m, s in first.items() if all(src.score(m) is None for src in rest)}


_OPS = {"union": _union, "inter": _inter, "diff": _diff}


def _as_zset(members: dict[bytes, float]) -> ZSet:
    z = ZSet()
    for m, s in members.items():
        z.add(m, s)
    return z


def _reply(z: ZSet, withscores: bool) -> object:
    if not withscores:
        return [m for _, m in z.order]
    out = Pairs()
    for s, m in z.order:
        out.append(m)
        out.append(Double(s))
    return out


def _store(ctx: Ctx, args: list[bytes], op: str) -> object:
    q = _parse(ctx, args, 2, op, True)
    z = _as_zset(_OPS[op](q))
    store_zset(ctx, args[1], z)
    return len(z)


def _plain(ctx: Ctx, args: list[bytes], op: str) -> object:
    q = _parse(ctx, args, 1, op, False)
    return _reply(_as_zset(_OPS[op](q)), q.withscores)


_STORE_KEYS = numkeys(2, (1,))
_KEYS = numkeys(1)


@command("zunionstore", -4, "write denyoom", 1, 1, 1, since="2.0.0", key_fn=_STORE_KEYS,
         summary="Add multiple sorted sets and store the resulting sorted set in a new key")
def cmd_zunionstore(ctx: Ctx, args: list[bytes]) -> object:
    return _store(ctx, args, "union")


@command("zinterstore", -4, "write denyoom", 1, 1, 1, since="2.0.0", key_fn=_STORE_KEYS,
         summary="Intersect multiple sorted sets and store the resulting sorted set in a new key")
def cmd_zinterstore(ctx: Ctx, args: list[bytes]) -> object:
    return _store(ctx, args, "inter")


@command("zdiffstore", -4, "write denyoom", 1, 1, 1, key_fn=_STORE_KEYS,
         summary="Subtract multiple sorted sets and store the resulting sorted set in a new key")
def cmd_zdiffstore(ctx: Ctx, args: list[bytes]) -> object:
    return _store(ctx, args, "diff")


@command("zunion", -3, "readonly", 0, 0, 0, key_fn=_KEYS, summary="Add multiple sorted sets")
def cmd_zunion(ctx: Ctx, args: list[bytes]) -> object:
    return _plain(ctx, args, "union")


@command("zinter", -3, "readonly", 0, 0, 0, key_fn=_KEYS, summary="Intersect multiple sorted sets")
def cmd_zinter(ctx: Ctx, args: list[bytes]) -> object:
    return _plain(ctx, args, "inter")


@command("zdiff", -3, "readonly", 0, 0, 0, key_fn=_KEYS, summary="Subtract multiple sorted sets")
def cmd_zdiff(ctx: Ctx, args: list[bytes]) -> object:
    return _plain(ctx, args, "diff")


@command("zintercard", -3, "readonly", 0, 0, 0, since="7.0.0", key_fn=_KEYS,
         summary="Intersect multiple sorted sets and return the cardinality of the result")
def cmd_zintercard(ctx: Ctx, args: list[bytes]) -> object:
    q = _parse(ctx, args, 1, "inter", False, card=True)
    return len(_inter(q, q.limit))


@command("zrandmember", -2, "readonly",
         summary="Get one or multiple random elements from a sorted set")
def cmd_zrandmember(ctx: Ctx, args: list[bytes]) -> object:
    count = None
    if len(args) >= 3:
        if parse_int(args[2]) == INT64_MIN:
            raise fail(COUNT_RANGE)
        count = parse_random_count(args[2])
        if len(args) > 4 or (len(args) == 4 and args[3].upper() != b"WITHSCORES"):
            raise fail(SYNTAX_ERR)
    withscores = len(args) == 4
    z = get_zset(ctx, args[1])
    if count is None:
        if z is None:
            return None
        return z.order[ctx.rng().randrange(len(z))][1]
    if z is None or count == 0:
        return Pairs() if withscores else []
    rng = ctx.rng()
    if count < 0:
        members = pick_repeating(z.scores, -count, rng)
    elif count >= len(z):  # the whole set, highest score first, as Redis sends it
        members = [m for _, m in reversed(z.order)]
    else:
        members = pick_distinct(z.scores, count, rng)
    if not withscores:
        return members
    out = Pairs()
    for m in members:
        out.append(m)
        out.append(Double(z.scores[m]))
    return out
