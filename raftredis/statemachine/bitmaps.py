"""Bitmap commands over string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP.

Bits are numbered as Redis numbers them: bit 0 is the most significant bit of byte 0.
A string holds at most proto-max-bulk-len (512 MB) bytes, so an offset is below 2^32:
that bound is checked before any string is grown.
"""

from __future__ import annotations

from raftredis.reply import SYNTAX_ERR, Error
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_int, to_int
from raftredis.statemachine.registry import Ctx, Family

MAX_BITS = 512 * 1024 * 1024 * 8  # proto-max-bulk-len in bits
BIT_OFFSET = Error("ERR bit offset is not an integer or out of range")
BIT_VALUE = Error("ERR bit is not an integer or out of range")
BITPOS_BIT = Error("ERR The bit argument must be 1 or 0.")
BITOP_NOT = Error("ERR BITOP NOT must be called with a single source key.")

command = Family("bitmap", "bitmap", since="2.2.0").command


def get_string(ctx: Ctx, key: bytes, write: bool = False) -> bytes | None:
    return ctx.db.get_typed(key, ctx.now, bytes, write)  # type: ignore[return-value]


def parse_bit_offset(arg: bytes) -> int:
    n = to_int(arg)
    if n is None or n < 0 or n >= MAX_BITS:
        raise fail(BIT_OFFSET)
    return n


def grown(value: bytes | None, nbytes: int) -> bytes:
    """`value` padded with zero bytes to at least `nbytes` (a missing key is empty)."""
    value = value or b""
    return value + bytes(nbytes - len(value)) if len(value) < nbytes else value


@command("setbit", 4, "write denyoom",
         summary="Sets or clears the bit at offset in the string value stored at key")
def cmd_setbit(ctx: Ctx, args: list[bytes]) -> object:
    offset = parse_bit_offset(args[2])
    if args[3] not in (b"0", b"1"):
        raise fail(BIT_VALUE)
    on = args[3] == b"1"
    key = args[1]
    data = bytearray(grown(get_string(ctx, key, True), offset // 8 + 1))
    i, mask = offset >> 3, 0x80 >> (offset & 7)
    old = 1 if data[i] & mask else 0
    data[i] = data[i] | mask if on else data[i] & ~mask
    ctx.db.put_raw(key, bytes(data))
    return old


@command("getbit", 3, "readonly fast",
         summary="Returns the bit value at offset in the string value stored at key")
def cmd_getbit(ctx: Ctx, args: list[bytes]) -> object:
    offset = parse_bit_offset(args[2])
    v = get_string(ctx, args[1])
    if v is None or offset >> 3 >= len(v):
        return 0
    return 1 if v[offset >> 3] & (0x80 >> (offset & 7)) else 0


def _range(start: int, end: int, total: int) -> tuple[int, int] | None:
    """Redis's inclusive [start, end] over `total` units, negatives from the end;
    None when the range is empty."""
    if start < 0:
        start += total
    if end < 0:
        end += total
    start = max(start, 0)
    end = max(end, 0)
    end = min(end, total - 1)
    if start > end or total == 0:
        return None
    return start, end


def _bit_unit(arg: bytes) -> bool:
    """BYTE or BIT (any case): True for BIT."""
    unit = arg.upper()
    if unit not in (b"BYTE", b"BIT"):
        raise fail(SYNTAX_ERR)
    return unit == b"BIT"


def _bits_of(v: bytes, first: int, last: int) -> int:
    """The bits first..last (inclusive, Redis numbering) of v as an int, MSB first."""
    seg = v[first >> 3:(last >> 3) + 1]
    x = int.from_bytes(seg, "big")
    x >>= 7 - (last & 7)  # drop the bits after `last` in its byte
    return x & ((1 << (last - first + 1)) - 1)


@command("bitcount", -2, "readonly", since="2.6.0", summary="Count set bits in a string")
def cmd_bitcount(ctx: Ctx, args: list[bytes]) -> object:
    v = get_string(ctx, args[1])
    if v is None:
        return 0
    n = len(args)
    if n == 2:
        return int.from_bytes(v, "big").bit_count()
    if n not in (4, 5):
        raise fail(SYNTAX_ERR)
    start, end = parse_int(args[2]), parse_int(args[3])
    isbit = n == 5 and _bit_unit(args[4])
    r = _range(start, end, len(v) * 8 if isbit else len(v))
    if r is None:
        return 0
    if isbit:
        return _bits_of(v, r[0], r[1]).bit_count()
    return int.from_bytes(v[r[0]:r[1] + 1], "big").bit_count()


@command("bitpos", -3, "readonly", since="2.8.7", summary="Find first bit set or clear in a string")
def cmd_bitpos(ctx: Ctx, args: list[bytes]) -> object:
    bit = parse_int(args[2])
    if bit not in (0, 1):
        raise fail(BITPOS_BIT)
    v = get_string(ctx, args[1])
    if v is None:
        return -1 if bit else 0
    n = len(args)
    if n > 6:
        raise fail(SYNTAX_ERR)
    start = parse_int(args[3]) if n >= 4 else 0
    end_given = n >= 5
    end = parse_int(args[4]) if end_given else -1
    isbit = n == 6 and _bit_unit(args[5])
    r = _range(start, end, len(v) * 8 if isbit else len(v))
    if r is None:
        return -1
    first, last = (r[0], r[1]) if isbit else (r[0] * 8, r[1] * 8 + 7)
    width = last - first + 1
    x = _bits_of(v, first, last)
    if bit == 0:
        x ^= (1 << width) - 1
    if x:
        return first + width - x.bit_length()
    # All bits are set while looking for a clear one: without an explicit end, the
    # string is taken as padded with zeros, so the answer is the bit after it.
    if bit == 0 and not end_given and not isbit:
        return last + 1
    return -1


_OPS = (b"AND", b"OR", b"XOR", b"NOT")


@command("bitop", -4, "write denyoom", 2, -1, since="2.6.0",
         summary="Perform bitwise operations between strings")
def cmd_bitop(ctx: Ctx, args: list[bytes]) -> object:
    op = args[1].upper()
    if op not in _OPS:
        raise fail(SYNTAX_ERR)
    if op == b"NOT" and len(args) != 4:
        raise fail(BITOP_NOT)
    srcs = [get_string(ctx, k) or b"" for k in args[3:]]
    size = max(len(s) for s in srcs)
    dest = args[2]
    if size == 0:
        ctx.db.delete(dest)
        return 0
    ints = [int.from_bytes(s + bytes(size - len(s)), "big") for s in srcs]
    acc = ints[0]
    if op == b"NOT":
        acc ^= (1 << (size * 8)) - 1
    for x in ints[1:]:
        if op == b"AND":
            acc &= x
        elif op == b"OR":
            acc |= x
        else:
            acc ^= x
    ctx.db.set(dest, acc.to_bytes(size, "big"))
    ctx.db.raw.add(dest)
    return size
