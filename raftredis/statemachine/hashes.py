"""Hash commands: HSET, HGET, HINCRBY, HSCAN, HRANDFIELD, ...

A hash is a `Hash` (an insertion-ordered dict field -> value), so its iteration
order, and so HRANDFIELD's picks, are the same on every replica.
"""

from __future__ import annotations

import math

from raftredis.reply import NOT_FLOAT, OK, OVERFLOW, SYNTAX_ERR, Error, Map, Pairs, wrong_arity
from raftredis.statemachine.containers import (
    IndexedDict,
    add_key,
    drop_key,
    nth,
    parse_random_count,
    parse_scan_args,
    pick_distinct,
    pick_repeating,
    scan_batch,
)
from raftredis.statemachine.errors import NAN_OR_INF, fail
from raftredis.statemachine.parse import (
    INT64_MAX,
    INT64_MIN,
    format_float,
    parse_float,
    parse_int,
    to_float,
    to_int,
)
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.values import ValueType, register_type

HASH_NOT_INT = Error("ERR hash value is not an integer")
HASH_NOT_FLOAT = Error("ERR hash value is not a float")
LISTPACK_ENTRIES = 512  # Redis 7's hash-max-listpack-entries / -value defaults
LISTPACK_VALUE = 64

command = Family("hash", "hash", since="2.0.0").command


class Hash(IndexedDict):
    # `big`: Redis never turns a hashtable back into a listpack; set when a deletion or
    # overwrite could make the content look small again (a restore re-encodes, as an RDB
    # load does in Redis).
    __slots__ = ("big",)


def _encode(h: object) -> object:
    assert isinstance(h, Hash)
    out: list[bytes] = []
    for f, v in h.items():
        out.append(f)
        out.append(v)
    return out


def _decode(data: object) -> object:
    if not isinstance(data, list) or len(data) % 2:
        raise ValueError("hash value is not a flat field/value array")
    h = Hash()
    for i in range(0, len(data), 2):
        f, v = data[i], data[i + 1]
        if type(f) is not bytes or type(v) is not bytes:
            raise ValueError("hash field or value is not bytes")
        if f in h:
            raise ValueError("hash holds a field twice")
        h[f] = v
    return h


def _encoding(h: object) -> str:
    assert isinstance(h, Hash)
    if getattr(h, "big", False):
        return "hashtable"
    if len(h) <= LISTPACK_ENTRIES and all(
        len(f) <= LISTPACK_VALUE and len(v) <= LISTPACK_VALUE for f, v in h.items()
    ):
        return "listpack"
    return "hashtable"


def _copy(h: Hash) -> Hash:
    c = Hash(h)
    if getattr(h, "big", False):
        c.big = True
    return c


HASH_TYPE = ValueType(
    name="hash", code=1, pytype=Hash, encode=_encode, decode=_decode,
    copy=lambda h: _copy(h), encoding=_encoding,  # type: ignore[arg-type]
)
register_type(HASH_TYPE)


def _get(ctx: Ctx, key: bytes) -> Hash | None:
    return ctx.db.get_typed(key, ctx.now, Hash)  # type: ignore[return-value]


def _get_w(ctx: Ctx, key: bytes, create: bool = False) -> Hash | None:
    h = ctx.db.get_typed(key, ctx.now, Hash, write=True)
    if h is None and create:
        h = Hash()
        ctx.db.put(key, h)
    return h  # type: ignore[return-value]


def _set_field(h: Hash, f: bytes, v: bytes) -> bool:
    """Store f = v; True when f is new."""
    old = h.get(f)
    new = old is None
    if old is not None and len(old) > LISTPACK_VALUE:
        h.big = True
    h[f] = v
    if new:
        add_key(h, f)
    return new


# ---- writes -------------------------------------------------------------------------------


@command("hset", -4, "write denyoom fast",
         summary="Creates or modifies the value of a field in a hash.")
@command("hmset", -4, "write denyoom fast", summary="Sets the values of multiple fields.")
def cmd_hset(ctx: Ctx, args: list[bytes]) -> object:
    if len(args) % 2:
        raise fail(wrong_arity(args[0].decode("utf-8", "replace")))
    h = _get_w(ctx, args[1], create=True)
    assert h is not None
    added = 0
    for i in range(2, len(args), 2):
        added += _set_field(h, args[i], args[i + 1])
    if args[0].lower() == b"hmset":
        return OK
    return added


@command("hsetnx", 4, "write denyoom fast",
         summary="Sets the value of a field in a hash only when the field doesn't exist.")
def cmd_hsetnx(ctx: Ctx, args: list[bytes]) -> object:
    h = _get_w(ctx, args[1])
    if h is not None and args[2] in h:
        return 0
    if h is None:
        h = _get_w(ctx, args[1], create=True)
        assert h is not None
    _set_field(h, args[2], args[3])
    return 1


@command("hdel", -3, "write fast",
         summary="Deletes one or more fields and their values from a hash.")
def cmd_hdel(ctx: Ctx, args: list[bytes]) -> object:
    h = _get_w(ctx, args[1])
    if h is None:
        return 0
    n = 0
    for f in args[2:]:
        if f in h:
            if len(h) > LISTPACK_ENTRIES or len(f) > LISTPACK_VALUE or len(h[f]) > LISTPACK_VALUE:
                h.big = True
            del h[f]
            drop_key(h, f)
            n += 1
    if not h:
        ctx.db.delete(args[1])
    return n


