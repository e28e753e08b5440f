"""ROLE, WAIT and WAITAOF: the Raft group presented as Redis replication.

The leader is the master; its offset is the log index it has applied. Each follower is
a replica whose offset is its match index: the highest log index the leader knows is
durably on that follower's disk (a follower persists before it acknowledges). A
follower answers ROLE as a slave of the leader it knows.

WAIT numreplicas timeout answers how many followers have durably logged this
connection's last write: the index the leader had applied when that write's reply was
ready covers the write, so a follower whose match index reaches it holds it (we take
the index applied when WAIT looks, which is at least that: stricter, never looser). (Every
acknowledged write is already on a majority; WAIT is how a client asks for more.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from raftredis.reply import Error

POLL_S = 0.005  # how often a waiting WAIT looks at the followers' match indexes


def note_write(client: Any, reply: asyncio.Future) -> None:
    """A write was dispatched for `client` (its reply is `reply`); the connection keeps
    it (a per-connection field, not a shared table: this runs for every write)."""
    client.last_write = reply


def _split(addr: str | None) -> tuple[bytes, bytes]:
    host, _, port = (addr or "?:0").rpartition(":")
    return host.encode(), port.encode()


def role(group: Any) -> list[object]:
    if group.is_leader:
        st = group.raft_status()
        replicas: list[object] = []
        for nid in sorted(st.progress):
            if nid == group.id:
                continue
            host, port = _split(group.client_address(nid))
            replicas.append([host, port, str(st.progress[nid].match).encode()])
        return [b"master", group.applied, replicas]
    leader = group.known_leader()
    host, port = _split(group.client_address(leader) if leader else None)
    state = b"connected" if leader else b"connect"
    return [b"slave", host if leader else b"?", int(port) if leader else 0, state,
            group.applied]


def acked(group: Any, target: int) -> int:
    """Followers whose durable log reaches `target` (the leader itself not counted)."""
    st = group.raft_status()
    return sum(1 for nid, pr in st.progress.items() if nid != group.id and pr.match >= target)


async def wait(group: Any, client: object, numreplicas: int, timeout_ms: int,
               loop: asyncio.AbstractEventLoop) -> object:
    last = getattr(client, "last_write", None)
    target = 0
    if last is not None:
        if not last.done():
            await asyncio.wait([last])  # a write pipelined just before WAIT
        # What the leader has applied now covers that write (it was applied before its
        # reply): a little stricter than its own index, never looser.
        target = group.applied
    deadline = None if timeout_ms == 0 else loop.time() + timeout_ms / 1000
    while True:
        if not group.is_leader:
            return Error("ERR WAIT cannot be used with replica instances. Please also note "
                         "that since Redis 4.0 if a replica is configured to be writable "
                         "(which is not the default) writes to replicas are just local and "
                         "are not propagated.")
        n = acked(group, target)
        if n >= numreplicas or (deadline is not None and loop.time() >= deadline):
            return n
        await asyncio.sleep(POLL_S if deadline is None
                            else max(0.0, min(POLL_S, deadline - loop.time())))
