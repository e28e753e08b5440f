"""String commands: GET, SET and friends, counters, ranges."""

from __future__ import annotations

import math

from raftredis.reply import NOT_FLOAT, NOT_INTEGER, OK, OVERFLOW, SYNTAX_ERR, wrong_arity
from raftredis.statemachine.errors import (
    DECREMENT_OVERFLOW,
    NAN_OR_INF,
    OFFSET_OUT_OF_RANGE,
    STRING_TOO_LONG,
    fail,
)
from raftredis.statemachine.expiry import set_deadline
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

MAX_STRING = 512 * 1024 * 1024  # proto-max-bulk-len

command = Family("string", "string").command


def _get_str(ctx: Ctx, key: bytes, write: bool = False) -> bytes | None:
    return ctx.db.get_typed(key, ctx.now, bytes, write)  # type: ignore[return-value]


def _store_with_deadline(ctx: Ctx, key: bytes, value: bytes, deadline: int | None) -> None:
    """SET-style store; a deadline already passed leaves the key deleted, as Redis does."""
    db = ctx.db
    if deadline is not None and deadline <= ctx.now:
        db.delete(key)
        return
    db.set(key, value)
    if deadline is not None:
        db.set_deadline(key, deadline)


# ---- GET / SET ----------------------------------------------------------------------------


@command("get", 2, "readonly fast", summary="Returns the string value of a key.")
def cmd_get(ctx: Ctx, args: list[bytes]) -> object:
    return _get_str(ctx, args[1])


_EXPIRE_OPTS = {b"EX": (1000, False), b"PX": (1, False), b"EXAT": (1000, True), b"PXAT": (1, True)}


@command("set", -3, "write denyoom", summary="Sets the string value of a key, ignoring its type.")
def cmd_set(ctx: Ctx, args: list[bytes]) -> object:
    key, value = args[1], args[2]
    nx = xx = get = keepttl = False
    exp_opt: bytes | None = None
    exp_arg = b""
    i, n = 3, len(args)
    while i < n:
        opt = args[i].upper()
        if opt == b"NX" and not xx:
            nx = True
        elif opt == b"XX" and not nx:
            xx = True
        elif opt == b"GET":
            get = True
        elif opt == b"KEEPTTL" and exp_opt is None:
            keepttl = True
        elif (
            opt in _EXPIRE_OPTS
            and not keepttl
            and (exp_opt is None or exp_opt == opt)
            and i + 1 < n
        ):
            exp_opt, exp_arg = opt, args[i + 1]
            i += 1
        else:
            raise fail(SYNTAX_ERR)
        i += 1
    deadline = None
    if exp_opt is not None:
        unit, absolute = _EXPIRE_OPTS[exp_opt]
        deadline = set_deadline(exp_arg, unit, absolute, ctx.now, "set")
    db = ctx.db
    old = db.get_for_write(key, ctx.now)
    if get and old is not None and type(old) is not bytes:
        db.get_typed(key, ctx.now, bytes)  # raises WRONGTYPE
    if (nx and old is not None) or (xx and old is None):
        return old if get else None
    if keepttl and deadline is None:
        old_deadline = db.deadline(key)
        db.set(key, value)
        if old_deadline is not None:
            db.set_deadline(key, old_deadline)
    else:
        _store_with_deadline(ctx, key, value, deadline)
    return old if get else OK


@command("setnx", 3, "write denyoom fast",
         summary="Set the string value of a key only when the key doesn't exist.")
def cmd_setnx(ctx: Ctx, args: list[bytes]) -> object:
    db = ctx.db
    if db.get_for_write(args[1], ctx.now) is not None:
        return 0
    db.set(args[1], args[2])
    return 1


def _setex(ctx: Ctx, args: list[bytes], unit: int, name: str) -> object:
    deadline = set_deadline(args[2], unit, False, ctx.now, name)
    _store_with_deadline(ctx, args[1], args[3], deadline)
    return OK


@command("setex", 4, "write denyoom", since="2.0.0",
         summary="Sets the string value and expiration time of a key.")
def cmd_setex(ctx: Ctx, args: list[bytes]) -> object:
    return _setex(ctx, args, 1000, "setex")


