"""Set commands: SADD, SREM, SPOP, SRANDMEMBER, SINTER/SUNION/SDIFF (and STORE), ...

A set is a `SetValue`, an insertion-ordered dict member -> None rather than a Python
`set`: a set's iteration order is salted per process, which would make SPOP,
SRANDMEMBER and even SINTERSTORE's result order differ between replicas.
"""

from __future__ import annotations

from raftredis.reply import SYNTAX_ERR, CommandError, Error, Set
from raftredis.statemachine.containers import (
    IndexedDict,
    add_key,
    drop_key,
    nth,
    parse_positive_count,
    parse_random_count,
    parse_scan_args,
    pick_distinct,
    pick_repeating,
    scan_batch,
)
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_int, to_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.values import ValueType, register_type

NUMKEYS_NOT_POSITIVE = Error("ERR numkeys should be greater than 0")
TOO_MANY_KEYS = Error("ERR Number of keys can't be greater than number of args")
LIMIT_NEGATIVE = Error("ERR LIMIT can't be negative")
INTSET_ENTRIES = 512  # set-max-intset-entries
LISTPACK_ENTRIES = 128  # set-max-listpack-entries / -value
LISTPACK_VALUE = 64

command = Family("set", "set").command


class SetValue(IndexedDict):
    # `rank`: the highest encoding held so far (0 intset, 1 listpack, 2 hashtable), as
    # Redis never converts back; kept when a removal could make the content look
    # smaller (a restore re-encodes, as an RDB load does in Redis).
    __slots__ = ("rank",)


def _encode(s: object) -> object:
    assert isinstance(s, SetValue)
    return list(s)


def _decode(data: object) -> object:
    if not isinstance(data, list) or any(type(m) is not bytes for m in data):
        raise ValueError("set value is not an array of byte strings")
    s = SetValue.fromkeys(data)
    if len(s) != len(data):
        raise ValueError("set holds a member twice")
    return s


_ENCODINGS = ("intset", "listpack", "hashtable")


def _content_rank(s: SetValue) -> int:
    if len(s) <= INTSET_ENTRIES and all(to_int(m) is not None for m in s):
        return 0
    if len(s) <= LISTPACK_ENTRIES and all(len(m) <= LISTPACK_VALUE for m in s):
        return 1
    return 2


def _encoding(s: object) -> str:
    assert isinstance(s, SetValue)
    return _ENCODINGS[max(getattr(s, "rank", 0), _content_rank(s))]


def _pin(s: SetValue, member: bytes) -> None:
    """Before `member` leaves s: keep the encoding if its leaving could lower it. Only
    a few cases can, and only small sets are ever scanned."""
    cur = getattr(s, "rank", 0)
    if cur == 2:
        return
    n = len(s)
    if n > INTSET_ENTRIES:
        r = 2
    elif to_int(member) is None:
        r = 2 if n > LISTPACK_ENTRIES or len(member) > LISTPACK_VALUE else _content_rank(s)
    elif n == LISTPACK_ENTRIES + 1:
        r = _content_rank(s)
    else:
        return
    if r > cur:
        s.rank = r


def _copy(s: SetValue) -> SetValue:
    c = SetValue(s)
    if hasattr(s, "rank"):
        c.rank = s.rank
    return c


SET_TYPE = ValueType(
    name="set", code=3, pytype=SetValue, encode=_encode, decode=_decode,
    copy=_copy,  # type: ignore[arg-type]
    encoding=_encoding,
)
register_type(SET_TYPE)


def _get(ctx: Ctx, key: bytes) -> SetValue | None:
    return ctx.db.get_typed(key, ctx.now, SetValue, write=ctx.write)  # type: ignore[return-value]


def _remove(ctx: Ctx, key: bytes, s: SetValue, member: bytes) -> None:
    _pin(s, member)
    del s[member]
    drop_key(s, member)
    if not s:
        ctx.db.delete(key)


# ---- single-set writes --------------------------------------------------------------------


@command("sadd", -3, "write denyoom fast",
         summary="Adds one or more members to a set. Creates the key if it doesn't exist.")
