"""PeerTransport on loopback: delivery, order, restarts, dead peers, garbage, limits.

Every test runs inside asyncio.run under a deadline; waits are on conditions, never sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest

from raftredis.raft.messages import Append, AppendResp, Heartbeat, Message, Vote
from raftredis.raft.types import Entry
from raftredis.transport import peers as peers_mod
from raftredis.transport.codec import encode
from raftredis.transport.framing import frame
from raftredis.transport.handshake import Session, accept_handshake, dial_handshake
from raftredis.transport.peers import PeerTransport

SECRET = b"s3cret-for-tests"
HOST = "127.0.0.1"


def run(coro: Awaitable[Any], timeout: float = 60.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def run_on(uvloop: Any, coro: Awaitable[Any]) -> Any:
    """run() on a uvloop event loop."""
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        return run(coro)
    finally:
        asyncio.set_event_loop_policy(old)


class Sink:
    """Collects delivered messages and lets a test wait for a condition on them."""

    def __init__(self) -> None:
        self.msgs: list[Message] = []
        self.metas: list[tuple[int, dict[str, str]]] = []
        self._changed = asyncio.Event()

    def __call__(self, msg: Message) -> None:
        self.msgs.append(msg)
        self._changed.set()

    def meta(self, peer: int, meta: dict[str, str]) -> None:
        self.metas.append((peer, meta))
        self._changed.set()

    def poke(self) -> None:
        self._changed.set()

    async def until(self, cond: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not cond():
                self._changed.clear()
                await self._changed.wait()

    def from_(self, src: int) -> list[Message]:
        return [m for m in self.msgs if m.src == src]


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition that no callback signals (status counters): re-check each tick."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


async def cluster(n: int, **kw: Any) -> tuple[list[PeerTransport], list[Sink]]:
    sinks = [Sink() for _ in range(n)]
    ts = [
        PeerTransport(i + 1, SECRET, HOST, 0, {}, sinks[i], meta={"client": f"host{i + 1}:700{i}"},
                      on_peer_meta=sinks[i].meta, **kw)
        for i in range(n)
    ]
    for t in ts:
        await t.start()
    for t in ts:
        for u in ts:
            if u is not t:
                t.set_peer(u.node_id, HOST, u.listen_port)
    # Tests start from a fully linked cluster, both directions of every pair.
    await until(lambda: all(st["connected"] and st["inbound"]
                            for t in ts for st in t.status().values()))
    return ts, sinks


async def send_all(t: PeerTransport, msgs: list[Message], burst: int = 1000) -> None:
    """Send in bursts no bigger than the queue, waiting for each to be written out."""
    for k in range(0, len(msgs), burst):
        for m in msgs[k : k + burst]:
            t.send(m)
        await until(lambda: all(st["queued"] == 0 for st in t.status().values()))


async def stop_all(ts: list[PeerTransport]) -> None:
    await asyncio.gather(*(t.stop() for t in ts))


def hb(src: int, dst: int, i: int) -> Heartbeat:
    return Heartbeat(src, dst, 1, i, i.to_bytes(4, "big"))


def test_two_transports_exchange_thousands_of_messages_in_order() -> None:
    async def main() -> None:
        (a, b), (sa, sb) = await cluster(2)
        try:
            ents = tuple(Entry(1, i, data=b"v" * 50) for i in range(1, 33))
            n = 5000
            await asyncio.gather(
                send_all(a, [hb(1, 2, i) if i % 10 else Append(1, 2, 1, i, 1, ents, i)
                             for i in range(n)]),
                send_all(b, [AppendResp(2, 1, 1, True, i) for i in range(n)]),
            )
            await sb.until(lambda: len(sb.msgs) == n)
            await sa.until(lambda: len(sa.msgs) == n)
            assert [m.commit for m in sb.msgs] == list(range(n))  # order kept, nothing lost
            assert all(m.entries == ents for m in sb.msgs if isinstance(m, Append))
            assert [m.index for m in sa.msgs] == list(range(n))
            st = a.status()[2]
            assert st["connected"] and st["sent"] == n and st["dropped"] == 0
            assert b.status()[1]["received"] == n
            # Each learnt the other's announced client address in the handshake.
            assert (2, {"client": "host2:7001"}) in sa.metas
            assert (1, {"client": "host1:7000"}) in sb.metas
        finally:
            await stop_all([a, b])

    run(main())


def test_three_transports_all_to_all() -> None:
    async def main() -> None:
        ts, sinks = await cluster(3)
        try:
            n = 2000
            await asyncio.gather(*(
                send_all(t, [hb(t.node_id, dst, i) for i in range(n) for dst in (1, 2, 3)
                             if dst != t.node_id])
                for t in ts
            ))
            for s in sinks:
                await s.until(lambda s=s: len(s.msgs) == 2 * n)
            for k, s in enumerate(sinks, start=1):
                for src in {1, 2, 3} - {k}:
                    got = s.from_(src)
                    assert [m.commit for m in got] == list(range(n))
                    assert all(m.dst == k for m in got)
        finally:
            await stop_all(ts)

    run(main())


def test_peer_restarting_on_a_new_port_is_followed_via_set_peer() -> None:
    async def main() -> None:
        (a, b), (sa, sb) = await cluster(2)
        b2: PeerTransport | None = None
        try:
            a.send(hb(1, 2, 0))
            await sb.until(lambda: len(sb.msgs) == 1)
            await b.stop()
            await until(lambda: not a.status()[2]["connected"])
            sb2 = Sink()
            b2 = PeerTransport(2, SECRET, HOST, 0, {1: (HOST, a.listen_port)}, sb2,
                               meta={"client": "newhost:7001"}, on_peer_meta=sb2.meta)
            await b2.start()
            assert b2.listen_port != b.listen_port
            a.set_peer(2, HOST, b2.listen_port)
            assert a.status()[2]["address"] == f"{HOST}:{b2.listen_port}"
            for i in range(1, 101):
                a.send(hb(1, 2, i))
                b2.send(AppendResp(2, 1, 1, True, i))
            await sb2.until(lambda: len(sb2.msgs) == 100)
            assert [m.commit for m in sb2.msgs] == list(range(1, 101))
            await sa.until(lambda: len(sa.msgs) == 100)
            # a learnt b's new client address from the new handshake.
            await sa.until(lambda: sa.metas[-1] == (2, {"client": "newhost:7001"}))
            assert a.status()[2]["reconnects"] >= 1
        finally:
            await stop_all([a] + ([b2] if b2 else []))

    run(main())


def test_one_dead_peer_does_not_delay_another() -> None:
    async def main() -> None:
        # A black hole: accepts connections and never answers, the worst kind of dead peer.
        held: list[asyncio.StreamWriter] = []

        async def hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)

        hole_srv = await asyncio.start_server(hole, HOST, 0)
        (a, b), (_sa, sb) = await cluster(2, queue_limit=500, handshake_timeout=30.0)
        try:
            a.set_peer(3, HOST, hole_srv.sockets[0].getsockname()[1])
            a.set_peer(4, HOST, 1)  # nothing listens on port 1: refused at once
            n = 3000
            for k in range(0, n, 250):  # bursts the live peer's queue can hold
                for i in range(k, k + 250):
                    a.send(hb(1, 3, i))
                    a.send(hb(1, 4, i))
                    a.send(hb(1, 2, i))
                await sb.until(lambda k=k: len(sb.msgs) >= k + 250, timeout=10.0)
            await sb.until(lambda: len(sb.msgs) == n, timeout=10.0)
            st = a.status()
            # All delivered while the first dial to the hole still waits out its 30 s
            # handshake: the live peer did not wait behind it (a load-proof way to say so).
            assert st[3]["last_error"] == "", st[3]["last_error"]
            assert st[2]["dropped"] == 0
            assert not st[3]["connected"] and not st[4]["connected"]
            assert st[3]["queued"] == 500 and st[3]["dropped"] == n - 500
            assert st[4]["queued"] == 500 and st[4]["dropped"] == n - 500
            await until(lambda: a.status()[4]["last_error"].startswith("connect failed"))
        finally:
            await stop_all([a, b])
            for w in held:
                w.close()
            hole_srv.close()

    run(main())


def test_garbage_on_the_peer_port_harms_nothing_else(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "raftredis.transport")

    async def main() -> None:
        (a, b), (sa, _sb) = await cluster(2, handshake_timeout=1.0)
        try:
            b.send(hb(2, 1, 0))
            await sa.until(lambda: len(sa.msgs) == 1)
            junk = []
            for payload in (os.urandom(4096), b"\xff\xff\xff\xff", b"GET / HTTP/1.0\r\n\r\n",
                            frame(b"\x93\x01\x02\x03"), b""):
                r, w = await asyncio.open_connection(HOST, a.listen_port)
                w.write(payload)
                junk.append((r, w))
            for i in range(1, 1001):
                b.send(hb(2, 1, i))
            await sa.until(lambda: len(sa.msgs) == 1001)
            for r, w in junk:  # each garbage connection is closed by a (handshake timeout at most)
                async with asyncio.timeout(5):
                    with contextlib.suppress(ConnectionResetError):
                        await r.read()
                w.close()
            assert [m.commit for m in sa.msgs] == list(range(1001))
            assert b.status()[1]["connected"] and b.status()[1]["reconnects"] == 0
        finally:
            await stop_all([a, b])

    run(main())
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert refused and all("127.0.0.1" in r.getMessage() for r in refused)



def test_a_peer_that_stops_reading_is_dropped_after_the_write_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The pump waits for room in the kernel's buffer only under WRITE_TIMEOUT; past it the
    # connection is dropped and redialled, and a live peer is served meanwhile.
    monkeypatch.setattr(peers_mod, "WRITE_TIMEOUT", 0.5)

    async def main() -> None:
        held: list[asyncio.StreamWriter] = []

        async def stuck(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await accept_handshake(reader, writer, 3, SECRET, {}, lambda _i: True, 5.0)
            held.append(writer)  # authenticated, then it never reads again

        srv = await asyncio.start_server(stuck, HOST, 0)
        (a, b), (_sa, sb) = await cluster(2)
        try:
            a.set_peer(3, HOST, srv.sockets[0].getsockname()[1])
            await until(lambda: a.status()[3]["connected"])
            big = Append(1, 3, 1, 0, 0, (Entry(1, 1, data=b"x" * (512 << 10)),), 0)
            for _ in range(64):  # 32 MiB: more than loopback's socket buffers hold
                a.send(big)
            for i in range(100):
                a.send(hb(1, 2, i))
            await sb.until(lambda: len(sb.msgs) == 100)
            await until(lambda: a.status()[3]["last_error"].startswith("connection lost"),
                        timeout=20.0)
            assert "TimeoutError" in a.status()[3]["last_error"]
            await until(lambda: len(held) >= 2, timeout=20.0)  # it dialled again
        finally:
            await stop_all([a, b])
            for w in held:
                w.close()
            srv.close()

    run(main())

async def _impostor(t: PeerTransport, as_id: int) -> tuple[asyncio.StreamReader,
                                                            asyncio.StreamWriter, Session]:
    """An authenticated connection to `t` claiming `as_id` (it knows the secret)."""
    r, w = await asyncio.open_connection(HOST, t.listen_port)
    session = await dial_handshake(r, w, as_id, t.node_id, SECRET, {}, 5.0)
    return r, w, session


def test_after_handshake_bad_frames_and_messages_close_that_connection_only() -> None:
    async def main() -> None:
        (a, b, c), (sa, _sb, _sc) = await cluster(3)
        try:
            for make in (lambda s: s.sealer.seal_messages([b"\xc1"]),  # undecodable message
                         lambda s: s.sealer.seal_messages([msgpack.packb([99, 2, 1, 1])]),
                         lambda s: b"\x7f\xff\xff\xff",  # record length over the limit
                         lambda s: frame(encode(hb(2, 1, 0)))):  # a frame in clear (v1)
                r, w, session = await _impostor(a, 2)
                w.write(make(session))
                async with asyncio.timeout(5):
                    assert await r.read() == b""
                w.close()
            # Node 3's link to node 1 never noticed; node 2 redials after losing its inbound.
            for i in range(200):
                c.send(hb(3, 1, i))
                b.send(hb(2, 1, i))
            await sa.until(lambda: len(sa.from_(3)) == 200 and len(sa.from_(2)) >= 150)
            assert c.status()[1]["reconnects"] == 0
        finally:
            await stop_all([a, b, c])

    run(main())


def test_messages_with_wrong_src_or_dst_are_dropped() -> None:
    async def main() -> None:
        (a, b, c), (sa, _sb, _sc) = await cluster(3)
        try:
            _r, w, session = await _impostor(a, 2)
            bad_src = encode(Vote(3, 1, 9, 0, 0))  # claims to be 3 on 2's connection
            bad_dst = encode(Vote(2, 3, 9, 0, 0))  # meant for another node
            good = encode(Vote(2, 1, 9, 0, 0))
            w.write(session.sealer.seal_messages([bad_src, bad_dst, good]))
            await sa.until(lambda: len(sa.msgs) == 1)
            assert sa.msgs == [Vote(2, 1, 9, 0, 0)]
            assert a.status()[2]["rejected"] == 2
            w.close()
        finally:
            await stop_all([a, b, c])

    run(main())


def test_wrong_secret_is_refused_and_delivers_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "raftredis.transport")

    async def main() -> None:
        (a, b), (sa, _sb) = await cluster(2)
        sx = Sink()
        x = PeerTransport(3, b"not-the-secret", HOST, 0, {}, sx)
        a.set_peer(3, HOST, 1)  # a knows id 3, so only the secret can keep it out
        await x.start()
        try:
            x.set_peer(1, HOST, a.listen_port)
            for i in range(10):
                x.send(hb(3, 1, i))
            await until(lambda: "authentication" in x.status()[1]["last_error"])
            assert not x.status()[1]["connected"]
            b.send(hb(2, 1, 0))  # the real cluster still works
            await sa.until(lambda: len(sa.msgs) == 1)
            assert sa.from_(3) == []
        finally:
            await stop_all([a, b, x])

    run(main())
    assert any("refused" in r.getMessage() and "127.0.0.1" in r.getMessage()
               for r in caplog.records)


def test_unknown_node_id_is_refused() -> None:
    async def main() -> None:
        (a, b), (sa, _sb) = await cluster(2)
        x = PeerTransport(7, SECRET, HOST, 0, {1: (HOST, a.listen_port)}, Sink())
        await x.start()
        try:
            x.send(hb(7, 1, 0))
            await until(lambda: "unknown node id 7" in x.status()[1]["last_error"])
            assert sa.msgs == []
        finally:
            await stop_all([a, b, x])

    run(main())


def test_admission_lets_an_authenticated_newcomer_in_and_dials_it_back() -> None:
    """A node that has not applied the entry adding a newer member (that member may
    lead by now) admits it once it proves the secret, at the address it announces."""
    async def main() -> None:
        (a, b), (sa, _sb) = await cluster(2)
        asked: list[tuple[int, dict[str, str]]] = []

        def admit(pid: int, meta: dict[str, str]) -> tuple[str, int] | None:
            asked.append((pid, meta))
            host, _, port = meta.get("peer", "").rpartition(":")
            return (host, int(port)) if pid == 7 and port else None

        a.set_admission(admit)
        sx = Sink()
        with socket.socket() as probe:  # a free port, so x can announce it
            probe.bind((HOST, 0))
            x_port = probe.getsockname()[1]
        # It says it listens everywhere: a dials it back where it came from.
        x = PeerTransport(7, SECRET, HOST, x_port, {1: (HOST, a.listen_port)}, sx,
                          meta={"peer": f"0.0.0.0:{x_port}"})
        await x.start()
        y = PeerTransport(8, SECRET, HOST, 0, {1: (HOST, a.listen_port)}, Sink(),
                          meta={"peer": f"{HOST}:1"})
        await y.start()
        forged = PeerTransport(9, b"another-secret-entirely!", HOST, 0,
                               {1: (HOST, a.listen_port)}, Sink(), meta={"peer": f"{HOST}:1"})
        await forged.start()
        try:
            x.send(hb(7, 1, 0))
            await sa.until(lambda: any(m.src == 7 for m in sa.msgs))
            assert 7 in a.status()  # and a dials back: its heartbeat reaches x
            a.send(hb(1, 7, 0))
            await sx.until(lambda: any(m.src == 1 for m in sx.msgs))
            y.send(hb(8, 1, 0))  # authenticated, but admission says no
            forged.send(hb(9, 1, 0))  # never proves the secret: never admitted
            await until(lambda: any(p == 8 for p, _ in asked))
            await until(lambda: forged.status()[1]["last_error"] != "")
            assert 8 not in a.status() and 9 not in a.status()
            assert not any(m.src in (8, 9) for m in sa.msgs)
            # The refusal of 8 is said at its hello: its dialer backs off, no redial storm.
            assert "unknown node id 8" in y.status()[1]["last_error"]
        finally:
            await stop_all([a, b, x, y, forged])

    run(main())


def test_remove_peer_and_unknown_destinations() -> None:
    async def main() -> None:
        (a, b), (_sa, sb) = await cluster(2)
        try:
            a.send(hb(1, 2, 0))
            await sb.until(lambda: len(sb.msgs) == 1)
            a.remove_peer(2)
            assert 2 not in a.status()
            a.send(hb(1, 2, 1))
            a.send(hb(1, 9, 1))
            assert a.dropped_unknown == 2
            # b's link to a is refused now that a no longer knows node 2.
            b.send(hb(2, 1, 0))
            await until(lambda: "unknown node id 2" in b.status()[1]["last_error"])
            with pytest.raises(ValueError):
                a.set_peer(1, HOST, 1)
        finally:
            await stop_all([a, b])

    run(main())


def test_oversized_message_is_dropped_by_the_sender_and_the_link_stays_up() -> None:
    async def main() -> None:
        (a, b), (_sa, sb) = await cluster(2, max_frame=4096)
        try:
            big = Append(1, 2, 1, 0, 0, (Entry(1, 1, data=b"x" * 8000),), 0)
            a.send(big)
            a.send(hb(1, 2, 1))
            await sb.until(lambda: len(sb.msgs) == 1)
            assert sb.msgs == [hb(1, 2, 1)]
            st = a.status()[2]
            assert st["dropped"] == 1 and st["reconnects"] == 0
        finally:
            await stop_all([a, b])

    run(main())


def test_messages_sent_before_start_are_delivered_and_stop_is_clean() -> None:
    async def main() -> None:
        initial = set(asyncio.all_tasks())
        sb = Sink()
        b = PeerTransport(2, SECRET, HOST, 0, {}, sb)
        await b.start()
        a = PeerTransport(1, SECRET, HOST, 0, {2: ("localhost", b.listen_port)}, Sink())
        b.set_peer(1, HOST, 1)
        a.send(hb(1, 2, 0))  # queued before a is even listening; host given by name
        await a.start()
        await sb.until(lambda: len(sb.msgs) == 1)
        await stop_all([a, b])
        assert set(asyncio.all_tasks()) == initial  # every transport task has finished

    run(main())


def test_works_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        assert "uvloop" in type(asyncio.get_running_loop()).__module__
        (a, b), (sa, sb) = await cluster(2)
        try:
            await asyncio.gather(send_all(a, [hb(1, 2, i) for i in range(3000)]),
                                 send_all(b, [hb(2, 1, i) for i in range(3000)]))
            await sa.until(lambda: len(sa.msgs) == 3000)
            await sb.until(lambda: len(sb.msgs) == 3000)
            assert [m.commit for m in sb.msgs] == list(range(3000))
        finally:
            await stop_all([a, b])

    run_on(uvloop, main())


def test_stopping_while_a_peer_name_resolves_leaves_no_stray_failure() -> None:
    """uvloop's create_connection, cancelled while it resolves a name, left the
    resolver's gaierror in a future no one read: every stop of a node whose peers'
    names did not resolve (a swarm task being replaced) logged "Future exception was
    never retrieved"."""
    import gc

    uvloop = pytest.importorskip("uvloop")
    problems: list[str] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda _loop, ctx: problems.append(str(ctx.get("message"))))
        for _ in range(10):
            t = PeerTransport(1, SECRET, HOST, 0, {2: ("raftredis-no-such-peer.invalid", 7000)},
                              Sink())
            await t.start()
            await asyncio.sleep(0)  # the dial has begun resolving
            await t.stop()
        # The resolver answers in order: once the same name has failed again, the
        # cancelled dials' lookups have ended too. A future that failed unread is
        # reported when collected.
        loop = asyncio.get_running_loop()
        for _ in range(10):
            with contextlib.suppress(OSError):
                await loop.getaddrinfo("raftredis-no-such-peer.invalid", 7000)
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0)

    run_on(uvloop, main())
    assert problems == []


