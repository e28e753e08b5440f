"""The client session table (Raft dissertation §6.3): exactly-once retries.

A session is opened through the log and gets the next id of a counter (never reused, so
a stale client cannot land in someone else's session). SESSION.EXEC id seq cmd... runs
cmd once per (id, seq): the replies of the last WINDOW seqs are kept, and a repeated seq
gets its saved reply instead of a second application. A seq older than the kept window
is refused, never run again. Everything here is decided by the log alone: time is the
entry's stamp, eviction follows the order of activity in the log, so every replica holds
the same table. The table is part of snapshots (see snapshot.py).

Bounds: MAX_SESSIONS sessions (the least recently active one is evicted when full),
WINDOW replies per session, replies larger than MAX_KEPT_REPLY bytes are remembered only
as "applied" (a retry of such a seq gets an error saying so, not a second application).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

from raftredis.commands import Route, lookup
from raftredis.commands.sessions import WRAP_OFFSET
from raftredis.reply import (
    NULL_ARRAY,
    BigNumber,
    CommandError,
    Double,
    Error,
    Map,
    Pairs,
    Push,
    Set,
    Status,
    Verbatim,
    wrong_arity,
)
from raftredis.statemachine.registry import Ctx, handler

DEFAULT_TIMEOUT_MS = 10 * 60 * 1000
MIN_TIMEOUT_MS = 1000
MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000
MAX_SESSIONS = 4096
WINDOW = 32  # replies kept per session: how many commands a client may have in flight
MAX_KEPT_REPLY = 4096  # bytes (estimated); bigger replies are kept as "applied" only
MAX_ID = (1 << 63) - 1
_MAX_DEPTH = 8

_TOO_BIG = object()  # the seq was applied, its reply was too large to keep


def expired_error(sid: int | bytes) -> Error:
    shown = sid if isinstance(sid, int) else sid[:32].decode("utf-8", "replace")
    return Error(f"SESSIONEXPIRED session {shown} is unknown or expired; open a new session")


class Session:
    __slots__ = ("id", "timeout_ms", "last_ms", "low", "replies")

    def __init__(self, sid: int, timeout_ms: int, last_ms: int, low: int = 1) -> None:
        self.id = sid
        self.timeout_ms = timeout_ms
        self.last_ms = last_ms
        self.low = low  # every seq below this is forgotten: refused, never re-applied
        self.replies: dict[int, object] = {}

    def expired(self, now_ms: int) -> bool:
        return self.last_ms + self.timeout_ms <= now_ms

    def remember(self, seq: int, reply: object) -> None:
        self.replies[seq] = reply if _measure(reply, MAX_KEPT_REPLY) >= 0 else _TOO_BIG
        while len(self.replies) > WINDOW:
            oldest = min(self.replies)
            del self.replies[oldest]
            self.low = max(self.low, oldest + 1)


Runner = Callable[[list[bytes]], object]


class SessionTable:
    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self.next_id = 1
        self.max_sessions = max_sessions
        # Least recently active first: the order of activity in the log, same on every replica.
        self.sessions: OrderedDict[int, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self.sessions)

    # ---- commands -------------------------------------------------------------------
    def apply(self, args: list[bytes], now_ms: int, run: Runner) -> object:
        """Run one SESSION.* command (arity already checked by the machine)."""
        name = args[0].lower()
        self._sweep(now_ms)
        try:
            if name == b"session.exec":
                return self._exec(args, now_ms, run)
            if name == b"session.open":
                return self._open(args, now_ms)
            if name == b"session.close":
                return self._close(args)
        except CommandError as e:
            return e.reply()
        return Error("ERR unknown SESSION command")

    def _open(self, args: list[bytes], now_ms: int) -> int:
        if len(args) > 2:
            raise CommandError(str(wrong_arity("session.open")))
        timeout = DEFAULT_TIMEOUT_MS
        if len(args) == 2:
            timeout = _parse_int(args[1], "timeout-ms")
            if not MIN_TIMEOUT_MS <= timeout <= MAX_TIMEOUT_MS:
                raise CommandError(
                    f"ERR SESSION timeout-ms must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"
                )
        if len(self.sessions) >= self.max_sessions:
            self._drop_expired(now_ms)
            while len(self.sessions) >= self.max_sessions:
                self.sessions.popitem(last=False)  # least recently active
        sid = self.next_id
        self.next_id += 1
        self.sessions[sid] = Session(sid, timeout, now_ms)
        return sid

    def _close(self, args: list[bytes]) -> int:
        sid = _parse_int(args[1], "id")
        return 1 if self.sessions.pop(sid, None) is not None else 0

    def _exec(self, args: list[bytes], now_ms: int, run: Runner) -> object:
        sid = _parse_int(args[1], "id")
        seq = _parse_int(args[2], "seq")
        sess = self.sessions.get(sid)
        if sess is None:
            return expired_error(args[1])
        if sess.expired(now_ms):
            del self.sessions[sid]
            return expired_error(sid)
        sess.last_ms = now_ms
        self.sessions.move_to_end(sid)
        if seq in sess.replies:
            saved = sess.replies[seq]
            if saved is _TOO_BIG:
                return Error(f"ERR SESSION seq {seq} was applied; its reply was too large to keep")
            return saved
        if seq < sess.low:
            return Error(
                f"ERR SESSION seq {seq} already applied or abandoned; its reply is no longer "
                f"kept (oldest kept seq is {sess.low})"
            )
        inner = args[WRAP_OFFSET:]
        spec = lookup(inner[0])
        if spec is not None and (spec.route is Route.LOCAL or spec.group == "sessions"):
            # Not run and not recorded: the same refusal on every retry.
            return Error(
                f"ERR SESSION.EXEC cannot wrap '{spec.name}': only data commands run in a session"
            )
        reply = run(inner)
        sess.remember(seq, reply)
        return reply

    # ---- expiry ---------------------------------------------------------------------
    def _sweep(self, now_ms: int) -> None:
        """Drop expired sessions from the front (least recently active); stops at the first
        live one, so the cost is amortised. Others are caught when used or when full."""
        sessions = self.sessions
        while sessions:
            sess = next(iter(sessions.values()))
            if not sess.expired(now_ms):
                return
            sessions.popitem(last=False)

    def _drop_expired(self, now_ms: int) -> None:
        for sid in [s.id for s in self.sessions.values() if s.expired(now_ms)]:
            del self.sessions[sid]

    # ---- snapshots ------------------------------------------------------------------
    def records(self) -> Iterator[list]:
        """msgpack-able records: a header, then one per session, least recently active first."""
        yield [self.next_id, len(self.sessions)]
        for s in self.sessions.values():
            yield [s.id, s.timeout_ms, s.last_ms, s.low,
                   [[seq, _encode(r)] for seq, r in s.replies.items()]]

    @classmethod
    def from_records(cls, records: list[object]) -> SessionTable:
        """Rebuild a table from records(); raises ValueError on anything malformed."""
        if not records:
            raise ValueError("session section has no header")
        head = records[0]
        if not (isinstance(head, list) and len(head) == 2 and _is_id(head[0])
                and type(head[1]) is int and head[1] == len(records) - 1):
            raise ValueError("session section header is corrupt")
        table = cls()
        table.next_id = head[0]
        for rec in records[1:]:
            if not isinstance(rec, list) or len(rec) != 5:
                raise ValueError("session record is not a 5-item array")
            sid, timeout, last, low, replies = rec
            if not (_is_id(sid) and sid < table.next_id and sid not in table.sessions):
                raise ValueError("session id is invalid or repeated")
            if not (type(timeout) is int and MIN_TIMEOUT_MS <= timeout <= MAX_TIMEOUT_MS):
                raise ValueError("session timeout is out of range")
            if type(last) is not int or not -(1 << 63) <= last < (1 << 63) or not _is_id(low):
                raise ValueError("session times are invalid")
            if not isinstance(replies, list) or len(replies) > WINDOW:
                raise ValueError("session replies are invalid")
            sess = Session(sid, timeout, last, low)
            for item in replies:
                if not (isinstance(item, list) and len(item) == 2 and _is_id(item[0])
                        and item[0] >= low and item[0] not in sess.replies):
                    raise ValueError("session reply entry is invalid")
                sess.replies[item[0]] = _decode(item[1], 0)
            table.sessions[sid] = sess
        if len(table.sessions) > table.max_sessions:
            raise ValueError("too many sessions in snapshot")
        return table


# ---- helpers ------------------------------------------------------------------------
def _parse_int(raw: bytes, what: str) -> int:
    if not (0 < len(raw) <= 19 and raw.isdigit() and raw[:1] != b"0"):
        raise CommandError(f"ERR SESSION {what} must be a positive integer")
    value = int(raw)
    if value > MAX_ID:
        raise CommandError(f"ERR SESSION {what} must be a positive integer")
    return value


def _is_id(v: object) -> bool:
    return type(v) is int and 0 < v <= MAX_ID


def _measure(reply: object, budget: int, depth: int = 0) -> int:
    """Rough encoded size of a reply, or -1 when over budget or not storable."""
    if depth > _MAX_DEPTH:
        return -1
    if reply is None or reply is NULL_ARRAY or isinstance(reply, int | float):
        size = 9
    elif isinstance(reply, bytes | str):
        size = len(reply) + 5
    elif isinstance(reply, list | tuple | dict):
        items = reply.items() if isinstance(reply, dict) else reply
        size = 5
        for item in items:
            parts = item if isinstance(reply, dict) else (item,)
            for part in parts:
                n = _measure(part, budget - size, depth + 1)
                if n < 0:
                    return -1
                size += n
    else:
        return -1
    return size if size <= budget else -1


# Tagged form for snapshots: bytes, int and None stay as they are; everything else is
# [tag, value] so each reply type comes back as itself (Status vs bytes, Set vs list...).
_STR_TAGS: tuple[tuple[type, str], ...] = ((Error, "e"), (Status, "s"), (Verbatim, "v"))
_LIST_TAGS: tuple[tuple[type, str], ...] = ((Pairs, "p"), (Set, "t"), (Push, "u"))


def _encode(r: object) -> object:
    if r is _TOO_BIG:
        return ["x"]
    if r is NULL_ARRAY:
        return ["0"]
    if r is None or type(r) is bytes or type(r) is int:
        return r
    if isinstance(r, BigNumber):
        return ["n", str(int(r))]
    if isinstance(r, Double):
        return ["d", float(r)]
    for cls, tag in _STR_TAGS:
        if isinstance(r, cls):
            return [tag, str(r)]
    if isinstance(r, Map):
        return ["m", [[_encode(k), _encode(v)] for k, v in r.items()]]
    for cls, tag in _LIST_TAGS:
        if isinstance(r, cls):
            return [tag, [_encode(x) for x in r]]
    if isinstance(r, list | tuple):
        return ["l", [_encode(x) for x in r]]
    raise ValueError(f"reply type {type(r).__name__} cannot be kept")


def _decode(v: object, depth: int) -> object:
    if v is None or type(v) is bytes or type(v) is int:
        return v
    if depth > _MAX_DEPTH or not isinstance(v, list) or not v or not isinstance(v[0], str):
        raise ValueError("saved reply is corrupt")
    tag = v[0]
    if tag == "x" and len(v) == 1:
        return _TOO_BIG
    if tag == "0" and len(v) == 1:
        return NULL_ARRAY
    if len(v) != 2:
        raise ValueError("saved reply is corrupt")
    body = v[1]
    if tag == "n" and isinstance(body, str) and body.lstrip("-").isdigit():
        return BigNumber(int(body))
    if tag == "d" and isinstance(body, float):
        return Double(body)
    for cls, t in _STR_TAGS:
        if tag == t and isinstance(body, str):
            return cls(body)
    if isinstance(body, list):
        if tag == "m":
            if not all(isinstance(p, list) and len(p) == 2 for p in body):
                raise ValueError("saved map reply is corrupt")
            return Map((_decode(k, depth + 1), _decode(x, depth + 1)) for k, x in body)
        items = [_decode(x, depth + 1) for x in body]
        if tag == "l":
            return items
        for cls, t in _LIST_TAGS:
            if tag == t:
                return cls(items)
    raise ValueError("saved reply is corrupt")


# The machine runs SESSION.* at the top level of an entry (it needs the table); these
# are what a SESSION.* command queued inside MULTI gets.
@handler("session.open", "session.exec", "session.close")
def _in_multi(ctx: Ctx, args: list[bytes]) -> object:
    raise CommandError("ERR SESSION commands cannot run inside MULTI")
