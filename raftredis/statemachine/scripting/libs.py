"""The libraries Redis bundles for scripts that Lua 5.1 lacks: `bit` (LuaBitOp),
`cjson` (lua-cjson 2.1 as Redis configures it), `cmsgpack` (lua-cmsgpack) and `struct`
(Roberto Ierusalimschy's, as Redis bundles it), written in Python over the Lua state.

A failure raises LibError; the engine's error handler gives it the caller's position,
as luaL_error does for the C libraries.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Iterator
from typing import Any

import msgpack

MAX_DEPTH = 1000  # cjson's default nesting limit, in both directions

LuaFn = Callable[..., Any]


def _tobit(x: Any) -> int:
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        raise TypeError("number expected")
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return 0
        # LuaBitOp: add 2^52+2^51 and take the low 32 bits, i.e. round to nearest even.
        x = round(x)
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


class LibError(Exception):
    """A library function's error, as the Lua error message the C library raises."""


def _guard(fn: Callable[..., Any]) -> LuaFn:
    def wrapped(*args: Any) -> Any:
        try:
            return fn(*args)
        except (TypeError, ValueError, OverflowError):
            raise LibError("bad argument (number expected)") from None

    return wrapped


def bit_functions() -> dict[bytes, LuaFn]:
    def tohex(x: Any, n: Any = 8) -> bytes:
        v = _tobit(x) & 0xFFFFFFFF
        n = _tobit(n)
        upper = n < 0
        n = min(abs(n), 8)
        text = format(v & ((1 << (4 * n)) - 1), f"0{n}x") if n else ""
        return (text.upper() if upper else text).encode()

    def fold(op: Callable[[int, int], int]) -> Callable[..., int]:
        def f(x: Any, *rest: Any) -> int:
            acc = _tobit(x)
            for y in rest:
                acc = op(acc, _tobit(y))
            return _tobit(acc)

        return f

    def shift(kind: str) -> Callable[[Any, Any], int]:
        def f(x: Any, n: Any) -> int:
            v, s = _tobit(x), _tobit(n) & 31
            u = v & 0xFFFFFFFF
            if kind == "l":
                return _tobit(u << s)
            if kind == "r":
                return _tobit(u >> s)
            if kind == "a":
                return _tobit(v >> s)
            if kind == "rol":
                return _tobit((u << s) | (u >> (32 - s)))
            return _tobit((u >> s) | (u << (32 - s)))

        return f

    def bswap(x: Any) -> int:
        u = _tobit(x) & 0xFFFFFFFF
        return _tobit(int.from_bytes(u.to_bytes(4, "little"), "big"))

    table: dict[str, Callable[..., Any]] = {
        "tobit": lambda x: _tobit(x), "tohex": tohex, "bnot": lambda x: _tobit(~_tobit(x)),
        "band": fold(lambda a, b: a & b), "bor": fold(lambda a, b: a | b),
        "bxor": fold(lambda a, b: a ^ b), "lshift": shift("l"), "rshift": shift("r"),
        "arshift": shift("a"), "rol": shift("rol"), "ror": shift("ror"), "bswap": bswap,
    }
    return {k.encode(): _guard(v) for k, v in table.items()}


class LuaValues:
    """What the libraries need from the Lua state: new tables, the null sentinel, and
    raw iteration (no metamethods run)."""

    def __init__(self, runtime: Any, null: Any) -> None:
        self.rt = runtime
        self.null = null
        self._type = runtime.eval("type")
        self._rawequal = runtime.eval("rawequal")

    def is_null(self, v: Any) -> bool:
        """cjson.null (a userdata: each pass to Python wraps it anew, so compare in Lua)."""
        return v is not None and not isinstance(v, (bytes, int, float, bool)) \
            and self._rawequal(v, self.null)

    def is_table(self, v: Any) -> bool:
        return self._type(v) == b"table"

    def lua_type(self, v: Any) -> bytes:
        return self._type(v)

    def table(self, items: dict | list) -> Any:
        return self.rt.table_from(items)


def _fmt_number(x: float) -> bytes:
    if isinstance(x, int):
        return b"%d" % x
    if math.isnan(x) or math.isinf(x):
        raise LibError("Cannot serialise number: must not be NaN or Inf")
    return b"%.14g" % x


