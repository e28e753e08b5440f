"""Pub/sub commands (answered by the node that received them; see raftredis.server.pubsub).

Shard channels are keys for routing (SSUBSCRIBE/SPUBLISH name their channel's slot,
as in Redis Cluster); classic channels are not."""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, register

_SUB_FLAGS = frozenset({"pubsub", "noscript", "loading", "stale"})
_SLOW = frozenset({"@pubsub", "@slow"})


def _spec(name: str, arity: int, summary: str, since: str, flags: frozenset[str] = _SUB_FLAGS,
          acl: frozenset[str] = _SLOW, **kw) -> CommandSpec:
    return CommandSpec(name=name, arity=arity, flags=flags, acl_categories=acl,
                       summary=summary, since=since, group="pubsub", **kw)


_PUB_FLAGS = frozenset({"pubsub", "loading", "stale", "fast", "may_replicate"})
_FAST = frozenset({"@pubsub", "@fast"})
_INFO_FLAGS = frozenset({"pubsub", "loading", "stale"})

register(
    _spec("subscribe", -2, "Listens for messages published to channels.", "2.0.0"),
    _spec("unsubscribe", -1, "Stops listening to messages posted to channels.", "2.0.0"),
    _spec("psubscribe", -2, "Listens for messages published to channels that match one or "
          "more patterns.", "2.0.0"),
    _spec("punsubscribe", -1, "Stops listening to messages published to channels that match "
          "one or more patterns.", "2.0.0"),
    _spec("ssubscribe", -2, "Listens for messages published to shard channels.", "7.0.0",
          first_key=1, last_key=-1, step=1),
    _spec("sunsubscribe", -1, "Stops listening to messages posted to shard channels.", "7.0.0",
          first_key=1, last_key=-1, step=1),
    _spec("publish", 3, "Posts a message to a channel.", "2.0.0", flags=_PUB_FLAGS, acl=_FAST),
    _spec("spublish", 3, "Post a message to a shard channel", "7.0.0", flags=_PUB_FLAGS,
          acl=_FAST, first_key=1, last_key=1, step=1),
    # (The container and HELP are @slow only, as Redis: +@pubsub must not bring them.)
    _spec("pubsub", -2, "A container for Pub/Sub commands.", "2.8.0", flags=frozenset(),
          acl=frozenset({"@slow"}), subcommands=(
              _spec("pubsub|channels", -2, "Returns the active channels.", "2.8.0",
                    flags=_INFO_FLAGS),
              _spec("pubsub|numsub", -2, "Returns a count of subscribers to channels.", "2.8.0",
                    flags=_INFO_FLAGS),
              _spec("pubsub|numpat", 2, "Returns a count of unique pattern subscriptions.",
                    "2.8.0", flags=_INFO_FLAGS),
              _spec("pubsub|shardchannels", -2, "Returns the active shard channels.", "7.0.0",
                    flags=_INFO_FLAGS),
              _spec("pubsub|shardnumsub", -2, "Returns the count of subscribers of shard "
                    "channels.", "7.0.0", flags=_INFO_FLAGS),
              _spec("pubsub|help", 2, "Returns helpful text about the different subcommands.",
                    "6.2.0", flags=frozenset({"loading", "stale"}), acl=frozenset({"@slow"})),
          )),
)
