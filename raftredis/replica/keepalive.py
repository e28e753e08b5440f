"""A keep-alive side channel in a small helper process, so that a node whose event loop
is busy for a while (a long command, a big entry being applied, DEBUG SLEEP) does not
cost the cluster an election, while a node that is truly gone still is replaced fast.

Why not only chunked work: every long operation is bounded, but a bound of a few
hundred milliseconds on everything (KEYS of a million keys, a 40 MB value decrypted,
decoded and applied on every node, a pipelined 100k-key MSET) is not reachable in
Python, and Raft's heartbeats and election timers run on the same loop.

Why a process and not a thread: a thread needs the GIL, and one long C call (hiredis
parsing a 40 MB value, msgpack encoding a 100k-argument entry) holds it for seconds
on a loaded machine; a thread then falls silent exactly when it is needed. The helper
is forked at start, shares one page of memory with the node (`_Board`), and never
touches the node's objects, locks or sockets.

How it works. Every `interval_s` the helper sends each peer an authenticated UDP
notice (transport.beacon) on the peer port's number: our id, term, whether we lead,
and how long our event loop has gone without turning (the loop marks each turn on its
tick in the board). A notice *vouches* for its sender while that time is at least
`stalled_after_ms` (a loop turning normally sends real heartbeats, and a notice from
it must not stand in for them: a broken TCP link with working UDP would otherwise
hide a leader that cannot replicate) and the notice is at most `fresh_s` old. The
helper says nothing while the node is stopped (SIGSTOP: /proc says so) or its loop has
not turned for `stall_limit_s` (wedged), and exits when the node is gone, so then the
vouching runs out and the election proceeds as if the node were dead.

What a vouch does (RaftCore.note_alive): a follower whose leader is vouched for, in
its own term, restarts its election timer (so it also keeps refusing pre-votes); a
leader counts a vouched follower as active for check-quorum. Safety never depends on
it: commits, votes and ReadIndex rounds still take real Raft messages; only the timing
of an election moves, by at most the stall limit plus `fresh_s`.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import signal
import socket
import struct
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
        # Notices go every interval, so a vouch need only outlive a few lost ones. The
        # cost: a node killed in the middle of a stall is replaced this much later.
        fresh = max(1.0, 3 * election_s)
        return cls(interval, stalled_after, fresh, stall_limit_ms / 1000)


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


class _Board:
    """One shared page between the node and its helper (anonymous MAP_SHARED memory,
    inherited by the fork). The node writes its loop's turns and the peer list; the
    helper writes what it heard and its counters. A reader may see a record half
    written: the worst that can do is move one election's timing, never safety."""

    # node -> helper: turned_at, term, leader, stop, peers version, peers text length
    _NODE = struct.Struct("<dQBBxxII")
    # helper -> node: alive_at, sent, received, rejected, send_errors
    _HELPER = struct.Struct("<dQQQQ")
    # one per peer slot: id, term, at, leader, stalled_ms
    _SLOT = struct.Struct("<IxxxxQdBxxxI")
    SLOTS = 64
    PEERS_TEXT = 4096
    _NODE_AT = 0
    _HELPER_AT = 64
    _PEERS_AT = 128
    _SLOTS_AT = _PEERS_AT + PEERS_TEXT
    SIZE = _SLOTS_AT + SLOTS * _SLOT.size

    def __init__(self) -> None:
        self.mem = mmap.mmap(-1, self.SIZE, flags=mmap.MAP_SHARED)
        self._peers_version = 0

    # ---- the node's side
    def write_node(self, turned_at: float, term: int, leader: bool, stop: bool = False) -> None:
        _, _, _, _, version, length = self.read_node()
        self._NODE.pack_into(self.mem, self._NODE_AT, turned_at, term, leader, stop,
                             version, length)

    def write_peers(self, peers: dict[int, tuple[str, int]]) -> None:
        text = ",".join(f"{pid}={h}:{p}" for pid, (h, p) in sorted(peers.items())).encode()
        if len(text) > self.PEERS_TEXT or len(peers) > self.SLOTS:
            raise ValueError("too many peers for the keep-alive board")
        self.mem[self._PEERS_AT:self._PEERS_AT + len(text)] = text
        turned, term, leader, stop, version, _ = self.read_node()
        self._NODE.pack_into(self.mem, self._NODE_AT, turned, term, leader, stop,
                             version + 1, len(text))

    def read_node(self) -> tuple[float, int, bool, bool, int, int]:
        turned, term, leader, stop, version, length = self._NODE.unpack_from(self.mem,
                                                                            self._NODE_AT)
        return turned, term, bool(leader), bool(stop), version, length

    def read_peers(self) -> tuple[int, dict[int, tuple[str, int]]]:
        _, _, _, _, version, length = self.read_node()
        text = bytes(self.mem[self._PEERS_AT:self._PEERS_AT + length]).decode()
        peers: dict[int, tuple[str, int]] = {}
        for part in filter(None, text.split(",")):
            ident, addr = part.split("=", 1)
            host, port = addr.rsplit(":", 1)
            peers[int(ident)] = (host, int(port))
        return version, peers

    # ---- the helper's side
    def write_heard(self, slot: int, pid: int, h: _Heard) -> None:
        self._SLOT.pack_into(self.mem, self._SLOTS_AT + slot * self._SLOT.size, pid, h.term,
                             h.at, h.leader, h.stalled_ms)

    def read_heard(self) -> dict[int, _Heard]:
        out = {}
        for slot in range(self.SLOTS):
            pid, term, at, leader, stalled = self._SLOT.unpack_from(
                self.mem, self._SLOTS_AT + slot * self._SLOT.size)
            if not pid:
                break  # slots are taken in order: the rest are empty
            out[pid] = _Heard(at, term, bool(leader), stalled)
        return out

    def write_helper(self, alive_at: float, st: KeepAliveStats) -> None:
        self._HELPER.pack_into(self.mem, self._HELPER_AT, alive_at, st.sent, st.received,
                               st.rejected, st.send_errors)

    def read_helper(self) -> tuple[float, KeepAliveStats]:
        alive, sent, received, rejected, errors = self._HELPER.unpack_from(self.mem,
                                                                         self._HELPER_AT)
        return alive, KeepAliveStats(sent, received, rejected, errors)


