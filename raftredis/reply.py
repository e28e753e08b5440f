"""Reply values, independent of the wire protocol.

The state machine and command handlers return these; `raftredis.resp.encoder`
writes them as RESP2 or RESP3. Python natives map directly:

    bytes        -> bulk string
    int          -> integer (bool is not used)
    None         -> null bulk ($-1 in RESP2, _ in RESP3)
    list / tuple -> array
    Status       -> simple string (+OK)
    Error        -> error (-ERR ...)
    Double       -> double (RESP3 ,1.5; bulk string in RESP2)
    Map          -> map (RESP3 %; flat array in RESP2)
    Set          -> set (RESP3 ~; array in RESP2)
    NULL_ARRAY   -> null array (*-1 in RESP2, _ in RESP3)
    Verbatim     -> verbatim string (RESP3 =; bulk in RESP2)
    BigNumber    -> RESP3 ( ; bulk in RESP2
    Push         -> RESP3 > ; array in RESP2
    Pairs        -> flat [a1, b1, a2, b2, ...]: array of 2-arrays in RESP3; flat in RESP2
    KeyedPairs   -> [(k, v), ...]: map in RESP3; array of 2-arrays in RESP2
"""

from __future__ import annotations


class Status(str):
    """A simple string reply such as OK or PONG (must not contain CR or LF)."""

    __slots__ = ()


class Error(str):
    """An error reply. The text starts with its code: "ERR ...", "WRONGTYPE ...",
    "MOVED 3999 127.0.0.1:7001", ..."""

    __slots__ = ()


class CommandError(Exception):
    """Raised inside handlers; the dispatcher turns it into an Error reply."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def reply(self) -> Error:
        return Error(self.message)


class Double(float):
    __slots__ = ()


class BigNumber(int):
    __slots__ = ()


class Verbatim(str):
    """Verbatim text (INFO, CLIENT INFO, ...); RESP3 sends it as =txt:..."""

    __slots__ = ()


class Map(dict):
    __slots__ = ()


class Set(list):
    """An unordered collection reply; a list so encoding order is deterministic."""

    __slots__ = ()


class Push(list):
    __slots__ = ()


class Replies(list):
    """Several replies to one command, written back to back (SUBSCRIBE a b answers one
    confirmation per channel)."""

    __slots__ = ()


class Pairs(list):
    """Held flat as [a1, b1, a2, b2, ...] (what RESP2 sends); RESP3 sends it as an
    array of [a, b] arrays, as Redis 7 does for ZRANGE WITHSCORES, ZPOPMIN with a
    count, HRANDFIELD WITHVALUES."""

    __slots__ = ()


class KeyedPairs(list):
    """[(key, value), ...] that RESP3 sends as a map and RESP2 as an array of [key,
    value] arrays: XREAD / XREADGROUP's per-stream replies (keys may repeat)."""

    __slots__ = ()


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY = _NullArray()

OK = Status("OK")
PONG = Status("PONG")
QUEUED = Status("QUEUED")

# Error texts shared across layers, word for word as Redis 7 sends them.
WRONGTYPE = Error("WRONGTYPE Operation against a key holding the wrong kind of value")
SYNTAX_ERR = Error("ERR syntax error")
NOT_INTEGER = Error("ERR value is not an integer or out of range")
NOT_FLOAT = Error("ERR value is not a valid float")
OVERFLOW = Error("ERR increment or decrement would overflow")
NO_SUCH_KEY = Error("ERR no such key")


def wrong_arity(name: str) -> Error:
    return Error(f"ERR wrong number of arguments for '{name.lower()}' command")


def unknown_command(name: str, args: list[bytes]) -> Error:
    """Redis's text: each argument quoted and followed by a space, up to ~128 chars."""
    shown = ""
    for a in args:
        if len(shown) >= 128:
            break
        shown += "'" + a.decode("utf-8", "replace")[: 128 - len(shown)] + "' "
    text = f"ERR unknown command '{name[:128]}', with args beginning with: {shown}"
    return Error(text.replace("\r", " ").replace("\n", " "))
