"""MULTI/EXEC/DISCARD/WATCH/UNWATCH: queued per connection by the server; EXEC runs the
queue through backend.execute_multi as one atomic unit."""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, register

_FLAGS = frozenset({"noscript", "loading", "stale", "fast", "allow_busy"})
_ACL = frozenset({"@fast", "@transaction"})


def _spec(name: str, arity: int, summary: str, since: str, **kw) -> CommandSpec:
    return CommandSpec(name=name, arity=arity, flags=kw.pop("flags", _FLAGS),
                       acl_categories=kw.pop("acl", _ACL), summary=summary, since=since,
                       group="transactions", **kw)


register(
    _spec("multi", 1, "Starts a transaction.", "1.2.0"),
    _spec("exec", 1, "Executes all commands in a transaction.", "1.2.0",
          flags=frozenset({"noscript", "loading", "stale", "skip_slowlog"}),
          acl=frozenset({"@slow", "@transaction"})),  # (not fast, as Redis: +@fast omits it)
    _spec("discard", 1, "Discards a transaction.", "2.0.0"),
    _spec("watch", -2, "Monitors changes to keys to determine the execution of a transaction.",
          "2.2.0", first_key=1, last_key=-1, step=1),
    _spec("unwatch", 1, "Forgets about watched keys of a transaction.", "2.2.0"),
)
