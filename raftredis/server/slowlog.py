"""SLOWLOG: the commands of this node that took longer than slowlog-log-slower-than.

What is timed is what a client of a replicated store waits for: from dispatch to the
reply being ready, so a write includes its Raft round (commit on a majority, fsync)
and a read its ReadIndex round. Redis times only the command's execution; with its
default threshold (10 ms) a write on a slow disk shows up here, which is the point.
Entries are kept per node (like Redis, each server has its own), newest first,
at most slowlog-max-len of them; the parameters themselves are cluster-wide.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

MAX_ARGS = 32  # Redis's SLOWLOG_ENTRY_MAX_ARGC
MAX_ARG_BYTES = 128  # Redis's SLOWLOG_ENTRY_MAX_STRING
# Commands never logged themselves (Redis's skip_slowlog: EXEC, whose commands are
# logged one by one; SLOWLOG itself is logged, as in Redis).
_SKIPPED = frozenset({"exec"})
# Commands whose arguments are not shown (they may carry a password).
_REDACTED = frozenset({"auth", "hello", "migrate"})


@dataclass(slots=True, frozen=True)
class Entry:
    id: int
    when: int  # unix seconds
    micros: int
    args: tuple[bytes, ...]
    peer: str
    name: str

    def reply(self) -> list[object]:
        return [self.id, self.when, self.micros, list(self.args), self.peer.encode(),
                self.name.encode()]


def shown_args(name: str, args: list[bytes]) -> tuple[bytes, ...]:
    """The arguments as Redis keeps them: at most 32 (the last saying how many more),
    each at most 128 bytes (saying how many more), secrets redacted."""
    if name.split("|", 1)[0] in _REDACTED:
        args = [args[0]] + [b"(redacted)"] * (len(args) - 1)
    elif name == "acl|setuser":  # passwords among the rules: Redis hides them all
        args = args[:2] + [b"(redacted)"] * (len(args) - 2)
    elif name == "config|set":
        args = [a if i < 2 or i % 2 == 0 or args[i - 1].lower() not in
                (b"requirepass", b"masterauth") else b"(redacted)" for i, a in enumerate(args)]
    n = len(args)
    keep = args if n <= MAX_ARGS else args[: MAX_ARGS - 1]
    out = []
    for a in keep:
        a = bytes(a)
        if len(a) > MAX_ARG_BYTES:
            a = a[:MAX_ARG_BYTES] + b"... (%d more bytes)" % (len(a) - MAX_ARG_BYTES)
        out.append(a)
    if n > MAX_ARGS:
        out.append(b"... (%d more arguments)" % (n - MAX_ARGS + 1))
    return tuple(out)


class SlowLog:
    def __init__(self, threshold_us: int = 10_000, max_len: int = 128) -> None:
        self.threshold_us = threshold_us  # -1: off; 0: every command
        self.max_len = max_len
        self._entries: deque[Entry] = deque()
        self._next_id = 0

    def setting_changed(self, name: str, value: object) -> None:
        """A ServerSettings listener."""
        if name == "slowlog-log-slower-than":
            self.threshold_us = int(value)  # type: ignore[call-overload]
        elif name == "slowlog-max-len":
            self.max_len = int(value)  # type: ignore[call-overload]
            self._trim()

    def consider(self, spec_name: str, args: list[bytes], started_ns: int, peer: str,
                 client_name: str) -> None:
        """Log the command if it took at least the threshold (Redis: `>=`)."""
        if self.threshold_us < 0 or spec_name in _SKIPPED:
            return
        micros = (time.perf_counter_ns() - started_ns) // 1000
        if micros < self.threshold_us:
            return
        self._entries.appendleft(Entry(self._next_id, int(time.time()), micros,
                                       shown_args(spec_name, args), peer, client_name))
        self._next_id += 1
        self._trim()

    def _trim(self) -> None:
        while len(self._entries) > self.max_len:
            self._entries.pop()

    def get(self, count: int) -> list[list[object]]:
        items = list(self._entries) if count < 0 else list(self._entries)[:count]
        return [e.reply() for e in items]

    def __len__(self) -> int:
        return len(self._entries)

    def reset(self) -> None:
        self._entries.clear()