def test_newest_handshake_wins_when_the_pending_bound_is_reached() -> None:
    async def main() -> None:
        (a, b), (sa, _sb) = await cluster(2, handshake_timeout=30.0, step_timeout=30.0,
                                          max_pending_handshakes=8, max_pending_per_host=4)
        silent = []
        try:
            for _ in range(4):
                silent.append(await asyncio.open_connection(HOST, a.listen_port))
            await until(lambda: a.pending_handshakes == 4)
            # A fifth from the same host evicts the oldest instead of being refused.
            silent.append(await asyncio.open_connection(HOST, a.listen_port))
            async with asyncio.timeout(5):
                assert await silent[0][0].read() == b""
            await until(lambda: a.handshakes_evicted == 1 and a.pending_handshakes == 4)
            b.send(hb(2, 1, 7))  # the established link is unaffected
            await sa.until(lambda: len(sa.msgs) == 1)
        finally:
            for _r, w in silent:
                w.close()
            await stop_all([a, b])

    run(main())


def _hello_bytes() -> bytes:
    from raftredis.transport.handshake import PROTOCOL

    return frame(msgpack.packb([PROTOCOL, 2, b"n" * 32, {}], use_bin_type=True))


@pytest.mark.parametrize("opening", ["hello", "half-header"])
def test_a_connection_that_has_spoken_is_kept_over_silent_ones(opening: str) -> None:
    """A HELLO, or any byte at all: bytes count from their arrival, not from when the
    handshake task reads a whole HELLO (under a flood, many newer connections are admitted
    before that task runs)."""

    async def main() -> None:
        (a, b), _ = await cluster(2, handshake_timeout=30.0, step_timeout=30.0,
                                  max_pending_handshakes=8, max_pending_per_host=4)
        conns = []
        try:
            r, w = await asyncio.open_connection(HOST, a.listen_port)
            if opening == "hello":
                w.write(_hello_bytes())
                await r.readexactly(4)  # the challenge: a holds this one as "said hello"
            else:
                w.write(b"\x00\x00")  # half a frame header: not a HELLO, but not silent
                await w.drain()
            conns.append((r, w))
            for _ in range(10):
                conns.append(await asyncio.open_connection(HOST, a.listen_port))
            await until(lambda: a.handshakes_evicted == 7)
            assert a.pending_handshakes == 4
            with contextlib.suppress(asyncio.TimeoutError):
                async with asyncio.timeout(0.2):  # still open: no EOF
                    await r.read(1 << 16)
            assert not r.at_eof()
            # The 7 evicted are the oldest silent ones.
            for r2, _w2 in conns[1:8]:
                async with asyncio.timeout(5):
                    assert await r2.read() == b""
        finally:
            for _r, w in conns:
                w.close()
            await stop_all([a, b])

    run(main())


