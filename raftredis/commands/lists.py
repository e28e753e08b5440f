"""Command specs of the list family (Redis 7 arity, flags and key positions).

Handlers: raftredis.statemachine.lists. BLPOP/BRPOP/BLMOVE/BRPOPLPUSH carry the
`blocking` flag: the state machine makes one non-blocking attempt and the node
does the waiting (timeout: raftredis.statemachine.blocking.parse_timeout_ms).
"""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, data_spec, register


def _l(name: str, arity: int, flags: str, first: int = 1, last: int = 1, since: str = "1.0.0",
       summary: str = "") -> CommandSpec:
    return data_spec("list", "list", name, arity, flags, first, last, since=since,
                     summary=summary)


SPECS = (
    _l("lpush", -3, "write denyoom fast", summary="Prepends one or more elements to a list. Creates the key if it doesn't exist."),
    _l("rpush", -3, "write denyoom fast", summary="Appends one or more elements to a list. Creates the key if it doesn't exist."),
    _l("lpushx", -3, "write denyoom fast", since="2.2.0", summary="Prepends one or more elements to a list only when the list exists."),
    _l("rpushx", -3, "write denyoom fast", since="2.2.0", summary="Appends an element to a list only when the list exists."),
    _l("lpop", -2, "write fast", summary="Returns the first elements in a list after removing it. Deletes the list if the last element was popped."),
    _l("rpop", -2, "write fast", summary="Returns and removes the last elements of a list. Deletes the list if the last element was popped."),
    _l("llen", 2, "readonly fast", summary="Returns the length of a list."),
    _l("lrange", 4, "readonly", summary="Returns a range of elements from a list."),
    _l("lindex", 3, "readonly", summary="Returns an element from a list by its index."),
    _l("lset", 4, "write denyoom", summary="Sets the value of an element in a list by its index."),
    _l("lrem", 4, "write", summary="Removes elements from a list. Deletes the list if the last element was removed."),
    _l("ltrim", 4, "write", summary="Removes elements from both ends a list. Deletes the list if all elements were trimmed."),
    _l("linsert", 5, "write denyoom", since="2.2.0", summary="Inserts an element before or after another element in a list."),
    _l("lpos", -3, "readonly", since="6.0.6", summary="Returns the index of matching elements in a list."),
    _l("lmove", 5, "write denyoom", 1, 2, since="6.2.0", summary="Returns an element after popping it from one list and pushing it to another."),
    _l("rpoplpush", 3, "write denyoom", 1, 2, since="1.2.0", summary="Returns the last element of a list after removing and pushing it to another list."),
    _l("blpop", -3, "write noscript blocking", 1, -2, since="2.0.0", summary="Removes and returns the first element in a list. Blocks until an element is available otherwise."),
    _l("brpop", -3, "write noscript blocking", 1, -2, since="2.0.0", summary="Removes and returns the last element in a list. Blocks until an element is available otherwise."),
    _l("blmove", 6, "write denyoom noscript blocking", 1, 2, since="6.2.0", summary="Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise."),
    _l("brpoplpush", 4, "write denyoom noscript blocking", 1, 2, since="2.2.0", summary="Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise."),
)

register(*SPECS)
