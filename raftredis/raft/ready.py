"""What the core hands to the application, and in what order it must be handled."""

from __future__ import annotations

from dataclasses import dataclass

from raftredis.raft.messages import Message
from raftredis.raft.types import Entry, HardState, ReadState, Snapshot, SoftState


@dataclass(slots=True)
class Ready:
    """One batch of work for the application. Handle it in this order, then call
    RaftCore.advance(rd). Do not call ready() again before advance().

    1. `messages` may be sent at once (even before or while persisting).
    2. Persist `snapshot` (storage.install_snapshot), `entries` (storage.append), and
       `hard_state` (storage.set_hard_state), then storage.sync() if `must_sync`.
    3. Only then send `messages_after_persist`.
    4. If `snapshot` is set, restore the application state from it; then apply
       `committed_entries` in order.
    5. Serve each of `read_states` once the applied index >= its index; fail the
       reads named in `dropped_reads`.
    6. Call advance(rd).
    """

    # Leader/role changed (for display and routing; nothing to persist). None: unchanged.
    soft_state: SoftState | None = None
    # Persist BEFORE sending messages_after_persist. None: unchanged.
    hard_state: HardState | None = None
    # Append to storage (which truncates a conflicting suffix) BEFORE messages_after_persist.
    entries: tuple[Entry, ...] = ()
    # A snapshot received from the leader: persist it (storage.install_snapshot) and restore
    # the app state from it BEFORE applying committed_entries (which follow it).
    snapshot: Snapshot | None = None
    # Safe to send at once, in parallel with persisting (the leader's Append, Heartbeat,
    # InstallSnapshot, TimeoutNow, pre-votes; §10.2.1).
    messages: tuple[Message, ...] = ()
    # Send only once hard_state/entries/snapshot are durable (vote grants, append acks, ...).
    messages_after_persist: tuple[Message, ...] = ()
    # Apply in order, after persisting this Ready's entries.
    committed_entries: tuple[Entry, ...] = ()
    # Linearizable reads: serve each once the local applied index >= index.
    read_states: tuple[ReadState, ...] = ()
    # read_index ctxs that will never get a ReadState (leadership lost, timeout, ...).
    dropped_reads: tuple[bytes, ...] = ()
    # True when hard_state's term/vote or entries or snapshot must be fsynced.
    must_sync: bool = False


__all__ = ["Ready", "ReadState"]
