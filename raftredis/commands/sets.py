"""Command specs of the set family (Redis 7 arity, flags and key positions).

Handlers: raftredis.statemachine.sets.
"""

from __future__ import annotations

from collections.abc import Callable

from raftredis.commands.spec import CommandSpec, data_spec, register


def sintercard_keys(args: list[bytes]) -> list[int]:
    """SINTERCARD numkeys key [key ...]: the keys follow numkeys (none if it is bad)."""
    if len(args) < 3 or not args[1].isdigit() or len(args[1]) > 19:
        return []
    n = int(args[1])
    if n < 1 or n > len(args) - 2:
        return []
    return list(range(2, 2 + n))


def _s(name: str, arity: int, flags: str, first: int = 1, last: int = 1, since: str = "1.0.0",
       summary: str = "", key_fn: Callable[[list[bytes]], list[int]] | None = None
       ) -> CommandSpec:
    return data_spec("set", "set", name, arity, flags, first, last, since=since,
                     summary=summary, key_fn=key_fn)


SPECS = (
    _s("sadd", -3, "write denyoom fast", summary="Adds one or more members to a set. Creates the key if it doesn't exist."),
    _s("srem", -3, "write fast", summary="Removes one or more members from a set. Deletes the set if the last member was removed."),
    _s("smembers", 2, "readonly", summary="Returns all members of a set."),
    _s("sismember", 3, "readonly fast", summary="Determines whether a member belongs to a set."),
    _s("smismember", -3, "readonly fast", since="6.2.0", summary="Determines whether multiple members belong to a set."),
    _s("scard", 2, "readonly fast", summary="Returns the number of members in a set."),
    _s("spop", -2, "write fast", summary="Returns one or more random members from a set after removing them. Deletes the set if the last member was popped."),
    _s("srandmember", -2, "readonly", summary="Get one or multiple random members from a set"),
    _s("sinter", -2, "readonly", 1, -1, summary="Returns the intersect of multiple sets."),
    _s("sunion", -2, "readonly", 1, -1, summary="Returns the union of multiple sets."),
    _s("sdiff", -2, "readonly", 1, -1, summary="Returns the difference of multiple sets."),
    _s("sinterstore", -3, "write denyoom", 1, -1, summary="Stores the intersect of multiple sets in a key."),
    _s("sunionstore", -3, "write denyoom", 1, -1, summary="Stores the union of multiple sets in a key."),
    _s("sdiffstore", -3, "write denyoom", 1, -1, summary="Stores the difference of multiple sets in a key."),
    _s("sintercard", -3, "readonly", 0, 0, since="7.0.0", summary="Returns the number of members of the intersect of multiple sets.", key_fn=sintercard_keys),
    _s("smove", 4, "write fast", 1, 2, summary="Moves a member from one set to another."),
    _s("sscan", -3, "readonly", since="2.8.0", summary="Iterates over members of a set."),
)

register(*SPECS)
