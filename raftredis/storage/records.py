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


@dataclass(slots=True)
class Decoded:
    offset: int  # of the record header in the file
    end: int  # offset just past the record
    entry: Entry | None
    hs_seq: int = 0
    hs: HardState | None = None


def decode_payload(p: bytes, path: Path, offset: int) -> tuple[Entry | None, int, HardState | None]:
    try:
        obj = msgpack.unpackb(p, use_list=False)
    except Exception as exc:  # msgpack raises several types; all mean damage here
        raise StorageCorruptError(path, offset, f"undecodable record: {exc}") from None
    if isinstance(obj, tuple) and obj and obj[0] == T_ENTRY and len(obj) == 5:
        _, index, term, kind, data = obj
        if (
            type(index) is int
            and type(term) is int
            and index > 0
            and term >= 0
            and kind in _KINDS
            and type(data) is bytes
        ):
            return Entry(term, index, EntryKind(kind), data), 0, None
    elif isinstance(obj, tuple) and obj and obj[0] == T_HARDSTATE and len(obj) == 5:
        _, seq, term, vote, commit = obj
        if all(type(x) is int and x >= 0 for x in (seq, term, vote, commit)):
            return None, seq, HardState(term, vote, commit)
    raise StorageCorruptError(path, offset, "record has an unknown shape")


@dataclass(slots=True)
class ScanResult:
    records: list[Decoded]
    valid_end: int  # offset just past the last good record
    torn: bool  # bytes after valid_end are a torn write to be cut off


def scan_records(
    buf: bytes, start: int, path: Path, allow_torn_tail: bool, base: int = 0
) -> ScanResult:
    """Decode every record of a segment body, checking each checksum.

    A record cut short by the end of the buffer, or a run of zero bytes up to the
    end, is a torn tail: accepted (and reported) only when `allow_torn_tail`.
    Anything else that does not check out raises StorageCorruptError. `base` is
    the file offset of buf[0], so offsets in results and errors are file offsets.
    """
    records: list[Decoded] = []
    pos = start
    end = len(buf)
    mv = memoryview(buf)
    unpack_hdr = _REC_HDR.unpack_from
    while pos < end:
        if end - pos < REC_HEADER_SIZE:
            return _tail(records, base + pos, path, allow_torn_tail, "record header cut short")
        n, ncomp, crc = unpack_hdr(buf, pos)
        if n ^ 0xFFFFFFFF != ncomp or n == 0 or n > MAX_RECORD:
            if all_zero(mv[pos:]):
                return _tail(records, base + pos, path, allow_torn_tail, "zero-filled tail")
            raise StorageCorruptError(path, base + pos, "record length field is damaged")
        body = pos + REC_HEADER_SIZE
        if body + n > end:
            return _tail(records, base + pos, path, allow_torn_tail, "record cut short")
        payload = buf[body : body + n]
        if _crc32(payload) != crc:
            raise StorageCorruptError(path, base + pos, "record checksum mismatch")
        entry, seq, hs = decode_payload(payload, path, base + pos)
        records.append(Decoded(base + pos, base + body + n, entry, seq, hs))
        pos = body + n
    return ScanResult(records, base + pos, False)


def _tail(records: list[Decoded], pos: int, path: Path, allowed: bool, what: str) -> ScanResult:
    if not allowed:
        raise StorageCorruptError(path, pos, f"{what} before the end of the log")
    return ScanResult(records, pos, True)


def read_entries(buf: bytes, base: int, path: Path) -> list[Entry]:
    """Entries among the complete records in `buf` (which starts at file offset `base`);
    used on the read path, where every record must check out."""
    res = scan_records(buf, 0, path, allow_torn_tail=False, base=base)
    return [d.entry for d in res.records if d.entry is not None]
