"""The real replica group under the deterministic simulator (tests/sim/group_sim.py):
300 seeds with every fault on in the default suite, and the group mutations each
caught by them."""

from __future__ import annotations

import asyncio

import pytest

from raftredis.commands.spec import lookup
from raftredis.reply import OK
from tests.sim.group_mutations import CAUGHT_BY, MUTATIONS, default_seeds, first_catch
from tests.sim.group_sim import Conn, GroupSim, GroupSimParams, SimFailure, run_group_seed

SEEDS = default_seeds(300)
CHUNK = 25


@pytest.mark.parametrize("start", range(0, len(SEEDS), CHUNK))
def test_group_seeds(start: int) -> None:
    failures = []
    totals: dict[str, int] = {}
    for seed, nodes in SEEDS[start:start + CHUNK]:
        try:
            stats = run_group_seed(seed, nodes)
        except SimFailure as exc:
            failures.append(str(exc))
            continue
        for k, v in stats.items():
            totals[k] = totals.get(k, 0) + v
    assert not failures, "\n\n".join(failures)
    # The faults and the load really happened in these seeds.
    assert totals["crashes"] > 0 and totals["partitions"] > 0
    assert totals["ok"] > 50 * CHUNK and totals["unknown"] + totals["fail"] > 0
    assert totals["elections"] >= CHUNK
    assert totals["conf_changes"] > 0  # membership changes (issue 15) are in the mix


def test_the_same_seed_replays_the_same_run() -> None:
    a = GroupSim(11, GroupSimParams(nodes=3), trace=True)
    stats_a = a.run()
    b = GroupSim(11, GroupSimParams(nodes=3), trace=True)
    stats_b = b.run()
    assert stats_a == stats_b
    assert list(a.trace or ()) == list(b.trace or ())
    assert a.history == b.history


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_mutation_is_caught_by_the_default_seeds(mutation: str) -> None:
    caught = first_catch(mutation, SEEDS)
    assert caught is not None, f"mutation {mutation} survived {len(SEEDS)} seeds"
    assert any(said in caught[2] for said in CAUGHT_BY[mutation]), \
        f"caught by the wrong checker: {caught[2]}"
    # and the tree is healthy again once the mutation is undone
    run_group_seed(caught[0], caught[1])


def test_a_slow_disk_under_the_leader_costs_no_election() -> None:
    """A leader whose fsync takes a second (ten election timeouts) keeps its followers
    from campaigning: its heartbeats and their answers leave while the write runs
    (raft.ready, Pipelining: take_messages). The write is answered once it is durable."""
    quiet = GroupSimParams(nodes=3, loss=0, dup=0, late=0, crash_chance=0,
                           partition_chance=0, stall_chance=0, slow_apply_chance=0,
                           membership_chance=0, spares=0, max_skew_ms=0)
    sim = GroupSim(5, quiet)

    async def script(sim: GroupSim) -> None:
        while (lead := sim.leader()) is None:
            assert sim.loop.time() < 5, "no leader"
            await asyncio.sleep(0.01)
        group, persister = lead.group, lead.persister
        assert group is not None and group.core is not None and persister is not None
        term = group.core.term
        persister.stalled_until = sim.loop.time() + 1.0
        reply = group.execute(Conn(), lookup(b"SET"), [b"SET", b"k", b"v"])
        assert isinstance(reply, asyncio.Future)
        await asyncio.sleep(0.9)
        assert not reply.done()  # still on the leader's disk
        assert sim.leader() is lead
        assert await asyncio.wait_for(reply, 1.0) == OK
        assert sim.leader() is lead
        assert {sim.group(i).core.term for i in sim.ids} == {term}

    sim.run_script(script)
