"""Pure decisions of the client, shared by the sync and asyncio versions: which
commands go through a session, what each error means, how long to back off, and where
the leader is. No I/O here."""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable
from dataclasses import dataclass

import redis.exceptions

from raftredis.commands import Route, lookup

Address = tuple[str, int]

MAX_ARGS_BYTES = 512 * 1024 * 1024  # what a server accepts in one bulk; refuse earlier


class Action(enum.Enum):
    DONE = 0  # a real reply (or an error reply of the command itself): return / raise it
    REDIRECT = 1  # MOVED: go to the named node now
    RETRY = 2  # not applied (CLUSTERDOWN, TRYAGAIN, LOADING, refused connection): back off
    RETRY_IN_DOUBT = 3  # maybe applied (UNCERTAIN, lost connection): back off, same seq
    SESSION_EXPIRED = 4  # the session is gone: a new one, if nothing is in doubt


def classify(exc: BaseException) -> Action:
    """What an exception raised by redis-py for one attempt means for the command."""
    if isinstance(exc, redis.exceptions.MovedError):
        return Action.REDIRECT
    if isinstance(exc, redis.exceptions.TryAgainError | redis.exceptions.ClusterDownError
                  | redis.exceptions.BusyLoadingError):
        return Action.RETRY
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        # Connecting failed before anything was sent: certainly not applied.
        if _connect_failure(exc):
            return Action.RETRY
        return Action.RETRY_IN_DOUBT
    if isinstance(exc, redis.exceptions.ResponseError):
        text = str(exc)
        if text.startswith("UNCERTAIN"):
            return Action.RETRY_IN_DOUBT
        if text.startswith("SESSIONEXPIRED"):
            return Action.SESSION_EXPIRED
        if text.startswith(("CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN")):
            return Action.RETRY
    return Action.DONE


def _connect_failure(exc: BaseException) -> bool:
    text = str(exc)
    return "Error connecting" in text or "Connection refused" in text or "connecting to" in text


def moved_address(exc: redis.exceptions.MovedError) -> Address:
    return (str(exc.host), int(exc.port))


def uses_session(args: tuple | list) -> bool:
    """Writes go through SESSION.EXEC; reads and connection commands are sent as they are
    (a read changes nothing, so retrying it is always safe)."""
    name = args[0]
    raw = name if isinstance(name, bytes) else str(name).encode()
    spec = lookup(raw)
    return spec is not None and spec.route is Route.WRITE and spec.group != "sessions"


def parse_address(addr: str | Address) -> Address:
    if isinstance(addr, tuple):
        return (str(addr[0]), int(addr[1]))
    host, sep, port = str(addr).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address {addr!r} is not host:port")
    return (host.strip("[]"), int(port))


def client_settings(
    seeds: str | Address | Iterable[str | Address], deadline: float, max_in_flight: int,
    max_spread: int, **redis_kw: object,
) -> tuple[list[Address], dict[str, object]]:
    """What both clients' constructors check and keep: the seed addresses and the keyword
    arguments of each redis-py connection."""
    if isinstance(seeds, str | tuple):
        seeds = [seeds]
    known = [parse_address(s) for s in seeds]
    if not known:
        raise ValueError("at least one seed address is needed")
    if not 0 < deadline <= 3600 or not 0 < max_in_flight <= max_spread:
        raise ValueError(f"deadline must be in (0, 3600] s, max_in_flight in 1..{max_spread}")
    return known, dict(redis_kw)


def leader_from_slots(reply: object) -> Address | None:
    """The master of CLUSTER SLOTS (one shard owns every slot), in either the raw list
    form or redis-py's parsed dict form; None when no leader is known."""
    if isinstance(reply, dict):
        for info in reply.values():
            primary = info.get("primary") if isinstance(info, dict) else None
            if primary:
                return (_text(primary[0]), int(primary[1]))
        return None
    if isinstance(reply, list | tuple):
        for row in reply:
            if isinstance(row, list | tuple) and len(row) >= 3:
                master = row[2]
                if isinstance(master, list | tuple) and len(master) >= 2:
                    return (_text(master[0]), int(master[1]))
    return None


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass
class Backoff:
    """Exponential backoff with full jitter, capped; seeded for reproducible tests."""

    base: float = 0.02
    cap: float = 0.5
    rng: random.Random | None = None
    attempt: int = 0

    def next_delay(self) -> float:
        self.attempt += 1
        high = min(self.cap, self.base * (2 ** min(self.attempt, 16)))
        rng = self.rng or random
        return high / 2 + rng.random() * high / 2

    def reset(self) -> None:
        self.attempt = 0
