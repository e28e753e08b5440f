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
from raftredis.statemachine.registry import CommandDef, Ctx, Family
from raftredis.statemachine.values import type_of

SCAN_COUNT_LIMIT = 100_000  # work per SCAN call, whatever COUNT says
_UINT64_MAX = (1 << 64) - 1

_FAMILY = Family("generic", "keyspace")
command = _FAMILY.command


# ---- existence and deletion ---------------------------------------------------------------


@command("del", -2, "write", 1, -1, summary="Deletes one or more keys.")
@command("unlink", -2, "write fast", 1, -1, since="4.0.0",
         summary="Asynchronously deletes one or more keys.")
def cmd_del(ctx: Ctx, args: list[bytes]) -> object:
    db, now = ctx.db, ctx.now
    n = 0
    for key in args[1:]:
        if db.get_for_write(key, now) is not None:
            db.delete(key)
            n += 1
    return n


@command("exists", -2, "readonly fast", 1, -1, summary="Determines whether one or more keys exist.")
@command("touch", -2, "readonly fast", 1, -1, since="3.2.1", summary=(
    "Returns the number of existing keys out of those specified after updating the time "
    "they were last accessed."))
def cmd_exists(ctx: Ctx, args: list[bytes]) -> object:
    get, now = ctx.db.get, ctx.now
    return sum(1 for key in args[1:] if get(key, now) is not None)


@command("type", 2, "readonly fast", summary="Determines the type of value stored at a key.")
def cmd_type(ctx: Ctx, args: list[bytes]) -> object:
    v = ctx.db.get(args[1], ctx.now)
    return Status("none") if v is None else Status(type_of(v).name)


@command("dbsize", 1, "readonly fast", 0, 0, 0, group="server",
         summary="Returns the number of keys in the database.")
def cmd_dbsize(ctx: Ctx, args: list[bytes]) -> object:
    return len(ctx.db)


@command("flushdb", -1, "write", 0, 0, 0, acl="dangerous", group="server",
         summary="Remove all keys from the current database.")
@command("flushall", -1, "write", 0, 0, 0, acl="dangerous", group="server",
         summary="Removes all keys from all databases.")
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
    raw = src in db.raw
    db.delete(src)
    db.set(dst, value)
    if raw:
        db.raw.add(dst)  # the same object moves, as in Redis
    if deadline is not None:
        db.set_deadline(dst, deadline)
    return 1 if nx else OK


@command("rename", 3, "write", 1, 2, summary="Renames a key and overwrites the destination.")
def cmd_rename(ctx: Ctx, args: list[bytes]) -> object:
    return _rename(ctx, args, False)


@command("renamenx", 3, "write fast", 1, 2,
         summary="Renames a key only when the target key name doesn't exist.")
def cmd_renamenx(ctx: Ctx, args: list[bytes]) -> object:
    return _rename(ctx, args, True)


@command("copy", -3, "write denyoom", 1, 2, since="6.2.0",
         summary="Copies the value of a key to a new key.")
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
    if src in db.raw:
        db.raw.add(dst)  # Redis duplicates a raw string as raw
    deadline = db.deadline(src)
    if deadline is not None:
        db.set_deadline(dst, deadline)
    return 1


# ---- iteration ----------------------------------------------------------------------------


@command("keys", 2, "readonly", 0, 0, 0, acl="dangerous",
         summary="Returns all key names that match a pattern.")
def cmd_keys(ctx: Ctx, args: list[bytes]) -> object:
    keys = ctx.db.live_keys(ctx.now)
    if args[1] == b"*":
        return keys
    match = compile_glob(args[1])
    return [k for k in keys if match(k)]


@command("scan", -2, "readonly", 0, 0, 0, since="2.8.0",
         summary="Iterates over the key names in the database.")
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


@command("randomkey", 1, "readonly", 0, 0, 0,
         summary="Returns a random key name from the database.")
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


@command("expire", -3, "write fast", summary="Sets the expiration time of a key in seconds.")
def cmd_expire(ctx: Ctx, args: list[bytes]) -> object:
    return _expire(ctx, args, 1000, False, "expire")


@command("pexpire", -3, "write fast", since="2.6.0",
         summary="Sets the expiration time of a key in milliseconds.")
def cmd_pexpire(ctx: Ctx, args: list[bytes]) -> object:
    return _expire(ctx, args, 1, False, "pexpire")


@command("expireat", -3, "write fast", since="1.2.0",
         summary="Sets the expiration time of a key to a Unix timestamp.")
def cmd_expireat(ctx: Ctx, args: list[bytes]) -> object:
    return _expire(ctx, args, 1000, True, "expireat")


@command("pexpireat", -3, "write fast", since="2.6.0",
         summary="Sets the expiration time of a key to a Unix milliseconds timestamp.")
def cmd_pexpireat(ctx: Ctx, args: list[bytes]) -> object:
    return _expire(ctx, args, 1, True, "pexpireat")


def _ttl(ctx: Ctx, key: bytes) -> int | None:
    """-2 missing, -1 no TTL, else the deadline (None never)."""
    db = ctx.db
    if db.get(key, ctx.now) is None:
        return -2
    d = db.deadline(key)
    return -1 if d is None else d