def cmd_sadd(ctx: Ctx, args: list[bytes]) -> object:
    s = _get(ctx, args[1])
    if s is None:
        s = SetValue()
        ctx.db.put(args[1], s)
    n = 0
    for m in args[2:]:
        if m not in s:
            s[m] = None
            add_key(s, m)
            n += 1
    return n


@command("srem", -3, "write fast", summary=(
    "Removes one or more members from a set. Deletes the set if the last member was "
    "removed."))
def cmd_srem(ctx: Ctx, args: list[bytes]) -> object:
    key = args[1]
    s = _get(ctx, key)
    if s is None:
        return 0
    n = 0
    for m in args[2:]:
        if m in s:
            _remove(ctx, key, s, m)
            n += 1
            if not s:
                break
    return n


@command("spop", -2, "write fast", summary=(
    "Returns one or more random members from a set after removing them. Deletes the set "
    "if the last member was popped."))
def cmd_spop(ctx: Ctx, args: list[bytes]) -> object:
    if len(args) > 3:
        raise fail(SYNTAX_ERR)
    count = parse_positive_count(args[2]) if len(args) == 3 else None
    key = args[1]
    s = _get(ctx, key)
    if count is None:
        if s is None:
            return None
        m = nth(s, ctx.rng().randrange(len(s)))
        _remove(ctx, key, s, m)
        return m
    if s is None or count == 0:
        return Set()
    if count >= len(s):
        ctx.db.delete(key)
        return Set(s)
    picked = pick_distinct(s, count, ctx.rng())
    for m in picked:
        _remove(ctx, key, s, m)
    return Set(picked)


@command("smove", 4, "write fast", 1, 2, summary="Moves a member from one set to another.")
def cmd_smove(ctx: Ctx, args: list[bytes]) -> object:
    src, dst, m = args[1], args[2], args[3]
    ss = _get(ctx, src)
    ds = _get(ctx, dst)  # WRONGTYPE even when the source is missing, as Redis
    if ss is None or m not in ss:
        return 0
    if src == dst:
        return 1
    _remove(ctx, src, ss, m)
    if ds is None:
        ds = SetValue()
        ctx.db.put(dst, ds)
    if m not in ds:
        ds[m] = None
        add_key(ds, m)
    return 1


# ---- single-set reads ---------------------------------------------------------------------


@command("smembers", 2, "readonly", summary="Returns all members of a set.")
def cmd_smembers(ctx: Ctx, args: list[bytes]) -> object:
    s = _get(ctx, args[1])
    return Set() if s is None else Set(s)


@command("sismember", 3, "readonly fast", summary="Determines whether a member belongs to a set.")
def cmd_sismember(ctx: Ctx, args: list[bytes]) -> object:
    s = _get(ctx, args[1])
    return 1 if s is not None and args[2] in s else 0


@command("smismember", -3, "readonly fast", since="6.2.0",
         summary="Determines whether multiple members belong to a set.")
def cmd_smismember(ctx: Ctx, args: list[bytes]) -> object:
    s = _get(ctx, args[1])
    if s is None:
        return [0] * (len(args) - 2)
    return [1 if m in s else 0 for m in args[2:]]


@command("scard", 2, "readonly fast", summary="Returns the number of members in a set.")
def cmd_scard(ctx: Ctx, args: list[bytes]) -> object:
    s = _get(ctx, args[1])
    return 0 if s is None else len(s)


@command("srandmember", -2, "readonly", summary="Get one or multiple random members from a set")
def cmd_srandmember(ctx: Ctx, args: list[bytes]) -> object:
    if len(args) > 3:
        raise fail(SYNTAX_ERR)
    count = parse_random_count(args[2]) if len(args) == 3 else None
    s = _get(ctx, args[1])
    if count is None:
        return None if s is None else nth(s, ctx.rng().randrange(len(s)))
    if s is None or count == 0:
        return []
    if count < 0:
        return pick_repeating(s, -count, ctx.rng())
    if count >= len(s):
        return list(s)
    return pick_distinct(s, count, ctx.rng())


@command("sscan", -3, "readonly", since="2.8.0", summary="Iterates over members of a set.")
def cmd_sscan(ctx: Ctx, args: list[bytes]) -> object:
    cursor, count, match, _ = parse_scan_args(args, 2)
    s = _get(ctx, args[1])
    if s is None:
        return [b"0", []]
    nxt, batch = scan_batch(s, cursor, count, _encoding(s) != "hashtable")
    out = [m for m in batch if m in s and (match is None or match(m))]
    return [str(nxt).encode(), out]


