"""A keep-alive side channel on its own thread, so that a node whose event loop is
busy for a while (a long command, a big entry being applied, DEBUG SLEEP) does not
cost the cluster an election, while a node that is truly gone still is replaced fast.

Why a thread and not only chunked work: every long operation is bounded, but a bound
of a few hundred milliseconds on everything (KEYS of a million keys, a 40 MB value
decrypted, decoded and applied, a snapshot restore) is not reachable in Python, and
Raft's heartbeats and election timers run on the same loop. The thread needs only
the GIL, which Python hands over every few milliseconds even to a busy loop.

How it works. Every `interval_s` the thread sends each peer an authenticated UDP
notice (transport.beacon) on the peer port's number: our id, term, whether we lead,
and how long our event loop has gone without turning. The loop marks each turn on
its tick. A notice *vouches* for its sender while that time is at least
`stalled_after_ms` (a loop turning normally sends real heartbeats, and a notice from
it must not stand in for them: a broken TCP link with working UDP would otherwise
hide a leader that cannot replicate) and the notice is at most `fresh_s` old. When a
loop has not turned for `stall_limit_s` the node is treated as wedged: its thread
stops sending, the vouching runs out, and the election proceeds as if it were dead.

What a vouch does (RaftCore.note_alive): a follower whose leader is vouched for, in
its own term, restarts its election timer (so it also keeps refusing pre-votes); a
leader counts a vouched follower as active for check-quorum. Safety never depends on
it: commits, votes and ReadIndex rounds still take real Raft messages; only the timing
of an election moves, by at most the stall limit plus `fresh_s`.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from raftredis.transport import beacon

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeepAliveTimes:
    interval_s: float  # how often notices go out
    stalled_after_ms: int  # a loop not turned for this long is stalled (and vouched for)
    fresh_s: float  # how long one notice vouches after it arrived
    stall_limit_s: float  # a loop stalled longer than this is wedged: no more vouching

    @classmethod
    def for_node(cls, tick_ms: int, heartbeat_ticks: int, election_ticks: int,
                 stall_limit_ms: int) -> KeepAliveTimes:
        heartbeat_s = tick_ms * heartbeat_ticks / 1000
        election_s = tick_ms * election_ticks / 1000
        interval = max(0.02, heartbeat_s)
        # A follower's timer runs out at the earliest one election timeout after the last
        # heartbeat: the first vouching notice must reach it before then.
        stalled_after = max(2 * tick_ms, min(3 * int(heartbeat_s * 1000), int(election_s * 500)))
        return cls(interval, stalled_after, max(1.0, 2 * election_s), stall_limit_ms / 1000)


@dataclass(frozen=True, slots=True)
class _Heard:
    at: float
    term: int
    leader: bool
    stalled_ms: int


@dataclass(slots=True)
class KeepAliveStats:
    sent: int = 0
    received: int = 0
    rejected: int = 0
    send_errors: int = 0


class KeepAlive:
    """One node's side channel: its sending/receiving thread, and what it heard."""

    def __init__(self, node_id: int, secret: bytes, bind: tuple[str, int],
                 peers: dict[int, tuple[str, int]], times: KeepAliveTimes,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.id = node_id
        self.times = times
        self._key = beacon.derive_key(secret)
        self._bind = bind
        self._peers = dict(peers)
        self._clock = clock
        self._rx = beacon.Receiver(self._key, node_id, restart_after_s=times.stall_limit_s)
        self._incarnation = time.time_ns() // 1000
        self._seq = 0
        # Written by the loop thread, read by ours (single attribute stores are atomic).
        self._turned_at = clock()
        self._term = 0
        self._leader = False
        # Written by our thread, read by the loop: sender -> the last notice's facts.
        self._heard: dict[int, _Heard] = {}
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._addr_cache: dict[int, tuple[float, tuple | None]] = {}
        self.stats = KeepAliveStats()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> bool:
        """Bind and start the thread; False (and a warning) if the port is taken: the
        node then runs without the side channel, as before it existed."""
        host, port = self._bind
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            log.warning("keep-alive: cannot bind udp %s:%d (%s); a long stall of this node's "
                        "event loop will cause an election", host, port, exc)
            return False
        sock.settimeout(self.times.interval_s)
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name=f"keepalive-{self.id}",
                                        daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1] if self._sock is not None else 0

    def set_peers(self, peers: dict[int, tuple[str, int]]) -> None:
        """A new membership: whom to send to (replacing the dict is atomic)."""
        self._peers = dict(peers)

    # ------------------------------------------------------------------ loop side
    def loop_turned(self, now: float, term: int, leader: bool) -> None:
        self._term = term
        self._leader = leader
        self._turned_at = now

    def vouching(self, term: int, now: float) -> list[int]:
        """Peers whose latest notice, in `term`, says they are alive but stalled."""
        out = []
        t = self.times
        for pid, h in list(self._heard.items()):
            if (h.term == term and h.stalled_ms >= t.stalled_after_ms
                    and now - h.at <= t.fresh_s):
                out.append(pid)
        return out

    def heard_leader(self, pid: int, term: int) -> bool:
        h = self._heard.get(pid)
        return h is not None and h.leader and h.term == term

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        next_send = 0.0
        while not self._stop.is_set():
            now = self._clock()
            if now >= next_send:
                self._send_all(sock, now)
                next_send = now + self.times.interval_s
            sock.settimeout(max(0.001, next_send - self._clock()))
            try:
                data, _ = sock.recvfrom(beacon.SIZE + 1)
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            self._receive(data, self._clock())

    def _receive(self, data: bytes, now: float) -> None:
        n = self._rx.accept(data, now)
        if n is None:
            self.stats.rejected = self._rx.rejected
            return
        self.stats.received += 1
        if n.sender in self._peers:
            self._heard[n.sender] = _Heard(now, n.term, n.leader, n.stalled_ms)

    def _send_all(self, sock: socket.socket, now: float) -> None:
        stalled_ms = int((now - self._turned_at) * 1000)
        if stalled_ms > self.times.stall_limit_s * 1000:
            return  # wedged: say nothing, so that the vouching runs out
        term, leader = self._term, self._leader
        for pid in list(self._peers):
            addr = self._resolve(pid, now)
            if addr is None:
                continue
            self._seq += 1
            data = beacon.seal(self._key, beacon.Notice(
                self.id, pid, self._incarnation, self._seq, term, leader, stalled_ms))
            try:
                sock.sendto(data, addr)
                self.stats.sent += 1
            except OSError:
                self.stats.send_errors += 1

    def _resolve(self, pid: int, now: float) -> tuple | None:
        """The peer's UDP address, looked up again every few seconds (a container
        restarted with a new IP keeps its name)."""
        cached = self._addr_cache.get(pid)
        if cached is not None and now - cached[0] < 5.0:
            return cached[1]
        host, port = self._peers[pid]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            family = self._sock.family if self._sock is not None else socket.AF_INET
            addr = next((i[4] for i in infos if i[0] == family), None)
        except OSError:
            addr = None
        self._addr_cache[pid] = (now, addr)
        return addr