@command("psetex", 4, "write denyoom", since="2.6.0",
         summary="Sets both string value and expiration time in milliseconds of a key.")
def cmd_psetex(ctx: Ctx, args: list[bytes]) -> object:
    return _setex(ctx, args, 1, "psetex")


@command("getset", 3, "write denyoom fast",
         summary="Returns the previous string value of a key after setting it to a new value.")
def cmd_getset(ctx: Ctx, args: list[bytes]) -> object:
    old = _get_str(ctx, args[1], True)
    ctx.db.set(args[1], args[2])
    return old


@command("getdel", 2, "write fast", since="6.2.0",
         summary="Returns the string value of a key after deleting the key.")
def cmd_getdel(ctx: Ctx, args: list[bytes]) -> object:
    old = _get_str(ctx, args[1], True)
    if old is not None:
        ctx.db.delete(args[1])
    return old


@command("getex", -2, "write fast", since="6.2.0",
         summary="Returns the string value of a key after setting its expiration time.")
def cmd_getex(ctx: Ctx, args: list[bytes]) -> object:
    key = args[1]
    persist = False
    exp_opt: bytes | None = None
    exp_arg = b""
    i, n = 2, len(args)
    while i < n:
        opt = args[i].upper()
        if opt == b"PERSIST" and exp_opt is None:
            persist = True
        elif (
            opt in _EXPIRE_OPTS
            and not persist
            and (exp_opt is None or exp_opt == opt)
            and i + 1 < n
        ):
            exp_opt, exp_arg = opt, args[i + 1]
            i += 1
        else:
            raise fail(SYNTAX_ERR)
        i += 1
    deadline = None
    if exp_opt is not None:
        unit, absolute = _EXPIRE_OPTS[exp_opt]
        deadline = set_deadline(exp_arg, unit, absolute, ctx.now, "getex")
    value = _get_str(ctx, key, True)
    if value is None:
        return None
    db = ctx.db
    if deadline is not None:
        if deadline <= ctx.now:
            db.delete(key)
        else:
            db.set_deadline(key, deadline)
    elif persist:
        db.persist(key)
    return value


# ---- multiple keys ------------------------------------------------------------------------


@command("mget", -2, "readonly fast", 1, -1, 1,
         summary="Atomically returns the string values of one or more keys.")
def cmd_mget(ctx: Ctx, args: list[bytes]) -> object:
    get, now = ctx.db.get, ctx.now
    out: list[object] = []
    for key in args[1:]:
        v = get(key, now)
        out.append(v if type(v) is bytes else None)
    return out


def _pairs(args: list[bytes], name: str) -> list[bytes]:
    if len(args) % 2 == 0:
        raise fail(wrong_arity(name))
    return args


@command("mset", -3, "write denyoom", 1, -1, 2, since="1.0.1",
         summary="Atomically creates or modifies the string values of one or more keys.")
def cmd_mset(ctx: Ctx, args: list[bytes]) -> object:
    _pairs(args, "mset")
    db = ctx.db
    for i in range(1, len(args), 2):
        db.set(args[i], args[i + 1])
    return OK


@command("msetnx", -3, "write denyoom", 1, -1, 2, since="1.0.1", summary=(
    "Atomically modifies the string values of one or more keys only when all keys don't "
    "exist."))
def cmd_msetnx(ctx: Ctx, args: list[bytes]) -> object:
    _pairs(args, "msetnx")
    db, now = ctx.db, ctx.now
    if any(db.get(args[i], now) is not None for i in range(1, len(args), 2)):
        return 0
    for i in range(1, len(args), 2):
        db.get_for_write(args[i], now)  # drop an expired key so its TTL does not linger
        db.set(args[i], args[i + 1])
    return 1


# ---- counters -----------------------------------------------------------------------------


def _incr(ctx: Ctx, key: bytes, delta: int) -> object:
    old = _get_str(ctx, key, True)
    cur = 0 if old is None else to_int(old)
    if cur is None:
        raise fail(NOT_INTEGER)
    new = cur + delta
    if new > INT64_MAX or new < INT64_MIN:
        raise fail(OVERFLOW)
    ctx.db.put(key, str(new).encode())
    return new


