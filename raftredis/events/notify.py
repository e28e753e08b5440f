"""Keyspace notifications: `notify-keyspace-events` flags, and the events an applied
command emits, derived from the command and its Change (arguments, reply, which keys
were live before and after) in one table here instead of in every family module.

Every replica derives them from the entries it applies, so a subscriber on any node
sees the same events in log order; `expired` comes from the leader's logged expiry
deletes (once per node, for the keys that entry really removed).

Not emitted: `m` (key miss: reads do not go through the log, so there is no agreed
point at which a read missed), and the events Redis derives from internal details
we cannot see from the outside (XADD's implicit `xtrim`, XREADGROUP's implicit
`xgroup-createconsumer`). ZADD without CH that only updates scores replies 0 and is
reported as `zadd` when it replied anything but an error.
"""

from __future__ import annotations

from collections.abc import Callable

from raftredis.reply import NULL_ARRAY, Error
from raftredis.statemachine.changes import Change, ChangeKind

# Redis's class bits (server.h NOTIFY_*).
K, E = 1 << 0, 1 << 1
GENERIC, STRING, LIST, SET, HASH, ZSET = 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7
EXPIRED, EVICTED, STREAM, KEYMISS, MODULE, NEW = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12, 1 << 13
ALL = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE

_CHARS = {"g": GENERIC, "$": STRING, "l": LIST, "s": SET, "h": HASH, "z": ZSET, "x": EXPIRED,
          "e": EVICTED, "t": STREAM, "m": KEYMISS, "d": MODULE, "n": NEW, "K": K, "E": E,
          "A": ALL}
INVALID_CLASS = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."


def parse_flags(text: str) -> int:
    flags = 0
    for ch in text:
        bit = _CHARS.get(ch)
        if bit is None:
            raise ValueError(INVALID_CLASS)
        flags |= bit
    return flags


def flags_text(flags: int) -> str:
    """Redis's canonical spelling (keyspaceEventsFlagsToString)."""
    if flags & ALL == ALL:
        out = "A"
    else:
        out = "".join(c for c in "g$lshzxetd" if flags & _CHARS[c])
    for c in "KEmn":
        if flags & _CHARS[c]:
            out += c
    return out


def canonical(text: str) -> str:
    """CONFIG SET's check: the canonical spelling, or ValueError with Redis's text."""
    return flags_text(parse_flags(text))


Event = tuple[int, bytes, bytes]  # (class bit, event name, key)
_Rule = Callable[[Change], list[Event]]


# ------------------------------------------------------------------ reply tests
def _ok(r: object) -> bool:
    return not isinstance(r, Error)


def _found(r: object) -> bool:
    return r is not None and r is not NULL_ARRAY and not isinstance(r, Error) and r != []


def _pos(r: object) -> bool:
    return type(r) is int and r > 0


def _one(cls: int, event: bytes, test: Callable[[object], bool] = _ok, pos: int = 1) -> _Rule:
    """One event on the key at argument `pos` when test(reply)."""
    def rule(c: Change) -> list[Event]:
        return [(cls, event, c.args[pos])] if len(c.args) > pos and test(c.reply) else []
    return rule


def _has(args: list[bytes], *words: bytes) -> bool:
    return any(a.lower() in words for a in args[2:])


_TTL_OPTS = (b"ex", b"px", b"exat", b"pxat")


# ------------------------------------------------------------------ generic
def _del(c: Change) -> list[Event]:
    return [(GENERIC, b"del", k) for k, live in zip(c.keys, c.existed, strict=False) if live]


def _expire(c: Change) -> list[Event]:
    if c.reply != 1:
        return []
    alive = c.exists[0] if c.exists else True
    return [(GENERIC, b"expire" if alive else b"del", c.args[1])]


def _rename(c: Change) -> list[Event]:
    src, dst = c.args[1], c.args[2]
    if src == dst or not (c.reply == 1 or c.reply == "OK") or isinstance(c.reply, Error):
        return []
    return [(GENERIC, b"rename_from", src), (GENERIC, b"rename_to", dst)]