@command("hincrby", 4, "write denyoom fast",
         summary="Increments the integer value of a field in a hash by a number.")
def cmd_hincrby(ctx: Ctx, args: list[bytes]) -> object:
    delta = parse_int(args[3])
    h = _get_w(ctx, args[1])
    cur = 0
    if h is not None and args[2] in h:
        c = to_int(h[args[2]])
        if c is None:
            raise fail(HASH_NOT_INT)
        cur = c
    new = cur + delta
    if new > INT64_MAX or new < INT64_MIN:
        raise fail(OVERFLOW)
    if h is None:
        h = _get_w(ctx, args[1], create=True)
        assert h is not None
    _set_field(h, args[2], str(new).encode())
    return new


@command("hincrbyfloat", 4, "write denyoom fast", since="2.6.0",
         summary="Increments the floating point value of a field by a number.")
def cmd_hincrbyfloat(ctx: Ctx, args: list[bytes]) -> object:
    delta = parse_float(args[3], NOT_FLOAT)
    if math.isinf(delta):
        raise fail(Error("ERR value is NaN or Infinity"))  # Redis checks the increment first
    h = _get_w(ctx, args[1])
    cur = 0.0
    if h is not None and args[2] in h:
        c = to_float(h[args[2]])
        if c is None:
            raise fail(HASH_NOT_FLOAT)
        cur = c
    new = cur + delta
    if math.isnan(new) or math.isinf(new):
        raise fail(NAN_OR_INF)
    if h is None:
        h = _get_w(ctx, args[1], create=True)
        assert h is not None
    text = format_float(new)
    _set_field(h, args[2], text)
    return text


# ---- reads --------------------------------------------------------------------------------


@command("hget", 3, "readonly fast", summary="Returns the value of a field in a hash.")
def cmd_hget(ctx: Ctx, args: list[bytes]) -> object:
    h = _get(ctx, args[1])
    return None if h is None else h.get(args[2])


@command("hmget", -3, "readonly fast", summary="Returns the values of all fields in a hash.")
def cmd_hmget(ctx: Ctx, args: list[bytes]) -> object:
    h = _get(ctx, args[1])
    if h is None:
        return [None] * (len(args) - 2)
    return [h.get(f) for f in args[2:]]


@command("hexists", 3, "readonly fast", summary="Determines whether a field exists in a hash.")
def cmd_hexists(ctx: Ctx, args: list[bytes]) -> object:
    h = _get(ctx, args[1])
    return 1 if h is not None and args[2] in h else 0


@command("hlen", 2, "readonly fast", summary="Returns the number of fields in a hash.")
def cmd_hlen(ctx: Ctx, args: list[bytes]) -> object:
    h = _get(ctx, args[1])
    return 0 if h is None else len(h)


@command("hstrlen", 3, "readonly fast", since="3.2.0",
         summary="Returns the length of the value of a field.")
def cmd_hstrlen(ctx: Ctx, args: list[bytes]) -> object:
    h = _get(ctx, args[1])
    v = None if h is None else h.get(args[2])
    return 0 if v is None else len(v)


@command("hgetall", 2, "readonly", summary="Returns all fields and values in a hash.")
def cmd_hgetall(ctx: Ctx, args: list[bytes]) -> object:
    h = _get(ctx, args[1])
    return Map() if h is None else Map(h)


@command("hkeys", 2, "readonly", summary="Returns all fields in a hash.")
def cmd_hkeys(ctx: Ctx, args: list[bytes]) -> object:
    h = _get(ctx, args[1])
    return [] if h is None else list(h)


@command("hvals", 2, "readonly", summary="Returns all values in a hash.")
def cmd_hvals(ctx: Ctx, args: list[bytes]) -> object:
    h = _get(ctx, args[1])
    return [] if h is None else list(h.values())


@command("hscan", -3, "readonly", since="2.8.0",
         summary="Iterates over fields and values of a hash.")
def cmd_hscan(ctx: Ctx, args: list[bytes]) -> object:
    cursor, count, match, novalues = parse_scan_args(args, 2)
    h = _get(ctx, args[1])
    if h is None:
        return [b"0", []]
    nxt, batch = scan_batch(h, cursor, count, _encoding(h) == "listpack")
    out: list[bytes] = []
    for f in batch:
        v = h.get(f)
        if v is None or (match is not None and not match(f)):
            continue
        out.append(f)
        if not novalues:
            out.append(v)
    return [str(nxt).encode(), out]


@command("hrandfield", -2, "readonly", since="6.2.0",
         summary="Returns one or more random fields from a hash.")
def cmd_hrandfield(ctx: Ctx, args: list[bytes]) -> object:
    if len(args) > 4 or (len(args) == 4 and args[3].upper() != b"WITHVALUES"):
        raise fail(SYNTAX_ERR)
    withvalues = len(args) == 4
    count = parse_random_count(args[2]) if len(args) >= 3 else None
    h = _get(ctx, args[1])
    if count is None:
        if h is None:
            return None
        return nth(h, ctx.rng().randrange(len(h)))
    if h is None or count == 0:
        return Pairs() if withvalues else []
    rng = ctx.rng()
    if count < 0:
        fields = pick_repeating(h, -count, rng)
    elif count >= len(h):
        fields = list(h)
    else:
        fields = pick_distinct(h, count, rng)
    if not withvalues:
        return fields
    out = Pairs()
    for f in fields:
        out.append(f)
        out.append(h[f])
    return out
