"""Routing: who leads, as far as this node can tell, and what a client is told.

A follower answers keyed commands with `MOVED <slot> <leader's client address>`.
With no leader it can name, a request waits (bounded by cluster_down_wait) for an
election and is routed again, or gets CLUSTERDOWN. Nothing here was applied.

A client that came in over TLS is sent to the leader's TLS client address (what Redis
Cluster with TLS announces to TLS clients), learned, like the plain one, from the
leader's peer handshake; a leader with no TLS port is named by its plain address.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from raftredis.raft.types import Role, SoftState
from raftredis.replica.clock import Clock
from raftredis.replica.tasks import TaskSet
from raftredis.reply import Error

CLUSTERDOWN = Error("CLUSTERDOWN The cluster is down")


class Router:
    def __init__(self, node_id: int, own_addr: str, clock: Clock, tasks: TaskSet,
                 loop: asyncio.AbstractEventLoop, election_timeout_s: float,
                 cluster_down_wait_s: float, running: Callable[[], bool],
                 own_tls_addr: str = "") -> None:
        self.id = node_id
        self._clock = clock
        self._tasks = tasks
        self._loop = loop
        self._timeout = election_timeout_s
        self._wait = cluster_down_wait_s
        self._running = running
        # Client addresses ("host:port") announced by each node, learned in the handshake:
        # plain, and TLS for the nodes that have a TLS port.
        self._addr: dict[int, str] = {node_id: own_addr}
        self._tls_addr: dict[int, str] = {}
        if own_tls_addr:
            self._tls_addr[node_id] = own_tls_addr
        self.role = Role.FOLLOWER
        # role == LEADER, kept with it: asked several times for every command.
        self.is_leader = False
        self.leader = 0
        self._leader_heard = 0.0  # monotonic time we last heard from the leader
        self._leader_changed = asyncio.Event()

    # ------------------------------------------------------------------ what we know
    def on_soft_state(self, ss: SoftState) -> None:
        if ss.leader != self.leader:
            self._leader_heard = self._clock.monotonic() if ss.leader else 0.0
        self.leader = ss.leader
        self.role = ss.role
        self.is_leader = ss.role == Role.LEADER
        if ss.leader:
            # Wake requests waiting for an election; later waiters use a fresh event.
            self._leader_changed.set()
            self._leader_changed = asyncio.Event()

    def heard_from(self, peer: int) -> None:
        """A message only a leader sends arrived from `peer`."""
        if peer == self.leader:
            self._leader_heard = self._clock.monotonic()

    @property
    def leader_heard_at(self) -> float:
        """Monotonic time we last heard from the leader (0: never)."""
        return self._leader_heard

    def learn_address(self, peer: int, addr: str, tls: bool = False) -> None:
        if addr and " " not in addr and ":" in addr:
            (self._tls_addr if tls else self._addr)[peer] = addr

    def address(self, node_id: int, tls: bool = False) -> str | None:
        """The client address of `node_id` for a plain or a TLS client."""
        if tls and node_id in self._tls_addr:
            return self._tls_addr[node_id]
        return self._addr.get(node_id)

    def known_leader(self) -> int:
        """The leader we may advertise: self, or one heard from within an election timeout."""
        if self.is_leader:
            return self.id
        if not self.leader:
            return 0
        if self._clock.monotonic() - self._leader_heard > self._timeout:
            return 0
        return self.leader

    # ------------------------------------------------------------------ answers
    def redirect_now(self, slot: int, tls: bool = False) -> Error:
        leader = self.known_leader()
        if leader and leader != self.id and leader in self._addr:
            return Error(f"MOVED {slot} {self.address(leader, tls)}")
        return CLUSTERDOWN

    def redirect(self, slot: int, retry: Callable[[], object], tls: bool = False) -> object:
        leader = self.known_leader()
        if leader and leader in self._addr:
            return Error(f"MOVED {slot} {self.address(leader, tls)}")
        # No leader we can name: wait (bounded) for an election, then route again.
        return self.after_leader_known(retry)

    def after_leader_known(self, retry: Callable[[], object]) -> asyncio.Future:
        result: asyncio.Future = self._loop.create_future()
        clock = self._clock
        deadline = clock.monotonic() + self._wait

        async def waiter() -> None:
            while True:
                leader = self.known_leader()
                if leader and (leader == self.id or leader in self._addr):
                    break
                if result.cancelled():
                    return  # the client is gone: do not run its command later
                remaining = deadline - clock.monotonic()
                if remaining <= 0 or not self._running():
                    result.set_result(CLUSTERDOWN)
                    return
                # Woken by a leader change; the short cap re-checks the freshness of the
                # leader and whether its client address has arrived.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._leader_changed.wait(), min(remaining, 0.05))
            value = retry()
            if isinstance(value, asyncio.Future):
                value = await value
            if not result.done():
                result.set_result(value)

        self._tasks.spawn(waiter(), name="await-leader")
        return result
