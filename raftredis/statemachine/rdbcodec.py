"""Redis's serialized value format (what DUMP returns and RESTORE takes): one RDB value
(type byte, then the value in RDB encoding), the RDB version (2 bytes, little endian)
and a CRC64 (Jones polynomial, reflected, 8 bytes little endian) of all before it.

Written: string (type 0), list (18: quicklist of listpacks), set (2), hash (4) and
sorted set (5: binary scores), at RDB version 10 (Redis 7.0), which Redis 7.0 and
later load. Read: those, plus what Redis 7.x dumps (intset 11, hash / zset / set
listpacks 16 / 17 / 20, plain quicklist nodes) and the older plain list (1) and
zset with text scores (3); integer and LZF-compressed strings. Streams are rdbstream's
(on these primitives). Every length is checked against the bytes left before anything
is built.
"""

from __future__ import annotations

import math
import struct

RDB_VERSION = 10  # Redis 7.0's
MAX_READ_VERSION = 11  # Redis 7.2's: the types above did not change

T_STRING, T_LIST, T_SET, T_ZSET, T_HASH, T_ZSET_2 = 0, 1, 2, 3, 4, 5
T_INTSET, T_HASH_LP, T_ZSET_LP, T_QUICKLIST_2, T_SET_LP = 11, 16, 17, 18, 20
_LP_MAX_NODE = 128  # list elements per listpack node when writing


class BadPayload(ValueError):
    """The payload is not a value this codec can read."""


# ------------------------------------------------------------------ CRC64 (Jones)
def _crc_table() -> list[int]:
    poly = 0x95AC9329AC4BC9B5  # 0xad93d23594c935a9 bit-reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc64(data: bytes, crc: int = 0) -> int:
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


# ------------------------------------------------------------------ writing
def rdb_len(n: int) -> bytes:
    """An RDB length (also FUNCTION DUMP's, scripting/dump.py)."""
    if n < 1 << 6:
        return bytes([n])
    if n < 1 << 14:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    if n <= 0xFFFFFFFF:
        return b"\x80" + struct.pack(">I", n)
    return b"\x81" + struct.pack(">Q", n)


def rdb_string(s: bytes) -> bytes:
    """A length-prefixed RDB string, stored plain (Redis reads it whatever it holds)."""
    return rdb_len(len(s)) + s


_str = rdb_string


def _backlen(n: int) -> bytes:
    """A listpack entry's length, read from its last byte backwards: 7-bit groups, most
    significant first, every group but the first flagged with 128 (lpEncodeBacklen)."""
    groups = [n & 127]
    n >>= 7
    while n:
        groups.append(n & 127)
        n >>= 7
    groups.reverse()
    return bytes([groups[0]] + [g | 128 for g in groups[1:]])


def lp_entry(s: bytes) -> bytes:
    """One listpack element holding a string."""
    n = len(s)
    if n < 64:
        head = bytes([0x80 | n])
    elif n < 4096:
        head = bytes([0xE0 | (n >> 8), n & 0xFF])
    else:
        head = b"\xf0" + struct.pack("<I", n)
    body = head + s
    return body + _backlen(len(body))


def lp_int_entry(v: int) -> bytes:
    """One listpack element holding a signed 64-bit integer, in its smallest encoding."""
    if 0 <= v < 128:
        body = bytes([v])
    elif -4096 <= v < 4096:
        u = v & 0x1FFF
        body = bytes([0xC0 | (u >> 8), u & 0xFF])
    else:
        for tag, size in ((0xF1, 2), (0xF2, 3), (0xF3, 4), (0xF4, 8)):
            if -(1 << (8 * size - 1)) <= v < 1 << (8 * size - 1):
                body = bytes([tag]) + v.to_bytes(size, "little", signed=True)
                break
        else:
            raise BadPayload("integer out of the listpack's range")
    return body + _backlen(len(body))


def listpack_of(entries: list[bytes]) -> bytes:
    """A listpack of already encoded elements (lp_entry, lp_int_entry)."""
    blob = b"".join(entries)
    total = 6 + len(blob) + 1
    return struct.pack("<IH", total, min(len(entries), 0xFFFF)) + blob + b"\xff"


def listpack(items: list[bytes]) -> bytes:
    return listpack_of([lp_entry(s) for s in items])


def frame(body: bytes) -> bytes:
    """A DUMP payload: the value, then the RDB version and the CRC64 of all before."""
    body += struct.pack("<H", RDB_VERSION)
    return body + struct.pack("<Q", crc64(body))


