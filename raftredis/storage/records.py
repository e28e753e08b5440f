"""Byte formats of the log segments (pure: bytes in, values out, no I/O).

Segment file = header + records.

    header : b"RRSEG001" | u64 seq | u64 first_index | u32 crc32(previous 24 bytes)
    record : u32 length | u32 ~length | u32 crc32(payload) | payload (msgpack)

The length is stored twice (plain and complemented) so a damaged length is
recognised as damage instead of being mistaken for a record cut short by a crash.
Payloads are msgpack arrays, never pickle:

    [0, index, term, kind, data]           a log entry
    [1, seq, term, vote, commit]           a hard state (the highest seq wins)
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgpack

from raftredis.raft.types import Entry, EntryKind, HardState
from raftredis.storage.errors import StorageCorruptError
from raftredis.storage.fsutil import all_zero

SEG_MAGIC = b"RRSEG001"
_SEG_HDR = struct.Struct("<8sQQ")
_CRC = struct.Struct("<I")
SEG_HEADER_SIZE = _SEG_HDR.size + _CRC.size  # 28

_REC_HDR = struct.Struct("<III")
REC_HEADER_SIZE = _REC_HDR.size  # 12
MAX_RECORD = 512 << 20  # a record larger than this is refused on write and is damage on read

T_ENTRY = 0
T_HARDSTATE = 1
_KINDS = frozenset(int(k) for k in EntryKind)
_crc32 = zlib.crc32


def encode_segment_header(seq: int, first_index: int) -> bytes:
    head = _SEG_HDR.pack(SEG_MAGIC, seq, first_index)
    return head + _CRC.pack(_crc32(head))


def decode_segment_header(buf: bytes, path: Path) -> tuple[int, int]:
    """(seq, first_index) of a segment; raises StorageCorruptError on any damage."""
    if len(buf) < SEG_HEADER_SIZE:
        raise StorageCorruptError(path, len(buf), "segment header is cut short")
    head = buf[: _SEG_HDR.size]
    (crc,) = _CRC.unpack_from(buf, _SEG_HDR.size)
    if _crc32(head) != crc:
        raise StorageCorruptError(path, 0, "segment header checksum mismatch")
    magic, seq, first = _SEG_HDR.unpack(head)
    if magic != SEG_MAGIC:
        raise StorageCorruptError(path, 0, f"bad segment magic {magic!r}")
    return seq, first


def frame(payload: bytes) -> bytes:
    n = len(payload)
    if n > MAX_RECORD:
        raise ValueError(f"record of {n} bytes exceeds the limit of {MAX_RECORD}")
    return _REC_HDR.pack(n, n ^ 0xFFFFFFFF, _crc32(payload)) + payload


def entry_payload(e: Entry) -> bytes:
    return msgpack.packb((T_ENTRY, e.index, e.term, int(e.kind), e.data))


def hardstate_payload(seq: int, hs: HardState) -> bytes:
    return msgpack.packb((T_HARDSTATE, seq, hs.term, hs.vote, hs.commit))


def encode_entries(entries: Sequence[Entry]) -> list[bytes]:
    """Framed records, one per entry (kept apart so the caller knows each offset)."""
    pack = msgpack.packb
    hdr = _REC_HDR.pack
    out = []
    for e in entries:
        p = pack((T_ENTRY, e.index, e.term, int(e.kind), e.data))
        n = len(p)
        if n > MAX_RECORD:
            raise ValueError(f"entry {e.index} of {n} bytes exceeds the record limit {MAX_RECORD}")
        out.append(hdr(n, n ^ 0xFFFFFFFF, _crc32(p)) + p)
    return out


_KIND_OF = {int(k): k for k in EntryKind}


def _bad_shape(obj: object) -> bool:
    """True unless obj is a well-formed entry or hard state record (see module doc)."""
    if type(obj) is not tuple or len(obj) != 5:
        return True
    t, a, b, c, d = obj
    if t == T_ENTRY:
        return not (type(a) is int and a > 0 and type(b) is int and b >= 0
                    and c in _KIND_OF and type(d) is bytes)
    if t == T_HARDSTATE:
        return not all(type(x) is int and x >= 0 for x in (a, b, c, d))
    return True


def to_entry(obj: tuple) -> Entry:
    return Entry(obj[2], obj[1], _KIND_OF[obj[3]], obj[4])


def to_hardstate(obj: tuple) -> tuple[int, HardState]:
    return obj[1], HardState(obj[2], obj[3], obj[4])


@dataclass(slots=True)
class ScanResult:
    records: list[tuple[int, tuple]]  # (file offset, decoded payload tuple) per record
    valid_end: int  # offset just past the last good record
    torn: bool  # bytes after valid_end are a torn write to be cut off


def scan_records(
    buf: bytes, start: int, path: Path, allow_torn_tail: bool, base: int = 0
) -> ScanResult:
    """Decode every record of a segment body, checking each checksum and shape.

    A record cut short by the end of the buffer, or a run of zero bytes up to the
    end, is a torn tail: accepted (and reported) only when `allow_torn_tail`.
    Anything else that does not check out raises StorageCorruptError. `base` is
    the file offset of buf[0], so offsets in results and errors are file offsets.
    """
    records: list[tuple[int, tuple]] = []
    add = records.append
    pos = start
    end = len(buf)
    mv = memoryview(buf)
    unpack_hdr = _REC_HDR.unpack_from
    unpackb = msgpack.unpackb
    crc32 = _crc32
    while pos < end:
        if end - pos < REC_HEADER_SIZE:
            return _tail(records, base + pos, path, allow_torn_tail, "record header cut short")
        n, ncomp, crc = unpack_hdr(buf, pos)
        if n ^ 0xFFFFFFFF != ncomp or n == 0 or n > MAX_RECORD:
            if all_zero(mv[pos:]):
                return _tail(records, base + pos, path, allow_torn_tail, "zero-filled tail")
            if _torn_at_sector_edge(mv, pos, end, base):
                return _tail(records, base + pos, path, allow_torn_tail,
                             "record header torn at a sector edge")
            raise StorageCorruptError(path, base + pos, "record length field is damaged")
        body = pos + REC_HEADER_SIZE
        if body + n > end:
            return _tail(records, base + pos, path, allow_torn_tail, "record cut short")
        payload = mv[body : body + n]
        if crc32(payload) != crc:
            if _torn_at_sector_edge(mv, pos, body + n, base):
                return _tail(records, base + pos, path, allow_torn_tail,
                             "record torn at a sector edge")
            raise StorageCorruptError(path, base + pos, "record checksum mismatch")
        try:
            obj = unpackb(payload, use_list=False)
        except Exception as exc:  # msgpack raises several types; all mean damage here
            raise StorageCorruptError(path, base + pos, f"undecodable record: {exc}") from None
        if _bad_shape(obj):
            raise StorageCorruptError(path, base + pos, "record has an unknown shape")
        add((base + pos, obj))
        pos = body + n
    return ScanResult(records, base + pos, False)


SECTOR = 512


def _torn_at_sector_edge(mv: memoryview, pos: int, rec_end: int, base: int) -> bool:
    """The last record of the file whose bytes, from a sector boundary inside it on to
    the end of the file, are zeros: power failed after the file's size reached the disk
    but before all its sectors did (etcd's WAL judges a torn entry the same way). A
    record followed by any non-zero byte is never torn. `rec_end` may lie past the end
    of the file when the record's length field itself is damaged."""
    end = len(mv)
    data = bytes(mv[pos:end])
    zeros_from = pos + len(data.rstrip(b"\0"))
    edge = -(-(base + zeros_from) // SECTOR) * SECTOR - base  # first sector edge at/after it
    return pos < edge < min(rec_end, end)


def _tail(records: list[tuple[int, tuple]], pos: int, path: Path, allowed: bool, what: str) -> ScanResult:
    if not allowed:
        raise StorageCorruptError(path, pos, f"{what} before the end of the log")
    return ScanResult(records, pos, True)


def read_entries(buf: bytes, base: int, path: Path) -> list[Entry]:
    """Entries among the complete records in `buf` (which starts at file offset `base`);
    used on the read path, where every record must check out."""
    res = scan_records(buf, 0, path, allow_torn_tail=False, base=base)
    return [to_entry(o) for _, o in res.records if o[0] == T_ENTRY]
