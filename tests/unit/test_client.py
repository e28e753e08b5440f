"""raftredis.client without a server: error classification, leader discovery parsing,
backoff, and the retry loop driven by a scripted fake connection (same seq on every
retry, honest errors when the outcome is unknown)."""

from __future__ import annotations

import asyncio
import random

import pytest
import redis.exceptions as rex

from raftredis.client import (
    AsyncClient,
    Client,
    ClusterUnavailableError,
    DistDict,
    UnknownOutcomeError,
    policy,
)
from raftredis.client.distdict import glob_escape
from raftredis.client.policy import Action
from raftredis.reply import Error, Status
from raftredis.statemachine.machine import StateMachine

A = ("10.0.0.1", 7000)
B = ("10.0.0.2", 7001)


def test_classify() -> None:
    moved = rex.MovedError("3999 10.0.0.2:7001")
    assert policy.classify(moved) is Action.REDIRECT
    assert policy.moved_address(moved) == B
    assert policy.classify(rex.TryAgainError("Not applied")) is Action.RETRY
    assert policy.classify(rex.ClusterDownError("No leader")) is Action.RETRY
    assert policy.classify(rex.ConnectionError("Error 111 connecting to x:1. Refused.")) \
        is Action.RETRY
    assert policy.classify(rex.ConnectionError("Connection closed by server.")) \
        is Action.RETRY_IN_DOUBT
    assert policy.classify(rex.TimeoutError("Timeout reading from socket")) \
        is Action.RETRY_IN_DOUBT
    assert policy.classify(rex.ResponseError("UNCERTAIN may or may not")) is Action.RETRY_IN_DOUBT
    assert policy.classify(rex.ResponseError("SESSIONEXPIRED session 3")) \
        is Action.SESSION_EXPIRED
    assert policy.classify(rex.ResponseError("WRONGTYPE Operation")) is Action.DONE
    assert policy.classify(rex.ResponseError("ERR SESSION seq 1 no longer kept")) is Action.DONE


def test_uses_session_only_for_writes() -> None:
    assert policy.uses_session(("INCR", "n"))
    assert policy.uses_session((b"set", b"k", b"v"))
    assert not policy.uses_session(("GET", "n"))
    assert not policy.uses_session(("PING",))
    assert not policy.uses_session(("SESSION.OPEN",))
    assert not policy.uses_session(("NOSUCH", "x"))


def test_parse_address_and_leader_from_slots() -> None:
    assert policy.parse_address("127.0.0.1:7000") == ("127.0.0.1", 7000)
    assert policy.parse_address(("h", "12")) == ("h", 12)
    assert policy.parse_address("[::1]:7000") == ("::1", 7000)
    for bad in ("nohost", ":7000", "h:0", "h:x", "h:70000"):
        with pytest.raises(ValueError):
            policy.parse_address(bad)
    raw = [[0, 16383, [b"10.0.0.2", 7001, b"id2"], [b"10.0.0.1", 7000, b"id1"]]]
    assert policy.leader_from_slots(raw) == B
    parsed = {(0, 16383): {"primary": ("10.0.0.2", 7001), "replicas": []}}
    assert policy.leader_from_slots(parsed) == B
    assert policy.leader_from_slots([]) is None
    assert policy.leader_from_slots({}) is None


def test_backoff_grows_to_cap_with_jitter() -> None:
    b = policy.Backoff(base=0.01, cap=0.2, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(12)]
    assert all(0 < d <= 0.2 for d in delays)
    assert delays[-1] >= 0.1  # at the cap, jitter keeps at least half of it
    assert delays[0] <= 0.02
    b.reset()
    assert b.next_delay() <= 0.02


def test_glob_escape() -> None:
    assert glob_escape(b"a*b?[c]\\") == b"a\\*b\\?\\[c\\]\\\\"