_JSON_ESCAPES = {ord('"'): b'\\"', ord("\\"): b"\\\\", ord("/"): b"\\/", 8: b"\\b",
                 12: b"\\f", 10: b"\\n", 13: b"\\r", 9: b"\\t"}


def _json_string(s: bytes) -> bytes:
    out = bytearray(b'"')
    for c in s:
        esc = _JSON_ESCAPES.get(c)
        if esc is not None:
            out += esc
        elif c < 0x20 or c == 0x7F:
            out += b"\\u%04x" % c
        else:
            out.append(c)
    out += b'"'
    return bytes(out)


def cjson_functions(lv: LuaValues) -> dict[bytes, LuaFn]:
    def encode_value(v: Any, depth: int, out: list[bytes]) -> None:
        if v is None or lv.is_null(v):
            out.append(b"null")
        elif v is True:
            out.append(b"true")
        elif v is False:
            out.append(b"false")
        elif isinstance(v, (int, float)):
            out.append(_fmt_number(v))
        elif isinstance(v, bytes):
            out.append(_json_string(v))
        elif lv.is_table(v):
            depth += 1
            if depth > MAX_DEPTH:
                raise LibError(f"Cannot serialise, excessive nesting ({depth})")
            encode_table(v, depth, out)
        else:
            kind = lv.lua_type(v).decode()
            raise LibError(f"Cannot serialise {kind}: type not supported")

    def encode_table(t: Any, depth: int, out: list[bytes]) -> None:
        items = list(t.items())
        max_index = 0
        array = bool(items)
        for k, _ in items:
            if isinstance(k, (int, float)) and not isinstance(k, bool) and k == int(k) \
                    and k >= 1:
                max_index = max(max_index, int(k))
            else:
                array = False
                break
        if array and max_index > 2 * len(items) and max_index > 10:
            raise LibError("Cannot serialise table: excessively sparse array")
        if array:
            values = dict(items)
            out.append(b"[")
            for i in range(1, max_index + 1):
                if i > 1:
                    out.append(b",")
                encode_value(values.get(i), depth, out)
            out.append(b"]")
            return
        out.append(b"{")
        first = True
        for k, v in items:
            if isinstance(k, bytes):
                key = _json_string(k)
            elif isinstance(k, (int, float)) and not isinstance(k, bool):
                key = b'"' + _fmt_number(k) + b'"'
            else:
                raise LibError("Cannot serialise table: table key must be a number or string")
            if not first:
                out.append(b",")
            first = False
            out.append(key + b":")
            encode_value(v, depth, out)
        out.append(b"}")

    def encode(*args: Any) -> bytes:
        if len(args) != 1:
            raise LibError("bad argument #1 to 'encode' (expected 1 argument)")
        out: list[bytes] = []
        encode_value(args[0], 0, out)
        return b"".join(out)

    def to_lua(v: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise LibError("Found too many nested data structures")
        if v is None:
            return lv.null
        if isinstance(v, str):
            return v.encode("utf-8", "surrogateescape")
        if isinstance(v, list):
            return lv.table([to_lua(x, depth + 1) for x in v])
        if isinstance(v, dict):
            return lv.table({k.encode("utf-8", "surrogateescape"): to_lua(x, depth + 1)
                             for k, x in v.items()})
        if isinstance(v, int) and not isinstance(v, bool):
            return float(v) if abs(v) >= 1 << 53 else v
        return v

    def decode(*args: Any) -> Any:
        if len(args) != 1 or not isinstance(args[0], (bytes, int, float)):
            raise LibError("bad argument #1 to 'decode' (string expected)")
        text = args[0] if isinstance(args[0], bytes) else _fmt_number(args[0])
        try:
            value = json.loads(text.decode("utf-8", "surrogateescape"),
                               parse_constant=_reject_constant)
        except (ValueError, RecursionError) as e:
            raise LibError(f"Expected value but found invalid token: {e}") from None
        return to_lua(value)

    return {b"encode": _guard(encode), b"decode": _guard(decode)}


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid token {name}")


def cmsgpack_functions(lv: LuaValues) -> dict[bytes, LuaFn]:
    def pack_value(v: Any, depth: int, out: bytearray) -> None:
        if v is None or lv.is_null(v):
            out += b"\xc0"
        elif v is True:
            out += b"\xc3"
        elif v is False:
            out += b"\xc2"
        elif isinstance(v, int) or (isinstance(v, float) and v.is_integer()
                                    and abs(v) < 1 << 63):
            out += msgpack.packb(int(v))
        elif isinstance(v, float):
            f32 = struct.pack(">f", v) if abs(v) < 3.4e38 or math.isinf(v) else None
            if f32 is not None and (struct.unpack(">f", f32)[0] == v or math.isnan(v)):
                out += b"\xca" + f32
            else:
                out += b"\xcb" + struct.pack(">d", v)
        elif isinstance(v, bytes):
            n = len(v)
            if n < 32:
                out.append(0xA0 | n)
            elif n < 1 << 8:
                out += b"\xd9" + bytes([n])
            elif n < 1 << 16:
                out += b"\xda" + struct.pack(">H", n)
            else:
                out += b"\xdb" + struct.pack(">I", n)
            out += v
        elif lv.is_table(v) and depth < 16:
            items = list(v.items())
            n = len(items)
            if all(isinstance(k, int) for k, _ in items) and \
                    sorted(k for k, _ in items) == list(range(1, n + 1)):
                out += bytes([0x90 | n]) if n < 16 else (
                    b"\xdc" + struct.pack(">H", n) if n < 1 << 16 else b"\xdd" + struct.pack(">I", n))
                values = dict(items)
                for i in range(1, n + 1):
                    pack_value(values[i], depth + 1, out)
            else:
                out += bytes([0x80 | n]) if n < 16 else (
                    b"\xde" + struct.pack(">H", n) if n < 1 << 16 else b"\xdf" + struct.pack(">I", n))
                for k, x in items:
                    pack_value(k, depth + 1, out)
                    pack_value(x, depth + 1, out)
        else:
            out += b"\xc0"  # functions, userdata, too deep: nil, as lua-cmsgpack does

    def pack(*args: Any) -> bytes:
        if not args:
            raise LibError("MessagePack pack needs input.")
        out = bytearray()
        for v in args:
            pack_value(v, 0, out)
        return bytes(out)

    def to_lua(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return lv.table([to_lua(x) for x in v])
        if isinstance(v, dict):
            return lv.table({to_lua(k): to_lua(x) for k, x in v.items()})
        if v is None:
            return None
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 1 << 53:
            return float(v)
        return v

    def unpack(*args: Any) -> tuple:
        if len(args) != 1 or not isinstance(args[0], bytes):
            raise LibError("MessagePack unpack needs a string.")
        unpacker = msgpack.Unpacker(raw=True, strict_map_key=False, use_list=True,
                                    max_buffer_size=max(len(args[0]), 1))
        unpacker.feed(args[0])
        try:
            values = [to_lua(v) for v in unpacker]
        except Exception:
            raise LibError("Missing bytes in input.") from None
        return tuple(values)

    return {b"pack": _guard(pack), b"unpack": unpack}


_STRUCT_SIZES = {"b": 1, "B": 1, "h": 2, "H": 2, "l": 8, "L": 8, "T": 8, "i": 4, "I": 4,
                 "f": 4, "d": 8}


def _struct_items(fmt: bytes, fname: str) -> Iterator[tuple[str, int, str]]:
    """(option, size, byte order) for each item of a Lua `struct` format; alignment as
    `!n` sets it (default 1: no padding), reported as ("pad", n, order) items."""
    order, maxalign, pos = "<", 1, 0
    text = fmt.decode("latin-1")
    total = 0
    while pos < len(text):
        opt = text[pos]
        pos += 1
        digits = ""
        while pos < len(text) and text[pos].isdigit():
            digits += text[pos]
            pos += 1
        if opt in " ":
            continue
        if opt in "<>=":
            order = ">" if opt == ">" else "<"
            continue
        if opt == "!":
            maxalign = int(digits) if digits else 8
            continue
        if opt == "x":
            total += 1
            yield ("x", 1, order)
            continue
        if opt in "iI":
            size = int(digits) if digits else 4
            if not 1 <= size <= 32:
                raise LibError(f"integral size {size} is larger than limit of 32")
        elif opt == "c":
            size = int(digits) if digits else 1
        elif opt in _STRUCT_SIZES:
            size = _STRUCT_SIZES[opt]
        elif opt == "s":
            size = 0
        else:
            raise LibError(f"bad argument #1 to '{fname}' (invalid format option '{opt}')")
        align = min(size, maxalign) if opt not in "cs" else 1
        if align > 1 and total % align:
            pad = align - total % align
            total += pad
            yield ("pad", pad, order)
        total += size
        yield (opt, size, order)


def struct_functions() -> dict[bytes, LuaFn]:
    def pack(fmt: Any, *values: Any) -> bytes:
        if not isinstance(fmt, bytes):
            raise LibError("bad argument #1 to 'pack' (string expected)")
        out = bytearray()
        i = 0
        for opt, size, order in _struct_items(fmt, "pack"):
            if opt in ("x", "pad"):
                out += b"\x00" * size
                continue
            if i >= len(values):
                raise LibError(f"bad argument #{i + 2} to 'pack' (number expected, got no value)")
            v = values[i]
            i += 1
            if opt in "fd":
                out += struct.pack(order + opt, float(v))
            elif opt == "c" or opt == "s":
                s = v if isinstance(v, bytes) else _fmt_number(v)
                if opt == "s":
                    out += s + b"\x00"
                elif size == 0:
                    out += s
                else:
                    if len(s) < size:
                        raise LibError(f"bad argument #{i + 1} to 'pack' (string too short)")
                    out += s[:size]
            else:
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    raise LibError(f"bad argument #{i + 1} to 'pack' (number expected)")
                # A C long's 64 bits, then zeros (as lua_struct's putinteger does).
                n = int(v) & ((1 << (8 * min(size, 8))) - 1)
                out += n.to_bytes(size, "big" if order == ">" else "little")
        return bytes(out)

    def unpack(fmt: Any, data: Any, init: Any = 1) -> tuple:
        if not isinstance(fmt, bytes) or not isinstance(data, bytes):
            raise LibError("bad argument #1 to 'unpack' (string expected)")
        pos = int(init) - 1
        if pos < 0 or pos > len(data):
            raise LibError("bad argument #3 to 'unpack' (offset must be 1 or greater)")
        out: list[Any] = []
        for opt, size, order in _struct_items(fmt, "unpack"):
            if opt == "s":
                end = data.find(b"\x00", pos)
                if end < 0:
                    raise LibError("unfinished string in data")
                out.append(data[pos:end])
                pos = end + 1
                continue
            if opt == "c" and size == 0:
                if not out or not isinstance(out[-1], (int, float)):
                    raise LibError("format 'c0' needs a previous size")
                size = int(out.pop())
            if pos + size > len(data):
                raise LibError("bad argument #2 to 'unpack' (data string too short)")
            chunk = data[pos:pos + size]
            pos += size
            if opt in ("x", "pad"):
                continue
            if opt == "c":
                out.append(chunk)
            elif opt in "fd":
                out.append(struct.unpack(order + opt, chunk)[0])
            else:
                if size > 8:  # only a C long's worth of bytes counts, as in lua_struct
                    chunk = chunk[-8:] if order == ">" else chunk[:8]
                n = int.from_bytes(chunk, "big" if order == ">" else "little",
                                   signed=opt.islower())
                out.append(float(n) if abs(n) >= 1 << 53 else n)
        return (*out, pos + 1)

    def size(fmt: Any) -> int:
        if not isinstance(fmt, bytes):
            raise LibError("bad argument #1 to 'size' (string expected)")
        total = 0
        for opt, n, _ in _struct_items(fmt, "size"):
            if opt == "s" or (opt == "c" and n == 0):
                raise LibError("options 'c0' - 's' have undefined sizes")
            total += n
        return total

    return {b"pack": _guard(pack), b"unpack": _guard(unpack), b"size": _guard(size)}
