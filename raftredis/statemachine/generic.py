"""Generic keyspace commands: DEL, EXISTS, TYPE, RENAME, KEYS, SCAN, TTLs, COPY, OBJECT..."""

from __future__ import annotations

from raftredis.reply import NO_SUCH_KEY, OK, SYNTAX_ERR, Error, Status
from raftredis.statemachine.errors import (
    DB_OUT_OF_RANGE,
    GT_LT_INCOMPATIBLE,
    INVALID_CURSOR,
    NX_INCOMPATIBLE,
    SAME_OBJECT,
    fail,
)
from raftredis.statemachine.expiry import expire_deadline
from raftredis.statemachine.glob import compile_glob
from raftredis.statemachine.parse import parse_int
from raftredis.statemachine.registry import Ctx, handler
from raftredis.statemachine.values import type_of

SCAN_COUNT_LIMIT = 100_000  # work per SCAN call, whatever COUNT says
_UINT64_MAX = (1 << 64) - 1


# ---- existence and deletion ---------------------------------------------------------------


@handler("del", "unlink")
def cmd_del(ctx: Ctx, args: list[bytes]) -> object:
    db, now = ctx.db, ctx.now
    n = 0
    for key in args[1:]:
        if db.get_for_write(key, now) is not None:
            db.delete(key)
            n += 1
    return n


@handler("exists", "touch")
def cmd_exists(ctx: Ctx, args: list[bytes]) -> object:
    get, now = ctx.db.get, ctx.now
    return sum(1 for key in args[1:] if get(key, now) is not None)


@handler("type")
def cmd_type(ctx: Ctx, args: list[bytes]) -> object:
    v = ctx.db.get(args[1], ctx.now)
    return Status("none") if v is None else Status(type_of(v).name)


@handler("dbsize")
def cmd_dbsize(ctx: Ctx, args: list[bytes]) -> object:
    return len(ctx.db)


@handler("flushdb", "flushall")
def cmd_flush(ctx: Ctx, args: list[bytes]) -> object:
    if len(args) > 2 or (len(args) == 2 and args[1].upper() not in (b"ASYNC", b"SYNC")):
        raise fail(SYNTAX_ERR)
    ctx.db.clear()
    return OK


# ---- renaming and copying -----------------------------------------------------------------