def _sort(c: Change) -> list[Event]:
    for i in range(2, len(c.args) - 1):
        if c.args[i].lower() == b"store" and _pos(c.reply):
            return [(GENERIC, b"sortstore", c.args[i + 1])]
    return []


# ------------------------------------------------------------------ strings
def _set(c: Change) -> list[Event]:
    r = c.reply
    if isinstance(r, Error):
        return []
    if not _has(c.args, b"get") and r is None:
        return []  # NX / XX refused it
    key = c.args[1]
    out: list[Event] = [(STRING, b"set", key)]
    if _has(c.args, *_TTL_OPTS):
        out.append((GENERIC, b"expire", key))
    return out


def _setex(c: Change) -> list[Event]:
    if not _ok(c.reply):
        return []
    return [(STRING, b"set", c.args[1]), (GENERIC, b"expire", c.args[1])]


def _mset(c: Change) -> list[Event]:
    if not _ok(c.reply) or c.reply == 0:
        return []
    return [(STRING, b"set", c.args[i]) for i in range(1, len(c.args) - 1, 2)]


def _setrange(c: Change) -> list[Event]:
    return [(STRING, b"setrange", c.args[1])] if _ok(c.reply) and c.args[3] else []


def _getex(c: Change) -> list[Event]:
    if not _found(c.reply):
        return []
    key = c.args[1]
    if _has(c.args, *_TTL_OPTS):
        alive = c.exists[0] if c.exists else True
        return [(GENERIC, b"expire" if alive else b"del", key)]
    if _has(c.args, b"persist"):
        return [(GENERIC, b"persist", key)]
    return []


def _bitfield(c: Change) -> list[Event]:
    if _ok(c.reply) and _has(c.args, b"set", b"incrby"):
        return [(STRING, b"setbit", c.args[1])]
    return []


def _bitop(c: Change) -> list[Event]:
    if _ok(c.reply) and c.exists and c.exists[0]:
        return [(STRING, b"set", c.args[2])]
    return []


# ------------------------------------------------------------------ lists
def _pop_push(pop: bytes, push: bytes) -> _Rule:
    def rule(c: Change) -> list[Event]:
        if not _found(c.reply):
            return []
        # Redis tells the push to the destination first, then the pop.
        return [(LIST, push, c.args[2]), (LIST, pop, c.args[1])]
    return rule


def _lmove(c: Change) -> list[Event]:
    if not _found(c.reply):
        return []
    src_end, dst_end = c.args[3].lower(), c.args[4].lower()
    return [(LIST, dst_end[:1] + b"push", c.args[2]), (LIST, src_end[:1] + b"pop", c.args[1])]


def _bpop(cls: int, event: bytes) -> _Rule:
    """BLPOP & co.: the reply names the key that was popped (first element)."""
    def rule(c: Change) -> list[Event]:
        if not _found(c.reply) or not isinstance(c.reply, list):
            return []
        return [(cls, event, c.reply[0])]
    return rule


def _mpop(cls: int, left: bytes, right: bytes, first: int) -> _Rule:
    """LMPOP / ZMPOP (first = index of numkeys): direction after the keys."""
    def rule(c: Change) -> list[Event]:
        if not _found(c.reply) or not isinstance(c.reply, list):
            return []
        try:
            where = c.args[first + 1 + int(c.args[first])].lower()
        except (ValueError, IndexError):
            return []
        return [(cls, left if where in (b"left", b"min") else right, c.reply[0])]
    return rule


# ------------------------------------------------------------------ sets, zsets
def _smove(c: Change) -> list[Event]:
    if c.reply != 1 or c.args[1] == c.args[2]:
        return []
    return [(SET, b"srem", c.args[1]), (SET, b"sadd", c.args[2])]


def _zadd(c: Change) -> list[Event]:
    if isinstance(c.reply, Error) or c.reply is None:
        return []
    return [(ZSET, b"zincr" if _has(c.args, b"incr") else b"zadd", c.args[1])]


def _store_dst(c: Change) -> bytes | None:
    for i in range(2, len(c.args) - 1):
        if c.args[i].lower() in (b"store", b"storedist"):
            return c.args[i + 1]
    return None


def _georadius(c: Change) -> list[Event]:
    dst = _store_dst(c)
    return [(ZSET, b"georadiusstore", dst)] if dst is not None and _pos(c.reply) else []


