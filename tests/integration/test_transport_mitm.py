"""A man in the middle of the peer link (issue 17): a relay that reads, flips, drops,
replays, reorders or injects frames learns nothing and gets nothing through.

The relay is tests/integration/netproxy.py with a FrameTap: it sees each direction of each
connection as the length-prefixed frames peers send (handshake frames 0 and 1 from the
dialer, then one sealed record per frame). First between two PeerTransports in this
process, where what reaches on_message can be checked exactly; then between real node
processes, where the replicated state must stay the same on every node.

Waits are conditions with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

import pytest
import redis

from raftredis.miniclient import call
from raftredis.raft.messages import Append, Heartbeat, Message
from raftredis.raft.types import Entry
from raftredis.transport.codec import encode
from raftredis.transport.framing import frame
from raftredis.transport.peers import PeerTransport
from raftredis.transport.seal import Sealer
from tests.integration.harness import Cluster, wait_for
from tests.integration.netproxy import FrameTap, NetProxy
from tests.integration.test_transport_peers import SECRET, Sink, run, until

HOST = "127.0.0.1"
STORED_VALUE = b"stored-value-a-relay-must-not-read-7f3a"
FIRST_RECORD = 2  # frames 0 and 1 of the dialer's stream are HELLO and PROOF


def forged_append() -> Append:
    """What the review's relay injected: an entry the follower would have applied."""
    return Append(1, 2, 1, 1, 1, (Entry(1, 2, data=b"SET pwned by-mitm"),), 2)


def forged_record() -> bytes:
    """A record of the right shape sealed with a key the relay made up."""
    return bytes(Sealer(os.urandom(32)).seal_messages([encode(forged_append())]))


def flip(fr: bytes, pos: int) -> bytes:
    b = bytearray(fr)
    b[pos] ^= 0x01
    return bytes(b)


