"""Command specs of the generic keyspace commands (Redis 7 arity, flags, key positions).

Handlers: raftredis.statemachine.generic.
"""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, Route, data_spec, register


def _g(name: str, arity: int, flags: str, first: int = 1, last: int = 1, step: int = 1,
       acl: str = "keyspace", since: str = "1.0.0", summary: str = "",
       group: str = "generic") -> CommandSpec:
    return data_spec(group, "", name, arity, flags, first, last, step, acl, since, summary)


_OBJECT_KEYED = {b"encoding", b"freq", b"idletime", b"refcount"}


def _object_keys(args: list[bytes]) -> list[int]:
    """OBJECT <sub> key: only the keyed subcommands name a key (HELP does not)."""
    if len(args) >= 3 and args[1].lower() in _OBJECT_KEYED:
        return [2]
    return []


SPECS = (
    _g("del", -2, "write", 1, -1, summary="Deletes one or more keys."),
    _g("unlink", -2, "write fast", 1, -1, since="4.0.0", summary="Asynchronously deletes one or more keys."),
    _g("exists", -2, "readonly fast", 1, -1, summary="Determines whether one or more keys exist."),
    _g("type", 2, "readonly fast", summary="Determines the type of value stored at a key."),
    _g("rename", 3, "write", 1, 2, summary="Renames a key and overwrites the destination."),
    _g("renamenx", 3, "write fast", 1, 2, summary="Renames a key only when the target key name doesn't exist."),
    _g("keys", 2, "readonly", 0, 0, 0, acl="keyspace dangerous", summary="Returns all key names that match a pattern."),
    _g("scan", -2, "readonly", 0, 0, 0, since="2.8.0", summary="Iterates over the key names in the database."),
    _g("randomkey", 1, "readonly", 0, 0, 0, summary="Returns a random key name from the database."),
    _g("touch", -2, "readonly fast", 1, -1, since="3.2.1", summary="Returns the number of existing keys out of those specified after updating the time they were last accessed."),
    _g("copy", -3, "write denyoom", 1, 2, since="6.2.0", summary="Copies the value of a key to a new key."),
    _g("flushdb", -1, "write", 0, 0, 0, acl="keyspace dangerous", summary="Remove all keys from the current database.", group="server"),
    _g("flushall", -1, "write", 0, 0, 0, acl="keyspace dangerous", summary="Removes all keys from all databases.", group="server"),
    _g("expire", -3, "write fast", summary="Sets the expiration time of a key in seconds."),
    _g("pexpire", -3, "write fast", since="2.6.0", summary="Sets the expiration time of a key in milliseconds."),
    _g("expireat", -3, "write fast", since="1.2.0", summary="Sets the expiration time of a key to a Unix timestamp."),
    _g("pexpireat", -3, "write fast", since="2.6.0", summary="Sets the expiration time of a key to a Unix milliseconds timestamp."),
    _g("ttl", 2, "readonly fast", summary="Returns the expiration time in seconds of a key."),
    _g("pttl", 2, "readonly fast", since="2.6.0", summary="Returns the expiration time in milliseconds of a key."),
    _g("expiretime", 2, "readonly fast", since="7.0.0", summary="Returns the expiration time of a key as a Unix timestamp."),
    _g("pexpiretime", 2, "readonly fast", since="7.0.0", summary="Returns the expiration time of a key as a Unix milliseconds timestamp."),
    _g("persist", 2, "write fast", since="2.2.0", summary="Removes the expiration time of a key."),
    _g("dbsize", 1, "readonly fast", 0, 0, 0, summary="Returns the number of keys in the database.", group="server"),
    CommandSpec(
        name="object",
        arity=-2,
        flags=frozenset(),
        route=Route.READ,
        acl_categories=frozenset({"@slow"}),
        summary="A container for object introspection commands.",
        since="2.2.3",
        group="generic",
        key_fn=_object_keys,
        subcommands=tuple(
            CommandSpec(
                name=f"object|{sub}",
                arity=arity,
                flags=frozenset({"readonly"} if sub != "help" else {"loading", "stale"}),
                first_key=2 if sub != "help" else 0,
                last_key=2 if sub != "help" else 0,
                step=1 if sub != "help" else 0,
                route=Route.READ,
                acl_categories=frozenset({"@keyspace", "@read", "@slow"} if sub != "help" else {"@keyspace", "@slow"}),
                summary=summary,
                since=since,
                group="generic",
            )
            for sub, arity, since, summary in (
                ("encoding", 3, "2.2.3", "Returns the internal encoding of a Redis object."),
                ("freq", 3, "4.0.0", "Returns the logarithmic access frequency counter of a Redis object."),
                ("idletime", 3, "2.2.3", "Returns the time since the last access to a Redis object."),
                ("refcount", 3, "2.2.3", "Returns the reference count of a value of a key."),
                ("help", 2, "6.2.0", "Returns helpful text about the different subcommands."),
            )
        ),
    ),
)

register(*SPECS)