async def _open_silent(port: int, n: int) -> list[tuple[asyncio.StreamReader,
                                                        asyncio.StreamWriter]]:
    out = []
    for _ in range(n):
        out.append(await asyncio.open_connection(HOST, port))
    return out


@pytest.mark.parametrize("flood", [200, 1000])
def test_a_restarted_peer_rejoins_through_a_flood_of_silent_connections(
    flood: int, caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 17: silent connections used to fill every handshake slot and keep a restarted
    follower out, and each refusal wrote a warning."""
    caplog.set_level(logging.INFO, "raftredis.transport")

    async def main() -> int:
        (a, b), (sa, _sb) = await cluster(2)
        b2: PeerTransport | None = None
        silent: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            await b.stop()
            await until(lambda: not a.status()[2]["connected"])
            caplog.clear()
            silent = await _open_silent(a.listen_port, flood)  # and held open
            assert a.pending_handshakes <= a.max_pending_per_host
            sb2 = Sink()
            b2 = PeerTransport(2, SECRET, HOST, 0, {1: (HOST, a.listen_port)}, sb2)
            await b2.start()
            a.set_peer(2, HOST, b2.listen_port)
            for i in range(100):
                b2.send(hb(2, 1, i))
                a.send(hb(1, 2, i))
            await sa.until(lambda: len(sa.msgs) == 100, timeout=10.0)
            await sb2.until(lambda: len(sb2.msgs) == 100, timeout=10.0)
            # In on its first dial: its connection evicted a silent one, not the reverse.
            assert b2.status()[1]["last_error"] == "", b2.status()[1]["last_error"]
            assert b2.status()[1]["reconnects"] == 0
            assert [m.commit for m in sa.msgs] == list(range(100))
            # Every silent socket is closed by a within the step deadline (1 s).
            async with asyncio.timeout(10):
                for r, _w in silent:
                    with contextlib.suppress(ConnectionResetError):
                        assert await r.read() == b""
            await until(lambda: a.pending_handshakes == 0)
            return a.handshakes_evicted
        finally:
            for _r, w in silent:
                w.close()
            await stop_all([a] + ([b2] if b2 else []))

    evicted = run(main())
    assert evicted >= flood - 32
    lines = [r.getMessage() for r in caplog.records]
    # A handful of lines, each kind rate-limited with a count (was one line per socket).
    flood_lines = [m for m in lines if "handshake" in m]
    assert len(flood_lines) <= 6, "\n".join(lines)
    assert any("more like this" in m for m in flood_lines), "\n".join(lines)
    assert len(lines) <= 20, "\n".join(lines)


def test_a_peer_gets_through_while_silent_connections_keep_coming() -> None:
    """A flooder that reopens every socket we close, so 300 are always pending or opening."""

    async def main() -> None:
        (a, b), (sa, _sb) = await cluster(2)
        stop = asyncio.Event()
        opened = 0

        async def flooder() -> None:
            nonlocal opened
            while not stop.is_set():
                try:
                    r, w = await asyncio.open_connection(HOST, a.listen_port)
                except OSError:
                    await asyncio.sleep(0.01)
                    continue
                opened += 1
                try:
                    with contextlib.suppress(ConnectionError, OSError):
                        await r.read()  # until a closes it
                finally:
                    w.close()

        floods = [asyncio.create_task(flooder()) for _ in range(300)]
        b2: PeerTransport | None = None
        try:
            await b.stop()
            await until(lambda: opened > 1000, timeout=30.0)
            sb2 = Sink()
            b2 = PeerTransport(2, SECRET, HOST, 0, {1: (HOST, a.listen_port)}, sb2)
            await b2.start()
            a.set_peer(2, HOST, b2.listen_port)
            for i in range(100):
                b2.send(hb(2, 1, i))
            # The deadline is a hang guard, not a speed goal: through while the flood runs
            # (one test loop hosts a, b2 and all 300 flooders, so b2 itself is slow to write
            # its HELLO; separate processes write it within microseconds of connecting).
            await sa.until(lambda: len(sa.msgs) == 100, timeout=30.0)
            evicted = a.handshakes_evicted
            await until(lambda: a.handshakes_evicted > evicted + 100)  # the flood went on
            assert [m.commit for m in sa.msgs] == list(range(100))
        finally:
            stop.set()
            for t in floods:
                t.cancel()
            await asyncio.gather(*floods, return_exceptions=True)
            await stop_all([a] + ([b2] if b2 else []))

    run(main())