@command("incr", 2, "write denyoom fast", summary="Increments the integer value of a key by one.")
def cmd_incr(ctx: Ctx, args: list[bytes]) -> object:
    return _incr(ctx, args[1], 1)


@command("decr", 2, "write denyoom fast", summary="Decrements the integer value of a key by one.")
def cmd_decr(ctx: Ctx, args: list[bytes]) -> object:
    return _incr(ctx, args[1], -1)


@command("incrby", 3, "write denyoom fast",
         summary="Increments the integer value of a key by a number.")
def cmd_incrby(ctx: Ctx, args: list[bytes]) -> object:
    return _incr(ctx, args[1], parse_int(args[2]))


@command("decrby", 3, "write denyoom fast",
         summary="Decrements a number from the integer value of a key.")
def cmd_decrby(ctx: Ctx, args: list[bytes]) -> object:
    delta = parse_int(args[2])
    if delta == INT64_MIN:
        raise fail(DECREMENT_OVERFLOW)
    return _incr(ctx, args[1], -delta)


@command("incrbyfloat", 3, "write denyoom fast", since="2.6.0",
         summary="Increment the floating point value of a key by a number.")
def cmd_incrbyfloat(ctx: Ctx, args: list[bytes]) -> object:
    key = args[1]
    old = _get_str(ctx, key, True)
    incr = parse_float(args[2])
    if old is None:
        cur = 0.0
    else:
        c = to_float(old)
        if c is None:
            raise fail(NOT_FLOAT)
        cur = c
    new = cur + incr
    if math.isnan(new) or math.isinf(new):
        raise fail(NAN_OR_INF)
    text = format_float(new)
    ctx.db.put(key, text)
    return text


# ---- ranges and lengths -------------------------------------------------------------------


@command("append", 3, "write denyoom fast", since="2.0.0",
         summary="Appends a string to the value of a key.")
def cmd_append(ctx: Ctx, args: list[bytes]) -> object:
    key, extra = args[1], args[2]
    old = _get_str(ctx, key, True)
    if old is None:
        ctx.db.set(key, extra)
        return len(extra)
    if len(old) + len(extra) > MAX_STRING:
        raise fail(STRING_TOO_LONG)
    new = old + extra
    ctx.db.put_raw(key, new)
    return len(new)


@command("strlen", 2, "readonly fast", since="2.2.0",
         summary="Returns the length of a string value.")
def cmd_strlen(ctx: Ctx, args: list[bytes]) -> object:
    v = _get_str(ctx, args[1])
    return 0 if v is None else len(v)


@command("getrange", 4, "readonly", since="2.4.0",
         summary="Returns a substring of the string stored at a key.")
@command("substr", 4, "readonly", summary="Returns a substring from a string value.")
def cmd_getrange(ctx: Ctx, args: list[bytes]) -> object:
    start = parse_int(args[2])
    end = parse_int(args[3])
    v = _get_str(ctx, args[1])
    if v is None:
        return b""
    n = len(v)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(n + start, 0)
    if end < 0:
        end = max(n + end, 0)
    if end >= n:
        end = n - 1
    if n == 0 or start > end:
        return b""
    return v[start : end + 1]


@command("setrange", 4, "write denyoom", since="2.2.0",
         summary="Overwrites a part of a string value with another by an offset.")
def cmd_setrange(ctx: Ctx, args: list[bytes]) -> object:
    key, value = args[1], args[3]
    offset = parse_int(args[2])
    if offset < 0:
        raise fail(OFFSET_OUT_OF_RANGE)
    old = _get_str(ctx, key, True)
    if old is None:
        if not value:
            return 0
        if offset + len(value) > MAX_STRING:
            raise fail(STRING_TOO_LONG)
        new = bytes(offset) + value
        ctx.db.put_raw(key, new)
        return len(new)
    if not value:
        return len(old)
    if offset + len(value) > MAX_STRING:
        raise fail(STRING_TOO_LONG)
    buf = bytearray(old)
    if offset > len(buf):
        buf.extend(bytes(offset - len(buf)))
    buf[offset : offset + len(value)] = value
    new = bytes(buf)
    ctx.db.put_raw(key, new)
    return len(new)
