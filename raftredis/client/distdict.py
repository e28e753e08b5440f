"""DistDict: a dictionary whose items live in the raftredis cluster.

    d = DistDict(client, prefix="users:")
    d["a"] = "b"; d["a"]; del d["a"]; len(d); "a" in d; list(d)

Each operation is one command (writes exactly once through the client's session).
With a prefix, the dict sees only its own keys (len and iteration use SCAN MATCH);
without one it is the whole keyspace (len is DBSIZE). Iteration follows SCAN's
guarantee: keys present for the whole iteration are returned; others may or may not be.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from raftredis.client.sync import Client

_GLOB_SPECIAL = b"*?[]\\"


def glob_escape(raw: bytes) -> bytes:
    return b"".join(b"\\" + bytes([c]) if c in _GLOB_SPECIAL else bytes([c]) for c in raw)


def _to_bytes(v: object) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, int | float) and not isinstance(v, bool):
        return repr(v).encode()
    raise TypeError(f"DistDict keys and values are str, bytes or numbers, not {type(v).__name__}")


class DistDict(MutableMapping):
    def __init__(self, client: Client, prefix: str | bytes = b"", scan_count: int = 200) -> None:
        self.client = client
        self.prefix = _to_bytes(prefix)
        self.scan_count = scan_count

    def _key(self, key: object) -> bytes:
        return self.prefix + _to_bytes(key)

    def _user_key(self, raw: object) -> object:
        if isinstance(raw, str):  # decode_responses=True
            return raw[len(self.prefix.decode()):]
        assert isinstance(raw, bytes)
        return raw[len(self.prefix):]

    def __getitem__(self, key: object) -> object:
        value = self.client.execute("GET", self._key(key))
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: object, value: object) -> None:
        self.client.execute("SET", self._key(key), _to_bytes(value))

    def __delitem__(self, key: object) -> None:
        if not self.client.execute("DEL", self._key(key)):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            return bool(self.client.execute("EXISTS", self._key(key)))
        except TypeError:
            return False

    def __iter__(self) -> Iterator[object]:
        match = glob_escape(self.prefix) + b"*" if self.prefix else None
        for raw in self.client.scan_iter(match=match, count=self.scan_count):
            yield self._user_key(raw)

    def __len__(self) -> int:
        if not self.prefix:
            return self.client.dbsize()
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"DistDict(prefix={self.prefix!r})"