def process_stopped(pid: int) -> bool:
    """Whether `pid` is stopped (SIGSTOP, a debugger): its state in /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fp:
            state = fp.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in (b"T", b"t")


class _Helper:
    """The helper process's loop: send notices, receive them, write the board."""

    def __init__(self, node_id: int, key: bytes, sock: socket.socket, board: _Board,
                 times: KeepAliveTimes, parent: int) -> None:
        self.id = node_id
        self.times = times
        self.board = board
        self.sock = sock
        self.parent = parent
        self.rx = beacon.Receiver(key, node_id, restart_after_s=times.stall_limit_s)
        self.key = key
        self.incarnation = time.time_ns() // 1000
        self.seq = 0
        self.stats = KeepAliveStats()
        self.peers: dict[int, tuple[str, int]] = {}
        self.peers_version = -1
        self.slots: dict[int, int] = {}
        self.addr_cache: dict[int, tuple[float, tuple | None]] = {}

    def run(self) -> None:
        next_send = 0.0
        while True:
            now = time.monotonic()
            if os.getppid() != self.parent:
                return  # the node is gone
            _, _, _, stop, version, _ = self.board.read_node()
            if stop:
                return
            if version != self.peers_version:
                self.peers_version, self.peers = self.board.read_peers()
            if now >= next_send:
                self._send_all(now)
                self.board.write_helper(now, self.stats)
                next_send = now + self.times.interval_s
            self.sock.settimeout(max(0.001, next_send - time.monotonic()))
            try:
                data, _ = self.sock.recvfrom(beacon.SIZE + 1)
            except (TimeoutError, BlockingIOError, InterruptedError):
                continue
            except OSError:
                time.sleep(self.times.interval_s)
                continue
            self._receive(data, time.monotonic())

    def _receive(self, data: bytes, now: float) -> None:
        n = self.rx.accept(data, now)
        if n is None:
            self.stats.rejected = self.rx.rejected
            return
        self.stats.received += 1
        if n.sender not in self.peers:
            return
        slot = self.slots.get(n.sender)
        if slot is None:
            if len(self.slots) >= _Board.SLOTS:
                return
            slot = self.slots[n.sender] = len(self.slots)
        self.board.write_heard(slot, n.sender, _Heard(now, n.term, n.leader, n.stalled_ms))

    def _send_all(self, now: float) -> None:
        turned_at, term, leader, _, _, _ = self.board.read_node()
        stalled_ms = int((now - turned_at) * 1000)
        if stalled_ms > self.times.stall_limit_s * 1000 or process_stopped(self.parent):
            return  # wedged or stopped: say nothing, so that the vouching runs out
        for pid in list(self.peers):
            addr = self._resolve(pid, now)
            if addr is None:
                continue
            self.seq += 1
            data = beacon.seal(self.key, beacon.Notice(
                self.id, pid, self.incarnation, self.seq, term, leader, max(0, stalled_ms)))
            try:
                self.sock.sendto(data, addr)
                self.stats.sent += 1
            except OSError:
                self.stats.send_errors += 1

    def _resolve(self, pid: int, now: float) -> tuple | None:
        """The peer's UDP address, looked up again every few seconds (a container
        restarted with a new IP keeps its name)."""
        cached = self.addr_cache.get(pid)
        if cached is not None and now - cached[0] < 5.0:
            return cached[1]
        host, port = self.peers[pid]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            addr = next((i[4] for i in infos if i[0] == self.sock.family), None)
        except OSError:
            addr = None
        self.addr_cache[pid] = (now, addr)
        return addr


