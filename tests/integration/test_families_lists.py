"""Lists on a running 3-node cluster: replies compared with redis-server, and the
blocking commands (BLPOP, BRPOP, BLMOVE) released by a push from another client."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.integration.families_support import RawClient, family_fixture, params
from tests.integration.harness import wait_for

fam = family_fixture("lists")

CASES = [
    [("LPUSH", "l", "a", "b"), ("RPUSH", "l", "c", "d"), ("LRANGE", "l", "0", "-1"),
     ("LLEN", "l"), ("LLEN", "nope"), ("LRANGE", "l", "1", "2"), ("LRANGE", "l", "-2", "-1"),
     ("LRANGE", "l", "5", "10"), ("LRANGE", "l", "-100", "100"), ("LRANGE", "nope", "0", "-1"),
     ("LRANGE", "l", "2", "1"), ("LRANGE", "l", "a", "1")],
    [("LPUSHX", "l", "a"), ("RPUSHX", "l", "a"), ("EXISTS", "l"), ("RPUSH", "l", "x"),
     ("LPUSHX", "l", "a", "b"), ("RPUSHX", "l", "c"), ("LRANGE", "l", "0", "-1"),
     ("LPUSH", "l"), ("LPUSHX", "l")],
    [("RPUSH", "l", "a", "b", "c", "d", "e"), ("LPOP", "l"), ("RPOP", "l"),
     ("LPOP", "l", "2"), ("RPOP", "l", "5"), ("LPOP", "l"), ("LPOP", "l", "2"),
     ("RPOP", "nope", "0"), ("EXISTS", "l"), ("RPUSH", "l", "x"), ("LPOP", "l", "0"),
     ("LPOP", "l", "-1"), ("LPOP", "l", "x"), ("LPOP", "l", "1", "2")],
    [("RPUSH", "l", "a", "b", "c"), ("LINDEX", "l", "0"), ("LINDEX", "l", "-1"),
     ("LINDEX", "l", "3"), ("LINDEX", "nope", "0"), ("LINDEX", "l", "x"),
     ("LSET", "l", "1", "B"), ("LSET", "l", "-1", "C"), ("LSET", "l", "3", "x"),
     ("LSET", "nope", "0", "x"), ("LRANGE", "l", "0", "-1")],
    [("RPUSH", "l", "a", "b", "a", "c", "a", "b"), ("LREM", "l", "1", "a"),
     ("LRANGE", "l", "0", "-1"), ("LREM", "l", "-1", "b"), ("LRANGE", "l", "0", "-1"),
     ("LREM", "l", "0", "a"), ("LRANGE", "l", "0", "-1"), ("LREM", "l", "0", "zz"),
     ("LREM", "nope", "0", "a"), ("LREM", "l", "x", "a")],
    [("RPUSH", "l", "a", "b", "c", "d", "e"), ("LTRIM", "l", "1", "-2"),
     ("LRANGE", "l", "0", "-1"), ("LTRIM", "l", "5", "10"), ("EXISTS", "l"),
     ("LTRIM", "nope", "0", "1"), ("RPUSH", "m", "x"), ("LTRIM", "m", "x", "1")],
    [("RPUSH", "l", "a", "c"), ("LINSERT", "l", "BEFORE", "c", "b"),
     ("LINSERT", "l", "AFTER", "c", "d"), ("LINSERT", "l", "after", "zz", "q"),
     ("LINSERT", "nope", "BEFORE", "a", "b"), ("LINSERT", "l", "MIDDLE", "a", "b"),
     ("LRANGE", "l", "0", "-1")],
    [("RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"), ("LPOS", "l", "c"),
     ("LPOS", "l", "c", "RANK", "2"), ("LPOS", "l", "c", "RANK", "-1"),
     ("LPOS", "l", "c", "COUNT", "2"), ("LPOS", "l", "c", "COUNT", "0"),
     ("LPOS", "l", "c", "RANK", "-1", "COUNT", "2"), ("LPOS", "l", "c", "MAXLEN", "3"),
     ("LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"), ("LPOS", "l", "zz"),
     ("LPOS", "l", "zz", "COUNT", "0"), ("LPOS", "nope", "a"), ("LPOS", "l", "c", "RANK", "0"),
     ("LPOS", "l", "c", "COUNT", "-1"), ("LPOS", "l", "c", "MAXLEN", "-1"),
     ("LPOS", "l", "c", "BOGUS", "1")],
    [("RPUSH", "src", "a", "b", "c"), ("LMOVE", "src", "dst", "LEFT", "RIGHT"),
     ("LMOVE", "src", "dst", "RIGHT", "LEFT"), ("LRANGE", "src", "0", "-1"),
     ("LRANGE", "dst", "0", "-1"), ("RPOPLPUSH", "src", "src"), ("LRANGE", "src", "0", "-1"),
     ("LMOVE", "src", "dst", "UP", "LEFT"), ("LMOVE", "nope", "dst", "LEFT", "LEFT"),
     ("RPOPLPUSH", "src", "dst"), ("EXISTS", "src"), ("RPOPLPUSH", "nope", "dst"),
     ("SET", "str", "x"), ("RPOPLPUSH", "dst", "str"), ("LMOVE", "str", "dst", "LEFT", "LEFT"),
     ("LRANGE", "dst", "0", "-1")],
    # blocking commands with data present answer at once, like their plain forms
    [("RPUSH", "l", "a", "b"), ("BLPOP", "nope", "l", "1"), ("BRPOP", "l", "1"),
     ("BLPOP", "l", "0.01"), ("RPUSH", "l", "x"), ("BLMOVE", "l", "d", "LEFT", "RIGHT", "1"),
     ("BRPOPLPUSH", "d", "l", "1"), ("LRANGE", "l", "0", "-1")],
    [("BLPOP", "l", "x"), ("BLPOP", "l", "-1"), ("BLPOP", "l"),
     ("BLMOVE", "a", "b", "LEFT", "UP", "1"), ("BLMOVE", "a", "b", "LEFT", "LEFT", "-1"),
     ("SET", "s", "x"), ("BLPOP", "s", "1"), ("BLMOVE", "s", "d", "LEFT", "LEFT", "1")],
    # wrong type everywhere
    [("SET", "s", "x"), ("LPUSH", "s", "a"), ("RPUSHX", "s", "a"), ("LPOP", "s"),
     ("LLEN", "s"), ("LRANGE", "s", "0", "1"), ("LINDEX", "s", "0"), ("LSET", "s", "0", "a"),
     ("LREM", "s", "0", "a"), ("LTRIM", "s", "0", "1"), ("LINSERT", "s", "BEFORE", "a", "b"),
     ("LPOS", "s", "a"), ("LPUSH",), ("LRANGE", "s", "0")],
]


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("case", params(CASES))
def test_same_replies_as_redis(fam, case, protocol):
    fam.diff(case, protocol)


def test_out_of_range_arguments(fam):
    """Redis 7.0 answers these with its own quirks (LPOS RANK LONG_MIN finds a match,
    BRPOP with an infinite timeout says "negative"); raftredis answers a clear error,
    as Redis 7.2 does."""
    r = fam.leader_client()
    try:
        r.flushall()
        r.rpush("oor", "c")
        with pytest.raises(redis.ResponseError, match="value is out of range"):
            r.execute_command("LPOS", "oor", "c", "RANK", "-9223372036854775808")
        with pytest.raises(redis.ResponseError, match="timeout is"):
            r.execute_command("BRPOP", "oor2", "inf")
    finally:
        r.close()


def _timeouts(fam, protocol: int, who: str, command: tuple[str, ...]) -> object:
    c = RawClient(fam.ref.port if who == "ref" else fam.port(fam.leader()))
    try:
        if protocol == 3:
            c.call("HELLO", "3")
        start = time.monotonic()
        reply = c.call(*command)
        assert time.monotonic() - start >= 0.09, f"{who} answered {command} before its timeout"
        return reply
    finally:
        c.close()


BLOCKING_TIMEOUTS = [
    # Every blocked client that times out gets a null array, BLMOVE included (*-1 in RESP2).
    pytest.param(p, cmd, id=f"resp{p}-{cmd[0]}")
    for p in (2, 3)
    for cmd in [("BLPOP", "bt:none", "bt:no2", "0.1"), ("BRPOP", "bt:none", "0.1"),
                ("BLMOVE", "bt:none", "bt:d", "LEFT", "LEFT", "0.1"),
                ("BRPOPLPUSH", "bt:none", "bt:d", "0.1")]
]


@pytest.mark.parametrize(("protocol", "command"), BLOCKING_TIMEOUTS)
def test_blocking_timeout_gives_the_null_redis_gives(fam, protocol, command):
    """The timeout reply has the same wire type as redis-server's, and comes only after
    the timeout has passed."""
    if fam.ref is None:
        pytest.skip("redis-server not installed")
    assert _timeouts(fam, protocol, "raft", command) == _timeouts(fam, protocol, "ref", command)


def _applied(fam) -> int:
    return int(fam.cluster.info(fam.leader())["raft_applied_index"])


def _wait_parked(fam, name: str, applied_before: int) -> None:
    """Wait until the named connection is inside its blocking command: CLIENT LIST shows
    it as the connection's command, and (raftredis tries a blocking pop through the log
    first) the leader has applied that attempt, so a later push must wake it."""
    r = fam.leader_client()
    try:
        wait_for(lambda: any(c.get("name") == name and c.get("cmd") in ("blpop", "brpop", "blmove")
                             for c in r.client_list()), 5, f"{name} to send its command")
        wait_for(lambda: _applied(fam) > applied_before, 5, f"{name}'s attempt to be applied")
    finally:
        r.close()


@pytest.mark.parametrize("how", ["blpop", "brpop", "blmove"])
def test_blocked_client_is_released_by_a_push_from_another_client(fam, how):
    lead = fam.leader_client()
    lead.flushall()
    waiter = fam.leader_client(client_name=f"waiter-{how}")
    got: list = []

    def run() -> None:
        if how == "blpop":
            got.append(waiter.blpop(["bk:1", "bk:2"], timeout=10))
        elif how == "brpop":
            got.append(waiter.brpop(["bk:1", "bk:2"], timeout=10))
        else:
            got.append(waiter.blmove("bk:2", "bk:dst", 10, "RIGHT", "LEFT"))

    waiter.ping()  # connect (and name the connection) before timing anything
    before = _applied(fam)
    t = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    t.start()
    try:
        _wait_parked(fam, f"waiter-{how}", before)
        assert got == []  # still blocked: nothing to pop yet
        # The push comes from another client, through the cluster client and a follower.
        rc = fam.cluster_client()
        try:
            rc.rpush("bk:2", "first", "second")
        finally:
            rc.close()
        t.join(timeout=15)
        assert not t.is_alive()
        assert time.monotonic() - start < 9  # released by the push, not the timeout
        if how == "blpop":
            assert got == [(b"bk:2", b"first")]
            assert lead.lrange("bk:2", 0, -1) == [b"second"]
        elif how == "brpop":
            assert got == [(b"bk:2", b"second")]
            assert lead.lrange("bk:2", 0, -1) == [b"first"]
        else:
            assert got == [b"second"]
            assert lead.lrange("bk:dst", 0, -1) == [b"second"]
            assert lead.lrange("bk:2", 0, -1) == [b"first"]
    finally:
        t.join(timeout=15)
        waiter.close()
        lead.close()


def test_waiters_are_served_in_arrival_order(fam):
    """Redis serves blocked clients first come, first served. Several rounds of three
    waiters, so a random wake-up order cannot pass by luck (1 in 6**4)."""
    lead = fam.leader_client()
    names = ("w1", "w2", "w3")
    clients = {name: fam.leader_client(client_name=name) for name in names}
    try:
        for _round in range(4):
            lead.delete("bo:q")
            results: dict[str, object] = {}
            threads = []
            for name in names:
                clients[name].ping()
                before = _applied(fam)
                t = threading.Thread(
                    target=lambda n=name, out=results: out.__setitem__(
                        n, clients[n].blpop(["bo:q"], 10)),
                    daemon=True)
                threads.append(t)
                t.start()
                _wait_parked(fam, name, before)
            lead.rpush("bo:q", "one", "two", "three")
            for t in threads:
                t.join(timeout=15)
            assert sorted(results.values()) == [(b"bo:q", v) for v in (b"one", b"three", b"two")]
            assert results == {"w1": (b"bo:q", b"one"), "w2": (b"bo:q", b"two"),
                               "w3": (b"bo:q", b"three")}
    finally:
        for c in clients.values():
            c.close()
        lead.close()


def test_info_counts_blocked_clients(fam):
    waiter = fam.leader_client(client_name="counted")
    waiter.ping()
    before = _applied(fam)
    t = threading.Thread(target=lambda: waiter.blpop(["bc:none"], timeout=1.5), daemon=True)
    t.start()
    r = fam.leader_client()
    try:
        _wait_parked(fam, "counted", before)
        assert r.info("clients")["blocked_clients"] == 1
    finally:
        t.join(timeout=10)
        waiter.close()
        r.close()
