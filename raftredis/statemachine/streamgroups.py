"""Consumer groups: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM.

Idle times are measured against the log entry's time (ctx.now), so every replica
answers the same.
"""

from __future__ import annotations

from raftredis.reply import NULL_ARRAY, OK, SYNTAX_ERR, CommandError, Error, Status
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_int, to_int
from raftredis.statemachine.registry import CommandDef, Ctx, Family
from raftredis.statemachine.streamread import consumer_of, nogroup
from raftredis.statemachine.streams import entry_reply, get_stream, parse_interval
from raftredis.statemachine.streamtype import (
    INVALID_READ,
    MAX_ID,
    MIN_ID,
    U64,
    Consumer,
    Group,
    Pending,
    Stream,
    StreamID,
    fmt_id,
    parse_id,
)

_FAMILY = Family("stream", "stream", since="5.0.0")
command = _FAMILY.command

NEED_KEY = Error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE "
                 "you may want to use the MKSTREAM option to create an empty stream "
                 "automatically.")
BUSYGROUP = Error("BUSYGROUP Consumer Group name already exists")

_XGROUP_HELP = [
    Status("XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
    Status("CREATE <key> <groupname> <id|$> [option]"),
    Status("    Create a new consumer group. Options are:"),
    Status("    * MKSTREAM"),
    Status("      Create the empty stream if it does not exist."),
    Status("    * ENTRIESREAD entries_read"),
    Status("      Set the group's entries_read counter (internal use)."),
    Status("CREATECONSUMER <key> <groupname> <consumer>"),
    Status("    Create a new consumer in the specified group."),
    Status("DELCONSUMER <key> <groupname> <consumer>"),
    Status("    Remove the specified consumer."),
    Status("DESTROY <key> <groupname>"),
    Status("    Remove the specified group."),
    Status("SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]"),
    Status("    Set the current group ID and entries_read counter."),
    Status("HELP"),
    Status("    Prints this help."),
]

# (subcommand, arity, flags, first key, since, summary)
_XGROUP_SUBS = (
    ("create", -5, "write denyoom", 2, "5.0.0", "Create a consumer group."),
    ("setid", -5, "write", 2, "5.0.0",
     "Set a consumer group to an arbitrary last delivered ID value."),
    ("destroy", 4, "write", 2, "5.0.0", "Destroy a consumer group."),
    ("createconsumer", 5, "write denyoom", 2, "6.2.0",
     "Create a consumer in a consumer group."),
    ("delconsumer", 5, "write", 2, "5.0.0", "Delete a consumer from a consumer group."),
    ("help", 2, "loading stale", 0, "5.0.0",
     "Show helpful text about the different subcommands"),
)


def _subs(container: str, table: tuple) -> tuple[CommandDef, ...]:
    return tuple(_FAMILY.define(f"{container}|{name}", arity, flags, first, first,
                                1 if first else 0, since=since, summary=summary)
                 for name, arity, flags, first, since, summary in table)


def check_sub(args: list[bytes], container: str, table: tuple) -> str:
    """The subcommand's name, after Redis's unknown-subcommand and arity checks."""
    sub = args[1].decode("utf-8", "replace").lower()
    for name, arity, *_ in table:
        if name == sub:
            if not (len(args) == arity if arity >= 0 else len(args) >= -arity):
                raise fail(Error(f"ERR wrong number of arguments for '{container}|{sub}' "
                                 "command"))
            return sub
    raise fail(Error(f"ERR unknown subcommand '{args[1].decode('utf-8', 'replace')[:128]}'. "
                     f"Try {container.upper()} HELP."))


def syntax(args: list[bytes]) -> Error:
    sub = args[1].decode("utf-8", "replace")[:128]
    cmd = args[0].decode("utf-8", "replace").upper()
    return Error(f"ERR unknown subcommand or wrong number of arguments for '{sub}'. "
                 f"Try {cmd} HELP.")


def _drop_consumer(g: Group, name: bytes) -> int:
    c = g.consumers.pop(name)
    for sid in c.pel:
        g.pel.pop(sid, None)
    return len(c.pel)


@command("xgroup", -2, "", 0, 0, 0, summary="A container for consumer groups commands",
         subcommands=_subs("xgroup", _XGROUP_SUBS))
def cmd_xgroup(ctx: Ctx, args: list[bytes]) -> object:
    sub = check_sub(args, "xgroup", _XGROUP_SUBS)
    if sub == "help":
        return list(_XGROUP_HELP)
    mkstream = False
    entries_read = INVALID_READ
    i = 5
    while i < len(args):
        opt = args[i].upper()
        if sub == "create" and opt == b"MKSTREAM":
            mkstream = True
            i += 1
        elif sub in ("create", "setid") and opt == b"ENTRIESREAD" and i + 1 < len(args):
            entries_read = parse_int(args[i + 1])
            if entries_read < 0 and entries_read != INVALID_READ:
                raise fail(Error("ERR value for ENTRIESREAD must be positive or -1"))
            i += 2
        else:
            raise fail(syntax(args))
    key, name = args[2], args[3]
    s = get_stream(ctx, key, True)
    g = None if s is None else s.groups.get(name)
    if not mkstream:
        if s is None:
            raise fail(NEED_KEY)
        if g is None and sub in ("setid", "createconsumer", "delconsumer"):
            raise fail(Error(f"NOGROUP No such consumer group '{name.decode('utf-8', 'replace')}'"
                             f" for key name '{key.decode('utf-8', 'replace')}'"))
    if sub == "create":
        if len(args) > 8:
            raise fail(syntax(args))
        sid = (s.last_id if s is not None else MIN_ID) if args[4] == b"$" else parse_id(
            args[4], 0, strict=True)
        if s is None:
            s = Stream()
            ctx.db.put(key, s)
        if name in s.groups:
            raise fail(BUSYGROUP)
        s.groups[name] = Group(sid, entries_read)
        return OK
    assert s is not None
    if sub == "destroy":
        if g is None:
            return 0
        del s.groups[name]
        return 1
    assert g is not None
    if sub == "setid":
        if len(args) not in (5, 7):
            raise fail(syntax(args))
        g.last_id = s.last_id if args[4] == b"$" else parse_id(args[4], 0)
        g.entries_read = entries_read
        return OK
    cname = args[4]
    if sub == "createconsumer":
        if cname in g.consumers:
            return 0
        g.consumers[cname] = Consumer(ctx.now)
        return 1
    return _drop_consumer(g, cname) if cname in g.consumers else 0


def _group(ctx: Ctx, key: bytes, name: bytes, write: bool = False) -> tuple[Stream | None,
                                                                            Group | None]:
    s = get_stream(ctx, key, write)
    return s, (None if s is None else s.groups.get(name))


# ---- XACK / XPENDING ----------------------------------------------------------------------


@command("xack", -4, "write fast", summary=(
    "Marks a pending message as correctly processed, effectively removing it from the "
    "pending entries list of the consumer group. Return value of the command is the number "
    "of messages successfully acknowledged, that is, the IDs we were actually able to "
    "resolve in the PEL."))
def cmd_xack(ctx: Ctx, args: list[bytes]) -> object:
    s, g = _group(ctx, args[1], args[2], True)
    if s is None or g is None:
        return 0
    ids = [parse_id(a, 0, strict=True) for a in args[3:]]
    n = 0
    for sid in ids:
        p = g.pel.pop(sid, None)
        if p is not None:
            c = g.consumers.get(p.consumer)
            if c is not None:
                c.pel.pop(sid, None)
            n += 1
    return n


@command("xpending", -3, "readonly", summary=(
    "Return information and entries from a stream consumer group pending entries list, that "
    "are messages fetched but never acknowledged."))
def cmd_xpending(ctx: Ctx, args: list[bytes]) -> object:
    n = len(args)
    if n != 3 and (n < 6 or n > 9):
        raise fail(SYNTAX_ERR)
    minidle = 0
    start, end, count, cname = MIN_ID, MAX_ID, 0, None
    if n >= 6:
        at = 3
        if args[3].upper() == b"IDLE":
            minidle = parse_int(args[4])
            if n < 8:
                raise fail(SYNTAX_ERR)
            at = 5
        count = max(parse_int(args[at + 2]), 0)
        start = parse_interval(args[at], 0, True)
        end = parse_interval(args[at + 1], U64, False)
        if at + 3 < n:
            cname = args[at + 3]
    s, g = _group(ctx, args[1], args[2])
    if s is None or g is None:
        raise fail(nogroup(args[1], args[2]))
    if n == 3:
        if not g.pel:
            return [0, None, None, NULL_ARRAY]
        keys = g.pel.keys()
        owners = [[name, b"%d" % len(c.pel)] for name, c in g.consumers.items() if c.pel]
        return [len(g.pel), fmt_id(keys[0]), fmt_id(keys[-1]), owners]
    if cname is not None:
        c = g.consumers.get(cname)
        if c is None:
            return []
        ids = c.pel.irange(start, end)
    else:
        ids = g.pel.irange(start, end)
    out: list[object] = []
    for sid in ids:
        if not count:
            break
        p = g.pel[sid]
        idle = ctx.now - p.delivery_time
        if minidle and idle < minidle:
            continue
        out.append([fmt_id(sid), p.consumer, max(idle, 0), p.delivery_count])
        count -= 1
    return out


# ---- XCLAIM / XAUTOCLAIM ------------------------------------------------------------------


def _claim(g: Group, sid: StreamID, p: Pending, cname: bytes, c: Consumer) -> None:
    if p.consumer != cname:
        old = g.consumers.get(p.consumer)
        if old is not None:
            old.pel.pop(sid, None)
        c.pel[sid] = None
        p.consumer = cname


def _forget(g: Group, sid: StreamID) -> None:
    p = g.pel.pop(sid)
    c = g.consumers.get(p.consumer)
    if c is not None:
        c.pel.pop(sid, None)


def _int_or(arg: bytes, error: str) -> int:
    v = to_int(arg)
    if v is None:
        raise fail(Error(f"ERR {error}"))
    return v


@command("xclaim", -6, "write fast", summary=(
    "Changes (or acquires) ownership of a message in a consumer group, as if the message was "
    "delivered to the specified consumer."))
def cmd_xclaim(ctx: Ctx, args: list[bytes]) -> object:
    s, g = _group(ctx, args[1], args[2], True)
    if s is None or g is None:
        raise fail(nogroup(args[1], args[2]))
    minidle = max(_int_or(args[4], "Invalid min-idle-time argument for XCLAIM"), 0)
    ids: list[StreamID] = []
    j = 5
    while j < len(args):
        try:
            ids.append(parse_id(args[j], 0, strict=True))
        except CommandError:  # not an ID: the options start here
            break
        j += 1
    now = ctx.now
    retry, when = -1, -1
    force = justid = False
    while j < len(args):
        opt, more = args[j].upper(), len(args) - 1 - j
        if opt == b"FORCE":
            force = True
        elif opt == b"JUSTID":
            justid = True
        elif opt == b"IDLE" and more:
            j += 1
            when = now - _int_or(args[j], "Invalid IDLE option argument for XCLAIM")
        elif opt == b"TIME" and more:
            j += 1
            when = _int_or(args[j], "Invalid TIME option argument for XCLAIM")
        elif opt == b"RETRYCOUNT" and more:
            j += 1
            retry = _int_or(args[j], "Invalid RETRYCOUNT option argument for XCLAIM")
        elif opt == b"LASTID" and more:
            j += 1
            last = parse_id(args[j], 0, strict=True)
            if last > g.last_id:
                g.last_id = last
        else:
            name = args[j].decode("utf-8", "replace")
            raise fail(Error(f"ERR Unrecognized XCLAIM option '{name}'"))
        j += 1
    if when == -1 or when < 0 or when > now:
        when = now
    cname = args[3]
    consumer: Consumer | None = None
    out: list[object] = []
    for sid in ids:
        p = g.pel.get(sid)
        if sid not in s.entries:
            if p is not None:
                _forget(g, sid)  # the entry is gone: so is its pending record
            continue
        if force and p is None:
            p = Pending(b"", now, 1)
            g.pel[sid] = p
        if p is None:
            continue
        if p.consumer and minidle and now - p.delivery_time < minidle:
            continue
        if consumer is None:
            consumer = consumer_of(g, cname, now)
        _claim(g, sid, p, cname, consumer)
        p.delivery_time = when
        if retry >= 0:
            p.delivery_count = retry
        elif not justid:
            p.delivery_count += 1
        out.append(fmt_id(sid) if justid else entry_reply(sid, s.entries[sid]))
    return out


@command("xautoclaim", -6, "write fast", since="6.2.0", summary=(
    "Changes (or acquires) ownership of messages in a consumer group, as if the messages "
    "were delivered to the specified consumer."))
def cmd_xautoclaim(ctx: Ctx, args: list[bytes]) -> object:
    minidle = max(_int_or(args[4], "Invalid min-idle-time argument for XAUTOCLAIM"), 0)
    start = parse_interval(args[5], 0, True)
    count, justid = 100, False
    j = 6
    while j < len(args):
        opt, more = args[j].upper(), len(args) - 1 - j
        if opt == b"COUNT" and more:
            c = to_int(args[j + 1])
            if c is None or c < 1 or c > (1 << 63) // 16:
                raise fail(Error("ERR COUNT must be > 0"))
            count = c
            j += 2
        elif opt == b"JUSTID":
            justid = True
            j += 1
        else:
            raise fail(SYNTAX_ERR)
    s, g = _group(ctx, args[1], args[2], True)
    if s is None or g is None:
        raise fail(nogroup(args[1], args[2]))
    now, cname = ctx.now, args[3]
    consumer: Consumer | None = None
    claimed: list[object] = []
    deleted: list[object] = []
    attempts = count * 10
    ids = list(g.pel.irange(start, MAX_ID))
    pos = 0
    while attempts and count and pos < len(ids):
        attempts -= 1
        sid = ids[pos]
        pos += 1
        p = g.pel[sid]
        if sid not in s.entries:
            _forget(g, sid)
            deleted.append(fmt_id(sid))
            count -= 1
            continue
        if minidle and now - p.delivery_time < minidle:
            continue
        if consumer is None:
            consumer = consumer_of(g, cname, now)
        _claim(g, sid, p, cname, consumer)
        p.delivery_time = now
        if not justid:
            p.delivery_count += 1
        claimed.append(fmt_id(sid) if justid else entry_reply(sid, s.entries[sid]))
        count -= 1
    cursor = fmt_id(ids[pos]) if pos < len(ids) else b"0-0"
    return [cursor, claimed, deleted]
