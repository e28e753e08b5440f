"""What the core hands to the application, and in what order it must be handled."""

from __future__ import annotations

from dataclasses import dataclass

from raftredis.raft.messages import Message
from raftredis.raft.types import Entry, HardState, ReadState, Snapshot, SoftState


@dataclass(slots=True)
class Ready:
    """One batch of work for the application. Handle it in this order, then call
    RaftCore.advance(rd):

    1. Send `messages`. They may go at once, before or while step 2 runs (the leader
       writes its log in parallel with replicating it, §10.2.1).
    2. Persist, in this order: `snapshot` (storage.install_snapshot), `entries`
       (storage.append, which drops a conflicting suffix first), `hard_state`
       (storage.set_hard_state); then storage.sync() if `must_sync`. (Entries before
       the hard state: a crash that keeps only a prefix of the write must not keep a
       commit index past the end of the log.)
    3. Only then send `messages_after_persist`: they promise what step 2 made durable
       (vote grants, append and snapshot acks, anything carrying a new term).
    4. If `snapshot` is set, restore the application state from it; it is durable by
       now. Then apply `committed_entries` in order (they follow the snapshot).
    5. Serve each of `read_states` once the applied index >= its index; fail the reads
       named in `dropped_reads`.
    6. Call advance(rd): it tells the core that everything in rd is durable and
       applied. Never before step 2 has finished.

    Pipelining (all optional; the order above is always correct):
    - Committed entries at or below `durable_hi` are on this node's disk already, so
      with no `snapshot` they may be applied (and `read_states` served) while step 2
      runs, rather than after it: an entry committed by a quorum and durable here is
      final wherever it is applied from. Those above `durable_hi` wait for step 2.
    - While step 2 runs, RaftCore.take_committed() hands out entries committed since
      (durable here, after every committed entry of the pending Ready), and
      take_read_states() the reads confirmed since: apply and serve them at once, in
      order, once the pending Ready's own committed entries are applied.
    - While step 2 runs (a snapshot's too), RaftCore.take_messages() hands out the
      messages made since that wait for no persist: send them at once, so heartbeats
      and their answers keep flowing through a slow fsync. The others stay in the
      core for the next Ready's messages_after_persist.

    Preconditions and notes:
    - Do not call ready() again before advance(rd). step(), tick(), propose() and
      read_index() may be called in between (e.g. while step 2 runs on a disk thread);
      what they produce comes out in the next Ready.
    - Restore a snapshot only after it is durable (step 4 after step 2): the
      application's state must never be ahead of what storage can rebuild at restart,
      or a local snapshot taken from that state would describe a log storage does not
      hold. To refuse a snapshot the application cannot restore, check it (decode it
      without applying) before step 2 and stop without persisting or calling advance();
      the core has already adopted it, so a failure after step 2 is fatal too: stop,
      and the durable snapshot is restored at restart.
    - A message never names this node as its receiver.
    """

    # Leader/role changed (for display and routing; nothing to persist). None: unchanged.
    soft_state: SoftState | None = None
    # Persist (step 2) before sending messages_after_persist. None: unchanged.
    hard_state: HardState | None = None
    # Append to storage (which truncates a conflicting suffix) in step 2.
    entries: tuple[Entry, ...] = ()
    # A snapshot received from the leader: persist it first in step 2, restore the
    # application from it in step 4 before applying committed_entries (which follow it).
    snapshot: Snapshot | None = None
    # Safe to send at once, in parallel with persisting: appends, heartbeats and their
    # answers, snapshot chunks, pre-votes, ReadIndex traffic, TimeoutNow (§10.2.1).
    messages: tuple[Message, ...] = ()
    # Send only once step 2 is durable: append acks and rejections, vote answers, the
    # final snapshot ack, and any message carrying a term not yet durable.
    messages_after_persist: tuple[Message, ...] = ()
    # Apply in order, after persisting this Ready (some may be among `entries`).
    committed_entries: tuple[Entry, ...] = ()
    # Linearizable reads: serve each once the local applied index >= index.
    read_states: tuple[ReadState, ...] = ()
    # read_index ctxs that will never get a ReadState (leadership lost, timeout, ...).
    dropped_reads: tuple[bytes, ...] = ()
    # True when hard_state's term/vote or entries or snapshot must be fsynced.
    must_sync: bool = False
    # Entries up to this index were durable before this Ready: committed ones at or
    # below it may be applied while step 2 runs (see Pipelining).
    durable_hi: int = 0


__all__ = ["Ready", "ReadState"]
