"""Server administration commands answered by the node itself (handlers in
raftredis.server.admin_commands): SAVE/BGSAVE/LASTSAVE/SHUTDOWN (snapshots), SLOWLOG,
ROLE and WAIT/WAITAOF (the Raft group seen as Redis replication), LOLWUT."""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, register

_ADMIN = frozenset({"@admin", "@slow", "@dangerous"})


def _spec(name: str, arity: int, flags: set[str], acl: frozenset[str] | set[str],
          summary: str, since: str, group: str = "server", **kw) -> CommandSpec:
    return CommandSpec(name=name, arity=arity, flags=frozenset(flags),
                       acl_categories=frozenset(acl), summary=summary, since=since,
                       group=group, **kw)


register(
    _spec("save", 1, {"admin", "noscript", "no_async_loading", "no_multi"}, _ADMIN,
          "Synchronously saves the database(s) to disk.", "1.0.0"),
    _spec("bgsave", -1, {"admin", "noscript", "no_async_loading"}, _ADMIN,
          "Asynchronously saves the database(s) to disk.", "1.0.0"),
    _spec("lastsave", 1, {"loading", "stale", "fast"}, {"@admin", "@fast", "@dangerous"},
          "Returns the Unix timestamp of the last successful save to disk.", "1.0.0"),
    _spec("shutdown", -1, {"admin", "noscript", "loading", "stale", "no_multi", "allow_busy"},
          _ADMIN, "Synchronously saves the database(s) to disk and shuts down the Redis "
          "server.", "1.0.0"),
    _spec("role", 1, {"noscript", "loading", "stale", "fast"}, {"@admin", "@fast", "@dangerous"},
          "Returns the replication role.", "2.8.12"),
    _spec("wait", 3, {"noscript"}, {"@slow", "@connection"},
          "Blocks until the asynchronous replication of all preceding write commands sent by "
          "the connection is completed.", "3.0.0", group="generic"),
    _spec("waitaof", 4, {"noscript"}, {"@slow", "@connection"},
          "Blocks until all of the preceding write commands sent by the connection are "
          "written to the append-only file of the master and/or replicas.", "7.2.0",
          group="generic"),
    _spec("lolwut", -1, {"readonly", "fast"}, {"@read", "@fast"},
          "Displays computer art and the Redis version", "5.0.0"),
    _spec("slowlog", -2, set(), {"@slow"}, "A container for slow log commands.", "2.2.12",
          subcommands=(
              _spec("slowlog|get", -2, {"admin", "loading", "stale"}, _ADMIN,
                    "Returns the slow log's entries.", "2.2.12"),
              _spec("slowlog|len", 2, {"admin", "loading", "stale"}, _ADMIN,
                    "Returns the number of entries in the slow log.", "2.2.12"),
              _spec("slowlog|reset", 2, {"admin", "loading", "stale"}, _ADMIN,
                    "Clears all entries from the slow log.", "2.2.12"),
              _spec("slowlog|help", 2, {"loading", "stale"}, {"@slow"},
                    "Show helpful text about the different subcommands", "6.2.0"),
          )),
)
