"""ACL LOG: this node's record of refused commands and failed AUTHs, newest first,
at most `acllog-max-len` entries. As Redis: an event like one of the 10 newest entries
(same reason, context, object and user, within 60 s) bumps that entry's count and
moves it to the front instead of adding one."""

from __future__ import annotations

from dataclasses import dataclass

from raftredis.reply import Double, Map

GROUPING_MS = 60_000
_SCAN = 10


@dataclass(slots=True)
class LogEntry:
    entry_id: int
    reason: str  # command, key, channel, auth
    context: str  # toplevel, multi, lua
    obj: bytes
    username: bytes
    created_ms: int
    updated_ms: int
    client_info: bytes
    count: int = 1

    def render(self, now_ms: int) -> Map:
        return Map({
            b"count": self.count,
            b"reason": self.reason.encode(),
            b"context": self.context.encode(),
            b"object": self.obj,
            b"username": self.username,
            b"age-seconds": Double((now_ms - self.updated_ms) / 1000),
            b"client-info": self.client_info,
            b"entry-id": self.entry_id,
            b"timestamp-created": self.created_ms,
            b"timestamp-last-updated": self.updated_ms,
        })


class AclLog:
    def __init__(self) -> None:
        self.entries: list[LogEntry] = []  # newest first
        self._next_id = 0

    def add(self, reason: str, context: str, obj: bytes, username: bytes, client_info: bytes,
            now_ms: int, max_len: int) -> None:
        for i, e in enumerate(self.entries[:_SCAN]):
            if (e.reason == reason and e.context == context and e.obj == obj
                    and e.username == username and abs(now_ms - e.updated_ms) <= GROUPING_MS):
                e.count += 1
                e.updated_ms = now_ms
                e.client_info = client_info
                self.entries.insert(0, self.entries.pop(i))
                return
        self.entries.insert(0, LogEntry(self._next_id, reason, context, obj, username, now_ms,
                                        now_ms, client_info))
        self._next_id += 1
        del self.entries[max(max_len, 0):]

    def reset(self) -> None:
        self.entries.clear()

    def show(self, count: int, now_ms: int) -> list[Map]:
        return [e.render(now_ms) for e in self.entries[:max(count, 0)]]
