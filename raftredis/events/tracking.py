"""Client-side caching (CLIENT TRACKING): which client may cache which key, and the
invalidation messages an applied change sends them.

Each node tracks the clients connected to it: a client reads from one node, and that
node sends its invalidations when it applies an entry that changes a tracked key (the
leader for linearizable reads, a follower for READONLY ones), so an invalidation
always comes after the applied change a cached value could predate. A key's entry is
dropped once invalidated, as Redis does; a client must read it again to be told again.

NOLOOP is accepted but not honoured: an applied entry does not say which connection
proposed it, so the writer is invalidated too (a spare invalidation, never a stale
cache).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from raftredis.reply import Push

INVALIDATE_CHANNEL = b"__redis__:invalidate"


@dataclass(slots=True)
class TrackingMode:
    """A tracking client's options (ClientState.tracking while tracking is on)."""

    redirect: int = 0  # client id that receives the invalidations; 0: this client
    bcast: bool = False
    optin: bool = False
    optout: bool = False
    noloop: bool = False
    prefixes: list[bytes] = field(default_factory=list)  # BCAST only; [] means every key
    caching: bool | None = None  # CLIENT CACHING yes/no, for the next command only
    broken_redirect: bool = False  # the redirect client went away

    def wants(self) -> bool:
        """Whether the keys of the command being run are to be remembered."""
        if self.bcast:
            return False
        if self.optin:
            return self.caching is True
        if self.optout:
            return self.caching is not False
        return True

    def flag_names(self) -> list[bytes]:
        out = [b"on"]
        for on, name in ((self.bcast, b"bcast"), (self.optin, b"optin"),
                         (self.optout, b"optout"), (self.caching is True, b"caching-yes"),
                         (self.caching is False, b"caching-no"), (self.noloop, b"noloop"),
                         (self.broken_redirect, b"broken_redirect")):
            if on:
                out.append(name)
        return out


class TrackedClient(Protocol):
    """What the table needs of a connection: its id, protocol, tracking mode and the
    channels it listens on (RESP2 redirect targets must listen on the invalidate one)."""

    @property
    def client(self): ...  # ClientState

    def push(self, value: object) -> None: ...


Lookup = Callable[[int], TrackedClient | None]


class Tracking:
    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup
        self._keys: dict[bytes, dict[int, None]] = {}  # key -> ids of clients caching it
        self._bcast: dict[bytes, dict[int, None]] = {}  # prefix -> ids of BCAST clients
        self._clients: dict[int, None] = {}  # every tracking client, for FLUSHALL

    def active(self) -> bool:
        return bool(self._clients)

    def tracked_keys(self) -> int:
        return len(self._keys)

    def clients(self) -> int:
        return len(self._clients)

    # ------------------------------------------------------------------ who tracks
    def enable(self, client_id: int, mode: TrackingMode) -> None:
        self._clients[client_id] = None
        if mode.bcast:
            for prefix in mode.prefixes or [b""]:
                self._bcast.setdefault(prefix, {})[client_id] = None

    def disable(self, client_id: int, mode: TrackingMode | None) -> None:
        """Tracking off or the connection gone. Its key entries are left to lapse: an
        invalidation for a client no longer tracking is simply not sent."""
        self._clients.pop(client_id, None)
        if mode is not None and mode.bcast:
            for prefix in mode.prefixes or [b""]:
                ids = self._bcast.get(prefix)
                if ids is not None:
                    ids.pop(client_id, None)
                    if not ids:
                        del self._bcast[prefix]

    def remember(self, client_id: int, keys: Iterable[bytes]) -> None:
        table = self._keys
        for key in keys:
            ids = table.get(key)
            if ids is None:
                table[key] = {client_id: None}
            else:
                ids[client_id] = None

    # ------------------------------------------------------------------ invalidation
    def invalidate(self, keys: Iterable[bytes]) -> None:
        """Keys an applied entry changed: tell every client that may cache them."""
        bcast: dict[int, list[bytes]] = {}
        table = self._keys
        for key in keys:
            ids = table.pop(key, None)
            if ids:
                for cid in ids:
                    self._send(cid, [key])
            if self._bcast:
                for prefix, pids in self._bcast.items():
                    if key.startswith(prefix):
                        for cid in pids:
                            bcast.setdefault(cid, []).append(key)
        for cid, ks in bcast.items():
            self._send(cid, ks)

    def invalidate_all(self) -> None:
        """FLUSHALL / FLUSHDB: every tracking client drops its whole cache (a null)."""
        self._keys.clear()
        for cid in list(self._clients):
            self._send(cid, None)

    def _send(self, cid: int, keys: list[bytes] | None) -> None:
        conn = self._lookup(cid)
        if conn is None or cid not in self._clients:
            return
        mode = conn.client.tracking
        if mode is None:
            return
        target = conn
        if mode.redirect:
            target = self._lookup(mode.redirect)
            if target is None:  # said at each invalidation it cannot deliver, as Redis
                mode.broken_redirect = True
                if conn.client.resp == 3:
                    conn.push(Push([b"tracking-redir-broken", mode.redirect]))
                return
        if target.client.resp == 3:
            target.push(Push([b"invalidate", keys]))
        elif INVALIDATE_CHANNEL in target.client.channels:
            target.push(Push([b"message", INVALIDATE_CHANNEL, keys]))
        # A RESP2 client tracking for itself cannot be told: Redis drops it too.
