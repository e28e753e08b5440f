"""Command specs of the string family (Redis 7 arity, flags and key positions).

Handlers: raftredis.statemachine.strings.
"""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, data_spec, register


def _s(name: str, arity: int, flags: str, first: int = 1, last: int = 1, step: int = 1,
       acl: str = "", since: str = "1.0.0", summary: str = "") -> CommandSpec:
    return data_spec("string", "string", name, arity, flags, first, last, step, acl, since,
                     summary)


SPECS = (
    _s("get", 2, "readonly fast", summary="Returns the string value of a key."),
    _s("set", -3, "write denyoom", summary="Sets the string value of a key, ignoring its type."),
    _s("setnx", 3, "write denyoom fast", summary="Set the string value of a key only when the key doesn't exist."),
    _s("setex", 4, "write denyoom", since="2.0.0", summary="Sets the string value and expiration time of a key."),
    _s("psetex", 4, "write denyoom", since="2.6.0", summary="Sets both string value and expiration time in milliseconds of a key."),
    _s("getset", 3, "write denyoom fast", summary="Returns the previous string value of a key after setting it to a new value."),
    _s("getdel", 2, "write fast", since="6.2.0", summary="Returns the string value of a key after deleting the key."),
    _s("getex", -2, "write fast", since="6.2.0", summary="Returns the string value of a key after setting its expiration time."),
    _s("mget", -2, "readonly fast", 1, -1, 1, summary="Atomically returns the string values of one or more keys."),
    _s("mset", -3, "write denyoom", 1, -1, 2, since="1.0.1", summary="Atomically creates or modifies the string values of one or more keys."),
    _s("msetnx", -3, "write denyoom", 1, -1, 2, since="1.0.1", summary="Atomically modifies the string values of one or more keys only when all keys don't exist."),
    _s("incr", 2, "write denyoom fast", summary="Increments the integer value of a key by one."),
    _s("decr", 2, "write denyoom fast", summary="Decrements the integer value of a key by one."),
    _s("incrby", 3, "write denyoom fast", summary="Increments the integer value of a key by a number."),
    _s("decrby", 3, "write denyoom fast", summary="Decrements a number from the integer value of a key."),
    _s("incrbyfloat", 3, "write denyoom fast", since="2.6.0", summary="Increment the floating point value of a key by a number."),
    _s("append", 3, "write denyoom fast", since="2.0.0", summary="Appends a string to the value of a key."),
    _s("strlen", 2, "readonly fast", since="2.2.0", summary="Returns the length of a string value."),
    _s("getrange", 4, "readonly", since="2.4.0", summary="Returns a substring of the string stored at a key."),
    _s("substr", 4, "readonly", summary="Returns a substring from a string value."),
    _s("setrange", 4, "write denyoom", since="2.2.0", summary="Overwrites a part of a string value with another by an offset."),
)

register(*SPECS)
