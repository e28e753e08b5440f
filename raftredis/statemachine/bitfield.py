"""BITFIELD and BITFIELD_RO: integers of 1 to 64 bits at any bit offset of a string.

Every operation is parsed before any is run, so a bad argument changes nothing. As in
Redis, a BITFIELD with a SET or INCRBY grows the string to hold the furthest field it
writes before running, even when an OVERFLOW FAIL then leaves a field as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftredis.reply import SYNTAX_ERR, Error
from raftredis.statemachine.bitmaps import BIT_OFFSET, MAX_BITS, get_string, grown
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_int, to_int
from raftredis.statemachine.registry import Ctx, Family

BAD_TYPE = Error("ERR Invalid bitfield type. Use something like i16 u8. "
                 "Note that u64 is not supported but i64 is.")
BAD_OVERFLOW = Error("ERR Invalid OVERFLOW type specified")
RO_ONLY_GET = Error("ERR BITFIELD_RO only supports the GET subcommand")

command = Family("bitmap", "bitmap").command


@dataclass(frozen=True, slots=True)
class _Op:
    kind: bytes  # GET, SET, INCRBY
    signed: bool
    bits: int
    offset: int
    value: int = 0
    overflow: bytes = b"WRAP"


def _parse_type(arg: bytes) -> tuple[bool, int]:
    sign = arg[:1]  # lower case only, as Redis
    bits = to_int(arg[1:])
    if sign not in (b"i", b"u") or bits is None or bits < 1 or bits > (64 if sign == b"i" else 63):
        raise fail(BAD_TYPE)
    return sign == b"i", bits


def _parse_offset(arg: bytes, bits: int) -> int:
    """An offset in bits, or `#N` for the N-th field of this width."""
    hashed = arg[:1] == b"#"
    n = to_int(arg[1:] if hashed else arg)
    if n is None:
        raise fail(BIT_OFFSET)
    if hashed:
        n *= bits
    if n < 0 or n >= MAX_BITS:
        raise fail(BIT_OFFSET)
    return n


def _parse(args: list[bytes], readonly: bool) -> list[_Op]:
    ops: list[_Op] = []
    overflow = b"WRAP"
    i, n = 2, len(args)
    while i < n:
        sub = args[i].upper()
        left = n - i - 1
        if sub == b"OVERFLOW" and left >= 1:
            overflow = args[i + 1].upper()
            if overflow not in (b"WRAP", b"SAT", b"FAIL"):
                raise fail(BAD_OVERFLOW)
            i += 2
            continue
        if sub == b"GET" and left >= 2:
            signed, bits = _parse_type(args[i + 1])
            ops.append(_Op(sub, signed, bits, _parse_offset(args[i + 2], bits)))
            i += 3
            continue
        if sub in (b"SET", b"INCRBY") and left >= 3:
            signed, bits = _parse_type(args[i + 1])
            offset = _parse_offset(args[i + 2], bits)
            value = parse_int(args[i + 3])
            ops.append(_Op(sub, signed, bits, offset, value, overflow))
            i += 4
            continue
        raise fail(SYNTAX_ERR)
    if readonly and any(op.kind != b"GET" for op in ops):
        raise fail(RO_ONLY_GET)  # only once everything parsed, as Redis checks it
    return ops


def _read(data: bytes | bytearray, offset: int, bits: int, signed: bool) -> int:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    seg = bytes(data[first:last + 1])
    seg += bytes(last + 1 - first - len(seg))  # past the end reads as zeros
    x = int.from_bytes(seg, "big") >> (7 - ((offset + bits - 1) & 7))
    x &= (1 << bits) - 1
    if signed and x >> (bits - 1):
        x -= 1 << bits
    return x


def _write(data: bytearray, offset: int, bits: int, value: int) -> None:
    first, last = offset >> 3, (offset + bits - 1) >> 3
    shift = 7 - ((offset + bits - 1) & 7)
    width = (last - first + 1) * 8
    x = int.from_bytes(data[first:last + 1], "big")
    mask = ((1 << bits) - 1) << shift
    x = (x & ~mask & ((1 << width) - 1)) | ((value & ((1 << bits) - 1)) << shift)
    data[first:last + 1] = x.to_bytes(width // 8, "big")


def _fit(value: int, signed: bool, bits: int, overflow: bytes) -> int | None:
    """`value` as the field stores it under the overflow policy; None for FAIL."""
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if lo <= value <= hi:
        return value
    if overflow == b"FAIL":
        return None
    if overflow == b"SAT":
        return hi if value > hi else lo
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def _run(ctx: Ctx, args: list[bytes], readonly: bool) -> object:
    ops = _parse(args, readonly)
    key = args[1]
    writes = [op for op in ops if op.kind != b"GET"]
    if not writes:
        v = get_string(ctx, key)
        return [_read(v or b"", op.offset, op.bits, op.signed) for op in ops]
    need = max(op.offset + op.bits for op in writes)
    data = bytearray(grown(get_string(ctx, key, True), (need + 7) // 8))
    out: list[object] = []
    for op in ops:
        old = _read(data, op.offset, op.bits, op.signed)
        if op.kind == b"GET":
            out.append(old)
            continue
        if op.kind == b"INCRBY":
            new = _fit(old + op.value, op.signed, op.bits, op.overflow)
        else:  # SET takes the value as C's int64 -> uint64 cast for an unsigned field
            new = _fit(op.value if op.signed else op.value % (1 << 64), op.signed, op.bits,
                       op.overflow)
        if new is None:
            out.append(None)
            continue
        _write(data, op.offset, op.bits, new)
        out.append(new if op.kind == b"INCRBY" else old)
    ctx.db.put_raw(key, bytes(data))
    return out


@command("bitfield", -2, "write denyoom", since="3.2.0",
         summary="Perform arbitrary bitfield integer operations on strings")
def cmd_bitfield(ctx: Ctx, args: list[bytes]) -> object:
    return _run(ctx, args, False)


@command("bitfield_ro", -2, "readonly fast", since="6.0.0",
         summary="Perform arbitrary bitfield integer operations on strings. "
                 "Read-only variant of BITFIELD")
def cmd_bitfield_ro(ctx: Ctx, args: list[bytes]) -> object:
    return _run(ctx, args, True)