# ------------------------------------------------------------------ streams
def _xgroup(c: Change) -> list[Event]:
    if len(c.args) < 3 or isinstance(c.reply, Error):
        return []
    sub = c.args[1].lower()
    if sub in (b"createconsumer", b"destroy") and c.reply != 1:
        return []
    if sub in (b"create", b"createconsumer", b"delconsumer", b"destroy", b"setid"):
        return [(STREAM, b"xgroup-" + sub, c.args[2])]
    return []


RULES: dict[str, _Rule] = {
    # generic
    "del": _del, "unlink": _del,
    "expire": _expire, "pexpire": _expire, "expireat": _expire, "pexpireat": _expire,
    "persist": _one(GENERIC, b"persist", lambda r: r == 1),
    "rename": _rename, "renamenx": _rename,
    "copy": _one(GENERIC, b"copy_to", lambda r: r == 1, pos=2),
    "restore": _one(GENERIC, b"restore"),
    "sort": _sort,
    # strings
    "set": _set, "setnx": _one(STRING, b"set", lambda r: r == 1),
    "setex": _setex, "psetex": _setex, "getset": _one(STRING, b"set"),
    "mset": _mset, "msetnx": _mset,
    "append": _one(STRING, b"append"), "setrange": _setrange,
    "incr": _one(STRING, b"incrby"), "decr": _one(STRING, b"incrby"),
    "incrby": _one(STRING, b"incrby"), "decrby": _one(STRING, b"incrby"),
    "incrbyfloat": _one(STRING, b"incrbyfloat"),
    "getdel": _one(GENERIC, b"del", _found), "getex": _getex,
    "setbit": _one(STRING, b"setbit"), "bitfield": _bitfield, "bitop": _bitop,
    "pfadd": _one(STRING, b"pfadd", lambda r: r == 1), "pfmerge": _one(STRING, b"pfadd"),
    # lists
    "lpush": _one(LIST, b"lpush", _pos), "lpushx": _one(LIST, b"lpush", _pos),
    "rpush": _one(LIST, b"rpush", _pos), "rpushx": _one(LIST, b"rpush", _pos),
    "lpop": _one(LIST, b"lpop", _found), "rpop": _one(LIST, b"rpop", _found),
    "linsert": _one(LIST, b"linsert", _pos), "lset": _one(LIST, b"lset"),
    "lrem": _one(LIST, b"lrem", _pos),
    "ltrim": lambda c: [(LIST, b"ltrim", c.args[1])] if c.existed[:1] == (True,) else [],
    "rpoplpush": _pop_push(b"rpop", b"lpush"), "brpoplpush": _pop_push(b"rpop", b"lpush"),
    "lmove": _lmove, "blmove": _lmove,
    "blpop": _bpop(LIST, b"lpop"), "brpop": _bpop(LIST, b"rpop"),
    "lmpop": _mpop(LIST, b"lpop", b"rpop", 1), "blmpop": _mpop(LIST, b"lpop", b"rpop", 2),
    # sets
    "sadd": _one(SET, b"sadd", _pos), "srem": _one(SET, b"srem", _pos),
    "spop": _one(SET, b"spop", _found), "smove": _smove,
    "sinterstore": _one(SET, b"sinterstore", _pos),
    "sunionstore": _one(SET, b"sunionstore", _pos),
    "sdiffstore": _one(SET, b"sdiffstore", _pos),
    # hashes
    "hset": _one(HASH, b"hset"), "hmset": _one(HASH, b"hset"),
    "hsetnx": _one(HASH, b"hset", lambda r: r == 1), "hdel": _one(HASH, b"hdel", _pos),
    "hincrby": _one(HASH, b"hincrby"), "hincrbyfloat": _one(HASH, b"hincrbyfloat"),
    # sorted sets
    "zadd": _zadd, "zincrby": _one(ZSET, b"zincr"), "zrem": _one(ZSET, b"zrem", _pos),
    "zremrangebyscore": _one(ZSET, b"zremrangebyscore", _pos),
    "zremrangebyrank": _one(ZSET, b"zremrangebyrank", _pos),
    "zremrangebylex": _one(ZSET, b"zremrangebylex", _pos),
    "zpopmin": _one(ZSET, b"zpopmin", _found), "zpopmax": _one(ZSET, b"zpopmax", _found),
    "bzpopmin": _bpop(ZSET, b"zpopmin"), "bzpopmax": _bpop(ZSET, b"zpopmax"),
    "zmpop": _mpop(ZSET, b"zpopmin", b"zpopmax", 1),
    "bzmpop": _mpop(ZSET, b"zpopmin", b"zpopmax", 2),
    "zunionstore": _one(ZSET, b"zunionstore", _pos),
    "zinterstore": _one(ZSET, b"zinterstore", _pos),
    "zdiffstore": _one(ZSET, b"zdiffstore", _pos),
    "zrangestore": _one(ZSET, b"zrangestore", _pos),
    "geoadd": _one(ZSET, b"zadd", _pos),
    "geosearchstore": _one(ZSET, b"geosearchstore", _pos),
    "georadius": _georadius, "georadiusbymember": _georadius,
    # streams
    "xadd": _one(STREAM, b"xadd", _found), "xtrim": _one(STREAM, b"xtrim", _pos),
    "xdel": _one(STREAM, b"xdel", _pos), "xsetid": _one(STREAM, b"xsetid"),
    "xgroup": _xgroup, "xclaim": _one(STREAM, b"xclaim", _found),
}

