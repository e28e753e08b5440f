"""DiskThread: one thread that runs blocking calls in order for an event loop.

What run_in_executor on a one-worker ThreadPoolExecutor gives, for less per call:
the executor makes a work item and a concurrent Future per call, and the loop's
wrapper chains that Future to an asyncio one through two more callbacks. Here a call
is a queue item, and its result comes back with one call_soon_threadsafe. Every
Ready persisted pays this once per node, so it is on the write path of each command.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

_Item = tuple[asyncio.AbstractEventLoop, Callable[[], Any], "asyncio.Future[Any]"]


def _resolve(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.cancelled():
        return  # the waiter gave up; the call itself ran (as with an executor)
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class DiskThread:
    """Calls run one at a time, in submission order, on a thread started at first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """Queue `fn`; the future (of the running loop) resolves with its result or error."""
        if self._closed:
            raise RuntimeError(f"{self._name} is shut down")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self._thread is None:
            # Daemon: a process that exits without closing its storage must not hang
            # here; what was acknowledged was already fsynced before its answer.
            self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
            self._thread.start()
        self._queue.put((loop, fn, fut))
        return fut

    def shutdown(self) -> None:
        """Run what is queued, then stop the thread and wait for it."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()

    def _main(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            loop, fn, fut = item
            try:
                value, ok = fn(), True
            except BaseException as exc:  # handed to the waiter, as an executor does
                value, ok = exc, False
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody left to tell
                loop.call_soon_threadsafe(_resolve, fut, ok, value)
            del item, fn, fut, value  # drop references before blocking on the queue
