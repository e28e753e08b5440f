"""PeerTransport with tls (tls-cluster yes) on loopback: Raft messages flow over mutual TLS
with the cluster CA; a transport whose certificate another CA signed, though it knows the
secret, neither reaches nor is reached; silent connections to a TLS peer port are evicted
like plain ones, so they cannot keep a peer out."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from raftredis.tls import PeerTls, TlsFiles, peer_contexts
from raftredis.transport.peers import PeerTransport
from tests.integration.test_transport_peers import HOST, SECRET, Sink, hb, until
from tests.tlscerts import make_tls_files


def _contexts(directory: Path, name: str) -> PeerTls:
    f = make_tls_files(directory, name)
    return peer_contexts(TlsFiles(str(f.node.cert), str(f.node.key), str(f.ca)))


@pytest.fixture(scope="module")
def cluster_tls(tmp_path_factory: pytest.TempPathFactory) -> PeerTls:
    return _contexts(tmp_path_factory.mktemp("ca"), "ca")


@pytest.fixture(scope="module")
def rogue_tls(tmp_path_factory: pytest.TempPathFactory) -> PeerTls:
    return _contexts(tmp_path_factory.mktemp("rogue"), "rogue")


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest):
    """Each test on both event loops: nodes run uvloop, whose TLS is its own code."""
    if request.param == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return lambda coro: uvloop.run(asyncio.wait_for(coro, 60))
    return lambda coro: asyncio.run(asyncio.wait_for(coro, 60))


def _transport(i: int, sink: Sink, tls: PeerTls, **kw) -> PeerTransport:
    return PeerTransport(i, SECRET, HOST, 0, {}, sink, meta={"client": f"h{i}:700{i}"},
                         on_peer_meta=sink.meta, tls=tls, **kw)


def test_messages_flow_over_tls_and_a_rogue_certificate_stays_off(
        cluster_tls: PeerTls, rogue_tls: PeerTls, run) -> None:
    async def main() -> None:
        sinks = [Sink() for _ in range(3)]
        ts = [_transport(1, sinks[0], cluster_tls), _transport(2, sinks[1], cluster_tls),
              _transport(3, sinks[2], rogue_tls)]
        for t in ts:
            await t.start()
        try:
            for t in ts:
                for u in ts:
                    if u is not t:
                        t.set_peer(u.node_id, HOST, u.listen_port)
            for i in range(100):
                for t in ts:
                    for dst in (1, 2, 3):
                        if dst != t.node_id:
                            t.send(hb(t.node_id, dst, i))
            a, b = sinks[0], sinks[1]
            await b.until(lambda: len(b.from_(1)) == 100)
            await a.until(lambda: len(a.from_(2)) == 100)
            assert [m.commit for m in b.from_(1)] == list(range(100))
            assert (2, {"client": "h2:7002"}) in a.metas  # the meta crossed inside TLS
            # Both directions with the rogue fail at the TLS handshake, nothing crosses.
            await until(lambda: "SSL" in ts[0].status()[3]["last_error"]
                        and "SSL" in ts[2].status()[1]["last_error"])
            assert not ts[0].status()[3]["connected"] and not ts[2].status()[1]["connected"]
            assert a.from_(3) == [] and sinks[2].msgs == [] and sinks[2].metas == []
        finally:
            await asyncio.gather(*(t.stop() for t in ts))

    run(main())


def test_silent_connections_do_not_keep_a_peer_off_a_tls_port(cluster_tls: PeerTls,
                                                               run) -> None:
    async def main() -> None:
        sa, sb = Sink(), Sink()
        b = _transport(2, sb, cluster_tls, max_pending_handshakes=16, max_pending_per_host=8)
        await b.start()
        a = _transport(1, sa, cluster_tls)
        silent: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            for _ in range(200):
                silent.append(await asyncio.open_connection(HOST, b.listen_port))
            await until(lambda: b.pending_handshakes == 8)  # the bound, not 200
            await a.start()
            a.set_peer(2, HOST, b.listen_port)
            b.set_peer(1, HOST, a.listen_port)
            a.send(hb(1, 2, 7))
            await sb.until(lambda: len(sb.from_(1)) == 1)
            assert b.handshakes_evicted > 0
            # An evicted silent connection was closed, not left open.
            assert await asyncio.wait_for(silent[0][0].read(1), 10) == b""
        finally:
            for _, w in silent:
                with contextlib.suppress(Exception):
                    w.close()
            await asyncio.gather(a.stop(), b.stop())

    run(main())


def test_plain_dialer_is_refused_by_a_tls_peer_port(cluster_tls: PeerTls, run) -> None:
    """A node with tls-cluster no cannot talk to one with yes (the TLS handshake fails
    on its plain HELLO), and the other way round."""
    async def main() -> None:
        sa, sb = Sink(), Sink()
        b = _transport(2, sb, cluster_tls)
        a = PeerTransport(1, SECRET, HOST, 0, {}, sa)
        await b.start()
        await a.start()
        try:
            a.set_peer(2, HOST, b.listen_port)
            b.set_peer(1, HOST, a.listen_port)
            a.send(hb(1, 2, 1))
            b.send(hb(2, 1, 1))
            await until(lambda: a.status()[2]["last_error"] and b.status()[1]["last_error"])
            assert sb.msgs == [] and sa.msgs == []
        finally:
            await asyncio.gather(a.stop(), b.stop())

    run(main())
