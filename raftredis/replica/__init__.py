"""One Raft group on one node, as collaborators that each own their state:

    group.py       the thin Ready loop and the Backend the client port uses
    ports.py       what is injected: clock, storage, persister, transport, randomness
    proposals.py   batching, cutting into entries, futures, TRYAGAIN / UNCERTAIN
    reads.py       ReadIndex waiters
    applier.py     committed entries into the state machine; change sets out
    keywatch.py    WATCH and blocking pops, fed by change sets
    snapshots.py   taking (forked writer), restoring, installing received ones
    duties.py      what only the leader decides (active expiry)
    routing.py     who leads; MOVED / CLUSTERDOWN
    settings.py    CONFIG: per-node and cluster-wide (through the log)
    cluster_view.py  the group as one Redis Cluster shard (CLUSTER *, INFO)
    ops.py         typed log operations and the entry payload
    clock.py       the injected clock and the log's stamp floor
"""

from raftredis.replica.group import ReplicaGroup
from raftredis.replica.ports import Ports

__all__ = ["Ports", "ReplicaGroup"]
