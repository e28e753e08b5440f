"""The subscription index of one node: channel, pattern and shard-channel -> the
connections subscribed there, and delivery of a message to them.

The index holds no per-client truth: each connection keeps its own sets (ClientState)
and the pub/sub commands update both. Delivery order is subscription order (dicts
keep insertion order), so a test sees the same order every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from raftredis.reply import Push
from raftredis.statemachine.glob import compile_glob, glob_match


class Sink(Protocol):
    """A connection that takes out-of-band messages (RespProtocol)."""

    def push(self, value: object) -> None: ...


_MESSAGE, _PMESSAGE, _SMESSAGE = b"message", b"pmessage", b"smessage"


class PubSub:
    def __init__(self) -> None:
        self._channels: dict[bytes, dict[Sink, None]] = {}
        self._patterns: dict[bytes, tuple[Callable[[bytes], bool], dict[Sink, None]]] = {}
        self._shard: dict[bytes, dict[Sink, None]] = {}
        self.published = 0  # messages delivered through this index (INFO-style counter)

    # ------------------------------------------------------------------ index
    def subscribe(self, sink: Sink, channel: bytes) -> None:
        self._channels.setdefault(channel, {})[sink] = None

    def unsubscribe(self, sink: Sink, channel: bytes) -> None:
        _drop(self._channels, channel, sink)

    def psubscribe(self, sink: Sink, pattern: bytes) -> None:
        entry = self._patterns.get(pattern)
        if entry is None:
            entry = self._patterns[pattern] = (compile_glob(pattern), {})
        entry[1][sink] = None

    def punsubscribe(self, sink: Sink, pattern: bytes) -> None:
        entry = self._patterns.get(pattern)
        if entry is not None:
            entry[1].pop(sink, None)
            if not entry[1]:
                del self._patterns[pattern]

    def ssubscribe(self, sink: Sink, channel: bytes) -> None:
        self._shard.setdefault(channel, {})[sink] = None

    def sunsubscribe(self, sink: Sink, channel: bytes) -> None:
        _drop(self._shard, channel, sink)

    def any(self) -> bool:
        """Someone is subscribed to a channel or pattern (keyspace events go there)."""
        return bool(self._channels or self._patterns)

    def any_shard(self) -> bool:
        return bool(self._shard)

    # ------------------------------------------------------------------ delivery
    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to this node's channel and pattern subscribers; how many got it."""
        n = 0
        sinks = self._channels.get(channel)
        if sinks:
            msg = Push([_MESSAGE, channel, message])
            for sink in list(sinks):
                sink.push(msg)
            n += len(sinks)
        if self._patterns:
            for pattern, (match, psinks) in list(self._patterns.items()):
                if match(channel):
                    pmsg = Push([_PMESSAGE, pattern, channel, message])
                    for sink in list(psinks):
                        sink.push(pmsg)
                    n += len(psinks)
        self.published += 1
        return n

    def spublish(self, channel: bytes, message: bytes) -> int:
        sinks = self._shard.get(channel)
        if not sinks:
            return 0
        msg = Push([_SMESSAGE, channel, message])
        for sink in list(sinks):
            sink.push(msg)
        return len(sinks)

    # ------------------------------------------------------------------ PUBSUB
    def channels(self, pattern: bytes | None = None) -> list[bytes]:
        return _names(self._channels, pattern)

    def shard_channels(self, pattern: bytes | None = None) -> list[bytes]:
        return _names(self._shard, pattern)

    def numsub(self, channels: Iterable[bytes]) -> list[object]:
        out: list[object] = []
        for ch in channels:
            out += [ch, len(self._channels.get(ch, ()))]
        return out

    def shard_numsub(self, channels: Iterable[bytes]) -> list[object]:
        out: list[object] = []
        for ch in channels:
            out += [ch, len(self._shard.get(ch, ()))]
        return out

    def numpat(self) -> int:
        return len(self._patterns)


def _drop(index: dict[bytes, dict[Sink, None]], name: bytes, sink: Sink) -> None:
    sinks = index.get(name)
    if sinks is not None:
        sinks.pop(sink, None)
        if not sinks:
            del index[name]


def _names(index: dict[bytes, dict[Sink, None]], pattern: bytes | None) -> list[bytes]:
    if pattern is None:
        return list(index)
    return [name for name in index if glob_match(pattern, name)]
