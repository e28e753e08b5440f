"""XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, XINFO HELP, with Redis
7.0's fields. radix-tree-keys is the number of entry nodes kept (see streamtype.py);
radix-tree-nodes, the size of Redis's radix tree over them, is an estimate."""

from __future__ import annotations

from raftredis.reply import NO_SUCH_KEY, Error, Map, Status
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.streamgroups import check_sub, syntax
from raftredis.statemachine.streams import entry_reply, get_stream
from raftredis.statemachine.streamtype import INVALID_READ, Group, Stream, fmt_id

_FAMILY = Family("stream", "stream", since="5.0.0")

_HELP = [
    Status("XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
    Status("CONSUMERS <key> <groupname>"),
    Status("    Show consumers of <groupname>."),
    Status("GROUPS <key>"),
    Status("    Show the stream consumer groups."),
    Status("STREAM <key> [FULL [COUNT <count>]"),
    Status("    Show information about the stream."),
    Status("HELP"),
    Status("    Prints this help."),
]

_SUBS = (
    ("consumers", 4, "readonly", 2, "5.0.0", "List the consumers in a consumer group"),
    ("groups", 3, "readonly", 2, "5.0.0", "List the consumer groups of a stream"),
    ("stream", -3, "readonly", 2, "5.0.0", "Get information about a stream"),
    ("help", 2, "loading stale", 0, "5.0.0",
     "Show helpful text about the different subcommands"),
)


def _entry(s: Stream, last: bool) -> object:
    if not s.entries:
        return None
    sid = s.entries.keys()[-1 if last else 0]
    return entry_reply(sid, s.entries[sid])


def _read_counter(g: Group) -> int | None:
    return None if g.entries_read == INVALID_READ else g.entries_read


def _head(s: Stream) -> list[tuple[bytes, object]]:
    keys = len(s.nodes)
    return [(b"length", len(s)), (b"radix-tree-keys", keys),
            (b"radix-tree-nodes", keys + 1 if keys else 1),
            (b"last-generated-id", fmt_id(s.last_id)),
            (b"max-deleted-entry-id", fmt_id(s.max_deleted)),
            (b"entries-added", s.entries_added),
            (b"recorded-first-entry-id", fmt_id(s.first_id))]


def _full(s: Stream, count: int) -> Map:
    entries = []
    for sid in s.entries:
        if count and len(entries) >= count:
            break
        entries.append(entry_reply(sid, s.entries[sid]))
    groups = []
    for name, g in s.groups.items():
        pending = [[fmt_id(sid), p.consumer, p.delivery_time, p.delivery_count]
                   for sid, p in list(g.pel.items())[:count or None]]
        consumers = []
        for cname, c in g.consumers.items():
            cp = [[fmt_id(sid), g.pel[sid].delivery_time, g.pel[sid].delivery_count]
                  for sid in list(c.pel)[:count or None]]
            consumers.append(Map([(b"name", cname), (b"seen-time", c.seen_time),
                                  (b"pel-count", len(c.pel)), (b"pending", cp)]))
        groups.append(Map([(b"name", name), (b"last-delivered-id", fmt_id(g.last_id)),
                           (b"entries-read", _read_counter(g)), (b"lag", s.lag(g)),
                           (b"pel-count", len(g.pel)), (b"pending", pending),
                           (b"consumers", consumers)]))
    return Map([*_head(s), (b"entries", entries), (b"groups", groups)])


@_FAMILY.command("xinfo", -2, "", 0, 0, 0, summary="A container for stream introspection commands",
                 subcommands=tuple(_FAMILY.define(f"xinfo|{n}", a, f, k, k, 1 if k else 0,
                                                  since=v, summary=t)
                                   for n, a, f, k, v, t in _SUBS))
def cmd_xinfo(ctx: Ctx, args: list[bytes]) -> object:
    sub = check_sub(args, "xinfo", _SUBS)
    if sub == "help":
        return list(_HELP)
    s = get_stream(ctx, args[2])
    if s is None:
        raise fail(NO_SUCH_KEY)
    if sub == "consumers":
        g = s.groups.get(args[3])
        if g is None:
            raise fail(Error(f"NOGROUP No such consumer group '{args[3].decode('utf-8', 'replace')}'"
                             f" for key name '{args[2].decode('utf-8', 'replace')}'"))
        return [Map([(b"name", name), (b"pending", len(c.pel)),
                     (b"idle", max(ctx.now - c.seen_time, 0))])
                for name, c in g.consumers.items()]
    if sub == "groups":
        return [Map([(b"name", name), (b"consumers", len(g.consumers)), (b"pending", len(g.pel)),
                     (b"last-delivered-id", fmt_id(g.last_id)),
                     (b"entries-read", _read_counter(g)), (b"lag", s.lag(g))])
                for name, g in s.groups.items()]
    n = len(args)
    if n == 3:
        return Map([*_head(s), (b"groups", len(s.groups)), (b"first-entry", _entry(s, False)),
                    (b"last-entry", _entry(s, True))])
    if args[3].upper() != b"FULL" or n not in (4, 6):
        raise fail(syntax(args))
    count = 10
    if n == 6:
        if args[4].upper() != b"COUNT":
            raise fail(syntax(args))
        count = parse_int(args[5])
        if count < 0:
            count = 10
    return _full(s, count)
