"""Connection commands (answered by the node that received them; see raftredis.server)."""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, register

_CONN = frozenset({"@fast", "@connection"})
_NOAUTH = frozenset({"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"})


def _spec(name: str, arity: int, flags: set[str], summary: str, since: str, **kw) -> CommandSpec:
    return CommandSpec(
        name=name,
        arity=arity,
        flags=frozenset(flags),
        acl_categories=kw.pop("acl", _CONN),
        summary=summary,
        since=since,
        group="connection",
        **kw,
    )


def _client(sub: str, arity: int, summary: str, since: str, admin: bool = False) -> CommandSpec:
    flags = {"noscript", "loading", "stale"}
    acl = {"@connection", "@slow"}
    if admin:
        flags.add("admin")
        acl |= {"@admin", "@dangerous"}
    return _spec(f"client|{sub}", arity, flags, summary, since, acl=frozenset(acl))


register(
    _spec("ping", -1, {"fast"}, "Returns the server's liveliness response.", "1.0.0"),
    _spec("echo", 2, {"fast"}, "Returns the given string.", "1.0.0"),
    _spec("quit", -1, set(_NOAUTH), "Closes the connection.", "1.0.0"),
    _spec("hello", -1, set(_NOAUTH), "Handshakes with the Redis server.", "6.0.0"),
    _spec("auth", -2, set(_NOAUTH), "Authenticates the connection.", "1.0.0"),
    _spec("select", 2, {"loading", "stale", "fast"}, "Changes the selected database.", "1.0.0"),
    _spec("reset", 1, set(_NOAUTH), "Resets the connection.", "6.2.0"),
    _spec("readonly", 1, {"loading", "stale", "fast"},
          "Enables read-only queries for a connection to a Redis Cluster replica node.", "3.0.0"),
    _spec("readwrite", 1, {"loading", "stale", "fast"},
          "Enables read-write queries for a connection to a Redis Cluster replica node.", "3.0.0"),
    _spec("asking", 1, {"fast"}, "Signals that a cluster client is following an -ASK redirect.",
          "3.0.0"),
    _spec(
        "client",
        -2,
        set(),
        "A container for client connection commands.",
        "2.4.0",
        acl=frozenset({"@slow"}),
        subcommands=(
            _client("id", 2, "Returns the unique client ID of the connection.", "5.0.0"),
            _client("setname", 3, "Sets the connection name.", "2.6.9"),
            _client("getname", 2, "Returns the name of the connection.", "2.6.9"),
            _client("setinfo", 4, "Sets information specific to the client or connection.",
                    "7.2.0"),
            _client("list", -2, "Lists open connections.", "2.4.0", admin=True),
            _client("info", 2, "Returns information about the connection.", "6.2.0"),
            _client("kill", -3, "Terminates open connections.", "2.4.0", admin=True),
            _client("no-evict", 3, "Sets the client eviction mode of the connection.", "7.0.0",
                    admin=True),
            _client("no-touch", 3,
                    "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
                    "7.2.0"),
            _client("reply", 3, "Instructs the server whether to reply to commands.", "3.2.0"),
            _client("tracking", -3,
                    "Controls server-assisted client-side caching for the connection.", "6.0.0"),
            _client("caching", 3,
                    "Instructs the server whether to track the keys in the next request.",
                    "6.0.0"),
            _client("getredir", 2, "Returns the client ID to which the connection's tracking "
                    "notifications are redirected.", "6.0.0"),
            _client("trackinginfo", 2, "Returns information about server-assisted client-side "
                    "caching for the connection.", "6.2.0"),
            _client("pause", -3, "Suspends commands processing.", "3.0.0", admin=True),
            _client("unpause", 2, "Resumes processing commands from paused clients.", "6.2.0",
                    admin=True),
            _client("unblock", -3, "Unblocks a client blocked by a blocking command from "
                    "a different connection.", "5.0.0", admin=True),
            _client("help", 2, "Returns helpful text about the different subcommands.", "5.0.0"),
        ),
    ),
)
