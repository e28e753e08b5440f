"""Per-connection state: what CLIENT LIST shows and what commands change."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from raftredis.acl.user import User
from raftredis.commands.spec import CommandSpec
from raftredis.events.tracking import TrackingMode

_ids = itertools.count(1)


def next_client_id() -> int:
    return next(_ids)


@dataclass(slots=True, eq=False, weakref_slot=True)
class ClientState:
    id: int
    addr: str  # "host:port" of the peer
    laddr: str  # "host:port" of our side
    name: str = ""
    lib_name: str = ""
    lib_ver: str = ""
    resp: int = 2
    authenticated: bool = True
    readonly: bool = False  # READONLY: stale reads on a follower allowed
    tls: bool = False  # came in over the TLS port: redirects name TLS ports
    db: int = 0
    created: float = field(default_factory=time.monotonic)
    last_interaction: float = field(default_factory=time.monotonic)
    last_cmd: str = "NULL"
    # MULTI: None when not in a transaction; else the queued (spec, args).
    multi: list[tuple[CommandSpec, list[bytes]]] | None = None
    multi_error: bool = False  # a command failed while queueing: EXEC answers EXECABORT
    # WATCH: key -> what the backend noted at WATCH time (applied index, deadline).
    watched: dict[bytes, object] = field(default_factory=dict)
    closed: bool = False  # the connection is gone: blocked commands must not pop for it
    blocked: bool = False  # waiting in BLPOP & co. (CLIENT LIST flag b)
    reply_mode: str = "on"  # CLIENT REPLY on / off / skip
    no_evict: bool = False
    no_touch: bool = False
    close_after_reply: bool = False  # QUIT, CLIENT KILL, a protocol error
    # Pub/sub: what this connection is subscribed to (raftredis.server.pubsub keeps the
    # node's index in step).
    channels: set[bytes] = field(default_factory=set)
    patterns: set[bytes] = field(default_factory=set)
    shard_channels: set[bytes] = field(default_factory=set)
    tracking: TrackingMode | None = None  # CLIENT TRACKING ON: how
    # Every command takes the full dispatch (RESP2 subscribe mode, tracking, a limited
    # ACL user): the fast lane does neither the subscribe-mode check, nor tracking's key
    # recording, nor the ACL check. `hooked`: the first two (dispatch's _run_hooked).
    full_dispatch: bool = False
    hooked: bool = False
    # WAIT: the reply future of this connection's last write (raftredis.server.replication).
    last_write: object = None
    # ACL: the user this connection runs as (None until the server sets it: the default
    # user), and whether its commands must be checked (any user not allowed everything).
    # A limited user takes the full dispatch, so the fast lane never checks.
    user: User | None = None
    acl_limited: bool = False

    def set_user(self, user: User) -> None:
        """Run as `user` from now on (AUTH, RESET, or the user's rules changed)."""
        self.user = user
        self.acl_limited = not user.unrestricted
        self.update_dispatch()

    def reset(self, auth_required: bool, default_user: User | None = None) -> None:
        """RESET: back to a fresh connection's state (keeps id and addresses)."""
        if default_user is not None:
            self.set_user(default_user)
        self.name = ""
        self.resp = 2
        self.authenticated = not auth_required
        self.readonly = False
        self.db = 0
        self.multi = None
        self.multi_error = False
        self.watched.clear()
        self.reply_mode = "on"
        self.no_evict = False
        self.no_touch = False
        # (subscriptions and tracking are dropped by the RESET handler, which also
        # updates the node's indexes)

    def username(self) -> str:
        return "default" if self.user is None else self.user.name.decode("utf-8", "replace")

    def subscriptions(self) -> int:
        """Channels and patterns: the count SUBSCRIBE and PSUBSCRIBE answer with."""
        return len(self.channels) + len(self.patterns)

    def in_pubsub(self) -> bool:
        return bool(self.channels or self.patterns or self.shard_channels)

    def update_dispatch(self) -> None:
        """After (un)subscribing or a tracking change: which dispatch path to take."""
        self.hooked = (self.resp == 2 and self.in_pubsub()) or self.tracking is not None
        self.full_dispatch = self.hooked or self.acl_limited

    def output_class(self) -> str:
        """The client-output-buffer-limit class: pubsub while subscribed, else normal
        (Raft peers use their own port, not replica links)."""
        return "pubsub" if self.in_pubsub() else "normal"

    def flags(self) -> str:
        f = ""
        if self.multi is not None:
            f += "x"
        if self.blocked:
            f += "b"
        if self.readonly:
            f += "r"
        if self.no_evict:
            f += "e"
        if self.no_touch:
            f += "T"
        if self.in_pubsub():
            f += "P"
        if self.tracking is not None:
            f += "t"
            if self.tracking.broken_redirect:
                f += "R"
        return f or "N"

    def info_line(self, now: float, qbuf: int = 0, pending: int = 0) -> str:
        """One line of CLIENT LIST / CLIENT INFO, fields in Redis 7.2's order."""
        multi = -1 if self.multi is None else len(self.multi)
        redir = -1 if self.tracking is None else self.tracking.redirect
        return (
            f"id={self.id} addr={self.addr} laddr={self.laddr} fd=-1 name={self.name} "
            f"age={int(now - self.created)} idle={int(now - self.last_interaction)} "
            f"flags={self.flags()} db={self.db} sub={len(self.channels)} "
            f"psub={len(self.patterns)} ssub={len(self.shard_channels)} multi={multi} "
            f"watch={len(self.watched)} qbuf={qbuf} qbuf-free=0 argv-mem=0 multi-mem=0 "
            f"rbs=0 rbp=0 obl=0 oll={pending} omem=0 tot-mem=0 events=r cmd={self.last_cmd} "
            f"user={self.username()} redir={redir} resp={self.resp} lib-name={self.lib_name} "
            f"lib-ver={self.lib_ver}"
        )
