"""The keep-alive side channel: its wire format refuses forged, misaddressed and
replayed notices; two real helper processes on loopback UDP vouch for a stalled loop
only while it is stalled and not wedged (and never for a stopped process);
RaftCore.note_alive moves timers only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from raftredis.raft.types import Role
from raftredis.replica.keepalive import KeepAlive, KeepAliveTimes, process_stopped
from raftredis.transport import beacon
from tests import ports
from tests.sim.script import Script

KEY = beacon.derive_key(b"a cluster secret of some length")


def notice(**kw: object) -> beacon.Notice:
    base = dict(sender=1, dest=2, incarnation=100, seq=1, term=3, leader=True, stalled_ms=500)
    base.update(kw)
    return beacon.Notice(**base)  # type: ignore[arg-type]


def test_seal_and_open_round_trip() -> None:
    n = notice()
    data = beacon.seal(KEY, n)
    assert len(data) == beacon.SIZE
    assert beacon.open_notice(KEY, data) == n


def test_every_flipped_byte_is_refused() -> None:
    data = beacon.seal(KEY, notice())
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        assert beacon.open_notice(KEY, bytes(bad)) is None, i


def test_wrong_key_and_wrong_sizes_are_refused() -> None:
    data = beacon.seal(KEY, notice())
    assert beacon.open_notice(beacon.derive_key(b"another secret entirely"), data) is None
    assert beacon.open_notice(KEY, data[:-1]) is None
    assert beacon.open_notice(KEY, data + b"x") is None
    assert beacon.open_notice(KEY, b"") is None


def test_receiver_refuses_replays_misaddressed_and_own_notices() -> None:
    rx = beacon.Receiver(KEY, node_id=2, restart_after_s=10)
    assert rx.accept(beacon.seal(KEY, notice(seq=5)), now=0) is not None
    assert rx.accept(beacon.seal(KEY, notice(seq=5)), now=0.1) is None  # replayed
    assert rx.accept(beacon.seal(KEY, notice(seq=4)), now=0.1) is None  # older
    assert rx.accept(beacon.seal(KEY, notice(seq=6, dest=3)), now=0.1) is None  # not ours
    assert rx.accept(beacon.seal(KEY, notice(seq=6, sender=2)), now=0.1) is None  # our own
    assert rx.accept(beacon.seal(KEY, notice(seq=6)), now=0.1) is not None
    assert rx.rejected == 4


def test_receiver_takes_a_restarted_sender() -> None:
    rx = beacon.Receiver(KEY, node_id=2, restart_after_s=10)
    assert rx.accept(beacon.seal(KEY, notice(incarnation=100, seq=50)), now=0) is not None
    # A later start numbers from 1 again: newer incarnation, taken at once.
    assert rx.accept(beacon.seal(KEY, notice(incarnation=200, seq=1)), now=1) is not None
    # An older incarnation (a replay of an old capture, or a clock set back) only after
    # the sender has been silent for restart_after_s.
    old = beacon.seal(KEY, notice(incarnation=100, seq=51))
    assert rx.accept(old, now=5) is None
    assert rx.accept(old, now=11.5) is not None


def test_default_times_vouch_before_a_follower_campaigns() -> None:
    t = KeepAliveTimes.for_node(tick_ms=20, heartbeat_ticks=2, election_ticks=15,
                                stall_limit_ms=10_000)
    election_ms = 20 * 15
    # The first vouching notice leaves at stalled_after and takes at most one interval.
    assert t.stalled_after_ms + t.interval_s * 1000 < election_ms
    assert t.stalled_after_ms > 2 * 20 * 2  # a loop turning normally is never "stalled"
    assert t.stall_limit_s == 10.0


def _free_udp_port() -> int:
    return ports.free_port(socket.SOCK_DGRAM)


def wait_for(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def pair():
    times = KeepAliveTimes(interval_s=0.01, stalled_after_ms=100, fresh_s=0.3, stall_limit_s=1.0)
    pa, pb = _free_udp_port(), _free_udp_port()
    a = KeepAlive(1, b"secret-one-two-three", ("127.0.0.1", pa), {2: ("127.0.0.1", pb)}, times)
    b = KeepAlive(2, b"secret-one-two-three", ("127.0.0.1", pb), {1: ("127.0.0.1", pa)}, times)
    assert a.start() and b.start()
    yield a, b
    a.stop()
    b.stop()


def test_a_stalled_loop_is_vouched_for_until_it_is_wedged(pair) -> None:
    a, b = pair
    now = time.monotonic
    a.loop_turned(now(), term=3, leader=True)
    b.loop_turned(now(), term=3, leader=False)
    wait_for(lambda: b.heard_leader(1, 3))
    assert b.vouching(3, now()) == []  # a loop that turns sends real heartbeats

    # A stops turning (its loop is busy): B vouches for it, in term 3 only.
    wait_for(lambda: b.vouching(3, now()) == [1])
    assert b.vouching(4, now()) == []

    # A turns again: its notices say so, and B stops vouching.
    def turning() -> bool:
        a.loop_turned(now(), 3, True)
        return b.vouching(3, now()) == []
    wait_for(turning)

    # A wedges for longer than the stall limit: it goes quiet and the vouch runs out.
    wait_for(lambda: b.vouching(3, now()) == [1])
    wedged_at = now()
    wait_for(lambda: b.vouching(3, now()) == [], timeout=5)
    assert now() - wedged_at >= 0.5  # it lasted while A was stalled, not wedged


def test_a_peer_with_another_secret_is_never_heard() -> None:
    times = KeepAliveTimes(interval_s=0.01, stalled_after_ms=50, fresh_s=0.3, stall_limit_s=5)
    pa, pb = _free_udp_port(), _free_udp_port()
    a = KeepAlive(1, b"the right secret", ("127.0.0.1", pa), {2: ("127.0.0.1", pb)}, times)
    b = KeepAlive(2, b"a wrong secret!!", ("127.0.0.1", pb), {1: ("127.0.0.1", pa)}, times)
    assert a.start() and b.start()
    try:
        a.loop_turned(time.monotonic() - 1, term=1, leader=True)
        wait_for(lambda: b.stats.rejected >= 10)
        assert b.vouching(1, time.monotonic()) == [] and b.stats.received == 0
    finally:
        a.stop()
        b.stop()


def test_a_stopped_process_is_seen_as_stopped() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not process_stopped(proc.pid)
        os.kill(proc.pid, signal.SIGSTOP)
        wait_for(lambda: process_stopped(proc.pid))
        os.kill(proc.pid, signal.SIGCONT)
        wait_for(lambda: not process_stopped(proc.pid))
    finally:
        proc.kill()
        proc.wait()


def test_the_helper_stops_with_the_node(pair) -> None:
    a, _ = pair
    pid = a.helper_pid
    wait_for(a.running)
    a.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not a.running()


def test_a_taken_port_means_no_side_channel() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        taken = s.getsockname()[1]
        times = KeepAliveTimes(0.01, 50, 0.3, 5)
        ka = KeepAlive(1, b"secret", ("127.0.0.1", taken), {}, times)
        assert ka.start() is False


# ---- what a vouch does in the core ------------------------------------------------------
def _leader_of_three() -> Script:
    s = Script(3)
    s.run("campaign 1\nstabilize\nexpect 1 role leader")
    return s


def test_a_follower_vouched_for_its_leader_restarts_its_election_timer() -> None:
    s = _leader_of_three()
    f = s.core(2)
    term = f.term
    for _ in range(f.randomized_timeout - 1):
        f.tick()
    f.note_alive(1, term - 1)  # an old term: ignored
    f.note_alive(3, term)  # not its leader: ignored
    f.tick()
    assert f.role == Role.PRE_CANDIDATE  # no vouch that counts: it campaigns
    s2 = _leader_of_three()
    f2 = s2.core(2)
    for _ in range(f2.randomized_timeout - 1):
        f2.tick()
    f2.note_alive(1, f2.term)
    f2.tick()
    assert f2.role == Role.FOLLOWER and f2.election_elapsed == 1 and f2.term == term


def test_a_leader_counts_a_vouched_follower_for_check_quorum() -> None:
    s = _leader_of_three()
    lead = s.core(1)
    # Nobody answers for two check-quorum periods; a vouch for 2 keeps the majority.
    for _ in range(2 * lead.cfg.election_tick):
        lead.note_alive(2, lead.term)
        lead.tick()
    assert lead.role == Role.LEADER
    for _ in range(2 * lead.cfg.election_tick):
        lead.tick()
    assert lead.role == Role.FOLLOWER  # without it, check-quorum steps down


def test_more_peers_than_the_board_holds_are_refused() -> None:
    times = KeepAliveTimes(0.01, 50, 0.3, 5)
    ok = {i: ("127.0.0.1", 20000 + i) for i in range(2, 66)}  # 64 peers: the board's size
    ka = KeepAlive(1, b"secret", ("127.0.0.1", 0), ok, times)
    with pytest.raises(ValueError, match="too many peers"):
        ka.set_peers({**ok, 99: ("127.0.0.1", 20099)})
