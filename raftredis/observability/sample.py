"""A NodeSample: the node's numbers read on the event loop at one moment, frozen, so
another thread (the metrics server) can read them without touching live state; and
the readiness rule decided from one sample.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from raftredis.raft.types import Role

ROLE_LABELS = {Role.FOLLOWER: "follower", Role.PRE_CANDIDATE: "pre_candidate",
               Role.CANDIDATE: "candidate", Role.LEADER: "leader"}
# /readyz: the applied index may trail the commit index by at most this many entries.
READY_MAX_APPLY_LAG = 100


@dataclass(frozen=True, slots=True)
class PeerSample:
    id: int
    match: int | None = None  # leader only: the follower's match index
    lag: int | None = None  # leader only: our last index minus its match index
    active: bool | None = None  # leader only: heard from in the last 1-2 election timeouts
    connected: bool = False  # our outgoing link to it is up
    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    reconnects: int = 0


@dataclass(frozen=True, slots=True)
class NodeSample:
    node_id: int
    taken_at: float  # time.monotonic() on the loop when the sample was made
    role: Role
    term: int
    leader: int  # the leader this node would name (0: none heard from recently)
    member: bool  # a voter or learner of the configuration in force
    voter: bool
    voters: int
    learners: int
    commit: int
    applied: int
    first_index: int
    last_index: int
    leader_changes: int
    elections_started: int
    became_leader: int
    stepped_down: int
    proposals: int  # operations proposed (commands, expiries, ...)
    entries_proposed: int
    proposals_committed: int
    proposals_failed: dict[str, int]  # by reason
    read_rounds: int
    reads: int
    snapshots_taken: int
    snapshots_installed: int
    snapshot_index: int
    snapshot_bytes: int
    log_bytes: int
    fsyncs: int
    loop_stalls: int
    loop_max_stall_ms: int
    clients: int
    connections_received: int
    connections_rejected: int
    commands_processed: int
    commands: dict[str, int]  # calls by command name
    errors: dict[str, int]  # error replies by their first word (ERR, MOVED, ...)
    net_in: int  # client port bytes
    net_out: int
    keys: int
    expires: int
    keyspace_hits: int
    keyspace_misses: int
    evicted_keys: int
    expired_keys: int
    used_memory: int
    maxmemory: int
    peers: tuple[PeerSample, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    # INFO commandstats by name: (ok, failed, rejected) calls
    command_results: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def age(self, now: float | None = None) -> float:
        return (time.monotonic() if now is None else now) - self.taken_at


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...]  # why not (empty when ready)


def readiness(s: NodeSample | None, now: float | None = None,
              max_age_s: float = 3.0) -> Readiness:
    """Ready to serve: this node's event loop is turning (its sample is fresh), it is a
    member of the group, a leader is known and was heard from recently (or it is the
    leader), and it has applied what it knows to be committed."""
    if s is None:
        return Readiness(False, ("starting: no sample yet",))
    why: list[str] = []
    age = s.age(now)
    if age > max_age_s:
        why.append(f"event loop has not published for {age:.1f} s")
    if not s.member:
        why.append("not a member of the group")
    if s.role != Role.LEADER and not s.leader:
        why.append(f"no leader heard from recently ({ROLE_LABELS[s.role]}, term {s.term})")
    lag = s.commit - s.applied
    if lag > READY_MAX_APPLY_LAG:
        why.append(f"applied index {s.applied} trails commit index {s.commit} by {lag}")
    return Readiness(not why, tuple(why))


def take_sample(group: Any, srv: Any = None) -> NodeSample:
    """Read everything on the loop (group: ReplicaGroup; srv: the RespServer's ServerState)."""
    st = group.raft_status()
    storage = group.storage_stats()
    counters = group.counters()
    loop = group.loop_stats()
    roles = group.roles
    sm = group.sm
    conf = st.conf
    outcomes = getattr(group.proposals, "outcomes", None)
    links = group.peer_links() if hasattr(group, "peer_links") else {}
    peers = []
    for nid in sorted((set(conf.voters) | set(conf.learners) | set(links)) - {group.id}):
        pr = st.progress.get(nid)
        link = links.get(nid, {})
        peers.append(PeerSample(
            id=nid,
            match=pr.match if pr is not None else None,
            lag=max(0, st.last_index - pr.match) if pr is not None else None,
            active=pr.heard_recently if pr is not None else None,
            connected=bool(link.get("connected", False)),
            bytes_sent=int(link.get("bytes_sent", 0)),
            bytes_received=int(link.get("bytes_received", 0)),
            messages_sent=int(link.get("sent", 0)),
            messages_received=int(link.get("received", 0)),
            reconnects=int(link.get("reconnects", 0)),
        ))
    stats = srv.stats if srv is not None else None
    return NodeSample(
        node_id=group.id, taken_at=time.monotonic(), role=group.role, term=st.term,
        leader=group.known_leader(), member=group.id in conf.voters or group.id in conf.learners,
        voter=group.id in conf.voters, voters=len(conf.voters), learners=len(conf.learners),
        commit=st.commit, applied=group.applied, first_index=storage.get("first_index", 0),
        last_index=st.last_index, leader_changes=loop.leader_changes,
        elections_started=loop.elections_started, became_leader=roles.became_leader,
        stepped_down=roles.stepped_down, proposals=counters.proposals,
        entries_proposed=counters.entries_proposed,
        proposals_committed=getattr(group.proposals, "committed_ops", 0),
        proposals_failed=dict(outcomes) if outcomes else {},
        read_rounds=counters.read_rounds, reads=counters.reads,
        snapshots_taken=counters.snapshots_taken,
        snapshots_installed=counters.snapshots_installed,
        snapshot_index=storage.get("snapshot_index", 0),
        snapshot_bytes=storage.get("snapshot_bytes", 0), log_bytes=storage.get("log_bytes", 0),
        fsyncs=storage.get("fsync_count", 0), loop_stalls=loop.stalls,
        loop_max_stall_ms=loop.max_stall_ms,
        clients=len(srv.clients) if srv is not None else 0,
        connections_received=stats.total_connections_received if stats else 0,
        connections_rejected=stats.rejected_connections if stats else 0,
        commands_processed=stats.total_commands_processed if stats else 0,
        commands=dict(getattr(stats, "commands", None) or {}),
        errors=dict(getattr(stats, "error_kinds", None) or {}),
        net_in=stats.total_net_input_bytes if stats else 0,
        net_out=stats.total_net_output_bytes if stats else 0,
        keys=sm.dbsize(), expires=sm.expires_count(), keyspace_hits=sm.keyspace_hits,
        keyspace_misses=sm.keyspace_misses, evicted_keys=sm.evicted_keys,
        expired_keys=sm.expired_count(), used_memory=sm.used_memory,
        maxmemory=sm.memory.maxmemory, peers=tuple(peers),
        command_results=stats.cmdstats.results() if stats is not None else {},
    )
