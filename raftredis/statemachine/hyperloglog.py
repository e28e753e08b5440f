"""HyperLogLog: PFADD, PFCOUNT, PFMERGE, in Redis's own string format.

An HLL is a plain string value (TYPE says string, GET returns its bytes), laid out as
Redis lays it out, so a value copied from a real Redis works here and back:

    "HYLL" | encoding (0 dense, 1 sparse) | 3 zero bytes | 8-byte cached cardinality (LE;
    the top bit of its last byte set = stale) | registers

16384 registers of 6 bits each (dense: 12288 bytes, little-endian bit order), or the
sparse run-length form (ZERO: 00xxxxxx, XZERO: 01xxxxxx yyyyyyyy, VAL: 1vvvvvxx).
Elements hash with MurmurHash64A (seed 0xadc83b19); the estimate is Ertl's improved
estimator, as Redis computes it, so PFCOUNT answers the same numbers. Updates to the
sparse form follow Redis's split-and-merge steps and its promotion to dense past
hll-sparse-max-bytes (3000) or a register above 32, so the bytes match too.

PFCOUNT is a read here: it never writes the cached cardinality back (Redis does), so
the cache bytes of a value can differ from Redis's after a PFCOUNT; the count does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from raftredis.reply import OK, CommandError, Error
from raftredis.statemachine.errors import fail
from raftredis.statemachine.registry import Ctx, Family

REGISTERS = 16384  # 2^14
_P, _Q = 14, 50  # index bits, bits left for the run of zeros
_HDR = 16
_DENSE_BYTES = REGISTERS * 6 // 8
SPARSE_MAX_BYTES = 3000  # hll-sparse-max-bytes
_VAL_MAX, _VAL_RUN, _ZERO_RUN, _XZERO_RUN = 32, 4, 64, 16384
_ALPHA_INF = 0.721347520444481703680  # 1 / (2 ln 2)
_M64 = (1 << 64) - 1

NOT_HLL = Error("WRONGTYPE Key is not a valid HyperLogLog string value.")
CORRUPT = Error("INVALIDOBJ Corrupted HLL object detected")

command = Family("hyperloglog", "hyperloglog", since="2.8.9").command


def murmur64a(data: bytes, seed: int = 0xADC83B19) -> int:
    """MurmurHash64A (Austin Appleby), 8-byte blocks read little-endian, as Redis."""
    m, r = 0xC6A4A7935BD1E995, 47
    n = len(data)
    h = (seed ^ (n * m)) & _M64
    end = n - n % 8
    for i in range(0, end, 8):
        k = int.from_bytes(data[i:i + 8], "little")
        k = (k * m) & _M64
        k ^= k >> r
        k = (k * m) & _M64
        h = ((h ^ k) * m) & _M64
    tail = data[end:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * m) & _M64
    h ^= h >> r
    h = (h * m) & _M64
    return h ^ (h >> r)


def pattern(elem: bytes) -> tuple[int, int]:
    """(register index, run of zeros + 1) for an element."""
    h = murmur64a(elem)
    rest = (h >> _P) | (1 << _Q)
    return h & (REGISTERS - 1), (rest & -rest).bit_length()


# ---- registers ----------------------------------------------------------------------------


def dense_registers(regs: bytes | bytearray) -> list[int]:
    out = []
    for i in range(0, _DENSE_BYTES, 3):  # 3 bytes hold 4 registers
        w = regs[i] | regs[i + 1] << 8 | regs[i + 2] << 16
        out += (w & 63, (w >> 6) & 63, (w >> 12) & 63, w >> 18)
    return out


def dense_bytes(values: list[int]) -> bytearray:
    out = bytearray()
    for i in range(0, REGISTERS, 4):
        w = values[i] | values[i + 1] << 6 | values[i + 2] << 12 | values[i + 3] << 18
        out += w.to_bytes(3, "little")
    return out


def _dense_set(regs: bytearray, index: int, count: int) -> bool:
    b, fb = index * 6 >> 3, index * 6 & 7
    nxt = regs[b + 1] if b + 1 < _DENSE_BYTES else 0
    if ((regs[b] >> fb | nxt << (8 - fb)) & 63) >= count:
        return False
    regs[b] = (regs[b] & ~(63 << fb) | count << fb) & 0xFF
    if b + 1 < _DENSE_BYTES:
        regs[b + 1] = nxt & ~(63 >> (8 - fb)) | count >> (8 - fb)
    return True


# A sparse opcode: [kind, value, run]; kind is "Z" (ZERO), "X" (XZERO) or "V" (VAL).
Op = list


def _op_size(op: Op) -> int:
    return 2 if op[0] == "X" else 1


def _zeros(run: int) -> Op:
    return ["X" if run > _ZERO_RUN else "Z", 0, run]


def parse_sparse(data: bytes) -> list[Op]:
    ops: list[Op] = []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b & 0xC0 == 0:
            ops.append(["Z", 0, (b & 0x3F) + 1])
        elif b & 0xC0 == 0x40:
            if i + 1 >= n:
                raise fail(CORRUPT)
            ops.append(["X", 0, ((b & 0x3F) << 8 | data[i + 1]) + 1])
            i += 1
        else:
            ops.append(["V", (b >> 2 & 0x1F) + 1, (b & 3) + 1])
        i += 1
    return ops


def sparse_bytes(ops: list[Op]) -> bytes:
    out = bytearray()
    for kind, value, run in ops:
        if kind == "Z":
            out.append(run - 1)
        elif kind == "X":
            out += bytes((0x40 | (run - 1) >> 8, (run - 1) & 0xFF))
        else:
            out.append(0x80 | (value - 1) << 2 | (run - 1))
    return bytes(out)


def sparse_registers(ops: list[Op]) -> list[int]:
    out: list[int] = []
    for _kind, value, run in ops:
        out += [value] * run
        if len(out) > REGISTERS:
            raise fail(CORRUPT)
    if len(out) != REGISTERS:
        raise fail(CORRUPT)
    return out


@dataclass(slots=True)
class Hll:
    header: bytearray  # the 16 header bytes (magic, encoding, cached cardinality)
    dense: bytearray | None = None  # registers, when dense
    ops: list[Op] = field(default_factory=list)  # opcodes, when sparse
    # (position, first register) of an opcode no later update has moved: PFMERGE sets
    # registers in increasing order, so each search resumes there instead of at 0.
    hint: tuple[int, int] = (0, 0)

    @classmethod
    def empty(cls) -> Hll:
        return cls(bytearray(b"HYLL\x01" + bytes(11)), None, [["X", 0, REGISTERS]])

    @classmethod
    def parse(cls, v: bytes) -> Hll:
        if len(v) < _HDR or v[:4] != b"HYLL" or v[4] > 1:
            raise fail(NOT_HLL)
        if v[4] == 0:
            if len(v) != _HDR + _DENSE_BYTES:
                raise fail(NOT_HLL)
            return cls(bytearray(v[:_HDR]), bytearray(v[_HDR:]))
        return cls(bytearray(v[:_HDR]), None, parse_sparse(v[_HDR:]))

    def to_bytes(self) -> bytes:
        body = self.dense if self.dense is not None else sparse_bytes(self.ops)
        return bytes(self.header) + bytes(body)

    def registers(self) -> list[int]:
        if self.dense is not None:
            return dense_registers(self.dense)
        return sparse_registers(self.ops)

    def cached(self) -> int | None:
        if self.header[15] & 0x80:
            return None
        return int.from_bytes(self.header[8:16], "little")

    def invalidate(self) -> None:
        self.header[15] |= 0x80

    def to_dense(self) -> None:
        if self.dense is None:
            self.dense = dense_bytes(sparse_registers(self.ops))
            self.ops = []
            self.header[4] = 0

    def set(self, index: int, count: int) -> bool:
        """Raise register `index` to `count`; True if it changed."""
        if self.dense is not None:
            return _dense_set(self.dense, index, count)
        if count > _VAL_MAX:
            return self._promote(index, count)
        ops = self.ops
        pos, first = self.hint if index >= self.hint[1] else (0, 0)
        while pos < len(ops) and first + ops[pos][2] <= index:
            first += ops[pos][2]
            pos += 1
        if pos == len(ops):
            raise fail(CORRUPT)
        kind, value, run = ops[pos]
        # Updates and merges below change opcodes from pos - 1 on, never before.
        self.hint = (pos - 1, first - ops[pos - 1][2]) if pos else (0, 0)
        if kind == "V":
            if value >= count:
                return False
            if run == 1:
                ops[pos][1] = count
                self._merge(pos - 1)
                return True
        if kind == "Z" and run == 1:
            ops[pos] = ["V", count, 1]
            self._merge(pos - 1)
            return True
        before, after = index - first, first + run - 1 - index
        fill = (lambda n: ["V", value, n]) if kind == "V" else _zeros
        seq = ([fill(before)] if before else []) + [["V", count, 1]] + (
            [fill(after)] if after else [])
        grow = sum(_op_size(o) for o in seq) - _op_size(ops[pos])
        if grow > 0 and self._size() + grow > SPARSE_MAX_BYTES:
            return self._promote(index, count)
        ops[pos:pos + 1] = seq
        self._merge(pos - 1)
        return True

    def _size(self) -> int:
        return _HDR + sum(_op_size(o) for o in self.ops)

    def _promote(self, index: int, count: int) -> bool:
        self.to_dense()
        self.hint = (0, 0)
        assert self.dense is not None
        return _dense_set(self.dense, index, count)

    def _merge(self, start: int) -> None:
        """Join adjacent VAL runs of one value, scanning five opcodes from `start` (the
        opcode before the one changed), as Redis does after each sparse update."""
        ops = self.ops
        p = max(start, 0)
        scan = 5
        while p < len(ops) and scan > 0:
            scan -= 1
            if ops[p][0] != "V":
                p += 1
                continue
            if p + 1 < len(ops) and ops[p + 1][0] == "V" and ops[p + 1][1] == ops[p][1]:
                run = ops[p][2] + ops[p + 1][2]
                if run <= _VAL_RUN:
                    ops[p + 1][2] = run
                    del ops[p]
                    continue  # try the merged run with its right neighbour
            p += 1


# ---- the estimate -------------------------------------------------------------------------


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        prev = z
        z += x * y
        y += y
        if prev == z:
            return z


def _tau(x: float) -> float:
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        prev = z
        y *= 0.5
        z -= math.pow(1.0 - x, 2) * y
        if prev == z:
            return z / 3


def estimate(registers: list[int]) -> int:
    hist = [0] * 64
    for r in registers:
        hist[r] += 1
    m = float(REGISTERS)
    z = m * _tau((m - hist[_Q + 1]) / m)
    for j in range(_Q, 0, -1):
        z += hist[j]
        z *= 0.5
    z += m * _sigma(hist[0] / m)
    e = _ALPHA_INF * m * m / z
    return int(e) + (1 if e - int(e) >= 0.5 else 0)  # llroundl: half away from zero


# ---- commands -----------------------------------------------------------------------------


def _load(ctx: Ctx, key: bytes, write: bool = False) -> Hll | None:
    v = ctx.db.get_typed(key, ctx.now, bytes, write)
    return None if v is None else Hll.parse(v)  # type: ignore[arg-type]


@command("pfadd", -2, "write denyoom fast",
         summary="Adds the specified elements to the specified HyperLogLog.")
def cmd_pfadd(ctx: Ctx, args: list[bytes]) -> object:
    key = args[1]
    hll = _load(ctx, key, True)
    updated = hll is None
    if hll is None:
        hll = Hll.empty()
    try:
        for elem in args[2:]:
            if hll.set(*pattern(elem)):
                updated = True
    except CommandError:
        ctx.db.put_raw(key, hll.to_bytes())  # what was set before the corrupt part stays
        raise
    if updated:
        hll.invalidate()
        ctx.db.put_raw(key, hll.to_bytes())
    return 1 if updated else 0


@command("pfcount", -2, "readonly", 1, -1, summary=(
    "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s)."))
def cmd_pfcount(ctx: Ctx, args: list[bytes]) -> object:
    if len(args) == 2:
        hll = _load(ctx, args[1])
        if hll is None:
            return 0
        cached = hll.cached()
        return cached if cached is not None else estimate(hll.registers())
    merged = [0] * REGISTERS
    for key in args[1:]:
        hll = _load(ctx, key)
        if hll is not None:
            merged = [max(a, b) for a, b in zip(merged, hll.registers(), strict=True)]
    return estimate(merged)


@command("pfmerge", -2, "write denyoom", 1, -1,
         summary="Merge N different HyperLogLogs into a single one.")
def cmd_pfmerge(ctx: Ctx, args: list[bytes]) -> object:
    merged = [0] * REGISTERS
    dense = False
    for key in args[1:]:  # the destination counts as a source too
        hll = _load(ctx, key)
        if hll is None:
            continue
        dense = dense or hll.dense is not None
        merged = [max(a, b) for a, b in zip(merged, hll.registers(), strict=True)]
    dest = args[1]
    target = _load(ctx, dest, True)
    existed = target is not None
    if target is None:
        target = Hll.empty()
    if dense:
        target.to_dense()
    for i, count in enumerate(merged):
        if count:
            target.set(i, count)
    target.invalidate()
    if existed:
        ctx.db.put_raw(dest, target.to_bytes())
    else:
        ctx.db.set(dest, target.to_bytes())
        ctx.db.raw.add(dest)
    return OK
