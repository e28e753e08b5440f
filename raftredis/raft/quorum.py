"""Majority arithmetic over a voter set: the one place the core counts a quorum.

Learners never count. An empty voter set has no quorum (a configuration always has
at least one voter, see confchange.py; here it just means "nothing is decided").
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet


class VoteResult(enum.Enum):
    PENDING = "pending"  # neither outcome is decided yet
    WON = "won"  # a majority granted
    LOST = "lost"  # a majority can no longer be reached


def majority(voters: int) -> int:
    """How many of `voters` make a quorum."""
    return voters // 2 + 1


def has_quorum(voters: AbstractSet[int], ids: Iterable[int]) -> bool:
    """True if the voters among `ids` are a majority of `voters` (e.g. acks of a read
    round, or the peers heard from during the last election timeout)."""
    if not voters:
        return False
    return len(voters & frozenset(ids)) >= majority(len(voters))


def committed_index(voters: AbstractSet[int], match: Callable[[int], int]) -> int:
    """The highest index that a majority of voters hold (match(id) is what voter `id`
    has acknowledged; 0 if unknown). 0 for an empty voter set."""
    if not voters:
        return 0
    held = sorted((match(v) for v in voters), reverse=True)
    return held[majority(len(voters)) - 1]


def vote_result(voters: AbstractSet[int], votes: Mapping[int, bool]) -> VoteResult:
    """Outcome of an election (or pre-vote) given the answers so far. Answers from
    non-voters are ignored; a voter that has not answered may still grant."""
    if not voters:
        return VoteResult.LOST
    yes = sum(1 for v in voters if votes.get(v) is True)
    missing = sum(1 for v in voters if v not in votes)
    q = majority(len(voters))
    if yes >= q:
        return VoteResult.WON
    if yes + missing < q:
        return VoteResult.LOST
    return VoteResult.PENDING


__all__ = ["VoteResult", "committed_index", "has_quorum", "majority", "vote_result"]