# ---- the retry loop against a scripted fake server --------------------------------------
class FakeConn:
    """Plays one node: a StateMachine behind it (so session dedup is real), plus a script of
    faults to raise before or after applying."""

    def __init__(self, sm: StateMachine, script: list[tuple[str, object]]) -> None:
        self.sm = sm
        self.script = script
        self.sent: list[tuple] = []
        self.response_callbacks: dict = {"SET": lambda r, **kw: r == b"OK"}

    def execute_command(self, *args: object, **options: object) -> object:
        raw = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sent.append(tuple(raw))
        if raw[:2] == [b"CLUSTER", b"SLOTS"]:
            return [[0, 16383, [A[0].encode(), A[1], b"x"]]]
        when, fault = self.script.pop(0) if self.script else ("", None)
        if when == "before":
            raise fault  # type: ignore[misc]
        reply = self.sm.apply(raw, 1000)
        if when == "after":  # applied, but the reply is lost
            raise fault  # type: ignore[misc]
        if isinstance(reply, Error):
            raise rex.ResponseError(str(reply))
        return reply.encode() if isinstance(reply, Status) else reply  # as redis-py parses it

    def close(self) -> None:
        pass


def make_client(script: list[tuple[str, object]], **kw) -> tuple[Client, FakeConn]:
    sm = StateMachine()
    conn = FakeConn(sm, script)
    client = Client([A], deadline=kw.pop("deadline", 2.0), backoff_base=0.001, backoff_cap=0.005,
                    **kw)
    client._conn = lambda addr: conn  # type: ignore[method-assign]
    return client, conn


def execs(conn: FakeConn) -> list[tuple]:
    return [s for s in conn.sent if s[0] == b"SESSION.EXEC"]


def test_lost_reply_is_retried_with_the_same_seq_and_applied_once() -> None:
    client, conn = make_client([
        ("", None),  # SESSION.OPEN
        ("after", rex.ConnectionError("Connection closed by server.")),
        ("before", rex.ResponseError("UNCERTAIN may or may not have been applied")),
        ("before", rex.ClusterDownError("The cluster is down")),
    ])
    assert client.incr("n") == 1
    sent = execs(conn)
    assert len(sent) == 4 and len({s[1:3] for s in sent}) == 1  # same (id, seq) each time
    assert client.incr("n") == 2
    assert execs(conn)[-1][2] == b"2"
    assert conn.sm.read([b"GET", b"n"], 0) == b"2"


def test_reply_callbacks_match_redis_py() -> None:
    client, _ = make_client([])
    assert client.set("k", "v") is True
    assert client.get("k") == b"v"


def test_moved_is_followed() -> None:
    client, conn = make_client([("", None), ("before", rex.MovedError("1 10.0.0.2:7001"))])
    assert client.incr("n") == 1
    assert B in client._known and client.stats["redirects"] == 1


def test_deadline_gives_unavailable_when_nothing_was_sent() -> None:
    client, conn = make_client([("", None)] + [("before", rex.TryAgainError("no"))] * 10_000,
                               deadline=0.2)
    with pytest.raises(ClusterUnavailableError):
        client.incr("n")
    assert conn.sm.read([b"GET", b"n"], 0) is None


def test_deadline_gives_unknown_outcome_when_in_doubt() -> None:
    client, conn = make_client(
        [("", None), ("after", rex.TimeoutError("Timeout reading from socket"))]
        + [("before", rex.ClusterDownError("down"))] * 10_000, deadline=0.2)
    with pytest.raises(UnknownOutcomeError):
        client.incr("n")
    assert conn.sm.read([b"GET", b"n"], 0) == b"1"  # applied once, never twice


def test_expired_session_is_reopened_when_nothing_is_in_doubt() -> None:
    client, conn = make_client([])
    assert client.incr("n") == 1
    first = client.session_id
    conn.sm.apply([b"SESSION.CLOSE", str(first).encode()], 1000)
    assert client.incr("n") == 2
    assert client.session_id != first and client.stats["sessions_opened"] == 2


