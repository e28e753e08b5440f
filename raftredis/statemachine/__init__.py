"""Redis semantics over the keyspace, driven deterministically by the Raft log.

    sm = StateMachine()
    sm.apply([b"SET", b"k", b"v"], now_ms=..., seed=...)   # log entries
    sm.read([b"GET", b"k"], now_ms=...)                   # ReadIndex reads

Family modules (`strings`, `generic`, `hashes`, ...) declare each data command once,
spec and handler together, with `registry.Family.command`, and value types with
`values.register_type`; `families` imports them all.

The package imports its machine lazily: `raftredis.commands` imports the family modules
for their specs, and the machine imports `raftredis.commands`, so an eager import here
would make the two packages import each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raftredis.statemachine.machine import StateMachine
    from raftredis.statemachine.snapshot import SnapshotError

__all__ = ["SnapshotError", "StateMachine"]


def __getattr__(name: str) -> object:
    if name == "StateMachine":
        from raftredis.statemachine.machine import StateMachine

        return StateMachine
    if name == "SnapshotError":
        from raftredis.statemachine.snapshot import SnapshotError

        return SnapshotError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
