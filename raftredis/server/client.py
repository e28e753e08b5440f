"""Per-connection state: what CLIENT LIST shows and what commands change."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from raftredis.commands.spec import CommandSpec

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

    def reset(self, auth_required: bool) -> None:
        """RESET: back to a fresh connection's state (keeps id and addresses)."""
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

    def output_class(self) -> str:
        """The client-output-buffer-limit class. Every client here is normal: the
        server has no pub/sub, and Raft peers use their own port, not replica links."""
        return "normal"

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
        return f or "N"

    def info_line(self, now: float, qbuf: int = 0, pending: int = 0) -> str:
        """One line of CLIENT LIST / CLIENT INFO, fields in Redis 7.2's order."""
        multi = -1 if self.multi is None else len(self.multi)
        return (
            f"id={self.id} addr={self.addr} laddr={self.laddr} fd=-1 name={self.name} "
            f"age={int(now - self.created)} idle={int(now - self.last_interaction)} "
            f"flags={self.flags()} db={self.db} sub=0 psub=0 ssub=0 multi={multi} "
            f"watch={len(self.watched)} qbuf={qbuf} qbuf-free=0 argv-mem=0 multi-mem=0 "
            f"rbs=0 rbp=0 obl=0 oll={pending} omem=0 tot-mem=0 events=r cmd={self.last_cmd} "
            f"user=default redir=-1 resp={self.resp} lib-name={self.lib_name} "
            f"lib-ver={self.lib_ver}"
        )
