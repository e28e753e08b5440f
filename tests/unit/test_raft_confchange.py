from __future__ import annotations

import pytest

from raftredis.raft.confchange import (
    ConfChangeError,
    MemberRole,
    changed_nodes,
    check_conf,
    role_of,
    validate,
)
from raftredis.raft.types import ConfState


def conf(voters: set[int], learners: set[int] | None = None) -> ConfState:
    return ConfState(frozenset(voters), frozenset(learners or ()))


BASE = conf({1, 2, 3}, {4})


def test_roles_and_changed_nodes() -> None:
    assert role_of(BASE, 1) == MemberRole.VOTER
    assert role_of(BASE, 4) == MemberRole.LEARNER
    assert role_of(BASE, 5) == MemberRole.NONE
    assert changed_nodes(BASE, conf({1, 2, 3, 4})) == [4]
    assert changed_nodes(BASE, conf({1, 2}, {3})) == [3, 4]


@pytest.mark.parametrize(
    ("new", "node"),
    [
        (conf({1, 2, 3}, {4, 5}), 5),  # add a learner
        (conf({1, 2, 3, 4}), 4),  # promote a learner
        (conf({1, 2}, {3, 4}), 3),  # demote a voter
        (conf({1, 2}, {4}), 3),  # remove a voter (the leader itself may be the one)
        (conf({1, 2, 3}), 4),  # remove a learner
    ],
)
def test_valid_single_changes(new: ConfState, node: int) -> None:
    assert validate(BASE, new) == node


@pytest.mark.parametrize(
    ("new", "why"),
    [
        (conf({1, 2, 3, 4, 5}), "only one node"),  # promote 4 and add 5
        (conf({1, 2, 3, 5}, {4}), "learner"),  # a new node straight in as a voter
        (conf({1, 2, 3}, {4}), "does not change"),
        (conf(set(), {1}), "at least one voter"),
        (conf({1, 2, 3}, {3, 4}), "both voter and learner"),
        (conf({0, 1, 2, 3}, {4}), "start at 1"),
    ],
)
def test_invalid_changes(new: ConfState, why: str) -> None:
    with pytest.raises(ConfChangeError, match=why):
        validate(BASE, new)


def test_removing_the_last_voter_is_refused() -> None:
    with pytest.raises(ConfChangeError, match="at least one voter"):
        validate(conf({1}), conf(set()))
    check_conf(conf({1}))


def test_errors_are_value_errors() -> None:
    assert issubclass(ConfChangeError, ValueError)
