"""The asyncio raftredis client: the same decisions as raftredis.client.sync (shared in
policy.py), with redis.asyncio underneath. Use it from one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from raftredis.client import policy
from raftredis.client.errors import UnknownOutcomeError
from raftredis.client.policy import Action, Address
from raftredis.client.sync import MAX_KNOWN, MAX_SPREAD, REDIRECT_LIMIT, _Attempts, _SessionExpired


class AsyncClient:
    """`await client.execute("INCR", "n")`: writes exactly once through a session."""

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
        self._conns: dict[Address, redis.asyncio.Redis] = {}
        self._leader: Address | None = None
        self._open_lock = asyncio.Lock()
        self._session: int | None = None
        self._seq = 0
        # As in the sync client: a new seq stays within max_in_flight of the oldest unanswered.
        self._max_in_flight = max_in_flight
        self._outstanding: set[int] = set()
        self._seq_free = asyncio.Condition(self._open_lock)
        self._closed = False
        self.stats = {"retries": 0, "in_doubt": 0, "redirects": 0, "sessions_opened": 0}

    async def execute(self, *args: object, **options: object) -> object:
        if not args:
            raise ValueError("empty command")
        if policy.uses_session(args):
            return await self._session_call(args, options)
        return await self._run(lambda: args, self._attempts(), options, str(args[0]))

    @property
    def session_id(self) -> int | None:
        return self._session

    async def get(self, key: object) -> object:
        return await self.execute("GET", key)

    async def set(self, key: object, value: object) -> bool:
        return bool(await self.execute("SET", key, value))

    async def delete(self, *keys: object) -> int:
        return int(await self.execute("DEL", *keys))  # type: ignore[call-overload]

    async def incr(self, key: object, amount: int = 1) -> int:
        return int(await self.execute("INCRBY", key, amount))  # type: ignore[call-overload]

    async def scan_iter(self, match: object = None, count: int = 100) -> AsyncIterator[object]:
        cursor: object = 0
        while True:
            args: list[object] = ["SCAN", cursor]
            if match is not None:
                args += ["MATCH", match]
            cursor, keys = await self.execute(*args, "COUNT", count)  # type: ignore[misc]
            for k in keys:
                yield k
            if int(cursor) == 0:  # type: ignore[call-overload]
                return

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        sid, self._session = self._session, None
        if sid is not None:
            with contextlib.suppress(redis.exceptions.RedisError):  # else it expires by itself
                await self._run(lambda: ("SESSION.CLOSE", sid),
                                self._attempts(min(self.deadline, 2.0)), {}, "SESSION.CLOSE")
        conns, self._conns = list(self._conns.values()), {}
        for r in conns:
            await r.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- sessions -----------------------------------------------------------------------
    async def _session_call(self, args: tuple, options: dict) -> object:
        att = self._attempts()
        name = str(args[0] if not isinstance(args[0], bytes) else args[0].decode())
        sid, seq = await self._take_seq(att, name)
        try:
            while True:
                try:
                    return await self._run(lambda s=sid, q=seq: ("SESSION.EXEC", s, q, *args),
                                           att, options, name, wrapped=True)
                except _SessionExpired:
                    if att.in_doubt:
                        raise UnknownOutcomeError(
                            f"{name}: the session expired while the outcome was unknown; it was "
                            "applied at most once") from None
                    await self._release(sid, seq)
                    if self._session == sid:
                        self._session = None
                    sid, seq = await self._take_seq(att, name)
        finally:
            await self._release(sid, seq)

    async def _release(self, sid: int, seq: int) -> None:
        async with self._seq_free:
            if self._session == sid:
                self._outstanding.discard(seq)
            self._seq_free.notify_all()

    async def _take_seq(self, att: _Attempts, name: str) -> tuple[int, int]:
        async with self._seq_free:
            while (self._outstanding and self._session is not None
                   and self._seq + 1 - min(self._outstanding) >= self._max_in_flight):
                if att.remaining() <= 0 or self._closed:
                    raise att.give_up(name)  # nothing sent yet: not applied
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._seq_free.wait(), min(att.remaining(), 0.5))
            if self._session is None:
                args: tuple = ("SESSION.OPEN",)
                if self._session_timeout_ms is not None:
                    args += (self._session_timeout_ms,)
                sid = await self._run(lambda: args, att, {}, "SESSION.OPEN")
                self._session, self._seq = int(sid), 0  # type: ignore[call-overload]
                self._outstanding = set()
                self.stats["sessions_opened"] += 1
            self._seq += 1
            self._outstanding.add(self._seq)
            return self._session, self._seq

    # ---- attempts -----------------------------------------------------------------------
    def _attempts(self, deadline: float | None = None) -> _Attempts:
        return _Attempts(time.monotonic() + (deadline or self.deadline),
                         policy.Backoff(*self._backoff))

    async def _run(self, build: Callable[[], tuple], att: _Attempts, options: dict, what: str,
                   wrapped: bool = False) -> object:
        while True:
            if self._closed and not what.startswith("SESSION.CLOSE"):
                raise redis.exceptions.ConnectionError("client is closed")
            addr = self._leader or await self._find_leader(att)
            if addr is not None:
                args = build()
                try:
                    r = self._conn(addr)
                    reply = await r.execute_command(*args, **({} if wrapped else options))
                    if not wrapped:
                        return reply
                    name = args[3].decode() if isinstance(args[3], bytes) else str(args[3])
                    cb = r.response_callbacks.get(name.upper())
                    return cb(reply, **options) if cb is not None else reply
                except (redis.exceptions.RedisError, OSError) as exc:
                    action = policy.classify(exc)
                    if action is Action.DONE:
                        raise
                    if action is Action.SESSION_EXPIRED:
                        raise _SessionExpired() from exc
                    if action is Action.REDIRECT:
                        target = policy.moved_address(exc)  # type: ignore[arg-type]
                        self._learn(target)
                        self._leader = target
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
            await asyncio.sleep(delay)

    async def _find_leader(self, att: _Attempts) -> Address | None:
        for addr in list(self._known):
            if att.remaining() <= 0:
                return None
            try:
                reply = await self._conn(addr).execute_command("CLUSTER", "SLOTS")
            except (redis.exceptions.RedisError, OSError):
                continue
            leader = policy.leader_from_slots(reply)
            if leader is not None:
                self._learn(leader)
                self._leader = leader
                return leader
        return None

    def _learn(self, addr: Address) -> None:
        if addr not in self._known:
            self._known.append(addr)
            if len(self._known) > MAX_KNOWN:
                self._known.pop(0)  # its connection stays until aclose(); at most MAX_KNOWN+1

    def _conn(self, addr: Address) -> redis.asyncio.Redis:
        r = self._conns.get(addr)
        if r is None:
            r = redis.asyncio.Redis(host=addr[0], port=addr[1], retry=Retry(NoBackoff(), 0),
                                    **self._redis_kw)  # type: ignore[arg-type]
            self._conns[addr] = r
        return r
