"""Memory accounting: `used` kept incrementally equals a recount from scratch after any
sequence of writes and deletes, and a snapshot restore gives the same figure."""

from __future__ import annotations

import io
import random

import pytest

from raftredis.statemachine import StateMachine
from raftredis.statemachine import memory as mem

NOW = 1_700_000_000_000


def _commands(rng: random.Random, n: int) -> list[list[bytes]]:
    keys = [b"k%d" % i for i in range(12)]

    def val() -> bytes:
        return b"v" * rng.choice((1, 8, 40, 100, 700))

    makers = [
        lambda k: [b"SET", k, val()],
        lambda k: [b"SET", k, val(), b"EX", b"100"],
        lambda k: [b"APPEND", k, val()],
        lambda k: [b"SETRANGE", k, b"%d" % rng.randrange(50), val()],
        lambda k: [b"INCR", k],
        lambda k: [b"DEL", k],
        lambda k: [b"EXPIRE", k, b"50"],
        lambda k: [b"PERSIST", k],
        lambda k: [b"HSET", k, b"f%d" % rng.randrange(100), val()],
        lambda k: [b"HDEL", k, b"f%d" % rng.randrange(100)],
        lambda k: [b"RPUSH", k, *(val() for _ in range(rng.randrange(1, 30)))],
        lambda k: [b"LPOP", k, b"3"],
        lambda k: [b"LSET", k, b"0", val()],
        lambda k: [b"SADD", k, *(b"m%d" % rng.randrange(200) for _ in range(20))],
        lambda k: [b"SREM", k, b"m%d" % rng.randrange(200)],
        lambda k: [b"ZADD", k, b"%d" % rng.randrange(9), b"z%d" % rng.randrange(150)],
        lambda k: [b"ZREM", k, b"z%d" % rng.randrange(150)],
        lambda k: [b"XADD", k, b"*", b"f", val()],
        lambda k: [b"XTRIM", k, b"MAXLEN", b"5"],
        lambda k: [b"RENAME", k, rng.choice(keys)],
        lambda k: [b"COPY", k, rng.choice(keys), b"REPLACE"],
        lambda k: [b"SUNIONSTORE", k, rng.choice(keys), rng.choice(keys)],
        lambda k: [b"PFADD", k, val(), b"x%d" % rng.randrange(99)],
        lambda k: [b"SETBIT", k, b"%d" % rng.randrange(4000), b"1"],
        lambda k: [b"GETDEL", k],
    ]
    return [rng.choice(makers)(rng.choice(keys)) for _ in range(n)]


@pytest.mark.parametrize("seed", range(6))
def test_incremental_used_equals_recount(seed: int) -> None:
    rng = random.Random(seed)
    sm = StateMachine()
    now = NOW
    for i, cmd in enumerate(_commands(rng, 1500)):
        now += rng.randrange(0, 200_000)  # lets some TTLs pass: writes delete them lazily
        sm.apply(cmd, now, seed=i)
        assert sm.used_memory == sm.db.recount(), cmd
        if i % 97 == 0:
            sm.apply_expire(sm.expired_keys(now, 100), now)
            assert sm.used_memory == sm.db.recount()
    assert sm.used_memory > 0 or not sm.db.data


def test_same_figure_after_snapshot_restore() -> None:
    rng = random.Random(7)
    sm = StateMachine()
    for i, cmd in enumerate(_commands(rng, 3000)):
        sm.apply(cmd, NOW, seed=i)
    # Big containers are estimated from a sample: make sure some are.
    sm.apply([b"RPUSH", b"biglist", *(b"e" * (i % 90) for i in range(500))], NOW)
    sm.apply([b"HSET", b"bighash", *(b"f%d" % i if j == 0 else b"x" * (i % 70)
                                     for i in range(300) for j in (0, 1))], NOW)
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    other = StateMachine()
    buf.seek(0)
    other.restore_snapshot(buf)
    assert other.used_memory == sm.used_memory == sm.db.recount()
    assert [other.db.size_of(k) for k in other.db.data] == [sm.db.size_of(k) for k in sm.db.data]


def test_flushall_and_delete_bring_it_back_to_zero() -> None:
    sm = StateMachine()
    sm.apply([b"SET", b"a", b"1"], NOW)
    sm.apply([b"HSET", b"h", b"f", b"v"], NOW)
    assert sm.used_memory > 0
    sm.apply([b"DEL", b"a", b"h"], NOW)
    assert sm.used_memory == 0
    sm.apply([b"SET", b"a", b"1", b"EX", b"10"], NOW)
    sm.apply([b"FLUSHALL"], NOW)
    assert sm.used_memory == 0 and not sm.db.data


def test_figures_follow_the_model() -> None:
    sm = StateMachine()
    sm.apply([b"SET", b"key", b"x" * 100], NOW)
    plain = mem.KEY_OVERHEAD + mem.bytes_size(3) + mem.bytes_size(100)
    assert sm.used_memory == plain
    sm.apply([b"EXPIRE", b"key", b"100"], NOW)
    assert sm.used_memory == plain + mem.EXPIRY_OVERHEAD
    assert sm.read([b"MEMORY", b"USAGE", b"key"], NOW) == plain + mem.EXPIRY_OVERHEAD
    sm.apply([b"PERSIST", b"key"], NOW)
    assert sm.used_memory == plain
    assert mem.bytes_size(0) == 48 and mem.bytes_size(15) == 48 and mem.bytes_size(16) == 64


def test_big_container_estimate_is_close_and_cheap() -> None:
    sm = StateMachine()
    sm.apply([b"RPUSH", b"l", *(b"x" * 20 for _ in range(10_000))], NOW)
    exact = sm.read([b"MEMORY", b"USAGE", b"l", b"SAMPLES", b"0"], NOW)
    assert isinstance(exact, int)
    assert sm.used_memory == sm.read([b"MEMORY", b"USAGE", b"l"], NOW)
    assert abs(sm.used_memory - exact) <= exact // 100  # uniform content: the sample is right
