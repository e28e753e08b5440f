"""Default simulator run: many seeds of 3- and 5-node clusters with every fault on.

Replay one seed:      SIM_SEEDS=123 python3 -m pytest -q tests/sim/test_sim.py
                      python3 -m tests.sim.run --seed 123 -v   (prints the event trace)
10,000 seeds:         python3 -m pytest -q -m slow tests/sim/test_sim.py
                      python3 -m tests.sim.run --seeds 10000
Seeds run 3 nodes when even and 5 nodes when odd. Membership seeds (300, test_membership_seed):
                      python3 -m tests.sim.run --membership --seed 123 -v
"""

from __future__ import annotations

import os

import pytest

from tests.sim.cluster import SimFailure, run_membership_seed, run_seed

DEFAULT_SEEDS = 600
# Seeds with membership changes in the fault mix (spares added as learners and promoted,
# removals of any member incl. the leader); the 600 above replay exactly as they did
# before membership existed, so the mutations they catch stay caught.
MEMBERSHIP_SEEDS = 300


def _seeds() -> list[int]:
    env = os.environ.get("SIM_SEEDS")
    if env:
        return [int(s) for s in env.replace(",", " ").split()]
    return list(range(DEFAULT_SEEDS))


def _nodes(seed: int) -> int:
    return 3 if seed % 2 == 0 else 5


@pytest.mark.parametrize("seed", _seeds())
def test_seed(seed: int) -> None:
    stats = run_seed(seed, _nodes(seed))
    # The liveness phase proved progress; the fault phase must have done real work too.
    assert stats["elections"] >= 1


def test_fault_phase_exercises_the_protocol() -> None:
    """Guard against a simulator that silently stopped injecting faults or traffic."""
    total: dict[str, int] = {}
    for seed in range(20):
        for k, v in run_seed(seed, _nodes(seed)).items():
            total[k] = total.get(k, 0) + v
    for key in ("writes_acked", "reads_ok", "reads_dropped", "crashes", "snapshots_sent",
                "transfers"):
        assert total[key] > 0, (key, total)
    assert total["elections"] > 20


@pytest.mark.parametrize("nodes", [1, 2, 4])
def test_small_and_even_clusters(nodes: int) -> None:
    """A lone voter (its own quorum), a pair (needs both), four (a quorum of three):
    a few seeds each (~2 s together); `python3 -m tests.sim.run --nodes 4` runs more."""
    for seed in range(10):
        assert run_seed(seed, nodes)["elections"] >= 1


@pytest.mark.parametrize("seed", range(MEMBERSHIP_SEEDS))
def test_membership_seed(seed: int) -> None:
    stats = run_membership_seed(seed, _nodes(seed))
    assert stats["elections"] >= 1


def test_membership_seeds_change_membership() -> None:
    total: dict[str, int] = {}
    for seed in range(20):
        for k, v in run_membership_seed(seed, _nodes(seed)).items():
            total[k] = total.get(k, 0) + v
    for key in ("conf_changes", "conf_removals", "promotions", "leader_removals",
                "writes_acked", "crashes"):
        assert total[key] > 0, (key, total)


def test_failure_names_the_seed_and_replay_command() -> None:
    from tests.sim.cluster import Cluster

    c = Cluster(42)
    with pytest.raises(SimFailure) as ei:
        c.fail("boom")
    assert "seed 42" in str(ei.value)
    assert "python3 -m tests.sim.run --seed 42" in str(ei.value)


@pytest.mark.slow
def test_ten_thousand_seeds() -> None:
    failures = []
    for seed in range(10_000):
        try:
            run_seed(seed, _nodes(seed))
        except SimFailure as e:
            failures.append(str(e).splitlines()[0])
    assert not failures, failures[:10]
