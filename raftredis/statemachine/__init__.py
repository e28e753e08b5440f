"""Redis semantics over the keyspace, driven deterministically by the Raft log.

    sm = StateMachine()
    sm.apply([b"SET", b"k", b"v"], now_ms=..., seed=...)   # log entries
    sm.read([b"GET", b"k"], now_ms=...)                   # ReadIndex reads

Family modules (`strings`, `generic`, `hashes`, ...) register handlers by command
name with `registry.handler`, and value types with `values.register_type`.
"""

from raftredis.statemachine.machine import StateMachine
from raftredis.statemachine.snapshot import SnapshotError

__all__ = ["SnapshotError", "StateMachine"]
