"""The leader's eviction choices (replica/eviction.py) over a real StateMachine, with a
submit that applies each EVICT operation at once, as the log would on every replica."""

from __future__ import annotations

import random

import pytest

from raftredis.replica import ops as logops
from raftredis.replica.eviction import OOM, Evictor, round_budget
from raftredis.statemachine import StateMachine

NOW = 1_700_000_000_000
VALUE = b"x" * 200


class Harness:
    def __init__(self, policy: str, maxmemory: int = 0) -> None:
        self.sm = StateMachine()
        self.sm.memory.policy = policy
        self.sm.memory.maxmemory = maxmemory
        self.now = NOW
        self.ops: list[logops.Evict] = []
        self.ev = Evictor(self.sm, lambda: self.now, self._submit)
        self.ev._rng = random.Random(1)  # a fixed choice, for a repeatable test

    def _submit(self, op: logops.Evict) -> None:
        self.ops.append(op)
        self.sm.apply_evict(op.keys, op.kind == logops.OpKind.EVICT_VOLATILE)
        self.ev.applied(op.keys)

    def write(self, key: bytes, ttl_s: int | None = None) -> object:
        refused = self.ev.admit()
        if refused is not None:
            return refused
        args = [b"SET", key, VALUE] + ([b"EX", b"%d" % ttl_s] if ttl_s else [])
        return self.sm.apply(args, self.now)

    def read(self, key: bytes) -> object:
        return self.sm.read([b"GET", key], self.now)


def _fill(h: Harness, n: int, ttl_every: int = 0) -> None:
    for i in range(n):
        ttl = (1000 + i) if ttl_every and i % ttl_every == 0 else None
        assert h.write(b"k%d" % i, ttl) is not OOM
        h.now += 10


def test_noeviction_refuses_and_nothing_is_proposed() -> None:
    h = Harness("noeviction", 20_000)
    results = [h.write(b"k%d" % i) for i in range(200)]
    assert OOM in results
    assert not h.ops and h.sm.evicted_keys == 0
    assert h.sm.used_memory <= 20_000 + max(map(h.sm.db.size_of, h.sm.db.data))  # the one that crossed


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random",
                                    "volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_memory_stays_bounded(policy: str) -> None:
    h = Harness(policy, 50_000)
    _fill(h, 2000, ttl_every=1 if policy.startswith("volatile") else 0)
    one_key = max(map(h.sm.db.size_of, h.sm.db.data))  # the write that crossed the line went in
    assert h.sm.used_memory <= 50_000 + one_key
    assert h.sm.evicted_keys == 2000 - len(h.sm.db.data) > 0
    assert h.sm.used_memory == h.sm.db.recount()


def test_lru_keeps_what_is_read() -> None:
    h = Harness("allkeys-lru", 0)
    _fill(h, 300)
    hot = [b"k%d" % i for i in range(0, 300, 10)]  # old keys, but read just now
    h.now += 60_000
    for k in hot:
        assert h.read(k) == VALUE
    h.sm.memory.maxmemory = h.sm.used_memory // 2
    h.ev.run()
    assert all(k in h.sm.db.data for k in hot)


def test_lfu_keeps_what_is_read_often() -> None:
    h = Harness("allkeys-lfu", 0)
    _fill(h, 300)
    hot = [b"k%d" % i for i in range(0, 300, 10)]
    for _ in range(50):
        for k in hot:
            h.read(k)
    h.now += 1000
    for i in range(300):  # every key read once more, the newest last: recency alone
        h.read(b"k%d" % i)  # would now keep the newest, frequency keeps the hot ones
    h.sm.memory.maxmemory = h.sm.used_memory // 2
    h.ev.run()
    assert sum(k in h.sm.db.data for k in hot) >= len(hot) - 2
    assert h.sm.read([b"OBJECT", b"FREQ", hot[0]], h.now) > 5


def test_volatile_only_takes_keys_with_a_ttl_and_then_refuses() -> None:
    h = Harness("volatile-lru", 0)
    _fill(h, 400, ttl_every=2)  # even keys have a TTL
    h.sm.memory.maxmemory = h.sm.used_memory // 3  # less than the keys without a TTL
    h.ev.run()
    for _ in range(10):
        h.ev.run()
    assert all(b"k%d" % i in h.sm.db.data for i in range(1, 400, 2))
    assert not h.sm.db.expires  # every key with a TTL went
    assert h.write(b"new") is OOM  # nothing left to evict


def test_volatile_ttl_takes_the_soonest_deadline_first() -> None:
    h = Harness("volatile-ttl", 0)
    for i in range(100):
        h.write(b"k%d" % i, ttl_s=10_000 - i)  # later keys expire sooner
    h.sm.memory.maxmemory = h.sm.used_memory - 1
    h.ev.run()
    evicted = {k for op in h.ops for k in op.keys}
    assert b"k99" in evicted and b"k0" not in evicted


def test_the_decision_is_logged_and_replayed_identically() -> None:
    """A replica that applies the same operations in the leader's order (each write,
    with the EVICT proposed ahead of it) ends with the same keys and figures."""
    h = Harness("allkeys-random", 30_000)
    log: list[list[bytes] | logops.Evict] = []
    leader_submit = h._submit

    def submit(op: logops.Evict) -> None:
        log.append(op)
        leader_submit(op)

    h.ev._submit = submit  # type: ignore[assignment]
    for i in range(500):
        assert h.write(b"k%d" % i) is not OOM
        log.append([b"SET", b"k%d" % i, VALUE])
    replica = StateMachine()
    for item in log:
        if isinstance(item, logops.Evict):
            replica.apply_evict(item.keys, False)
        else:
            replica.apply(item, h.now)
    assert h.sm.evicted_keys > 0
    assert list(replica.db.data) == list(h.sm.db.data)
    assert replica.used_memory == h.sm.used_memory


def test_tenacity_bounds_a_round() -> None:
    assert round_budget(0) < round_budget(10) < round_budget(50) < round_budget(100)
    h = Harness("allkeys-lru", 0)
    h.sm.memory.tenacity = 0
    _fill(h, 500)
    h.sm.memory.maxmemory = 1
    assert h.ev.evict(1 << 40) > 0
    assert sum(len(op.keys) for op in h.ops) == round_budget(0)


def test_a_big_drop_of_maxmemory_is_worked_off_by_periodic_rounds() -> None:
    h = Harness("allkeys-lru", 0)
    _fill(h, 3000)
    h.sm.memory.maxmemory = h.sm.used_memory // 10
    rounds = 0
    while h.sm.used_memory > h.sm.memory.maxmemory:
        h.ev.run()
        rounds += 1
        assert rounds < 20, "eviction does not converge"
    assert h.sm.evicted_keys >= 2700
