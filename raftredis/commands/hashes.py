"""Command specs of the hash family (Redis 7 arity, flags and key positions).

Handlers: raftredis.statemachine.hashes.
"""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, data_spec, register


def _h(name: str, arity: int, flags: str, since: str = "2.0.0", summary: str = "") -> CommandSpec:
    return data_spec("hash", "hash", name, arity, flags, since=since, summary=summary)


SPECS = (
    _h("hset", -4, "write denyoom fast", summary="Creates or modifies the value of a field in a hash."),
    _h("hsetnx", 4, "write denyoom fast", summary="Sets the value of a field in a hash only when the field doesn't exist."),
    _h("hmset", -4, "write denyoom fast", summary="Sets the values of multiple fields."),
    _h("hget", 3, "readonly fast", summary="Returns the value of a field in a hash."),
    _h("hmget", -3, "readonly fast", summary="Returns the values of all fields in a hash."),
    _h("hdel", -3, "write fast", summary="Deletes one or more fields and their values from a hash."),
    _h("hexists", 3, "readonly fast", summary="Determines whether a field exists in a hash."),
    _h("hgetall", 2, "readonly", summary="Returns all fields and values in a hash."),
    _h("hkeys", 2, "readonly", summary="Returns all fields in a hash."),
    _h("hvals", 2, "readonly", summary="Returns all values in a hash."),
    _h("hlen", 2, "readonly fast", summary="Returns the number of fields in a hash."),
    _h("hincrby", 4, "write denyoom fast", summary="Increments the integer value of a field in a hash by a number."),
    _h("hincrbyfloat", 4, "write denyoom fast", since="2.6.0", summary="Increments the floating point value of a field by a number."),
    _h("hstrlen", 3, "readonly fast", since="3.2.0", summary="Returns the length of the value of a field."),
    _h("hscan", -3, "readonly", since="2.8.0", summary="Iterates over fields and values of a hash."),
    _h("hrandfield", -2, "readonly", since="6.2.0", summary="Returns one or more random fields from a hash."),
)

register(*SPECS)
