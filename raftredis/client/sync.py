"""The blocking raftredis client, on top of redis-py.

Every write goes through a client session (SESSION.EXEC id seq cmd ...): a retry after a
lost connection, an UNCERTAIN reply or a failover reuses the same (id, seq), so the
cluster applies the command at most once and the client learns its one reply. Reads are
sent as they are to the leader (linearizable there). The client finds the leader from
any seed (CLUSTER SLOTS), follows MOVED, and waits out elections with backoff, all
within a per-command deadline.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import redis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from raftredis.client import policy
from raftredis.client.errors import ClusterUnavailableError, UnknownOutcomeError
from raftredis.client.policy import Action, Address

MAX_SPREAD = 16  # < the server's reply WINDOW (32): newest - oldest unanswered seq
MAX_KNOWN = 32  # addresses remembered (seeds, leaders, MOVED targets)
REDIRECT_LIMIT = 3  # consecutive MOVED before backing off (views may disagree briefly)


class _SessionExpired(Exception):
    pass


class _Attempts:
    """The state of one logical command across its attempts."""

    __slots__ = ("deadline", "backoff", "in_doubt", "redirects")

    def __init__(self, deadline: float, backoff: policy.Backoff) -> None:
        self.deadline = deadline
        self.backoff = backoff
        self.in_doubt = False
        self.redirects = 0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def give_up(self, what: str) -> Exception:
        if self.in_doubt:
            return UnknownOutcomeError(f"{what}: outcome unknown (sent, no reply before the "
                                       "deadline); it was applied at most once")
        return ClusterUnavailableError(f"{what}: no leader reachable before the deadline; "
                                       "not applied")


class Client:
    """A raftredis client. Thread-safe; one session shared by all threads."""

    def __init__(
        self,
        seeds: str | Address | Iterable[str | Address],
        *,
        deadline: float = 30.0,
        socket_timeout: float = 5.0,
        connect_timeout: float = 1.0,
        username: str | None = None,
        password: str | None = None,
        decode_responses: bool = False,
        session_timeout_ms: int | None = None,
        max_in_flight: int = 16,
        backoff_base: float = 0.02,
        backoff_cap: float = 0.5,
    ) -> None:
        self._known, self._redis_kw = policy.client_settings(
            seeds, deadline, max_in_flight, MAX_SPREAD, socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout, username=username, password=password,
            decode_responses=decode_responses)
        self.deadline = deadline
        self._session_timeout_ms = session_timeout_ms
        self._backoff = (backoff_base, backoff_cap)
        self._conns: dict[Address, redis.Redis] = {}
        self._leader: Address | None = None
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._session: int | None = None
        self._seq = 0
        # Seqs sent and not yet answered. A new seq is taken only while it stays within
        # max_in_flight of the oldest of them, so no retried seq can fall out of the
        # server's reply window (WINDOW) however long its retries take.
        self._max_in_flight = max_in_flight
        self._outstanding: set[int] = set()
        self._seq_free = threading.Condition(self._open_lock)
        self._closed = False
        self.stats = {"retries": 0, "in_doubt": 0, "redirects": 0, "sessions_opened": 0}

    # ---- public API ---------------------------------------------------------------------
    def execute(self, *args: object, **options: object) -> object:
        """Run one command; writes exactly once through the session, reads plainly."""
        if not args:
            raise ValueError("empty command")
        if policy.uses_session(args):
            return self._session_call(args, options)
        att = self._attempts()
        return self._run(lambda: args, att, options, str(args[0]))

    @property
    def session_id(self) -> int | None:
        return self._session

    def get(self, key: object) -> object:
        return self.execute("GET", key)

    def set(self, key: object, value: object) -> bool:
        return bool(self.execute("SET", key, value))

    def delete(self, *keys: object) -> int:
        return int(self.execute("DEL", *keys))  # type: ignore[call-overload]

    def incr(self, key: object, amount: int = 1) -> int:
        return int(self.execute("INCRBY", key, amount))  # type: ignore[call-overload]

    def exists(self, *keys: object) -> int:
        return int(self.execute("EXISTS", *keys))  # type: ignore[call-overload]

    def dbsize(self) -> int:
        return int(self.execute("DBSIZE"))  # type: ignore[call-overload]

    def scan_iter(self, match: object = None, count: int = 100) -> Iterator[object]:
        cursor: object = 0
        while True:
            args: list[object] = ["SCAN", cursor]
            if match is not None:
                args += ["MATCH", match]
            args += ["COUNT", count]
            cursor, keys = self.execute(*args)  # type: ignore[misc]
            yield from keys
            if int(cursor) == 0:  # type: ignore[call-overload]
                return

    def close(self) -> None:
        """Close the session (best effort, short) and every connection."""
        if self._closed:
            return
        self._closed = True
        sid, self._session = self._session, None
        if sid is not None:
            with contextlib.suppress(redis.exceptions.RedisError):  # else it expires by itself
                self._run(lambda: ("SESSION.CLOSE", sid), self._attempts(min(self.deadline, 2.0)),
                          {}, "SESSION.CLOSE")
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for r in conns:
            r.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- sessions -----------------------------------------------------------------------
    def _session_call(self, args: tuple, options: dict) -> object:
        att = self._attempts()
        name = str(args[0] if not isinstance(args[0], bytes) else args[0].decode())
        sid, seq = self._take_seq(att, name)
        try:
            while True:
                try:
                    return self._run(lambda s=sid, q=seq: ("SESSION.EXEC", s, q, *args), att,
                                     options, name, wrapped=True)
                except _SessionExpired:
                    if att.in_doubt:
                        raise UnknownOutcomeError(
                            f"{name}: the session expired while the outcome was unknown; it was "
                            "applied at most once") from None
                    # Never applied (the server refuses without running): a new session is safe.
                    self._release(sid, seq)
                    self._drop_session(sid)
                    sid, seq = self._take_seq(att, name)
        finally:
            self._release(sid, seq)

    def _release(self, sid: int, seq: int) -> None:
        with self._seq_free:
            if self._session == sid:
                self._outstanding.discard(seq)
            self._seq_free.notify_all()

    def _take_seq(self, att: _Attempts, name: str) -> tuple[int, int]:
        with self._seq_free:
            while (self._outstanding and self._session is not None
                   and self._seq + 1 - min(self._outstanding) >= self._max_in_flight):
                if att.remaining() <= 0 or self._closed:
                    raise att.give_up(name)  # nothing sent yet: not applied
                self._seq_free.wait(min(att.remaining(), 0.5))
            if self._session is None:
                args: tuple = ("SESSION.OPEN",)
                if self._session_timeout_ms is not None:
                    args += (self._session_timeout_ms,)
                # An OPEN that is retried may leave an unused session behind; it expires.
                sid = self._run(lambda: args, att, {}, "SESSION.OPEN")
                with self._lock:
                    self._session, self._seq = int(sid), 0  # type: ignore[call-overload]
                    self._outstanding = set()
                self.stats["sessions_opened"] += 1
            with self._lock:
                self._seq += 1
                self._outstanding.add(self._seq)
                return self._session, self._seq  # type: ignore[return-value]

    def _drop_session(self, sid: int) -> None:
        with self._lock:
            if self._session == sid:
                self._session = None

    # ---- attempts -----------------------------------------------------------------------
    def _attempts(self, deadline: float | None = None) -> _Attempts:
        return _Attempts(time.monotonic() + (deadline or self.deadline),
                         policy.Backoff(*self._backoff))

    def _run(self, build: Callable[[], tuple], att: _Attempts, options: dict, what: str,
             wrapped: bool = False) -> object:
        while True:
            if self._closed and not what.startswith("SESSION.CLOSE"):
                raise redis.exceptions.ConnectionError("client is closed")
            addr = self._leader or self._find_leader(att)
            if addr is not None:
                args = build()
                try:
                    r = self._conn(addr)
                    reply = r.execute_command(*args, **({} if wrapped else options))
                    return self._callback(r, args[3], reply, options) if wrapped else reply
                except (redis.exceptions.RedisError, OSError) as exc:
                    action = policy.classify(exc)
                    if action is Action.DONE:
                        raise
                    if action is Action.SESSION_EXPIRED:
                        raise _SessionExpired() from exc
                    if action is Action.REDIRECT:
                        self._learn(policy.moved_address(exc))  # type: ignore[arg-type]
                        self._leader = policy.moved_address(exc)  # type: ignore[arg-type]
                        self.stats["redirects"] += 1
                        att.redirects += 1
                        if att.redirects <= REDIRECT_LIMIT:
                            continue
                    else:
                        if action is Action.RETRY_IN_DOUBT:
                            att.in_doubt = True
                            self.stats["in_doubt"] += 1  # an attempt whose outcome we missed
                        if self._leader == addr:
                            self._leader = None
            att.redirects = 0
            self.stats["retries"] += 1
            delay = min(att.backoff.next_delay(), att.remaining())
            if delay <= 0:
                raise att.give_up(what)
            time.sleep(delay)

    @staticmethod
    def _callback(r: redis.Redis, name: object, reply: object, options: dict) -> object:
        # The same shaping redis-py gives the plain command (SET -> True, SCAN -> tuple...).
        key = name.decode() if isinstance(name, bytes) else str(name)
        cb = r.response_callbacks.get(key.upper())
        return cb(reply, **options) if cb is not None else reply

    def _find_leader(self, att: _Attempts) -> Address | None:
        """Ask known nodes for CLUSTER SLOTS' master; None if none knows one right now."""
        for addr in list(self._known):
            if att.remaining() <= 0:
                return None
            try:
                reply = self._conn(addr).execute_command("CLUSTER", "SLOTS")
            except (redis.exceptions.RedisError, OSError):
                continue
            leader = policy.leader_from_slots(reply)
            if leader is not None:
                self._learn(leader)
                self._leader = leader
                return leader
        return None

    def _learn(self, addr: Address) -> None:
        with self._lock:
            if addr not in self._known:
                self._known.append(addr)
                if len(self._known) > MAX_KNOWN:
                    old = self._known.pop(0)
                    conn = self._conns.pop(old, None)
                    if conn is not None:
                        conn.close()

    def _conn(self, addr: Address) -> redis.Redis:
        with self._lock:
            r = self._conns.get(addr)
            if r is None:
                # No retries inside redis-py: this client decides, with the session's seq.
                r = redis.Redis(host=addr[0], port=addr[1], retry=Retry(NoBackoff(), 0),
                                **self._redis_kw)  # type: ignore[arg-type]
                self._conns[addr] = r
            return r
