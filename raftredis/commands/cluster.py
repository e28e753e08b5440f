"""CLUSTER subcommands: the Raft group seen as one shard; answered by backend.cluster_command."""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, register

# Subcommands that change or expose the membership: admin, as Redis's CLUSTER FAILOVER /
# FORGET / REPLICAS (and our JOIN / ADDLEARNER / PROMOTE, Redis's MEET in spirit), so
# -@admin or -@dangerous keeps an ACL user away from them.
_ADMIN_SUBS = frozenset({"replicas", "failover", "forget", "join", "addlearner", "promote"})


def _sub(sub: str, arity: int, summary: str, since: str = "3.0.0") -> CommandSpec:
    admin = sub in _ADMIN_SUBS
    return CommandSpec(name=f"cluster|{sub}", arity=arity,
                       flags=frozenset({"admin", "stale"} if admin else {"stale"}),
                       acl_categories=frozenset({"@admin", "@slow", "@dangerous"} if admin
                                                else {"@slow"}),
                       summary=summary, since=since, group="cluster")


register(
    CommandSpec(
        name="cluster", arity=-2, flags=frozenset(), acl_categories=frozenset({"@slow"}),
        summary="A container for Redis Cluster commands.", since="3.0.0", group="cluster",
        subcommands=(
            _sub("slots", 2, "Returns the mapping of cluster slots to nodes."),
            _sub("shards", 2, "Returns the mapping of cluster slots to shards.", "7.0.0"),
            _sub("nodes", 2, "Returns the cluster configuration for a node."),
            _sub("info", 2, "Returns information about the state of a node."),
            _sub("myid", 2, "Returns the ID of a node."),
            _sub("myshardid", 2, "Returns the shard ID of a node.", "7.2.0"),
            _sub("keyslot", 3, "Returns the hash slot for a key."),
            _sub("countkeysinslot", 3, "Returns the number of keys in a hash slot."),
            _sub("getkeysinslot", 4, "Returns the key names in a hash slot."),
            _sub("replicas", 3, "Lists the replica nodes of a master node.", "5.0.0"),
            _sub("links", 2, "Returns a list of all TCP links to and from peer nodes.", "7.0.0"),
            _sub("failover", -2, "Forces a replica to perform a manual failover of its master."),
            _sub("join", 5, "Adds a node as a learner, promoted to voter once caught up."),
            _sub("addlearner", 5, "Adds a node as a learner (non-voting member)."),
            _sub("promote", 3, "Promotes a learner to a voting member."),
            _sub("forget", 3, "Removes a node from the cluster."),
            _sub("help", 2, "Returns helpful text about the different subcommands.", "5.0.0"),
        ),
    ),
)
