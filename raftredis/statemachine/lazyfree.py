"""Freeing big values off the event loop (Redis's lazyfree), so that FLUSHALL of a
million keys or DEL of a set of a million members does not hold the loop.

Dropping the last reference to a big container frees it in one C call that holds the
GIL for as long as it takes (about a second for a million-key dict here), starving the
keep-alive thread as well as the loop. Instead the keyspace hands what it removed to
`LazyFree`, whose thread empties it piece by piece in Python (popitem/pop in a loop,
which hands the GIL over every few milliseconds), taking apart nested big values the
same way. Nothing replicated depends on it: a removed value is unreachable at once;
only when its memory returns to the allocator changes.
"""

from __future__ import annotations

import threading
from collections import deque

from sortedcontainers import SortedDict, SortedList

LAZYFREE_THRESHOLD = 64  # as Redis: values with more elements than this are freed lazily
_CHUNK = 1024  # elements freed between checks of the queue


def _size(obj: object) -> int:
    try:
        return len(obj)  # type: ignore[arg-type]
    except TypeError:
        return 0


def _parts(obj: object) -> list[object]:
    """The attributes of a value object (a sorted set's dict and skip list, a stream's
    tree), to be freed one by one."""
    slots = getattr(type(obj), "__slots__", ())
    out = [getattr(obj, s, None) for s in ((slots,) if isinstance(slots, str) else slots)]
    d = getattr(obj, "__dict__", None)
    if d:
        out.extend(d.values())
    return [p for p in out if p is not None]


class LazyFree:
    def __init__(self) -> None:
        self._queue: deque[object] = deque()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.freed = 0  # objects taken apart (INFO lazyfreed_objects)

    @property
    def pending(self) -> int:
        return len(self._queue)

    def discard(self, obj: object) -> None:
        """Drop `obj`; if it is a big container, the thread frees it."""
        if _atomic(obj) or (_size(obj) <= LAZYFREE_THRESHOLD and not _parts_big(obj)):
            return
        with self._lock:
            self._queue.append(obj)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lazyfree", daemon=True)
                self._thread.start()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued is freed (tests). True if it was."""
        import time

        deadline = time.monotonic() + timeout
        while self._queue and time.monotonic() < deadline:
            time.sleep(0.001)
        return not self._queue

    def _run(self) -> None:
        """Until the queue is empty; the next discard starts a new thread (so an idle
        keyspace, of which the simulator has many, holds no thread)."""
        q = self._queue
        while True:
            with self._lock:
                if not q:
                    self._thread = None
                    return
                obj = q[0]
            if self._take_apart(obj):
                with self._lock:
                    # Counted before it leaves the queue: drain() (and INFO) see an empty
                    # queue only once the count includes it (a race CI caught: freed 1 of 2).
                    self.freed += 1
                    q.popleft()
            del obj

    def _take_apart(self, obj: object) -> bool:
        """Free up to _CHUNK elements of obj; True when it is empty (or atomic)."""
        q = self._queue
        if isinstance(obj, dict | SortedDict):
            for _ in range(_CHUNK):
                if not obj:
                    return True
                _, v = obj.popitem()
                if _size(v) > LAZYFREE_THRESHOLD or _parts_big(v):
                    q.append(v)
            return not obj
        if isinstance(obj, set | list | deque | SortedList):
            for _ in range(_CHUNK):
                if not obj:
                    return True
                v = obj.pop()
                if _size(v) > LAZYFREE_THRESHOLD or _parts_big(v):
                    q.append(v)
            return not obj
        for part in _parts(obj):
            if _size(part) > LAZYFREE_THRESHOLD:
                q.append(part)
        return True


def _atomic(obj: object) -> bool:
    return isinstance(obj, bytes | bytearray | int | float | str)


def _parts_big(obj: object) -> bool:
    if _atomic(obj):
        return False
    return any(_size(p) > LAZYFREE_THRESHOLD for p in _parts(obj))
