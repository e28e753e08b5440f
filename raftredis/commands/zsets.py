"""Command specs of the sorted set family (Redis 7 arity, flags and key positions).

Handlers: raftredis.statemachine.zsets.
"""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, data_spec, register


def _z(name: str, arity: int, flags: str, first: int = 1, last: int = 1, since: str = "1.2.0",
       summary: str = "") -> CommandSpec:
    return data_spec("sorted-set", "sortedset", name, arity, flags, first, last, since=since,
                     summary=summary)


SPECS = (
    _z("zadd", -4, "write denyoom fast", summary="Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist."),
    _z("zincrby", 4, "write denyoom fast", summary="Increments the score of a member in a sorted set."),
    _z("zrem", -3, "write fast", summary="Removes one or more members from a sorted set. Deletes the sorted set if all members were removed."),
    _z("zscore", 3, "readonly fast", summary="Returns the score of a member in a sorted set."),
    _z("zmscore", -3, "readonly fast", since="6.2.0", summary="Returns the score of one or more members in a sorted set."),
    _z("zcard", 2, "readonly fast", summary="Returns the number of members in a sorted set."),
    _z("zcount", 4, "readonly fast", since="2.0.0", summary="Returns the count of members in a sorted set that have scores within a range."),
    _z("zlexcount", 4, "readonly fast", since="2.8.9", summary="Returns the number of members in a sorted set within a lexicographical range."),
    _z("zrange", -4, "readonly", summary="Returns members in a sorted set within a range of indexes."),
    _z("zrangestore", -5, "write denyoom", 1, 2, since="6.2.0", summary="Stores a range of members from sorted set in a key."),
    _z("zrangebyscore", -4, "readonly", since="1.0.5", summary="Returns members in a sorted set within a range of scores."),
    _z("zrevrangebyscore", -4, "readonly", since="2.2.0", summary="Returns members in a sorted set within a range of scores in reverse order."),
    _z("zrangebylex", -4, "readonly", since="2.8.9", summary="Returns members in a sorted set within a lexicographical range."),
    _z("zrevrangebylex", -4, "readonly", since="2.8.9", summary="Returns members in a sorted set within a lexicographical range in reverse order."),
    _z("zrevrange", -4, "readonly", summary="Returns members in a sorted set within a range of indexes in reverse order."),
    _z("zrank", -3, "readonly fast", since="2.0.0", summary="Returns the index of a member in a sorted set ordered by ascending scores."),
    _z("zrevrank", -3, "readonly fast", since="2.0.0", summary="Returns the index of a member in a sorted set ordered by descending scores."),
    _z("zpopmin", -2, "write fast", since="5.0.0", summary="Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    _z("zpopmax", -2, "write fast", since="5.0.0", summary="Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped."),
    _z("zremrangebyscore", 4, "write", summary="Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed."),
    _z("zremrangebyrank", 4, "write", since="2.0.0", summary="Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed."),
    _z("zremrangebylex", 4, "write", since="2.8.9", summary="Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed."),
    _z("zscan", -3, "readonly", since="2.8.0", summary="Iterates over members and scores of a sorted set."),
)

register(*SPECS)