def _rename(ctx: Ctx, args: list[bytes], nx: bool) -> object:
    db, now = ctx.db, ctx.now
    src, dst = args[1], args[2]
    value = db.get_for_write(src, now)
    if value is None:
        raise fail(NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    if db.get_for_write(dst, now) is not None:
        if nx:
            return 0
        db.delete(dst)
    deadline = db.deadline(src)
    db.delete(src)
    db.set(dst, value)
    if deadline is not None:
        db.set_deadline(dst, deadline)
    return 1 if nx else OK


@handler("rename")
def cmd_rename(ctx: Ctx, args: list[bytes]) -> object:
    return _rename(ctx, args, False)


@handler("renamenx")
def cmd_renamenx(ctx: Ctx, args: list[bytes]) -> object:
    return _rename(ctx, args, True)


@handler("copy")
def cmd_copy(ctx: Ctx, args: list[bytes]) -> object:
    src, dst = args[1], args[2]
    replace = False
    i = 3
    while i < len(args):
        opt = args[i].upper()
        if opt == b"REPLACE":
            replace = True
        elif opt == b"DB" and i + 1 < len(args):
            if parse_int(args[i + 1]) != 0:
                raise fail(DB_OUT_OF_RANGE)  # one database only
            i += 1
        else:
            raise fail(SYNTAX_ERR)
        i += 1
    if src == dst:
        raise fail(SAME_OBJECT)
    db, now = ctx.db, ctx.now
    value = db.get_for_write(src, now)
    if value is None:
        return 0
    if db.get_for_write(dst, now) is not None:
        if not replace:
            return 0
        db.delete(dst)
    db.set(dst, type_of(value).copy(value))
    deadline = db.deadline(src)
    if deadline is not None:
        db.set_deadline(dst, deadline)
    return 1


# ---- iteration ----------------------------------------------------------------------------


@handler("keys")
def cmd_keys(ctx: Ctx, args: list[bytes]) -> object:
    keys = ctx.db.live_keys(ctx.now)
    if args[1] == b"*":
        return keys
    match = compile_glob(args[1])
    return [k for k in keys if match(k)]


@handler("scan")
def cmd_scan(ctx: Ctx, args: list[bytes]) -> object:
    cur = args[1]
    if not cur.isdigit() or len(cur) > 20 or int(cur) > _UINT64_MAX:
        raise fail(INVALID_CURSOR)
    cursor = int(cur)
    count = 10
    match = None
    want_type: str | None = None
    i = 2
    while i < len(args):
        opt = args[i].upper()
        if i + 1 >= len(args):
            raise fail(SYNTAX_ERR)
        if opt == b"COUNT":
            count = parse_int(args[i + 1])
            if count < 1:
                raise fail(SYNTAX_ERR)
        elif opt == b"MATCH":
            match = None if args[i + 1] == b"*" else compile_glob(args[i + 1])
        elif opt == b"TYPE":
            want_type = args[i + 1].decode("utf-8", "replace").lower()
        else:
            raise fail(SYNTAX_ERR)
        i += 2
    db, now = ctx.db, ctx.now
    nxt, batch = db.scan_index().batch(cursor, min(count, SCAN_COUNT_LIMIT))
    out: list[bytes] = []
    for key in batch:
        v = db.get(key, now)
        if v is None:
            continue
        if match is not None and not match(key):
            continue
        if want_type is not None and type_of(v).name != want_type:
            continue
        out.append(key)
    return [str(nxt).encode(), out]


@handler("randomkey")
def cmd_randomkey(ctx: Ctx, args: list[bytes]) -> object:
    db, now = ctx.db, ctx.now
    if not db.data:
        return None
    rng = ctx.rng()
    for _ in range(100):  # as Redis: a few tries, then give up on an all-expired keyspace
        key = db.nth_key(rng.randrange(len(db.data)))
        if not db.is_expired(key, now):
            return key
    live = db.live_keys(now)
    return live[rng.randrange(len(live))] if live else None


# ---- TTLs ---------------------------------------------------------------------------------


def _expire(ctx: Ctx, args: list[bytes], unit: int, absolute: bool, name: str) -> object:
    nx = xx = gt = lt = False
    for raw in args[3:]:
        opt = raw.upper()
        if opt == b"NX":
            nx = True
        elif opt == b"XX":
            xx = True
        elif opt == b"GT":
            gt = True
        elif opt == b"LT":
            lt = True
        else:
            raise fail(Error("ERR Unsupported option " + raw.decode("utf-8", "replace")))
    if nx and (xx or gt or lt):
        raise fail(NX_INCOMPATIBLE)
    if gt and lt:
        raise fail(GT_LT_INCOMPATIBLE)
    when = expire_deadline(args[2], unit, absolute, ctx.now, name)
    db, key = ctx.db, args[1]
    if db.get_for_write(key, ctx.now) is None:
        return 0
    current = db.deadline(key)
    if nx and current is not None:
        return 0
    if xx and current is None:
        return 0
    if gt and (current is None or when <= current):
        return 0
    if lt and current is not None and when >= current:
        return 0
    if when <= ctx.now:
        db.delete(key)
    else:
        db.set_deadline(key, when)
    return 1


@handler("expire")
def cmd_expire(ctx: Ctx, args: list[bytes]) -> object:
    return _expire(ctx, args, 1000, False, "expire")


@handler("pexpire")
def cmd_pexpire(ctx: Ctx, args: list[bytes]) -> object:
    return _expire(ctx, args, 1, False, "pexpire")


@handler("expireat")
def cmd_expireat(ctx: Ctx, args: list[bytes]) -> object:
    return _expire(ctx, args, 1000, True, "expireat")


@handler("pexpireat")
def cmd_pexpireat(ctx: Ctx, args: list[bytes]) -> object:
    return _expire(ctx, args, 1, True, "pexpireat")


def _ttl(ctx: Ctx, key: bytes) -> int | None:
    """-2 missing, -1 no TTL, else the deadline (None never)."""
    db = ctx.db
    if db.get(key, ctx.now) is None:
        return -2
    d = db.deadline(key)
    return -1 if d is None else d


@handler("ttl")
def cmd_ttl(ctx: Ctx, args: list[bytes]) -> object:
    d = _ttl(ctx, args[1])
    assert d is not None
    if d < 0:
        return d
    return (max(d - ctx.now, 0) + 500) // 1000


@handler("pttl")
def cmd_pttl(ctx: Ctx, args: list[bytes]) -> object:
    d = _ttl(ctx, args[1])
    assert d is not None
    return d if d < 0 else max(d - ctx.now, 0)


@handler("expiretime")
def cmd_expiretime(ctx: Ctx, args: list[bytes]) -> object:
    d = _ttl(ctx, args[1])
    assert d is not None
    return d if d < 0 else d // 1000


@handler("pexpiretime")
def cmd_pexpiretime(ctx: Ctx, args: list[bytes]) -> object:
    return _ttl(ctx, args[1])


@handler("persist")
def cmd_persist(ctx: Ctx, args: list[bytes]) -> object:
    db = ctx.db
    if db.get_for_write(args[1], ctx.now) is None:
        return 0
    return 1 if db.persist(args[1]) else 0


# ---- OBJECT -------------------------------------------------------------------------------

_OBJECT_HELP = [
    b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"ENCODING <key>",
    b"    Return the kind of internal representation used in order to store the value",
    b"    associated with a <key>.",
    b"FREQ <key>",
    b"    Return the access frequency index of the <key>. The returned integer is",
    b"    proportional to the logarithm of the recent access frequency of the key.",
    b"IDLETIME <key>",
    b"    Return the idle time of the <key>, that is the approximated number of",
    b"    seconds elapsed since the last access to the key.",
    b"REFCOUNT <key>",
    b"    Return the number of references of the value associated with the specified",
    b"    <key>.",
    b"HELP",
    b"    Print this help.",
]
_LFU_OFF = Error(
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
    "Please note that when switching between policies at runtime LRU and LFU data "
    "will take some time to adjust."
)


@handler("object")
def cmd_object(ctx: Ctx, args: list[bytes]) -> object:
    sub = args[1].lower()
    if sub == b"help" and len(args) == 2:
        return list(_OBJECT_HELP)
    if sub not in (b"encoding", b"freq", b"idletime", b"refcount", b"help"):
        name = args[1].decode("utf-8", "replace")
        raise fail(Error(f"ERR unknown subcommand '{name[:128]}'. Try OBJECT HELP."))
    if len(args) != 3:
        return Error(f"ERR wrong number of arguments for 'object|{sub.decode()}' command")
    v = ctx.db.get(args[2], ctx.now)
    if v is None:
        return None
    if sub == b"encoding":
        return type_of(v).encoding(v).encode()
    if sub == b"freq":
        return _LFU_OFF
    if sub == b"idletime":
        return 0  # access times are not tracked: they would differ between replicas
    return 1
