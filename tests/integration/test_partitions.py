"""Network partitions between real node processes, made by the in-test TCP proxies of
tests/integration/netproxy.py (no root, no namespaces).

Each test is bounded: every wait is a condition with a deadline, every client call has a
socket timeout, and every process and proxy is stopped in teardown.
"""

from __future__ import annotations

import socket
import socketserver
import threading

import hiredis
import pytest
import redis

from raftredis.miniclient import call, encode_command
from tests.integration.harness import Cluster, wait_for
from tests.integration.netproxy import BLACKHOLE, OPEN, REFUSE, NetProxy

CALL_TIMEOUT = 3.0  # a client call to a cut-off node ends with an error or this timeout


# ------------------------------------------------------------------ helpers
class Outcome:
    """What one client call ended with: a reply, or the exception that ended it."""

    def __init__(self) -> None:
        self.reply: object = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    @property
    def succeeded(self) -> bool:
        return self.error is None and not isinstance(self.reply, hiredis.ReplyError)

    def __repr__(self) -> str:
        return f"Outcome(reply={self.reply!r}, error={self.error!r})"


def attempt(port: int, *args: str, timeout: float = CALL_TIMEOUT) -> Outcome:
    out = Outcome()
    try:
        out.reply = call("127.0.0.1", port, *args, timeout=timeout)
    except OSError as exc:  # timeout or reset: the outcome is unknown to the client
        out.error = exc
    out.done.set()
    return out


def attempt_in_background(port: int, *args: str) -> tuple[Outcome, threading.Thread]:
    out = Outcome()

    def run() -> None:
        res = attempt(port, *args)
        out.reply, out.error = res.reply, res.error
        out.done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return out, t


class Pending:
    """A command already sent on its own connection; `finish` waits for the reply."""

    def __init__(self, port: int, *args: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=CALL_TIMEOUT)
        self.sock.settimeout(CALL_TIMEOUT)
        self.sock.sendall(encode_command(*args))

    def finish(self) -> Outcome:
        out = Outcome()
        reader = hiredis.Reader()
        try:
            while (reply := reader.gets()) is False:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("closed by the server")
                reader.feed(data)
            out.reply = reply
        except OSError as exc:
            out.error = exc
        finally:
            self.sock.close()
        out.done.set()
        return out


def readonly_get(port: int, *keys: str) -> list[object]:
    """MGET on one connection in READONLY mode: the node's own (possibly stale) data."""
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=CALL_TIMEOUT,
                    socket_connect_timeout=CALL_TIMEOUT)
    try:
        assert r.execute_command("READONLY") in (b"OK", True)
        return r.execute_command("MGET", *keys)
    finally:
        r.close()


def role(c: Cluster, i: int) -> str:
    return c.info(i)["raft_role"]


def write_ok(c: Cluster, i: int, key: str, value: str, timeout: float = 20) -> None:
    """SET on node i until it is acknowledged (the same value, so a retry is harmless)."""
    wait_for(lambda: attempt(c.nodes[i].port, "SET", key, value, timeout=2).reply == b"OK",
             timeout, f"node{i} to acknowledge SET {key} {value}")


def wait_rejoined(c: Cluster, i: int, leader: int, timeout: float = 30) -> None:
    """Node i follows `leader` and has applied everything the leader has committed."""
    target = c.commit_index(leader)

    def cond() -> bool:
        f = c.info(i)
        return (f["raft_role"] == "follower" and f["raft_leader_id"] == str(leader)
                and int(f["raft_applied_index"]) >= target)

    wait_for(cond, timeout, f"node{i} to rejoin as a follower of node{leader} at {target}")


@pytest.fixture
def make_cluster(tmp_path):
    made: list[Cluster] = []

    def make(*extra: str) -> Cluster:
        c = Cluster(tmp_path, extra=list(extra), proxied=True)
        made.append(c)
        return c.start()

    try:
        yield make
    finally:
        for c in made:
            c.stop()
            print(c.logs())  # pytest shows captured output only when the test failed


# ------------------------------------------------------------------ the proxy itself
class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(10)
        try:
            while data := self.request.recv(4096):
                self.request.sendall(data)
        except OSError:
            pass


