"""FUNCTION DUMP / RESTORE payloads in Redis's format, so dumps move both ways between
raftredis and redis-server: per library the RDB opcode FUNCTION2 (245) and the code as
an RDB string, then the RDB version (2 bytes, little endian) and a CRC64 (Jones, as
Redis's DUMP) of everything before it. We write plain strings; we read Redis's LZF
compressed ones too.
"""

from __future__ import annotations

import struct

from raftredis.statemachine.rdbcodec import (
    RDB_VERSION,
    BadPayload,
    crc64,
    lzf_decompress,
    rdb_len,
)

OPCODE_FUNCTION2 = 245


class PayloadError(ValueError):
    pass


def dump(codes: list[bytes]) -> bytes:
    body = b"".join(bytes([OPCODE_FUNCTION2]) + rdb_len(len(c)) + c for c in codes)
    body += struct.pack("<H", RDB_VERSION)
    return body + struct.pack("<Q", crc64(body))


def _read_len(buf: bytes, pos: int) -> tuple[int, bool, int]:
    """(length or encoding type, is_encoded, new position)."""
    if pos >= len(buf):
        raise PayloadError("truncated")
    first = buf[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, False, pos + 1
    if kind == 1:
        if pos + 2 > len(buf):
            raise PayloadError("truncated")
        return ((first & 0x3F) << 8) | buf[pos + 1], False, pos + 2
    if first == 0x80:
        return struct.unpack_from(">I", buf, pos + 1)[0], False, pos + 5
    if first == 0x81:
        return struct.unpack_from(">Q", buf, pos + 1)[0], False, pos + 9
    if kind == 3:
        return first & 0x3F, True, pos + 1
    raise PayloadError("bad length")


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    n, encoded, pos = _read_len(buf, pos)
    if not encoded:
        if pos + n > len(buf):
            raise PayloadError("truncated")
        return buf[pos:pos + n], pos + n
    if n != 3:  # integer encodings never hold library code
        raise PayloadError("unexpected string encoding")
    clen, _, pos = _read_len(buf, pos)
    ulen, _, pos = _read_len(buf, pos)
    if pos + clen > len(buf):
        raise PayloadError("truncated")
    try:
        return lzf_decompress(buf[pos:pos + clen], ulen), pos + clen
    except BadPayload as e:
        raise PayloadError(str(e)) from None


def restore(payload: bytes) -> list[bytes]:
    """The libraries' code in a payload; PayloadError if version or checksum are wrong."""
    if len(payload) < 10:
        raise PayloadError("payload version or checksum are wrong")
    body, footer = payload[:-8], payload[-8:]
    version = struct.unpack_from("<H", payload, len(payload) - 10)[0]
    if version > RDB_VERSION or crc64(body) != struct.unpack("<Q", footer)[0]:
        raise PayloadError("payload version or checksum are wrong")
    data = body[:-2]
    codes, pos = [], 0
    while pos < len(data):
        if data[pos] != OPCODE_FUNCTION2:
            raise PayloadError("given type is not a function")
        code, pos = _read_string(data, pos + 1)
        codes.append(code)
    return codes