# How the relay treats the dialer's frames of its first connection: frame index -> the
# frames it sends instead. `m1` travels in record 2, `m2` in record 3.
MODES: dict[str, Callable[[FrameTap, int, bytes], list[bytes] | None]] = {
    "flip a ciphertext byte": lambda t, i, fr: [flip(fr, len(fr) // 2)] if i == 3 else None,
    "flip a tag byte": lambda t, i, fr: [flip(fr, len(fr) - 1)] if i == 3 else None,
    "shorten the length": lambda t, i, fr: (
        [(len(fr) - 5).to_bytes(4, "big") + fr[4:-1]] if i == 3 else None),
    "replay an earlier record": lambda t, i, fr: (
        [fr, t.frames[(1, "fwd")][FIRST_RECORD]] if i == 3 else None),
    "reorder two records": lambda t, i, fr: (
        [] if i == 2 else [fr, t.frames[(1, "fwd")][2]] if i == 3 else None),
    "drop a record": lambda t, i, fr: [] if i == 2 else None,
    "inject a forged sealed record": lambda t, i, fr: [forged_record(), fr] if i == 3 else None,
    "inject a frame in clear": lambda t, i, fr: (
        [frame(encode(forged_append())), fr] if i == 3 else None),
}
# What on_message may see of m1 and m2 in each case (never anything else).
DELIVERED = {
    "flip a ciphertext byte": ["m1"], "flip a tag byte": ["m1"], "shorten the length": ["m1"],
    "replay an earlier record": ["m1", "m2"], "reorder two records": [], "drop a record": [],
    "inject a forged sealed record": ["m1"], "inject a frame in clear": ["m1"],
}


async def relayed_pair(net: NetProxy, tap: FrameTap) -> tuple[PeerTransport, PeerTransport,
                                                               Sink, Sink]:
    """Node 1 reaches node 2 through the relay; node 2 reaches node 1 directly."""
    sa, sb = Sink(), Sink()
    a = PeerTransport(1, SECRET, HOST, 0, {}, sa)
    b = PeerTransport(2, SECRET, HOST, 0, {}, sb)
    await a.start()
    await b.start()
    port = await asyncio.to_thread(net.add_link, 1, 2, (HOST, b.listen_port))
    await asyncio.to_thread(net.set_tamper, 1, 2, tap)
    a.set_peer(2, HOST, port)
    b.set_peer(1, HOST, a.listen_port)
    await until(lambda: a.status()[2]["connected"] and b.status()[1]["inbound"])
    return a, b, sa, sb


def genuine(i: int) -> Message:
    if i == 1:
        return Append(1, 2, 1, 0, 0, (Entry(1, 1, data=b"SET k " + STORED_VALUE),), 1)
    return Heartbeat(1, 2, 1, i, b"ctx")


@pytest.mark.parametrize("mode", list(MODES))
def test_relay_tampering_closes_the_link_and_delivers_nothing_forged(
    mode: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "raftredis.transport")
    act = MODES[mode]
    tap = FrameTap()
    tap.on_frame = lambda conn, way, i, fr: act(tap, i, fr) if (conn, way) == (1, "fwd") else None
    net = NetProxy().start()

    async def main() -> None:
        a, b, _sa, sb = await relayed_pair(net, tap)
        try:
            a.send(genuine(1))
            await until(lambda: len(tap.frames.get((1, "fwd"), [])) > 2)
            a.send(genuine(2))
            await until(lambda: len(tap.frames[(1, "fwd")]) > 3)
            # Node 2 notices and closes; node 1 redials through the relay, which lets the
            # second connection alone, and genuine messages flow again.
            await until(lambda: b.status()[1]["auth_failures"] == 1)
            await until(lambda: a.status()[2]["reconnects"] >= 1 and a.status()[2]["connected"])
            for i in range(3, 53):
                a.send(genuine(i))
            await sb.until(lambda: len(sb.msgs) >= 50 and sb.msgs[-1] == genuine(52))
            want = [genuine(int(m[1:])) for m in DELIVERED[mode]] + [genuine(i)
                                                                    for i in range(3, 53)]
            assert sb.msgs == want
            assert b.status()[1]["auth_failures"] == 1
        finally:
            await asyncio.gather(a.stop(), b.stop())

    try:
        run(main())
    finally:
        net.stop()
    closing = [r.getMessage() for r in caplog.records if "closing inbound" in r.getMessage()]
    assert len(closing) == 1, closing
    # (a) the relay read everything and found nothing it could use.
    seen = tap.captured()
    assert len(seen) > 1000 and STORED_VALUE in encode(genuine(1))
    assert STORED_VALUE not in seen


def test_a_record_replayed_into_a_later_connection_fails_there_too() -> None:
    """Connection 1 is cut by a flipped byte; the relay then plays connection 1's first
    record as connection 2's first: fresh keys per connection make it worthless."""
    tap = FrameTap()

    def on_frame(conn: int, way: str, i: int, fr: bytes) -> list[bytes] | None:
        if way != "fwd":
            return None
        if conn == 1 and i == 3:
            return [flip(fr, 10)]
        if conn == 2 and i == FIRST_RECORD:
            return [tap.frames[(1, "fwd")][FIRST_RECORD]]
        return None

    tap.on_frame = on_frame
    net = NetProxy().start()

    async def main() -> None:
        a, b, _sa, sb = await relayed_pair(net, tap)
        try:
            a.send(genuine(1))
            await sb.until(lambda: len(sb.msgs) == 1)
            a.send(genuine(2))
            await until(lambda: b.status()[1]["auth_failures"] == 1)
            await until(lambda: a.status()[2]["reconnects"] >= 1 and a.status()[2]["connected"])
            a.send(genuine(3))  # connection 2's first record: swapped for the replay
            await until(lambda: b.status()[1]["auth_failures"] == 2)
            await until(lambda: a.status()[2]["reconnects"] >= 2 and a.status()[2]["connected"])
            for i in range(4, 20):
                a.send(genuine(i))
            await sb.until(lambda: len(sb.msgs) >= 17)
            assert sb.msgs == [genuine(1)] + [genuine(i) for i in range(4, 20)]
        finally:
            await asyncio.gather(a.stop(), b.stop())

    try:
        run(main())
    finally:
        net.stop()


def test_bytes_injected_towards_the_dialer_close_its_link() -> None:
    """The acceptor never writes after its answer: anything the dialer reads after it is
    the relay's, and the dialer redials rather than trust the stream."""
    tap = FrameTap(lambda conn, way, i, fr: [fr, forged_record()]
                   if (conn, way, i) == (1, "back", 1) else None)
    net = NetProxy().start()

    async def main() -> None:
        a, b, _sa, sb = await relayed_pair(net, tap)
        try:
            await until(lambda: a.status()[2]["reconnects"] >= 1 and a.status()[2]["connected"])
            for i in range(2, 30):
                a.send(genuine(i))
            await sb.until(lambda: len(sb.msgs) >= 28)
            assert sb.msgs == [genuine(i) for i in range(2, 30)]
        finally:
            await asyncio.gather(a.stop(), b.stop())

    try:
        run(main())
    finally:
        net.stop()


# ---- real node processes ----------------------------------------------------------------

PASSWORD = "requirepass-a-relay-must-not-read-91c2"
VALUE = STORED_VALUE.decode()


def client(port: int, password: str | None = None) -> redis.Redis:
    return redis.Redis(host=HOST, port=port, password=password, socket_timeout=3,
                       socket_connect_timeout=3)


def node_state(port: int, keys: list[str]) -> tuple[Any, ...]:
    """The node's own data (READONLY, so a follower answers too): size and values."""
    r = client(port)
    try:
        r.execute_command("READONLY")
        return r.dbsize(), tuple(r.execute_command("MGET", *keys)), r.exists("pwned")
    finally:
        r.close()


def write(c: Cluster, key: str, value: str) -> None:
    def ok() -> bool:
        lead = c.leader()
        if lead is None:
            return False
        r = client(c.nodes[lead].port)
        try:
            return r.set(key, value) is True
        finally:
            r.close()

    wait_for(ok, 20, f"SET {key}")


class Mitm:
    """Per link: capture everything; on request, tamper with the next record one way."""

    def __init__(self) -> None:
        self.taps: dict[tuple[int, int], FrameTap] = {}
        self.armed: dict[tuple[int, int], str] = {}
        self.done: dict[tuple[int, int], tuple[int, str]] = {}  # link -> (conn, action)

    def tap_for(self, link: tuple[int, int]) -> FrameTap:
        tap = FrameTap()

        def on_frame(conn: int, way: str, i: int, fr: bytes) -> list[bytes] | None:
            if way != "fwd" or i <= FIRST_RECORD:
                return None
            action = self.armed.pop(link, None)
            if action is None:
                return None
            self.done[link] = (conn, action)
            earlier = tap.frames[(conn, way)][FIRST_RECORD]
            return {"flip": [flip(fr, len(fr) // 2)], "replay": [fr, earlier],
                    "inject": [forged_record(), fr], "drop": []}[action]

        tap.on_frame = on_frame
        self.taps[link] = tap
        return tap


def test_cluster_behind_a_relay_stays_private_and_consistent(tmp_path) -> None:
    c = Cluster(tmp_path, proxied=True)
    mitm = Mitm()
    assert c.net is not None
    for link in c.net.links:
        c.net.set_tamper(*link, mitm.tap_for(link))
    c.start()
    try:
        c.wait_leader()
        write(c, "stored", VALUE)
        keys = ["stored"]
        for k in range(20):
            write(c, f"k{k}", f"v{k}")
            keys.append(f"k{k}")
        # The relay tampers with each link leaving the leader, one way after another,
        # while writes go on; each time the link is dropped and dialled again.
        for action in ("flip", "replay", "inject", "drop"):
            lead = c.wait_leader()
            for j in c.nodes:
                if j != lead:
                    mitm.armed[(lead, j)] = action
            for k in range(20):
                write(c, f"{action}{k}", f"{action}-{k}")
                keys.append(f"{action}{k}")
            # (Links of a node that stopped leading carry nothing: those arms may stay.)
            wait_for(lambda: not [lk for lk in list(mitm.armed) if lk[0] == c.leader()], 20,
                     f"the relay to {action} a record")
            mitm.armed.clear()
            assert mitm.done, action
            for (src, dst), (conn, _action) in list(mitm.done.items()):
                tap = mitm.taps[(src, dst)]
                wait_for(lambda tap=tap, conn=conn: any(n > conn for n, _ in list(tap.frames)),
                         20, f"link {src}->{dst} to be dialled again")
            mitm.done.clear()
        write(c, "last", "one")
        keys.append("last")
        lead = c.wait_leader()
        target = c.commit_index(lead)
        for i in c.nodes:
            c.wait_applied(i, target)
        states = {i: node_state(c.nodes[i].port, keys) for i in c.nodes}
        assert len(set(states.values())) == 1, states
        size, values, pwned = states[lead]
        assert size == len(keys) and None not in values and pwned == 0
        # Last (the harness's INFO has no password): a requirepass through the log.
        r = client(c.nodes[lead].port)
        try:
            assert r.config_set("requirepass", PASSWORD)
        finally:
            r.close()
        for node in c.nodes.values():
            wait_for(lambda node=node: b"NOAUTH" in str(call(HOST, node.port, "GET", "k0")).encode(),
                     20, f"node{node.id} to apply requirepass")
        # The relay saw every byte of every link and none of it in clear (links between
        # followers carry little more than their handshake).
        for link, tap in mitm.taps.items():
            seen = tap.captured()
            assert len(seen) > (1000 if link[0] == lead else 100), link
            assert STORED_VALUE not in seen and PASSWORD.encode() not in seen, link
        # Each follower said why it dropped a link (rate-limited, so a few lines at most).
        logs = "".join(n.log_path.read_text(errors="replace") for n in c.nodes.values())
        assert "failed authentication" in logs
        assert logs.count("closing inbound") <= 4 * 2 * 3
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()
