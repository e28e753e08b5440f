"""Every role change of one group member, logged with its term and reason, and counted
for INFO raft (raft_elections_started, raft_leader_changes).

The core does not say why its role changed; the reason is derived from what the group
sees when a Ready carries a new SoftState: the role and leader before and after, the
core's term before and after, its public vote, votes, configuration and pre-vote
setting, and when the leader was last heard from. Where that does not pin the cause
down, the line says what is known (e.g. which peer carried a higher term is visible
only when it was a leader or a candidate we voted for).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from raftredis.raft.types import Role, SoftState

if TYPE_CHECKING:
    from raftredis.raft.core import RaftCore

log = logging.getLogger("raftredis.replica")

_CAMPAIGNING = (Role.PRE_CANDIDATE, Role.CANDIDATE)


class RoleLog:
    def __init__(self, node_id: int, election_timeout_ms: int) -> None:
        self.id = node_id
        self._timeout_ms = election_timeout_ms  # the minimum; randomized up to twice that
        self.role = Role.FOLLOWER
        self.leader = 0
        self.term = 0
        self._since = 0.0  # monotonic time of the last role or leader change
        self._leader_term = (0, 0)  # (leader, term) last counted as a leader change
        self.elections_started = 0  # campaigns this node started (pre-vote ones too)
        self.leader_changes = 0  # a new (leader, term) became known here
        self.became_leader = 0
        self.stepped_down = 0

    def started(self, term: int, now: float, election_timeout_ms: int) -> None:
        self.term = term
        self._since = now
        self._timeout_ms = election_timeout_ms

    def on_soft_state(self, ss: SoftState, core: RaftCore, now: float,
                      leader_heard: float) -> None:
        """`leader_heard`: monotonic time the previous leader was last heard from (0:
        never), read before routing forgets it."""
        prev_role, prev_leader, prev_term = self.role, self.leader, self.term
        term = core.term
        role = ss.role
        if role in _CAMPAIGNING or (role == Role.LEADER and prev_role == Role.FOLLOWER):
            if prev_role not in _CAMPAIGNING:
                self.elections_started += 1
                self._log_campaign(role, core, now, prev_leader, leader_heard)
            elif role == Role.CANDIDATE and prev_role == Role.PRE_CANDIDATE:
                log.info("node %d: pre-vote won; campaigning for term %d", self.id, term)
            elif role == Role.PRE_CANDIDATE:
                self.elections_started += 1
                log.info("node %d: campaign for term %d timed out; pre-vote started again",
                         self.id, term + 1)
        if role == Role.LEADER and prev_role != Role.LEADER:
            self.became_leader += 1
            granted = sorted(p for p, ok in core.votes.items() if ok)
            voters = core.conf.voters
            log.info("node %d: became the leader (term %d, votes %d of %d voters: %s)",
                     self.id, term, len(granted), len(voters) or 1,
                     ",".join(str(p) for p in granted) or str(self.id))
        elif prev_role == Role.LEADER and role != Role.LEADER:
            self.stepped_down += 1
            log.warning("node %d: stepped down as leader of term %d, now %s in term %d: %s",
                        self.id, prev_term, role.name.lower(), term,
                        self._step_down_reason(core, prev_term))
        elif prev_role in _CAMPAIGNING and role == Role.FOLLOWER:
            if ss.leader:
                why = f"node {ss.leader} leads term {term}"
            elif term > prev_term + (1 if prev_role == Role.PRE_CANDIDATE else 0):
                why = f"a higher term {term} was seen"
            else:
                why = ("pre-vote" if prev_role == Role.PRE_CANDIDATE else "vote") + \
                      " rejected by a majority"
            log.info("node %d: campaign ended (%s); follower in term %d", self.id, why, term)
        elif role == Role.FOLLOWER and ss.leader and ss.leader != prev_leader:
            log.info("node %d: following leader %d (term %d)", self.id, ss.leader, term)
        if ss.leader and (ss.leader, term) != self._leader_term:
            self.leader_changes += 1
            self._leader_term = (ss.leader, term)
        if role != prev_role or ss.leader != prev_leader:
            self._since = now
        self.role, self.leader, self.term = role, ss.leader, term

    def _log_campaign(self, role: Role, core: RaftCore, now: float, prev_leader: int,
                      leader_heard: float) -> None:
        term = core.term
        pre_vote = core.cfg.pre_vote
        if prev_leader and leader_heard:
            silent_ms = round((now - leader_heard) * 1000)
            what = f"leader {prev_leader} silent for {silent_ms} ms"
        else:
            silent_ms = round((now - self._since) * 1000)
            what = (f"no leader known for {silent_ms} ms" if self.role != Role.LEADER
                    else f"stepped down {silent_ms} ms ago")
        if role == Role.PRE_CANDIDATE:
            log.warning("node %d: pre-vote for term %d started: %s (election timeout %d-%d ms)",
                        self.id, term + 1, what, self._timeout_ms, 2 * self._timeout_ms)
            return
        forced = (role == Role.CANDIDATE and pre_vote) or silent_ms < self._timeout_ms
        if forced and len(core.conf.voters) > 1:
            # Pre-vote skipped, or the leader was heard within the timeout: only
            # CLUSTER FAILOVER (campaign_now) or a leadership transfer (TimeoutNow) do that.
            log.warning("node %d: campaign for term %d started at once (CLUSTER FAILOVER or "
                        "leadership transfer); %s", self.id, term, what)
            return
        log.warning("node %d: campaign for term %d started: %s (election timeout %d-%d ms)",
                    self.id, term, what, self._timeout_ms, 2 * self._timeout_ms)

    def _step_down_reason(self, core: RaftCore, prev_term: int) -> str:
        term = core.term
        if term > prev_term:
            if core.leader:
                return f"higher term {term} seen from leader {core.leader}"
            if core.vote and core.vote != self.id:
                return (f"higher term {term} seen from candidate {core.vote} (vote granted; "
                        "an election or a CLUSTER FAILOVER there)")
            return (f"higher term {term} seen in a peer's vote request or reply (which peer "
                    "is not visible to the group)")
        if self.id not in core.conf.voters:
            return "removed from the configuration"
        return (f"check-quorum: no majority heard from within the election timeout "
                f"({self._timeout_ms} ms)")
