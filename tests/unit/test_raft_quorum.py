from __future__ import annotations

import pytest

from raftredis.raft.quorum import (
    VoteResult,
    committed_index,
    has_quorum,
    majority,
    vote_result,
)

V3 = frozenset({1, 2, 3})
V4 = frozenset({1, 2, 3, 4})


@pytest.mark.parametrize(("n", "q"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_majority(n: int, q: int) -> None:
    assert majority(n) == q


def test_has_quorum_counts_voters_only() -> None:
    assert has_quorum(V3, [1, 2])
    assert not has_quorum(V3, [1])
    assert not has_quorum(V3, [1, 7, 8])  # 7 and 8 are not voters (learners, strangers)
    assert has_quorum(frozenset({1}), [1])
    assert not has_quorum(frozenset(), [1])


def test_committed_index_is_the_majority_low_water_mark() -> None:
    match = {1: 10, 2: 7, 3: 3, 4: 9}
    assert committed_index(V3, lambda p: match.get(p, 0)) == 7
    assert committed_index(V4, lambda p: match.get(p, 0)) == 7  # 3 of 4 hold 7
    assert committed_index(frozenset({1, 2, 3, 9}), lambda p: match.get(p, 0)) == 3
    assert committed_index(frozenset({1}), lambda p: match.get(p, 0)) == 10
    assert committed_index(frozenset(), lambda p: 5) == 0


def test_vote_result() -> None:
    assert vote_result(V3, {1: True}) == VoteResult.PENDING
    assert vote_result(V3, {1: True, 2: True}) == VoteResult.WON
    assert vote_result(V3, {1: True, 2: False, 3: False}) == VoteResult.LOST
    assert vote_result(V3, {1: True, 2: False}) == VoteResult.PENDING
    # 4 voters need 3: two refusals already make it impossible.
    assert vote_result(V4, {1: True, 2: False, 3: False}) == VoteResult.LOST
    assert vote_result(V3, {1: True, 7: True, 8: True}) == VoteResult.PENDING  # non-voters
    assert vote_result(frozenset({1}), {1: True}) == VoteResult.WON
    assert vote_result(frozenset(), {}) == VoteResult.LOST