# ---- algebra ------------------------------------------------------------------------------


def _load(ctx: Ctx, keys: list[bytes]) -> list[SetValue | None]:
    """Every key's set (None if missing); WRONGTYPE if any key holds something else."""
    return [_get(ctx, k) for k in keys]


def _inter(sets: list[SetValue | None], limit: int = 0) -> SetValue:
    out = SetValue()
    if not sets or any(s is None for s in sets):
        return out
    ordered = sorted(sets, key=len)  # type: ignore[arg-type]
    first, rest = ordered[0], ordered[1:]
    assert first is not None
    for m in first:
        if all(m in s for s in rest):  # type: ignore[operator]
            out[m] = None
            if limit and len(out) >= limit:
                break
    return out


def _union(sets: list[SetValue | None]) -> SetValue:
    out = SetValue()
    for s in sets:
        if s is not None:
            out.update(s)
    return out


def _diff(sets: list[SetValue | None]) -> SetValue:
    first = sets[0]
    if first is None:
        return SetValue()
    rest = [s for s in sets[1:] if s is not None]
    return SetValue.fromkeys(m for m in first if not any(m in s for s in rest))


_OPS = {b"sinter": _inter, b"sunion": _union, b"sdiff": _diff}


def _op_name(arg: bytes) -> bytes:
    name = arg.lower()
    return name[:-5] if name.endswith(b"store") else name


@command("sinter", -2, "readonly", 1, -1, summary="Returns the intersect of multiple sets.")
@command("sunion", -2, "readonly", 1, -1, summary="Returns the union of multiple sets.")
@command("sdiff", -2, "readonly", 1, -1, summary="Returns the difference of multiple sets.")
def cmd_setop(ctx: Ctx, args: list[bytes]) -> object:
    op = _OPS[_op_name(args[0])]
    return Set(op(_load(ctx, args[1:])))


@command("sinterstore", -3, "write denyoom", 1, -1,
         summary="Stores the intersect of multiple sets in a key.")
@command("sunionstore", -3, "write denyoom", 1, -1,
         summary="Stores the union of multiple sets in a key.")
@command("sdiffstore", -3, "write denyoom", 1, -1,
         summary="Stores the difference of multiple sets in a key.")
def cmd_setop_store(ctx: Ctx, args: list[bytes]) -> object:
    op = _OPS[_op_name(args[0])]
    dst = args[1]
    result = op(_load(ctx, args[2:]))
    if result:
        ctx.db.set(dst, result)
    else:
        ctx.db.get_for_write(dst, ctx.now)
        ctx.db.delete(dst)
    return len(result)


def sintercard_keys(args: list[bytes]) -> list[int]:
    """SINTERCARD numkeys key [key ...]: the keys follow numkeys (none if it is bad)."""
    if len(args) < 3 or not args[1].isdigit() or len(args[1]) > 19:
        return []
    n = int(args[1])
    if n < 1 or n > len(args) - 2:
        return []
    return list(range(2, 2 + n))


@command("sintercard", -3, "readonly", 0, 0, since="7.0.0", key_fn=sintercard_keys,
         summary="Returns the number of members of the intersect of multiple sets.")
def cmd_sintercard(ctx: Ctx, args: list[bytes]) -> object:
    try:
        numkeys = parse_int(args[1])
    except CommandError:
        raise fail(NUMKEYS_NOT_POSITIVE) from None
    if numkeys < 1:
        raise fail(NUMKEYS_NOT_POSITIVE)
    if numkeys > len(args) - 2:
        raise fail(TOO_MANY_KEYS)
    limit = 0
    i = 2 + numkeys
    while i < len(args):
        if args[i].upper() == b"LIMIT" and i + 1 < len(args):
            try:
                limit = parse_int(args[i + 1])
            except CommandError:
                raise fail(LIMIT_NEGATIVE) from None
            if limit < 0:
                raise fail(LIMIT_NEGATIVE)
            i += 2
        else:
            raise fail(SYNTAX_ERR)
    return len(_inter(_load(ctx, args[2 : 2 + numkeys]), limit))
