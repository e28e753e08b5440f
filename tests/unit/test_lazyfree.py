"""Big removed values are handed to the lazy-free thread, which takes them apart,
nested values included; small ones are simply dropped."""

from __future__ import annotations

import weakref

from raftredis.statemachine.db import Keyspace
from raftredis.statemachine.lazyfree import LAZYFREE_THRESHOLD, LazyFree


class _Leaf:
    pass


def test_small_and_atomic_values_are_not_queued() -> None:
    lf = LazyFree()
    lf.discard(b"x" * 10_000_000)
    lf.discard({i: i for i in range(LAZYFREE_THRESHOLD)})
    lf.discard(12)
    assert lf.pending == 0 and lf.freed == 0


def test_a_big_nested_value_is_freed_by_the_thread() -> None:
    lf = LazyFree()
    leaf = _Leaf()
    alive = weakref.ref(leaf)
    inner = {i: i for i in range(5000)}
    inner[-1] = leaf
    outer = {b"a": inner, **{i: b"v" for i in range(5000)}}
    del leaf, inner
    lf.discard(outer)
    del outer
    assert lf.drain(30)
    assert alive() is None  # the leaf inside the nested dict is gone too
    assert lf.freed == 2  # the outer dict, then the inner one it held


def test_flushall_and_del_hand_big_values_over() -> None:
    db = Keyspace()
    for i in range(10_000):
        db.set(b"k%d" % i, b"v")
    db.set(b"set", set(range(10_000)))
    assert db.delete(b"set") and b"set" not in db.data
    db.clear()
    assert len(db) == 0 and db.used == 0
    assert db.lazy.drain(30) and db.lazy.freed >= 2
    db.set(b"again", b"v")  # the keyspace works on after it
    assert db.get(b"again", 0) == b"v"
