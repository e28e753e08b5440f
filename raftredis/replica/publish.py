"""PUBLISH through the log.

A message is a log operation (ops.Publish): every node delivers it to its own
subscribers when it applies the entry, so all nodes see all messages in one order, in
order with the writes and keyspace events around them, whichever node took the
PUBLISH and whoever leads when it commits. A follower forwards its client's PUBLISH to
the leader over the peer link and answers when it has applied (and delivered) the
message itself. The reply is the number of receivers on the node that answered, as in
Redis Cluster.

Guarantee: a PUBLISH that got a count was committed, so every node that applies the
log delivers it, once, to whoever is subscribed there at that point. A subscriber
misses what was applied while it was not connected (pub/sub keeps no history). A
forwarded PUBLISH that is not applied here within the wait answers UNCERTAIN (the
leader may have logged it or not).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from raftredis.replica import ops as logops
from raftredis.replica.routing import Router
from raftredis.reply import Error
from raftredis.transport.forward import PublishForward

UNCERTAIN_PUBLISH = Error(
    "UNCERTAIN The message may or may not have been published: the leader did not "
    "commit it in time")


class Publisher:
    def __init__(self, node_id: int, loop: asyncio.AbstractEventLoop, router: Router,
                 submit: Callable[[logops.Publish], asyncio.Future],
                 send: Callable[[PublishForward], None], term: Callable[[], int],
                 wait_s: float, first_request: int | None = None) -> None:
        self._id = node_id
        self._loop = loop
        self._router = router
        self._submit = submit
        self._send = send
        self._term = term
        self._wait_s = wait_s
        self._events = None  # raftredis.events.EventHub, once the server attaches it
        self._waiting: dict[int, asyncio.Future] = {}
        # Request ids start at random so an entry forwarded by an earlier run of this
        # node (replayed from the log) never answers a request of this run. (Not from
        # the group's seeded random source: that would shift the simulator's draws.)
        self._next = first_request if first_request is not None else \
            (int.from_bytes(os.urandom(8), "big") >> 2) + 1
        self.forwarded = 0

    def attach(self, events) -> None:
        self._events = events

    def publish(self, channel: bytes, message: bytes, shard: bool) -> object:
        router = self._router
        if router.is_leader:
            return self._submit(logops.publish(channel, message, shard))
        leader = router.known_leader()
        if not leader:
            return router.after_leader_known(lambda: self.publish(channel, message, shard))
        req = self._next
        self._next += 1
        fut = self._loop.create_future()
        self._waiting[req] = fut
        self._send(PublishForward(self._id, leader, self._term(), req, channel, message,
                                  shard))
        self.forwarded += 1
        self._loop.call_later(self._wait_s, self._expire, req)
        return fut

    def _expire(self, req: int) -> None:
        fut = self._waiting.pop(req, None)
        if fut is not None and not fut.done():
            fut.set_result(UNCERTAIN_PUBLISH)

    def on_forward(self, msg: PublishForward) -> None:
        """A follower's PUBLISH: log it, tagged with its origin. Not the leader (any
        more): dropped, and the follower answers UNCERTAIN after its wait."""
        if self._router.is_leader:
            self._submit(logops.publish(msg.channel, msg.message, msg.shard, msg.src,
                                        msg.request))

    def deliver(self, op: logops.Publish) -> int:
        """An applied PUBLISH (every node): to this node's subscribers; the count."""
        channel, message, shard, origin, req = op.fields
        events = self._events
        n = events.publish(bytes(channel), bytes(message), bool(shard)) \
            if events is not None else 0
        if origin == self._id:
            fut = self._waiting.pop(req, None)
            if fut is not None and not fut.done():
                fut.set_result(n)
        return n

    def fail_all(self, reply: object) -> None:
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_result(reply)
        self._waiting.clear()
