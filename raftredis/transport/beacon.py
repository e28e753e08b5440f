"""Wire format of the keep-alive notices (replica.keepalive): small UDP datagrams that
say "node S is alive in term T, and its event loop has not turned for N ms".

A notice only ever delays an election (it never decides anything Raft's safety rests
on), but a forged or replayed one could still keep a dead leader's followers waiting,
so every notice is authenticated and numbered:

    magic "RRKA" | version | flags | sender u32 | dest u32 | incarnation u64 | seq u64
    | term u64 | stalled_ms u32 | tag (16 bytes of HMAC-SHA256 over everything before)

The MAC key is derived from the cluster secret with HKDF under its own label, so it
is never the handshake's or a connection's key. `Receiver` accepts a notice only if
its tag verifies, it is addressed to us, and (incarnation, seq) is newer than the
last one accepted from that sender (see `Receiver.accept` for restarts).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"RRKA"
VERSION = 1
FLAG_LEADER = 0x01
TAG_LEN = 16
_BODY = struct.Struct(">4sBBIIQQQI")
SIZE = _BODY.size + TAG_LEN  # every notice has exactly this size
_MAX_U32 = (1 << 32) - 1


def derive_key(secret: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, b"raftredis-keepalive", b"keepalive mac v1").derive(secret)


@dataclass(frozen=True, slots=True)
class Notice:
    sender: int
    dest: int
    incarnation: int
    seq: int
    term: int
    leader: bool
    stalled_ms: int


def seal(key: bytes, n: Notice) -> bytes:
    body = _BODY.pack(MAGIC, VERSION, FLAG_LEADER if n.leader else 0, n.sender, n.dest,
                      n.incarnation, n.seq, n.term, min(n.stalled_ms, _MAX_U32))
    return body + hmac.new(key, body, hashlib.sha256).digest()[:TAG_LEN]


def open_notice(key: bytes, data: bytes) -> Notice | None:
    """The notice in a datagram, or None if it is not a well-formed authentic one."""
    if len(data) != SIZE:
        return None
    body, tag = data[:-TAG_LEN], data[-TAG_LEN:]
    if not hmac.compare_digest(tag, hmac.new(key, body, hashlib.sha256).digest()[:TAG_LEN]):
        return None
    magic, version, flags, sender, dest, inc, seq, term, stalled = _BODY.unpack(body)
    if magic != MAGIC or version != VERSION:
        return None
    return Notice(sender, dest, inc, seq, term, bool(flags & FLAG_LEADER), stalled)


class Receiver:
    """Authenticity, addressing and replay checks for one node's incoming notices."""

    def __init__(self, key: bytes, node_id: int, restart_after_s: float) -> None:
        self._key = key
        self._id = node_id
        # A sender that restarted numbers from a new incarnation (its start time). One
        # that is older than the last accepted is taken only after the sender has been
        # silent this long (a clock set back across a restart), which bounds what a
        # replay of an old capture can do to the wait before an election.
        self._restart_after_s = restart_after_s
        self._last: dict[int, tuple[int, int, float]] = {}  # sender -> (inc, seq, at)
        self.rejected = 0

    def accept(self, data: bytes, now: float) -> Notice | None:
        n = open_notice(self._key, data)
        if n is None or n.dest != self._id or n.sender == self._id:
            self.rejected += 1
            return None
        last = self._last.get(n.sender)
        if last is not None:
            inc, seq, at = last
            newer = (n.incarnation, n.seq) > (inc, seq)
            restarted = n.incarnation != inc and now - at >= self._restart_after_s
            if not (newer or restarted):
                self.rejected += 1
                return None
        self._last[n.sender] = (n.incarnation, n.seq, now)
        return n
