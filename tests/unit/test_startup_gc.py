"""freeze_startup_heap: what startup made is frozen, what comes later is collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from raftredis.startup_gc import freeze_startup_heap


@pytest.fixture
def thawed() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()  # the rest of the suite runs with a normal collector


class _Node:
    def __init__(self) -> None:
        self.other: object = None


def _cycle() -> _Node:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return a


def test_startup_garbage_is_collected_and_survivors_frozen(thawed: None) -> None:
    kept = _cycle()
    garbage = weakref.ref(_cycle())  # startup garbage: collected, never frozen
    assert garbage() is not None  # a cycle: reference counting alone cannot free it
    frozen, took_ms = freeze_startup_heap()
    assert took_ms >= 0
    assert garbage() is None
    assert frozen == gc.get_freeze_count() > 0
    tracked = {id(o) for o in gc.get_objects()}
    assert id(kept) not in tracked  # frozen objects are not in any collected generation


def test_a_cycle_made_after_the_freeze_is_still_collected(thawed: None) -> None:
    freeze_startup_heap()
    later = weakref.ref(_cycle())
    assert later() is not None
    assert gc.collect() >= 2
    assert later() is None
