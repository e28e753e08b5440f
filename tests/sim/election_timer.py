"""A checker of the election timer, kept from outside the core (§3.4): a node starts an
election only after a whole election timeout (at least election_tick ticks) in which it
neither heard its leader nor granted a vote. One that campaigns sooner deposes a leader
it just helped elect: a cost in liveness no safety checker sees, since elections still
converge. The simulators (cluster.py, script.py) keep one watch per running node and
pass it every tick and every message the node steps; what the core did is read from its
role, its term and the messages it queued (`RaftCore.msgs`) in that call.
"""

from __future__ import annotations

from raftredis.raft.core import RaftCore
from raftredis.raft.messages import (
    Append,
    Heartbeat,
    InstallSnapshot,
    Message,
    PreVote,
    Vote,
    VoteResp,
)
from raftredis.raft.types import Role

_LEADER_MSGS = (Append, Heartbeat, InstallSnapshot)


class ElectionTimerWatch:
    """Ticks since the node's election timer last had to restart: it heard its leader,
    granted a vote, changed role or term, started a campaign, or (re)started."""

    __slots__ = ("election_tick", "quiet")

    def __init__(self, election_tick: int) -> None:
        self.election_tick = election_tick
        self.quiet = 0

    def tick(self, c: RaftCore) -> str:
        """Tick the core; a violation's description, or "" if none."""
        before, sent = (c.role, c.term), len(c.msgs)
        self.quiet += 1
        c.tick()
        campaigned = (c.role == Role.LEADER and before[0] != Role.LEADER) or (
            len(c.msgs) > sent and any(isinstance(m, (PreVote, Vote)) for m in c.msgs[sent:]))
        quiet = self.quiet
        if campaigned or (c.role, c.term) != before:
            self.quiet = 0
        if campaigned and quiet < self.election_tick:
            return (f"election timer: n{c.id} campaigned for term {c.term} after {quiet} "
                    f"quiet ticks (< election_tick {self.election_tick}) since it last heard "
                    "its leader, granted a vote or changed role")
        return ""

    def step(self, c: RaftCore, m: Message) -> None:
        """Step the message into the core, noting whether the timer had to restart."""
        before, sent = (c.role, c.term), len(c.msgs)
        c.step(m)
        if (c.role, c.term) != before or (
            isinstance(m, _LEADER_MSGS) and c.role == Role.FOLLOWER and c.term == m.term
        ) or (isinstance(m, Vote) and any(
                isinstance(r, VoteResp) and r.granted for r in c.msgs[sent:])):
            self.quiet = 0