def _closed(sock: socket.socket) -> bool:
    """True once the proxy has closed or reset this connection."""
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def test_proxy_link_states():
    echo = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    echo.daemon_threads = True
    server = threading.Thread(target=echo.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    server.start()
    net = NetProxy().start()
    socks: list[socket.socket] = []

    def dial() -> socket.socket:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.settimeout(2)
        socks.append(s)
        return s

    def echoes(s: socket.socket, data: bytes) -> bool:
        s.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = s.recv(4096)
            if not chunk:
                return False
            got += chunk
        return got == data

    try:
        port = net.add_link(1, 2, echo.server_address)
        with pytest.raises(ValueError):
            net.add_link(1, 2, echo.server_address)
        with pytest.raises(ValueError):
            net.set_state(1, 2, "sideways")
        a = dial()
        assert echoes(a, b"ping")
        link = net.links[(1, 2)]
        assert link.forwarded >= 8 and link.state == OPEN

        # REFUSE: the open connection is reset, new ones are accepted and reset at once.
        net.set_state(1, 2, REFUSE)
        a.settimeout(0.2)
        wait_for(lambda: _closed(a), 5, "the open connection to be reset")
        try:
            b = dial()
        except ConnectionResetError:
            b = None  # the proxy's reset came before connect() returned: refused as well
        if b is not None:
            b.settimeout(0.2)
            wait_for(lambda: _closed(b), 5, "a new connection to be refused")
        wait_for(lambda: link.refused >= 1, 5, "the proxy to count the refusal")

        # Healed: a new connection works again.
        net.set_state(1, 2, OPEN)
        c = dial()
        assert echoes(c, b"again")

        # BLACKHOLE: the connection stays up, bytes go nowhere, no error is seen.
        net.set_state(1, 2, BLACKHOLE)
        c.sendall(b"lost")
        wait_for(lambda: link.dropped >= 4, 5, "the proxy to drop the bytes")
        c.settimeout(0.3)
        with pytest.raises(TimeoutError):  # nothing comes back, and no reset either
            c.recv(16)
        d = dial()
        d.sendall(b"also lost")
        wait_for(lambda: link.dropped >= 13, 5, "a new connection's bytes to be dropped")

        # Leaving the black hole resets its streams (they have holes); new ones work.
        net.heal_all()
        c.settimeout(0.2)
        wait_for(lambda: _closed(c), 5, "the black-holed connection to be reset")
        assert echoes(dial(), b"healed")
        assert "1->2 open" in net.describe()
    finally:
        for s in socks:
            s.close()
        net.stop()
        echo.shutdown()
        echo.server_close()
        server.join(timeout=5)
    assert not server.is_alive()
    assert not net._thread.is_alive()
    with pytest.raises(OSError):  # the proxy's listener is gone
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    with pytest.raises(RuntimeError):
        net.set_state(1, 2, OPEN)


def test_unproxied_cluster_refuses_partitions(tmp_path):
    c = Cluster(tmp_path)  # never started: only the API is checked
    assert c.net is None and "--peers" in c.command(c.nodes[1])
    with pytest.raises(RuntimeError, match="proxied=True"):
        c.isolate(1)


def test_proxied_peers_point_at_the_links(tmp_path):
    c = Cluster(tmp_path, proxied=True)
    try:
        assert c.net is not None
        peers = dict(p.split("=") for p in c.peers_for(c.nodes[2]).split(","))
        assert peers["2"] == f"127.0.0.1:{c.nodes[2].peer_port}"  # itself: its real port
        assert peers["1"] == f"127.0.0.1:{c.net.links[(2, 1)].port}"
        assert peers["3"] == f"127.0.0.1:{c.net.links[(2, 3)].port}"
        assert c.net.links[(2, 1)].target == ("127.0.0.1", c.nodes[1].peer_port)
        c.partition([1], [2, 3], mode=BLACKHOLE)
        assert {k for k, v in c.net.links.items() if v.state == BLACKHOLE} == {
            (1, 2), (1, 3), (2, 1), (3, 1)}
        c.cut_inbound(2)
        assert c.net.state(1, 2) == REFUSE and c.net.state(3, 2) == REFUSE
        assert c.net.state(2, 3) == OPEN
        c.bridge(1, mode=BLACKHOLE)  # 2 and 3 cannot talk, both reach 1
        assert {k for k, v in c.net.links.items() if v.state != OPEN} == {(2, 3), (3, 2)}
        c.heal()
        assert all(v.state == OPEN for v in c.net.links.values())
        with pytest.raises(ValueError):
            c.partition([1], [1, 2])
    finally:
        c.stop()


# ------------------------------------------------------------------ real clusters
@pytest.mark.parametrize("mode", [REFUSE, BLACKHOLE])
def test_isolated_leader_is_replaced_and_rejoins(make_cluster, mode):
    c = make_cluster()
    old = c.wait_leader(timeout=30)
    write_ok(c, old, "k", "v0")

    c.isolate(old, mode=mode)
    # Sent at once, while the old leader may still believe it leads: it cannot commit,
    # so it must not answer OK (an error or a timeout is right).
    stale_write, writer = attempt_in_background(c.nodes[old].port, "SET", "k", "lost")

    new = c.wait_leader(timeout=20, exclude=old)
    write_ok(c, new, "k", "v1")
    write_ok(c, new, "only-majority", "yes")

    # Check-quorum: the isolated leader steps down by itself.
    wait_for(lambda: role(c, old) != "leader", 10, f"node{old} to step down")
    # A linearizable read there after v1 was acknowledged: it cannot know v1, so any
    # value it returns would be stale. It must refuse or time out instead.
    read = attempt(c.nodes[old].port, "GET", "k")
    assert not read.succeeded, f"isolated node{old} served a stale read: {read}"

    writer.join(timeout=CALL_TIMEOUT + 5)
    assert stale_write.done.is_set()
    assert not stale_write.succeeded, f"isolated node{old} acknowledged a write: {stale_write}"

    c.heal()
    leader = c.wait_leader(timeout=20)
    wait_rejoined(c, old, leader)
    # The majority's data, and not the write the old leader took alone.
    assert readonly_get(c.nodes[old].port, "k", "only-majority") == [b"v1", b"yes"]
    assert call("127.0.0.1", c.nodes[leader].port, "GET", "k", timeout=CALL_TIMEOUT) == b"v1"


def test_leader_frozen_then_cut_off_serves_nothing_stale(make_cluster):
    """The hard case for reads: a leader that still believes it leads. It is frozen
    (SIGSTOP, so it cannot step down), cut off, the majority moves on, then a read and a
    write reach it the moment it wakes. It cannot confirm leadership (ReadIndex) nor
    commit, so neither may succeed: the read would be stale, the write would be lost."""
    c = make_cluster()
    old = c.wait_leader(timeout=30)
    write_ok(c, old, "k", "v0")
    c.pause(old)
    c.isolate(old)
    new = c.wait_leader(timeout=20, exclude=old)
    write_ok(c, new, "k", "v1")

    # Sent while it is stopped (the kernel accepts and buffers them): served first thing
    # after SIGCONT, while it may still believe it leads.
    port = c.nodes[old].port
    read, write = Pending(port, "GET", "k"), Pending(port, "SET", "k", "lost")
    c.resume(old)
    read, write = read.finish(), write.finish()
    assert not read.succeeded, f"a stale leader served a read: {read}"
    assert not write.succeeded, f"a stale leader acknowledged a write: {write}"

    c.heal()
    leader = c.wait_leader(timeout=20)
    wait_rejoined(c, old, leader)
    assert readonly_get(c.nodes[old].port, "k") == [b"v1"]
    assert call("127.0.0.1", c.nodes[leader].port, "GET", "k", timeout=CALL_TIMEOUT) == b"v1"


def test_leader_that_cannot_hear_steps_down(make_cluster):
    """One-way partition: the leader's heartbeats still reach the followers (so they
    never time out on their own), but no answer reaches it. Without check-quorum the
    group would be stuck; with it the leader steps down and the others elect one."""
    c = make_cluster()
    old = c.wait_leader(timeout=30)
    write_ok(c, old, "k", "v0")
    term = int(c.info(old)["raft_term"])

    c.cut_inbound(old)
    wait_for(lambda: role(c, old) != "leader", 10, f"node{old} to step down by check-quorum")
    new = c.wait_leader(timeout=20, exclude=old)
    assert int(c.info(new)["raft_term"]) > term
    write_ok(c, new, "k", "v1")
    assert not attempt(c.nodes[old].port, "SET", "k", "lost").succeeded
    assert not attempt(c.nodes[old].port, "GET", "k").succeeded

    c.heal()
    leader = c.wait_leader(timeout=20)
    wait_rejoined(c, old, leader)
    assert readonly_get(c.nodes[old].port, "k") == [b"v1"]


@pytest.mark.parametrize("how", ["log", "snapshot"])
def test_partitioned_follower_catches_up(make_cluster, how):
    # A low threshold makes the leader compact past what the follower has: a snapshot.
    c = make_cluster("--snapshot-threshold", "50" if how == "snapshot" else "100000")
    leader = c.wait_leader(timeout=30)
    follower = min(i for i in c.nodes if i != leader)
    write_ok(c, leader, "before", "0")
    c.wait_applied(follower, c.commit_index(leader))
    term = c.info(leader)["raft_term"]

    # Black-hole for one variant, reset for the other: both kinds of cut get exercised.
    c.isolate(follower, mode=BLACKHOLE if how == "snapshot" else REFUSE)
    keys = [f"key:{n}" for n in range(200)]
    r = redis.Redis(host="127.0.0.1", port=c.nodes[leader].port, socket_timeout=10)
    try:
        # One at a time: a pipeline may share log entries, and the snapshot variant needs
        # many entries past the threshold.
        for n, key in enumerate(keys):
            assert r.set(key, n) is True  # a majority without the follower
    finally:
        r.close()
    target = c.commit_index(leader)
    assert target >= len(keys)
    assert int(c.info(follower)["raft_applied_index"]) < target  # it really was cut off
    if how == "snapshot":
        wait_for(lambda: int(c.info(leader)["raft_log_first_index"]) >
                 int(c.info(follower)["raft_applied_index"]) + 1, 20,
                 "the leader to compact past the follower's log")

    c.heal()
    c.wait_applied(follower, target)
    assert readonly_get(c.nodes[follower].port, *keys) == [str(n).encode() for n in range(200)]
    installed = int(c.info(follower)["raft_snapshots_installed"])
    assert installed >= 1 if how == "snapshot" else installed == 0
    # Pre-vote: the cut-off follower's failed elections did not disturb the majority.
    assert c.leader() == leader
    assert c.info(leader)["raft_term"] == term
