"""Issue 13's hostile headers against the leader of a real 3-node cluster (the in-process
tests in test_server_attacks.py have no Raft group, so no term to keep): each attack
gets Redis's reply or a cheap wait, a PING on another connection answers promptly
(issue 13 asks under 50 ms), and no node's term moves.

Every wait is a condition with a deadline; every process is stopped by PID.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import time

import pytest

from tests.integration.harness import Cluster
from tests.integration.test_server_attacks import ATTACKS

ROUNDS = 3
# Issue 13's 50 ms for the typical PING; the worst one of all may meet a scheduler
# hiccup on a shared 2-core machine, and the unguarded parser took seconds.
MEDIAN_BOUND_S = 0.05
WORST_BOUND_S = 0.5
WINDOW_S = 0.3  # PINGs after each attack, back to back


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path).start()
    try:
        yield c
    finally:
        c.stop()


def _ping(sock: socket.socket) -> float:
    t0 = time.perf_counter()
    sock.sendall(b"*1\r\n$4\r\nPING\r\n")
    got = b""
    while len(got) < 7:
        chunk = sock.recv(7 - len(got))
        assert chunk, "PING connection closed"
        got += chunk
    assert got == b"+PONG\r\n", got
    return time.perf_counter() - t0


def _worst_ping(sock: socket.socket, window_s: float) -> float:
    """The slowest of back-to-back PINGs over window_s: the server may read the PING
    before the attack in the same loop turn (and answer it at once), so one PING proves
    nothing; a stall anywhere in the window delays one of these."""
    end, worst = time.perf_counter() + window_s, 0.0
    while time.perf_counter() < end:
        worst = max(worst, _ping(sock))
    return worst


def _attack_outcome(port: int, data: bytes, want: bytes, closes: bool,
                    pinger: socket.socket) -> float:
    """Send the attack, PING on the other connection for WINDOW_S, check the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as atk:
        with contextlib.suppress(OSError):  # closed by the server mid-send (inline 8 MB)
            atk.sendall(data)
        seconds = _worst_ping(pinger, WINDOW_S)
        got, closed = b"", False
        try:
            while len(got) < len(want):
                chunk = atk.recv(65536)
                if not chunk:
                    closed = True
                    break
                got += chunk
            if closes and not closed:
                closed = atk.recv(1) == b""
        except ConnectionResetError:
            closed = True
        assert (got, closed) == (want, closes), (data[:24], got, closed)
    return seconds


def test_attacks_on_the_leader_keep_ping_prompt_and_the_term(cluster: Cluster) -> None:
    c = cluster
    lead = c.wait_leader()
    terms = c.wait_settled(lead)  # (a follower may not have heard the term yet)
    port = c.nodes[lead].port
    seen: dict[str, list[float]] = {name: [] for name in ATTACKS}
    with socket.create_connection(("127.0.0.1", port), timeout=10) as pinger:
        _ping(pinger)
        for _round in range(ROUNDS):
            for name, (data, want, closes) in ATTACKS.items():
                seen[name].append(_attack_outcome(port, data, want, closes, pinger))
    every = [s for times in seen.values() for s in times]
    print("worst PING in the 300 ms after each attack on the leader (ms):",
          {k: [round(s * 1000, 1) for s in v] for k, v in seen.items()})
    assert c.leader() == lead
    assert c.terms() == terms, "a term moved"
    assert statistics.median(every) < MEDIAN_BOUND_S, seen
    assert max(every) < WORST_BOUND_S, seen
