"""Validation of a proposed membership change (§4.1, §4.2.1): pure functions.

A change moves from one ConfState to the next. The rules:
  - node ids start at 1;
  - the new configuration has at least one voter, and no node is both voter and learner;
  - exactly one node changes role (added, removed, promoted or demoted): single-server
    changes keep every two consecutive majorities overlapping, so no joint consensus;
  - a node that is not a member yet joins as a learner; it becomes a voter only by a
    later promotion, once it has caught up (§4.2.1), so adding it never makes a
    majority wait for a node with an empty log.

The leader-side preconditions that depend on the log (an entry of the current term
committed first, one change pending at a time) are checked by the core.
"""

from __future__ import annotations

import enum

from raftredis.raft.types import ConfState


class ConfChangeError(ValueError):
    """The proposed configuration is not a valid single change from the current one."""


class MemberRole(enum.IntEnum):
    NONE = 0
    LEARNER = 1
    VOTER = 2


def role_of(conf: ConfState, node: int) -> MemberRole:
    if node in conf.voters:
        return MemberRole.VOTER
    if node in conf.learners:
        return MemberRole.LEARNER
    return MemberRole.NONE


def check_conf(conf: ConfState) -> None:
    """A configuration that can be in force at all."""
    if any(n <= 0 for n in conf.voters | conf.learners):
        raise ConfChangeError("node ids start at 1")
    if not conf.voters:
        raise ConfChangeError("a configuration needs at least one voter")
    if conf.voters & conf.learners:
        raise ConfChangeError("a node cannot be both voter and learner")


def changed_nodes(old: ConfState, new: ConfState) -> list[int]:
    """Nodes whose role differs between the two configurations, sorted."""
    nodes = old.voters | old.learners | new.voters | new.learners
    return sorted(n for n in nodes if role_of(old, n) != role_of(new, n))


def validate(old: ConfState, new: ConfState) -> int:
    """Check that `new` is one valid change from `old`; returns the node that changes.
    Raises ConfChangeError otherwise."""
    check_conf(new)
    changed = changed_nodes(old, new)
    if not changed:
        raise ConfChangeError("the configuration does not change")
    if len(changed) > 1:
        raise ConfChangeError(
            f"only one node may change per configuration change (§4.1), not {changed}"
        )
    (node,) = changed
    if role_of(old, node) == MemberRole.NONE and role_of(new, node) == MemberRole.VOTER:
        raise ConfChangeError(
            f"node {node} must join as a learner and be promoted once caught up (§4.2.1)"
        )
    return node


__all__ = [
    "ConfChangeError",
    "MemberRole",
    "changed_nodes",
    "check_conf",
    "role_of",
    "validate",
]
