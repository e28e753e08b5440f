"""Fan-out of what applied entries did, on one node: pub/sub delivery, keyspace
notifications and client-tracking invalidations (WATCH and blocking pops live with
the replica, raftredis.replica.keywatch). Nothing here imports the server or the
replica: the server owns an EventHub, the replica feeds it."""

from raftredis.events.hub import EventHub

__all__ = ["EventHub"]
