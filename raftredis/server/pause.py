"""CLIENT PAUSE / UNPAUSE: hold clients' commands on this node until a deadline.

WRITE mode holds the commands that may change data (writes, EXEC, scripts, PUBLISH);
ALL mode holds every command. As in Redis, a held client stays held: its later
commands wait behind the first one, so a pipeline keeps its order. CLIENT PAUSE and
CLIENT UNPAUSE themselves are never held (the way out of a pause). The pause is this
node's: the leader's own duties (expiry, eviction) go on, which Redis would pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable

from raftredis.commands.spec import CommandSpec, Route
from raftredis.reply import Error

_NEVER_HELD = frozenset({"client|pause", "client|unpause"})
_MAY_WRITE = frozenset({"exec", "eval", "evalsha", "fcall", "publish", "spublish"})


class ClientPause:
    def __init__(self) -> None:
        self.until = 0.0  # loop time; 0: not paused
        self.mode = "all"
        self._changed: asyncio.Event | None = None
        # client -> the future of its last held command (what its next one waits for)
        self._held: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._tasks: set[asyncio.Task] = set()
        # Whether commands must go through gate(): a pause was set, or held ones remain
        # (a plain attribute: the dispatcher reads it for every command).
        self.engaged = False

    def pause(self, seconds: float, mode: str, loop: asyncio.AbstractEventLoop) -> None:
        until = loop.time() + seconds
        # Redis: a new pause never shortens an active one, nor weakens ALL to WRITE.
        if self.active(loop):
            until = max(until, self.until)
            mode = "all" if "all" in (mode, self.mode) else mode
        self.until, self.mode = until, mode
        self.engaged = True
        self._wake()

    def unpause(self) -> None:
        self.until = 0.0
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def active(self, loop: asyncio.AbstractEventLoop) -> bool:
        return self.until > 0 and loop.time() < self.until

    def holds(self, spec: CommandSpec | None) -> bool:
        if spec is None or spec.name in _NEVER_HELD:
            return False
        if self.mode == "all":
            return True
        return spec.route is Route.WRITE or spec.name in _MAY_WRITE

    def gate(self, client: object, spec: CommandSpec | None, run: Callable[[], object],
             loop: asyncio.AbstractEventLoop) -> object | None:
        """None: run the command now. Else a Future of its reply, run once the pause is
        over (and once the client's earlier held commands have run)."""
        before = self._held.get(client)
        if before is not None and before.done():
            del self._held[client]
            before = None
        paused = self.active(loop) and self.holds(spec)
        if not paused and self.until and not self.active(loop):
            self.until = 0.0  # the pause is over
        if before is None and not paused:
            if not self.until and not self._held:
                self.engaged = False
            return None
        out: asyncio.Future = loop.create_future()
        self._held[client] = out

        async def later() -> None:
            if before is not None:
                await asyncio.wait([before])
            while self.active(loop) and self.holds(spec):
                if self._changed is None:
                    self._changed = asyncio.Event()
                ev = self._changed
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ev.wait(), max(0.0, self.until - loop.time()))
            reply = run()
            if isinstance(reply, asyncio.Future):
                reply = await reply
            if not out.done():
                out.set_result(reply)

        def finished(task: asyncio.Task) -> None:
            self._tasks.discard(task)
            if not out.done():  # it failed or was cancelled: the client still gets a reply
                out.set_result(Error("ERR internal error while running the command"))

        task = loop.create_task(later())
        self._tasks.add(task)
        task.add_done_callback(finished)
        return out
