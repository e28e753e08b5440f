"""Access readings (statemachine/access.py): Redis's LRU clock and logarithmic LFU
counter with decay, as OBJECT IDLETIME / OBJECT FREQ show them, and what reads count."""

from __future__ import annotations

from raftredis.statemachine import StateMachine
from raftredis.statemachine.access import LFU_INIT_VAL

NOW = 1_700_000_000_000


def test_idletime_counts_from_the_last_access() -> None:
    sm = StateMachine()
    sm.apply([b"SET", b"k", b"v"], NOW)
    assert sm.read([b"OBJECT", b"IDLETIME", b"k"], NOW + 5_000) == 5
    sm.read([b"GET", b"k"], NOW + 7_000)
    assert sm.read([b"OBJECT", b"IDLETIME", b"k"], NOW + 9_000) == 2
    # OBJECT itself is not an access (Redis's LOOKUP_NOTOUCH)
    assert sm.read([b"OBJECT", b"IDLETIME", b"k"], NOW + 9_000) == 2


def test_lfu_counter_grows_logarithmically_and_decays() -> None:
    sm = StateMachine()
    sm.memory.policy = "allkeys-lfu"
    sm.apply([b"SET", b"k", b"v"], NOW)
    assert sm.read([b"OBJECT", b"FREQ", b"k"], NOW) == LFU_INIT_VAL
    for _ in range(1000):
        sm.read([b"GET", b"k"], NOW)
    freq = sm.read([b"OBJECT", b"FREQ", b"k"], NOW)
    assert isinstance(freq, int) and 10 < freq < 40  # log factor 10: far below 1000
    # lfu-decay-time 1: one point per idle minute
    assert sm.read([b"OBJECT", b"FREQ", b"k"], NOW + 3 * 60_000) == freq - 3
    sm.memory.lfu_decay_time = 0
    assert sm.read([b"OBJECT", b"FREQ", b"k"], NOW + 3 * 60_000) == freq


def test_hits_and_misses_count_served_reads_only() -> None:
    sm = StateMachine()
    sm.apply([b"SET", b"a", b"1"], NOW)
    sm.read([b"MGET", b"a", b"b", b"a"], NOW)
    sm.read([b"TYPE", b"a"], NOW)  # no-touch lookups are not counted
    assert (sm.keyspace_hits, sm.keyspace_misses) == (2, 1)
    sm.apply([b"INCR", b"a"], NOW)  # writes are not reads
    assert (sm.keyspace_hits, sm.keyspace_misses) == (2, 1)


def test_deleted_keys_leave_no_reading() -> None:
    sm = StateMachine()
    sm.apply([b"SET", b"a", b"1"], NOW)
    sm.read([b"GET", b"a"], NOW)
    sm.apply([b"DEL", b"a"], NOW)
    assert b"a" not in sm.db.access
    sm.apply([b"SET", b"b", b"1", b"PX", b"10"], NOW)
    sm.apply([b"SET", b"b", b"2"], NOW + 20)  # replaces the expired one
    sm.apply_expire(sm.expired_keys(NOW + 20, 10), NOW + 20)
    assert set(sm.db.access) == {b"b"}
    assert sm.expired_count() == 1


def test_keys_read_in_one_tick_share_one_reading_object() -> None:
    """The readings cost a dict slot per key, not an int object each (the memory estimate
    counts only the slot). Compiled with an `int`-typed field, every store re-boxed the
    reading: a new 32-byte int per key, and a free per access of the one it replaced."""
    for policy in ("allkeys-lru", "allkeys-lfu"):
        sm = StateMachine()
        sm.memory.policy = policy
        for k in (b"a", b"b", b"c"):
            sm.apply([b"SET", k, b"v"], NOW)
        for k in (b"a", b"b", b"c"):
            sm.read([b"GET", k], NOW + 1)
        readings = [sm.db.access[k] for k in (b"a", b"b", b"c")]
        assert readings[0] > 255 or readings[0] < -5  # not one of the cached small ints
        assert readings[0] is readings[1] is readings[2], (policy, readings)