# Events after which a key that was live and is gone is not also reported as `del`.
_GONE_ALREADY = frozenset({b"del", b"rename_from", b"expired", b"evicted"})


def events(change: Change) -> list[Event]:
    """The events of one change, in Redis's order: the command's own events, with
    `new` for keys it created and `del` for containers it emptied."""
    kind = change.kind
    if kind is ChangeKind.EXPIRED or kind.name == "EVICTED":
        cls, name = (EXPIRED, b"expired") if kind is ChangeKind.EXPIRED else (EVICTED, b"evicted")
        if not change.existed:  # no before/after recorded: every listed key went
            return [(cls, name, k) for k in change.keys]
        return [(cls, name, k) for k, was, now in
                zip(change.keys, change.existed, change.exists, strict=False) if was and not now]
    if kind is not ChangeKind.WRITE:
        return []
    rule = RULES.get(change.command) or RULES.get(change.command.split("|", 1)[0])
    if rule is None or not change.args or isinstance(change.reply, Error):
        return []
    try:
        out = rule(change)
    except (IndexError, ValueError, TypeError):  # odd arguments: no event rather than a crash
        return []
    if not change.existed or not change.exists:
        return out
    named = {key for _, ev, key in out if ev in _GONE_ALREADY}
    new = {k for k, was, now in zip(change.keys, change.existed, change.exists, strict=False)
           if now and not was}
    gone = {k for k, was, now in zip(change.keys, change.existed, change.exists, strict=False)
            if was and not now and k not in named}
    if not new and not gone:
        return out
    # `new` just before the first event on its key (Redis's dbAdd), `del` just after
    # the last one (the emptied container is deleted right after its own event).
    last = {key: i for i, (_, _, key) in enumerate(out)}
    result: list[Event] = []
    for i, ev in enumerate(out):
        key = ev[2]
        if key in new:
            result.append((NEW, b"new", key))
            new.discard(key)
        result.append(ev)
        if key in gone and last[key] == i:
            result.append((GENERIC, b"del", key))
            gone.discard(key)
    return [(NEW, b"new", k) for k in new] + result + [(GENERIC, b"del", k) for k in gone]


KEYSPACE_PREFIX = b"__keyspace@0__:"
KEYEVENT_PREFIX = b"__keyevent@0__:"


def messages(flags: int, evs: list[Event]) -> list[tuple[bytes, bytes]]:
    """(channel, message) pairs to publish for these events under `flags`."""
    out: list[tuple[bytes, bytes]] = []
    for cls, name, key in evs:
        if not flags & cls:
            continue
        if flags & K:
            out.append((KEYSPACE_PREFIX + key, name))
        if flags & E:
            out.append((KEYEVENT_PREFIX + name, key))
    return out