def encode(kind: str, plain: object) -> bytes:
    """The payload DUMP returns for a value given as its snapshot's plain data."""
    if kind == "string":
        assert isinstance(plain, bytes)
        body = bytes([T_STRING]) + _str(plain)
    elif kind == "list":
        items = list(plain)  # type: ignore[call-overload]
        nodes = [items[i:i + _LP_MAX_NODE] for i in range(0, len(items), _LP_MAX_NODE)]
        body = bytes([T_QUICKLIST_2]) + rdb_len(len(nodes)) + b"".join(
            rdb_len(2) + _str(listpack(node)) for node in nodes)
    elif kind == "set":
        members = list(plain)  # type: ignore[call-overload]
        body = bytes([T_SET]) + rdb_len(len(members)) + b"".join(_str(m) for m in members)
    elif kind == "hash":
        flat = list(plain)  # type: ignore[call-overload]
        body = bytes([T_HASH]) + rdb_len(len(flat) // 2) + b"".join(_str(x) for x in flat)
    elif kind == "zset":
        flat = list(plain)  # type: ignore[call-overload]
        parts = [bytes([T_ZSET_2]), rdb_len(len(flat) // 2)]
        for i in range(0, len(flat), 2):
            parts.append(_str(flat[i]))
            parts.append(struct.pack("<d", float(flat[i + 1])))
        body = b"".join(parts)
    else:
        raise BadPayload(f"DUMP of a {kind} is not supported here")
    return frame(body)


# ------------------------------------------------------------------ reading
def verify(payload: bytes) -> bool:
    """Redis's verifyDumpPayload: long enough, a version we read, the CRC right."""
    if len(payload) < 10:
        return False
    (version,) = struct.unpack_from("<H", payload, len(payload) - 10)
    if version > MAX_READ_VERSION:
        return False
    (crc,) = struct.unpack_from("<Q", payload, len(payload) - 8)
    return crc == 0 or crc == crc64(payload[:-8])  # Redis skips a zero CRC too


class Reader:
    """A cursor over an RDB value: every read is checked against the bytes left."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BadPayload("truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def length(self) -> tuple[int, bool]:
        """(value, is_special_encoding)."""
        b = self.byte()
        kind = b >> 6
        if kind == 0:
            return b & 0x3F, False
        if kind == 1:
            return ((b & 0x3F) << 8) | self.byte(), False
        if kind == 3:
            return b & 0x3F, True
        if b == 0x80:
            return struct.unpack(">I", self.take(4))[0], False
        if b == 0x81:
            return struct.unpack(">Q", self.take(8))[0], False
        raise BadPayload("bad length")

    def number(self) -> int:
        """An integer in length encoding (an ID part, a counter): any 64-bit value."""
        n, special = self.length()
        if special:
            raise BadPayload("encoded value where a number was expected")
        return n

    def plain_len(self) -> int:
        n, special = self.length()
        if special:
            raise BadPayload("encoded value where a length was expected")
        if n > len(self.data) - self.pos + (1 << 20) and n > len(self.data):
            raise BadPayload("length beyond the payload")  # (a count: at least a byte each)
        return n

    def string(self) -> bytes:
        n, special = self.length()
        if not special:
            return self.take(n)
        if n == 0:
            return str(struct.unpack("<b", self.take(1))[0]).encode()
        if n == 1:
            return str(struct.unpack("<h", self.take(2))[0]).encode()
        if n == 2:
            return str(struct.unpack("<i", self.take(4))[0]).encode()
        if n == 3:
            clen, ulen = self.plain_len(), self.plain_len()
            if ulen > 512 * 1024 * 1024:
                raise BadPayload("string too large")
            return lzf_decompress(self.take(clen), ulen)
        raise BadPayload("unknown string encoding")


def lzf_decompress(src: bytes, out_len: int) -> bytes:
    out = bytearray()
    i, n = 0, len(src)
    while i < n:
        ctrl = src[i]
        i += 1
        if ctrl < 32:  # a literal run of ctrl + 1 bytes
            run = ctrl + 1
            if i + run > n:
                raise BadPayload("bad LZF literal")
            out += src[i:i + run]
            i += run
        else:  # a back reference
            length = ctrl >> 5
            if length == 7:
                if i >= n:
                    raise BadPayload("bad LZF reference")
                length += src[i]
                i += 1
            if i >= n:
                raise BadPayload("bad LZF reference")
            ref = len(out) - ((ctrl & 0x1F) << 8) - src[i] - 1
            i += 1
            if ref < 0:
                raise BadPayload("bad LZF reference")
            for _ in range(length + 2):
                out.append(out[ref])
                ref += 1
        if len(out) > out_len:
            raise BadPayload("LZF output too long")
    if len(out) != out_len:
        raise BadPayload("LZF length mismatch")
    return bytes(out)


def listpack_items(blob: bytes) -> list[bytes]:
    if len(blob) < 7 or struct.unpack_from("<I", blob)[0] != len(blob) or blob[-1] != 0xFF:
        raise BadPayload("bad listpack")
    items: list[bytes] = []
    i, end = 6, len(blob) - 1
    while i < end:
        b = blob[i]
        start = i
        if b < 0x80:
            val: bytes = str(b).encode()
            i += 1
        elif b < 0xC0:
            n = b & 0x3F
            val, i = blob[i + 1:i + 1 + n], i + 1 + n
        elif b < 0xE0:
            v = ((b & 0x1F) << 8) | blob[i + 1]
            val, i = str(v - (1 << 13) if v >= 1 << 12 else v).encode(), i + 2
        elif b < 0xF0:
            n = ((b & 0x0F) << 8) | blob[i + 1]
            val, i = blob[i + 2:i + 2 + n], i + 2 + n
        elif b == 0xF0:
            (n,) = struct.unpack_from("<I", blob, i + 1)
            val, i = blob[i + 5:i + 5 + n], i + 5 + n
        elif b in (0xF1, 0xF2, 0xF3, 0xF4):
            size = {0xF1: 2, 0xF2: 3, 0xF3: 4, 0xF4: 8}[b]
            val = str(int.from_bytes(blob[i + 1:i + 1 + size], "little", signed=True)).encode()
            i += 1 + size
        else:
            raise BadPayload("bad listpack entry")
        if i > end:
            raise BadPayload("listpack entry beyond its end")
        entry_len = i - start
        i += len(_backlen(entry_len))
        items.append(val)
    if i != end:
        raise BadPayload("bad listpack end")
    return items


def _intset(blob: bytes) -> list[bytes]:
    if len(blob) < 8:
        raise BadPayload("bad intset")
    width, count = struct.unpack_from("<II", blob)
    if width not in (2, 4, 8) or len(blob) != 8 + width * count:
        raise BadPayload("bad intset")
    return [str(int.from_bytes(blob[8 + k * width:8 + (k + 1) * width], "little", signed=True))
            .encode() for k in range(count)]


def _score(text: bytes) -> float:
    try:
        v = float(text)
    except ValueError:
        raise BadPayload("bad score") from None
    if math.isnan(v):
        raise BadPayload("NaN score")
    return v


def decode(payload: bytes) -> tuple[str, object]:
    """(type name, plain data as the snapshot's decode takes it); BadPayload if it is
    not a value we read. `verify` is the caller's first step."""
    try:
        return _decode(payload)
    except (IndexError, struct.error, OverflowError) as e:  # a malformed inner blob
        raise BadPayload(str(e)) from None


def _decode(payload: bytes) -> tuple[str, object]:
    # Redis reads the value from the whole payload and ignores what follows it (a
    # string's length may even reach into the version and CRC): so do we.
    r = Reader(payload)
    t = r.byte()
    if t == T_STRING:
        kind, plain = "string", r.string()
    elif t == T_LIST:
        kind, plain = "list", [r.string() for _ in range(r.plain_len())]
    elif t == T_QUICKLIST_2:
        items: list[bytes] = []
        for _ in range(r.plain_len()):
            container = r.plain_len()
            blob = r.string()
            if container == 1:
                items.append(blob)
            elif container == 2:
                items.extend(listpack_items(blob))
            else:
                raise BadPayload("bad quicklist node")
        kind, plain = "list", items
    elif t in (T_SET, T_INTSET, T_SET_LP):
        if t == T_SET:
            members = [r.string() for _ in range(r.plain_len())]
        else:
            blob = r.string()
            members = _intset(blob) if t == T_INTSET else listpack_items(blob)
        if len(set(members)) != len(members):
            raise BadPayload("duplicate set member")
        kind, plain = "set", members
    elif t in (T_HASH, T_HASH_LP):
        if t == T_HASH:
            flat = [r.string() for _ in range(2 * r.plain_len())]
        else:
            flat = listpack_items(r.string())
            if len(flat) % 2:
                raise BadPayload("odd hash listpack")
        if len(set(flat[::2])) != len(flat) // 2:
            raise BadPayload("duplicate hash field")
        kind, plain = "hash", flat
    elif t in (T_ZSET, T_ZSET_2, T_ZSET_LP):
        pairs: list[object] = []
        if t == T_ZSET_LP:
            flat = listpack_items(r.string())
            if len(flat) % 2:
                raise BadPayload("odd zset listpack")
            for i in range(0, len(flat), 2):
                pairs += [flat[i], _score(flat[i + 1])]
        else:
            for _ in range(r.plain_len()):
                member = r.string()
                if t == T_ZSET_2:
                    (score,) = struct.unpack("<d", r.take(8))
                    if math.isnan(score):
                        raise BadPayload("NaN score")
                else:
                    n = r.byte()
                    score = {253: math.nan, 254: math.inf, 255: -math.inf}.get(n)
                    if score is None:
                        score = _score(r.take(n))
                    elif math.isnan(score):
                        raise BadPayload("NaN score")
                pairs += [member, score]
        if len(set(pairs[::2])) != len(pairs) // 2:
            raise BadPayload("duplicate zset member")
        kind, plain = "zset", pairs
    else:
        raise BadPayload(f"unsupported RDB type {t}")
    return kind, plain
