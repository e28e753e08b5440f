"""Pub/sub index, keyspace-notification events, client tracking and the log-delivered
PUBLISH, without processes: the pieces of raftredis.events and replica.publish."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from raftredis.events import notify
from raftredis.events.hub import EventHub
from raftredis.events.pubsub import PubSub
from raftredis.events.tracking import Tracking, TrackingMode
from raftredis.replica import ops as logops
from raftredis.replica.publish import UNCERTAIN_PUBLISH, Publisher
from raftredis.reply import Push
from raftredis.statemachine import StateMachine
from raftredis.statemachine.changes import ChangeSet


@dataclass
class FakeClient:
    id: int
    resp: int = 3
    channels: set = field(default_factory=set)
    tracking: TrackingMode | None = None


class FakeConn:
    def __init__(self, cid: int, resp: int = 3) -> None:
        self.client = FakeClient(cid, resp)
        self.got: list[object] = []

    def push(self, value: object) -> None:
        self.got.append(value)


# ------------------------------------------------------------------ notify flags
def test_flags_parse_and_canonical_text() -> None:
    assert notify.canonical("KEA") == "AKE"
    assert notify.canonical("Kgx") == "gxK"
    assert notify.canonical("g$lshzxetdE") == "AE"
    assert notify.canonical("KAnm") == "AKmn"
    assert notify.canonical("") == ""
    with pytest.raises(ValueError, match="Invalid event class character"):
        notify.canonical("Kq")


def _events(*commands: list[bytes], now: int = 1000) -> list[list[tuple[bytes, bytes]]]:
    sm = StateMachine()
    sm.record_changes(True)
    out = []
    for args in commands:
        sm.apply(args, now)
        out.append([(ev, key) for change in sm.take_changes()
                    for _, ev, key in notify.events(change)])
    return out


def test_events_follow_what_really_happened() -> None:
    got = _events([b"set", b"a", b"1"], [b"set", b"a", b"2", b"NX"], [b"del", b"a", b"b"],
                  [b"rpush", b"l", b"x"], [b"lmove", b"l", b"m", b"LEFT", b"RIGHT"],
                  [b"set", b"t", b"v"], [b"pexpireat", b"t", b"1"], [b"sadd", b"s", b"x"],
                  [b"sadd", b"s", b"x"])
    assert got == [
        [(b"new", b"a"), (b"set", b"a")],
        [],  # NX refused: nothing happened
        [(b"del", b"a")],  # only the key that existed
        [(b"new", b"l"), (b"rpush", b"l")],
        # the push to the new destination first, then the pop, then the emptied source
        [(b"new", b"m"), (b"rpush", b"m"), (b"lpop", b"l"), (b"del", b"l")],
        [(b"new", b"t"), (b"set", b"t")],
        [(b"del", b"t")],  # a deadline in the past deletes
        [(b"new", b"s"), (b"sadd", b"s")],
        [],  # nothing added
    ]


def test_expired_only_for_keys_the_entry_removed() -> None:
    sm = StateMachine()
    sm.apply([b"set", b"gone", b"v", b"PX", b"10"], 1000)
    sm.apply([b"set", b"kept", b"v", b"PX", b"10"], 1000)
    sm.apply([b"set", b"kept", b"v"], 1001)  # re-set without a TTL before the expiry entry
    sm.record_changes(True)
    sm.apply_expire([b"gone", b"kept", b"never"], 2000)
    evs = [e for c in sm.take_changes() for e in notify.events(c)]
    assert evs == [(notify.EXPIRED, b"expired", b"gone")]


def test_messages_by_flags() -> None:
    evs = [(notify.STRING, b"set", b"k"), (notify.GENERIC, b"expire", b"k")]
    assert notify.messages(notify.parse_flags("K$"), evs) == [(b"__keyspace@0__:k", b"set")]
    assert notify.messages(notify.parse_flags("EA"), evs) == [
        (b"__keyevent@0__:set", b"k"), (b"__keyevent@0__:expire", b"k")]
    assert notify.messages(notify.parse_flags("A"), evs) == []  # neither K nor E


# ------------------------------------------------------------------ pub/sub index
def test_publish_counts_channel_and_pattern_receivers() -> None:
    ps = PubSub()
    a, b = FakeConn(1), FakeConn(2)
    ps.subscribe(a, b"news")
    ps.psubscribe(a, b"n*")
    ps.psubscribe(b, b"x*")
    assert ps.publish(b"news", b"hi") == 2
    assert a.got == [Push([b"message", b"news", b"hi"]),
                     Push([b"pmessage", b"n*", b"news", b"hi"])]
    assert b.got == []
    ps.unsubscribe(a, b"news")
    ps.punsubscribe(a, b"n*")
    assert ps.publish(b"news", b"again") == 0
    assert ps.channels() == [] and ps.numpat() == 1
    ps.ssubscribe(b, b"s")
    assert ps.publish(b"s", b"m") == 0  # a shard channel is not a channel
    assert ps.spublish(b"s", b"m") == 1
    assert b.got == [Push([b"smessage", b"s", b"m"])]
    assert ps.shard_numsub([b"s", b"t"]) == [b"s", 1, b"t", 0]


# ------------------------------------------------------------------ tracking
def _tracking(*conns: FakeConn) -> Tracking:
    by_id = {c.client.id: c for c in conns}
    return Tracking(by_id.get)


def test_default_mode_invalidates_once_per_read() -> None:
    c = FakeConn(1)
    t = _tracking(c)
    c.client.tracking = TrackingMode()
    t.enable(1, c.client.tracking)
    t.remember(1, [b"k"])
    t.invalidate([b"k", b"other"])
    t.invalidate([b"k"])  # not read again since: not told again
    assert c.got == [Push([b"invalidate", [b"k"]])]
    t.invalidate_all()
    assert c.got[-1] == Push([b"invalidate", None])


def test_bcast_prefixes_and_resp2_redirect() -> None:
    c, r = FakeConn(1, resp=2), FakeConn(2, resp=2)
    t = _tracking(c, r)
    c.client.tracking = TrackingMode(redirect=2, bcast=True, prefixes=[b"user:"])
    t.enable(1, c.client.tracking)
    t.invalidate([b"user:1", b"item:1"])
    assert r.got == []  # a RESP2 redirect target must listen on the invalidate channel
    r.client.channels.add(b"__redis__:invalidate")
    t.invalidate([b"user:1", b"user:2", b"item:1"])
    assert r.got == [Push([b"message", b"__redis__:invalidate", [b"user:1", b"user:2"]])]


def test_broken_redirect_is_said_at_each_lost_invalidation_in_resp3() -> None:
    c = FakeConn(1)
    t = _tracking(c)
    c.client.tracking = TrackingMode(redirect=99)
    t.enable(1, c.client.tracking)
    for _ in range(2):
        t.remember(1, [b"k"])
        t.invalidate([b"k"])
    assert c.got == [Push([b"tracking-redir-broken", 99])] * 2
    assert c.client.tracking.broken_redirect


# ------------------------------------------------------------------ the hub
class FakeSettings:
    def __init__(self, value: str) -> None:
        self.value = value
        self.listeners = []

    def get(self, name: str, default: object = None) -> object:
        return self.value

    def on_change(self, fn) -> None:
        self.listeners.append(fn)


def test_hub_publishes_events_of_applied_changes() -> None:
    settings = FakeSettings("")
    sub = FakeConn(1)
    hub = EventHub(settings, {1: sub}.get)
    assert not hub.active()  # nobody listens: the applier need not record
    hub.pubsub.subscribe(sub, b"__keyevent@0__:set")
    assert hub.active()
    sm = StateMachine()
    sm.record_changes(True)
    sm.apply([b"set", b"k", b"v"], 1000)
    hub.on_changes(ChangeSet(1, sm.take_changes()))
    assert sub.got == []  # notifications off
    for fn in settings.listeners:
        fn("notify-keyspace-events", "E$")
    sm.apply([b"set", b"k", b"v"], 1000)
    hub.on_changes(ChangeSet(2, sm.take_changes()))
    assert sub.got == [Push([b"message", b"__keyevent@0__:set", b"k"])]


def test_a_scripts_publish_is_delivered_where_it_applies() -> None:
    sub = FakeConn(1)
    hub = EventHub(FakeSettings(""), {1: sub}.get)
    hub.pubsub.subscribe(sub, b"jobs")
    sm = StateMachine()
    sm.record_changes(hub.active())
    script = b"redis.call('rpush', KEYS[1], ARGV[1]); return redis.call('publish', 'jobs', ARGV[1])"
    assert sm.apply([b"eval", script, b"1", b"q", b"j1"], 1000) == 0  # the same everywhere
    hub.on_changes(ChangeSet(1, sm.take_changes()))
    assert sub.got == [Push([b"message", b"jobs", b"j1"])]
    ro = sm.read([b"eval_ro", b"return redis.call('publish', 'jobs', 'x')", b"0"], 1000)
    assert "not allowed from read-only scripts" in ro


# ------------------------------------------------------------------ PUBLISH through the log
class FakeRouter:
    def __init__(self, leader: bool, known: int) -> None:
        self.is_leader = leader
        self._known = known

    def known_leader(self) -> int:
        return self._known


def _publisher(loop, leader: bool, wait_s: float = 5.0):
    submitted, sent = [], []

    def submit(op):
        submitted.append(op)
        fut = loop.create_future()
        return fut

    p = Publisher(2, loop, FakeRouter(leader, 1), submit, sent.append, lambda: 7, wait_s, 1)
    return p, submitted, sent


def test_follower_forwards_and_answers_with_its_own_count() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        p, submitted, sent = _publisher(loop, leader=False)
        sub = FakeConn(9)
        hub = EventHub(FakeSettings(""), {9: sub}.get)
        hub.pubsub.subscribe(sub, b"ch")
        p.attach(hub)
        fut = p.publish(b"ch", b"m", False)
        assert submitted == [] and len(sent) == 1
        fwd = sent[0]
        assert (fwd.src, fwd.dst, fwd.term, fwd.channel) == (2, 1, 7, b"ch")
        # Another node's message applies first: delivered, but it answers nobody here.
        assert p.deliver(logops.publish(b"ch", b"other", False, 3, fwd.request)) == 1
        assert not fut.done()
        assert p.deliver(logops.publish(b"ch", b"m", False, 2, fwd.request)) == 1
        assert fut.result() == 1
        assert [m[2] for m in sub.got] == [b"other", b"m"]

    asyncio.run(main())


def test_forwarded_publish_not_applied_in_time_is_uncertain() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        p, _, _ = _publisher(loop, leader=False, wait_s=0.01)
        fut = p.publish(b"ch", b"m", False)
        assert await asyncio.wait_for(fut, 5) == UNCERTAIN_PUBLISH

    asyncio.run(main())


def test_leader_logs_forwards_and_its_own() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        p, submitted, sent = _publisher(loop, leader=True)
        p.publish(b"a", b"1", True)
        from raftredis.transport.forward import PublishForward

        p.on_forward(PublishForward(3, 2, 7, 42, b"b", b"2", False))
        assert [op.fields for op in submitted] == [[b"a", b"1", 1, 0, 0],
                                                   [b"b", b"2", 0, 3, 42]]
        assert sent == []

    asyncio.run(main())


def test_a_restored_snapshot_invalidates_every_tracking_client() -> None:
    c = FakeConn(1)
    hub = EventHub(FakeSettings(""), {1: c}.get)
    c.client.tracking = TrackingMode()
    hub.tracking.enable(1, c.client.tracking)
    hub.tracking.remember(1, [b"k"])
    hub.state_replaced()
    assert c.got == [Push([b"invalidate", None])]


def test_evicted_for_the_keys_the_eviction_entry_removed() -> None:
    sm = StateMachine()
    sm.apply([b"set", b"a", b"1"], 1000)
    sm.record_changes(True)
    sm.apply_evict([b"a", b"missing"], volatile=False)
    evs = [e for c in sm.take_changes() for e in notify.events(c)]
    assert evs == [(notify.EVICTED, b"evicted", b"a")]
    assert notify.messages(notify.parse_flags("Ee"), evs) == [(b"__keyevent@0__:evicted", b"a")]