@command("ttl", 2, "readonly fast", summary="Returns the expiration time in seconds of a key.")
def cmd_ttl(ctx: Ctx, args: list[bytes]) -> object:
    d = _ttl(ctx, args[1])
    assert d is not None
    if d < 0:
        return d
    return (max(d - ctx.now, 0) + 500) // 1000


@command("pttl", 2, "readonly fast", since="2.6.0",
         summary="Returns the expiration time in milliseconds of a key.")
def cmd_pttl(ctx: Ctx, args: list[bytes]) -> object:
    d = _ttl(ctx, args[1])
    assert d is not None
    return d if d < 0 else max(d - ctx.now, 0)


@command("expiretime", 2, "readonly fast", since="7.0.0",
         summary="Returns the expiration time of a key as a Unix timestamp.")
def cmd_expiretime(ctx: Ctx, args: list[bytes]) -> object:
    d = _ttl(ctx, args[1])
    assert d is not None
    return d if d < 0 else d // 1000


@command("pexpiretime", 2, "readonly fast", since="7.0.0",
         summary="Returns the expiration time of a key as a Unix milliseconds timestamp.")
def cmd_pexpiretime(ctx: Ctx, args: list[bytes]) -> object:
    return _ttl(ctx, args[1])


@command("persist", 2, "write fast", since="2.2.0", summary="Removes the expiration time of a key.")
def cmd_persist(ctx: Ctx, args: list[bytes]) -> object:
    db = ctx.db
    if db.get_for_write(args[1], ctx.now) is None:
        return 0
    return 1 if db.persist(args[1]) else 0


# ---- OBJECT -------------------------------------------------------------------------------

_OBJECT_HELP = [
    Status("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
    Status("ENCODING <key>"),
    Status("    Return the kind of internal representation used in order to store the value"),
    Status("    associated with a <key>."),
    Status("FREQ <key>"),
    Status("    Return the access frequency index of the <key>. The returned integer is"),
    Status("    proportional to the logarithm of the recent access frequency of the key."),
    Status("IDLETIME <key>"),
    Status("    Return the idle time of the <key>, that is the approximated number of"),
    Status("    seconds elapsed since the last access to the key."),
    Status("REFCOUNT <key>"),
    Status("    Return the number of references of the value associated with the specified"),
    Status("    <key>."),
    Status("HELP"),
    Status("    Prints this help."),
]
_LFU_OFF = Error(
    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. "
    "Please note that when switching between policies at runtime LRU and LFU data "
    "will take some time to adjust."
)
_LRU_OFF = Error(
    "ERR An LFU maxmemory policy is selected, idle time not tracked. "
    "Please note that when switching between policies at runtime LRU and LFU data "
    "will take some time to adjust."
)


_OBJECT_KEYED = {b"encoding", b"freq", b"idletime", b"refcount"}


def _object_keys(args: list[bytes]) -> list[int]:
    """OBJECT <sub> key: only the keyed subcommands name a key (HELP does not)."""
    if len(args) >= 3 and args[1].lower() in _OBJECT_KEYED:
        return [2]
    return []


def _object_sub(sub: str, arity: int, since: str, summary: str) -> CommandDef:
    keyed = sub != "help"
    return _FAMILY.define(f"object|{sub}", arity, "readonly" if keyed else "loading stale",
                          *((2, 2, 1) if keyed else (0, 0, 0)), since=since, summary=summary)


# A container: the handler runs every subcommand; the subcommands' specs are for COMMAND.
@command("object", -2, "", 0, 0, 0, since="2.2.3", key_fn=_object_keys,
         summary="A container for object introspection commands.", subcommands=(
    _object_sub("encoding", 3, "2.2.3", "Returns the internal encoding of a Redis object."),
    _object_sub("freq", 3, "4.0.0",
                "Returns the logarithmic access frequency counter of a Redis object."),
    _object_sub("idletime", 3, "2.2.3", "Returns the time since the last access to a Redis object."),
    _object_sub("refcount", 3, "2.2.3", "Returns the reference count of a value of a key."),
    _object_sub("help", 2, "6.2.0", "Returns helpful text about the different subcommands."),
))
def cmd_object(ctx: Ctx, args: list[bytes]) -> object:
    sub = args[1].lower()
    if sub == b"help" and len(args) == 2:
        return list(_OBJECT_HELP)
    if sub not in (b"encoding", b"freq", b"idletime", b"refcount", b"help"):
        name = args[1].decode("utf-8", "replace")
        raise fail(Error(f"ERR unknown subcommand '{name[:128]}'. Try OBJECT HELP."))
    if len(args) != (2 if sub == b"help" else 3):
        return Error(f"ERR wrong number of arguments for 'object|{sub.decode()}' command")
    v = ctx.db.get(args[2], ctx.now)
    if v is None:
        return None
    if sub == b"encoding":
        if args[2] in ctx.db.raw:
            return b"raw"
        return type_of(v).encoding(v).encode()
    db = ctx.db
    if sub == b"freq":  # this node's own reading: access statistics are not replicated
        if not db.clock.policy.lfu:
            return _LFU_OFF
        return db.clock.freq(db.access.get(args[2]), ctx.now)
    if sub == b"idletime":
        if db.clock.policy.lfu:
            return _LRU_OFF
        reading = db.access.get(args[2])  # none yet (restored, not accessed since): 0
        return 0 if reading is None else db.clock.idle_ms(reading, ctx.now) // 1000
    return 1