def test_expired_session_while_in_doubt_is_reported_not_reapplied() -> None:
    client, conn = make_client([])
    assert client.incr("n") == 1
    sid = str(client.session_id).encode()

    # The next INCR is applied, its reply lost; then the session vanishes before the retry.
    orig = conn.execute_command

    def lossy(*args: object, **kw: object) -> object:
        reply = orig(*args, **kw)
        if args[0] == "SESSION.EXEC" and len(execs(conn)) == 2:
            conn.sm.apply([b"SESSION.CLOSE", sid], 1000)
            raise rex.ConnectionError("Connection closed by server.")
        return reply

    conn.execute_command = lossy  # type: ignore[method-assign]
    with pytest.raises(UnknownOutcomeError):
        client.incr("n")
    assert conn.sm.read([b"GET", b"n"], 0) == b"2"


def test_command_errors_are_raised_as_redis_py_does() -> None:
    client, conn = make_client([])
    client.set("s", "x")
    with pytest.raises(rex.ResponseError, match="not an integer"):
        client.incr("s")


def test_distdict_over_the_fake() -> None:
    client, conn = make_client([])
    d = DistDict(client, prefix="p:")
    d["a"] = "1"
    d["b"] = 2
    assert d["a"] == b"1" and d["b"] == b"2"
    assert "a" in d and "zz" not in d
    assert sorted(d) == [b"a", b"b"] and len(d) == 2
    del d["a"]
    with pytest.raises(KeyError):
        del d["a"]
    with pytest.raises(KeyError):
        d["a"]
    with pytest.raises(TypeError):
        d["c"] = object()
    assert conn.sm.read([b"GET", b"p:b"], 0) == b"2"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        Client([])
    with pytest.raises(ValueError):
        Client("h:1", deadline=0)
    with pytest.raises(ValueError):
        Client("h:1", max_in_flight=100)
    with pytest.raises(ValueError):
        Client("h:1").execute()


def test_async_client_retries_with_the_same_seq() -> None:
    sm = StateMachine()
    conn = FakeConn(sm, [("", None), ("after", rex.ConnectionError("Connection closed by server."))])

    class AsyncConn:
        response_callbacks = conn.response_callbacks

        async def execute_command(self, *args: object, **kw: object) -> object:
            return conn.execute_command(*args, **kw)

        async def aclose(self) -> None:
            pass

    async def main() -> list[object]:
        client = AsyncClient("10.0.0.1:7000", deadline=2, backoff_base=0.001, backoff_cap=0.005)
        client._conn = lambda addr: AsyncConn()  # type: ignore[method-assign]
        out = [await client.incr("n") for _ in range(3)]
        out.append(await client.get("n"))
        await client.aclose()
        return out

    assert asyncio.run(main()) == [1, 2, 3, b"3"]
    assert sm.read([b"GET", b"n"], 0) == b"3"


def test_new_seqs_wait_for_the_oldest_unanswered_one() -> None:
    client, _ = make_client([], max_in_flight=2)
    att = client._attempts(0.3)
    sid, s1 = client._take_seq(att, "x")
    _, s2 = client._take_seq(att, "x")
    assert (s1, s2) == (1, 2)
    # seq 3 would be 2 ahead of the unanswered seq 1: refused as not sent (never applied).
    with pytest.raises(ClusterUnavailableError):
        client._take_seq(client._attempts(0.1), "x")
    client._release(sid, s1)
    assert client._take_seq(client._attempts(0.1), "x") == (sid, 3)


def test_async_seq_spread_is_bounded_too() -> None:
    async def main() -> None:
        client = AsyncClient("10.0.0.1:7000", max_in_flight=2)
        client._session = 7  # as if opened
        att = client._attempts(0.1)
        assert await client._take_seq(att, "x") == (7, 1)
        assert await client._take_seq(att, "x") == (7, 2)
        with pytest.raises(ClusterUnavailableError):
            await client._take_seq(client._attempts(0.1), "x")
        await client._release(7, 1)
        assert await client._take_seq(client._attempts(0.1), "x") == (7, 3)

    asyncio.run(main())