class KeepAlive:
    """One node's side channel: its helper process, and what the helper heard."""

    def __init__(self, node_id: int, secret: bytes, bind: tuple[str, int],
                 peers: dict[int, tuple[str, int]], times: KeepAliveTimes,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.id = node_id
        self.times = times
        self._key = beacon.derive_key(secret)
        self._bind = bind
        self._clock = clock
        self._board = _Board()
        self._board.write_node(clock(), 0, False)
        self._board.write_peers(peers)
        self._pid = 0
        self._port = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> bool:
        """Bind and fork the helper; False (and a warning) if the port is taken: the
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
        self._port = sock.getsockname()[1]
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the helper: touch nothing of the node's but the board and socket
            code = 0
            try:
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                # Hold none of the node's files open: not its listening ports, and not
                # its stdout (a reader waiting for the node's output to end would wait
                # for the helper too).
                null = os.open(os.devnull, os.O_RDWR)
                for std in (0, 1, 2):
                    os.dup2(null, std)
                fd = sock.fileno()
                os.closerange(3, fd)
                os.closerange(fd + 1, 1 << 16)
                _Helper(self.id, self._key, sock, self._board, self.times, parent).run()
            except BaseException:  # noqa: BLE001 - the helper must never return into the node
                code = 1
            os._exit(code)
        sock.close()
        self._pid = pid
        return True

    def stop(self) -> None:
        if not self._pid:
            return
        turned, term, leader, _, _, _ = self._board.read_node()
        self._board.write_node(turned, term, leader, stop=True)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(self._pid, os.WNOHANG)
            except ChildProcessError:  # reaped by someone else (a SIGCHLD handler)
                break
            if done:
                break
            time.sleep(0.005)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
        self._pid = 0

    def running(self) -> bool:
        """The helper is alive and working (it stamps the board every interval)."""
        alive_at = self._board.read_helper()[0]
        return bool(self._pid) and self._clock() - alive_at < max(2.0, 10 * self.times.interval_s)

    @property
    def port(self) -> int:
        return self._port

    @property
    def helper_pid(self) -> int:
        return self._pid

    @property
    def stats(self) -> KeepAliveStats:
        return self._board.read_helper()[1]

    def set_peers(self, peers: dict[int, tuple[str, int]]) -> None:
        """A new membership: whom to send to."""
        self._board.write_peers(peers)

    # ------------------------------------------------------------------ loop side
    def loop_turned(self, now: float, term: int, leader: bool) -> None:
        self._board.write_node(now, term, leader)

    def vouching(self, term: int, now: float) -> list[int]:
        """Peers whose latest notice, in `term`, says they are alive but stalled."""
        t = self.times
        return [pid for pid, h in self._board.read_heard().items()
                if h.term == term and h.stalled_ms >= t.stalled_after_ms
                and now - h.at <= t.fresh_s]

    def heard_leader(self, pid: int, term: int) -> bool:
        h = self._board.read_heard().get(pid)
        return h is not None and h.leader and h.term == term
