"""SORT and SORT_RO over lists, sets and sorted sets: BY and GET patterns, LIMIT,
ASC/DESC, ALPHA, STORE.

ALPHA compares bytes, never the locale (Redis uses strcoll, which in the C locale is the
same order): every replica must sort alike whatever its environment. As in Redis, a set
sorted with BY <no pattern> and STORE is sorted ALPHA so the stored list is the same
everywhere; without STORE the set's own order is returned.
"""

from __future__ import annotations

import math
import re

from raftredis.reply import SYNTAX_ERR, Error
from raftredis.statemachine.errors import fail
from raftredis.statemachine.hashes import Hash
from raftredis.statemachine.lists import ListValue
from raftredis.statemachine.parse import parse_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.sets import SetValue
from raftredis.statemachine.values import wrongtype
from raftredis.statemachine.zsets import ZSet

NOT_DOUBLE = Error("ERR One or more scores can't be converted into double")
_DBL_MIN = 2.2250738585072014e-308

command = Family("generic", "", since="1.0.0").command

# What C's strtod accepts after leading white space (decimal, hex, inf, nan).
_STRTOD = re.compile(
    rb"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|0[xX](?:[0-9a-fA-F]+\.?"
    rb"[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?|inf(?:inity)?|nan)", re.IGNORECASE)


def strtod(text: bytes) -> float | None:
    """The double Redis's SORT reads from `text` (all of it must parse; an empty text is
    0), or None where Redis reports a conversion error (junk, NaN, out of range)."""
    text = text.lstrip(b" \t\n\v\f\r")
    if not text:
        return 0.0
    if _STRTOD.fullmatch(text) is None:
        return None
    body = text.lstrip(b"+-")
    hexa = body[:2].lower() == b"0x"
    v = float.fromhex(text.decode()) if hexa else float(text)
    if math.isnan(v):
        return None
    if math.isinf(v) and body[:1].lower() != b"i":
        return None  # overflow: strtod sets ERANGE
    mantissa = re.split(rb"[pP]", body[2:])[0] if hexa else re.split(rb"[eE]", body)[0]
    digits = rb"[1-9a-fA-F]" if hexa else rb"[1-9]"
    if 0 < abs(v) < _DBL_MIN or (v == 0 and re.search(digits, mantissa)):
        return None  # underflow: ERANGE as well
    return v


def lookup(ctx: Ctx, pattern: bytes, elem: bytes) -> bytes | None:
    """What a BY or GET pattern names for `elem`: `#` is the element itself; the first
    `*` is replaced by it; `->field` after the `*` reads a hash field."""
    if pattern == b"#":
        return elem
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2:]
        pattern = pattern[:arrow]
    v = ctx.db.get(pattern[:star] + elem + pattern[star + 1:], ctx.now)
    if field is None:
        return v if type(v) is bytes else None
    return v.get(field) if type(v) is Hash else None  # type: ignore[union-attr]


def _elements(v: object) -> list[bytes]:
    if isinstance(v, ZSet):
        return [m for _, m in v.order]
    return list(v)  # type: ignore[call-overload]


def _sort(ctx: Ctx, args: list[bytes], readonly: bool) -> object:
    desc = alpha = dontsort = False
    limit: tuple[int, int] | None = None
    store: bytes | None = None
    by: bytes | None = None
    gets: list[bytes] = []
    i, n = 2, len(args)
    while i < n:
        opt, left = args[i].upper(), n - i - 1
        if opt == b"ASC":
            desc = False
        elif opt == b"DESC":
            desc = True
        elif opt == b"ALPHA":
            alpha = True
        elif opt == b"LIMIT" and left >= 2:
            limit = (parse_int(args[i + 1]), parse_int(args[i + 2]))
            i += 2
        elif opt == b"STORE" and left >= 1 and not readonly:
            store = args[i + 1]
            i += 1
        elif opt == b"BY" and left >= 1:
            by = args[i + 1]
            dontsort = b"*" not in by
            i += 1
        elif opt == b"GET" and left >= 1:
            gets.append(args[i + 1])
            i += 1
        else:
            raise fail(SYNTAX_ERR)
        i += 1
    src = ctx.db.get(args[1], ctx.now)
    if src is not None and type(src) not in (ListValue, SetValue, ZSet):
        raise wrongtype()
    if dontsort and type(src) is SetValue and store is not None:
        dontsort, alpha, by = False, True, None  # a stored result must not depend on order
    elems = [] if src is None else _elements(src)
    count = len(elems)
    start, end = 0, count - 1
    if limit is not None:
        start = max(limit[0], 0)
        end = count - 1 if limit[1] < 0 else start + limit[1] - 1
        if start >= count:
            start, end = count - 1, count - 2
        end = min(end, count - 1)
    if dontsort:
        if desc and type(src) is not SetValue:
            elems.reverse()
    elif alpha:
        if by is None:
            elems.sort(reverse=desc)
        else:
            cmp = {e: lookup(ctx, by, e) for e in elems}
            elems.sort(key=lambda e: (0, b"") if cmp[e] is None else (1, cmp[e]), reverse=desc)
    else:
        scores: dict[bytes, float] = {}
        for e in elems:
            text = e if by is None else lookup(ctx, by, e)
            s = 0.0 if text is None else strtod(text)
            if s is None:
                raise fail(NOT_DOUBLE)
            scores[e] = s
        elems.sort(key=lambda e: (scores[e], e), reverse=desc)
    picked = elems[start:end + 1] if end >= start else []
    if gets:
        out = [lookup(ctx, g, e) for e in picked for g in gets]
    else:
        out = list(picked)
    if store is None:
        return out
    if out:
        ctx.db.set(store, ListValue(b"" if v is None else v for v in out))
    else:
        ctx.db.get_for_write(store, ctx.now)
        ctx.db.delete(store)
    return len(out)


def sort_keys(args: list[bytes]) -> list[int]:
    """The key to sort and the last STORE destination, skipping option arguments."""
    out = [1]
    skip = {b"LIMIT": 2, b"GET": 1, b"BY": 1}
    i = 2
    while i < len(args):
        opt = args[i].upper()
        if opt in skip:
            i += skip[opt]
        elif opt == b"STORE" and i + 1 < len(args):
            out[1:] = [i + 1]
        i += 1
    return out


@command("sort", -2, "write denyoom", acl="dangerous list set sortedset", key_fn=sort_keys,
         summary="Sort the elements in a list, set or sorted set")
def cmd_sort(ctx: Ctx, args: list[bytes]) -> object:
    return _sort(ctx, args, False)


@command("sort_ro", -2, "readonly", acl="dangerous list set sortedset", since="7.0.0",
         key_fn=lambda args: [1],
         summary="Sort the elements in a list, set or sorted set. Read-only variant of SORT.")
def cmd_sort_ro(ctx: Ctx, args: list[bytes]) -> object:
    return _sort(ctx, args, True)
