"""Reply encoder: raftredis.reply values to RESP2 or RESP3 bytes.

`encode_into(parts, value, resp)` appends byte strings to `parts` so a whole batch
of replies is joined once; `encode(value, resp)` is the one-reply convenience.
"""

from __future__ import annotations

import math

from raftredis.reply import (
    NULL_ARRAY,
    OK,
    BigNumber,
    CommandError,
    Double,
    Error,
    KeyedPairs,
    Map,
    Pairs,
    Push,
    Replies,
    Set,
    Status,
    Verbatim,
)

_OK = b"+OK\r\n"
_NULL2 = b"$-1\r\n"
_NULL3 = b"_\r\n"
_NULL_ARRAY2 = b"*-1\r\n"
_CRLF = b"\r\n"
# Bulk replies at least this big are not copied into a formatted part.
_COPY_BELOW = 16 * 1024
# Small integers are common (counters, DEL/EXISTS results): cache their encoding.
_SMALL_INTS = [b":%d\r\n" % i for i in range(-1, 1024)]


def format_double(d: float) -> str:
    """Shortest text that reads back as the same double, as Redis 7.2 prints them
    (integral values without a fraction, inf/-inf/nan spelled out)."""
    if math.isinf(d):
        return "inf" if d > 0 else "-inf"
    if math.isnan(d):
        return "nan"
    if d.is_integer() and abs(d) < 1e17:
        return str(int(d))
    return repr(d)


def _clean(text: str) -> bytes:
    # A CR or LF inside a simple string or error would break the framing.
    return text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")


def encode_into(parts: list[bytes], value: object, resp: int = 2) -> None:
    t = type(value)
    if t is bytes:
        n = len(value)  # type: ignore[arg-type]
        if n < _COPY_BELOW:
            parts.append(b"$%d\r\n%s\r\n" % (n, value))  # type: ignore[str-bytes-safe]
        else:  # a big value goes out as it is: the batch's join is its only copy
            parts += (b"$%d\r\n" % n, value, _CRLF)  # type: ignore[list-item]
    elif value is OK:
        parts.append(_OK)
    elif t is int:
        if -1 <= value < 1023:  # type: ignore[operator]
            parts.append(_SMALL_INTS[value + 1])  # type: ignore[operator]
        else:
            parts.append(b":%d\r\n" % value)  # type: ignore[operator]
    elif value is None:
        parts.append(_NULL3 if resp == 3 else _NULL2)
    elif t is Status:
        parts.append(b"+" + _clean(value) + _CRLF)  # type: ignore[arg-type]
    elif t is Error:
        parts.append(b"-" + _clean(value) + _CRLF)  # type: ignore[arg-type]
    elif t is list or t is tuple:
        parts.append(b"*%d\r\n" % len(value))  # type: ignore[arg-type]
        for item in value:  # type: ignore[attr-defined]
            encode_into(parts, item, resp)
    else:
        _encode_other(parts, value, resp)


def _encode_other(parts: list[bytes], value: object, resp: int) -> None:
    if isinstance(value, bool):
        if resp == 3:
            parts.append(b"#t\r\n" if value else b"#f\r\n")
        else:
            parts.append(b":1\r\n" if value else b":0\r\n")
    elif isinstance(value, BigNumber):
        if resp == 3:
            parts.append(b"(%d\r\n" % value)
        else:
            encode_into(parts, str(int(value)).encode(), resp)
    elif isinstance(value, int):
        parts.append(b":%d\r\n" % value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        encode_into(parts, bytes(value), resp)
    elif isinstance(value, float):  # Double, or a plain float
        text = format_double(float(value)).encode()
        if resp == 3:
            parts.append(b"," + text + _CRLF)
        else:
            encode_into(parts, text, resp)
    elif isinstance(value, Error):
        parts.append(b"-" + _clean(value) + _CRLF)
    elif isinstance(value, Status):
        parts.append(b"+" + _clean(value) + _CRLF)
    elif isinstance(value, Verbatim):
        data = value.encode("utf-8", "replace")
        if resp == 3:
            parts.append(b"=%d\r\ntxt:%s\r\n" % (len(data) + 4, data))
        else:
            encode_into(parts, data, resp)
    elif isinstance(value, str):
        encode_into(parts, value.encode("utf-8", "replace"), resp)
    elif isinstance(value, Map):
        parts.append((b"%%%d\r\n" if resp == 3 else b"*%d\r\n") % (len(value) * (1 if resp == 3 else 2)))
        for k, v in value.items():
            encode_into(parts, k, resp)
            encode_into(parts, v, resp)
    elif isinstance(value, KeyedPairs):
        parts.append((b"%%%d\r\n" if resp == 3 else b"*%d\r\n") % len(value))
        for k, v in value:
            if resp != 3:
                parts.append(b"*2\r\n")
            encode_into(parts, k, resp)
            encode_into(parts, v, resp)
    elif isinstance(value, Pairs):
        # RESP3 groups (member, score) pairs as 2-element arrays; RESP2 sends them flat.
        if resp == 3:
            parts.append(b"*%d\r\n" % (len(value) // 2))
            for i in range(0, len(value) - 1, 2):
                parts.append(b"*2\r\n")
                encode_into(parts, value[i], resp)
                encode_into(parts, value[i + 1], resp)
        else:
            parts.append(b"*%d\r\n" % len(value))
            for item in value:
                encode_into(parts, item, resp)
    elif isinstance(value, Set):
        parts.append((b"~%d\r\n" if resp == 3 else b"*%d\r\n") % len(value))
        for item in value:
            encode_into(parts, item, resp)
    elif isinstance(value, Replies):
        for item in value:
            encode_into(parts, item, resp)
    elif isinstance(value, Push):
        parts.append((b">%d\r\n" if resp == 3 else b"*%d\r\n") % len(value))
        for item in value:
            encode_into(parts, item, resp)
    elif isinstance(value, (list, tuple)):
        parts.append(b"*%d\r\n" % len(value))
        for item in value:
            encode_into(parts, item, resp)
    elif value is NULL_ARRAY:
        parts.append(_NULL3 if resp == 3 else _NULL_ARRAY2)
    elif isinstance(value, CommandError):
        encode_into(parts, value.reply(), resp)
    elif isinstance(value, dict):
        encode_into(parts, Map(value), resp)
    else:
        raise TypeError(f"cannot encode a reply of type {type(value).__name__}")


def encode(value: object, resp: int = 2) -> bytes:
    parts: list[bytes] = []
    encode_into(parts, value, resp)
    return b"".join(parts)


__all__ = ["encode", "encode_into", "format_double", "Double"]
