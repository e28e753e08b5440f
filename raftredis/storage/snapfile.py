"""Snapshot files: a fixed 4096-byte header with checksummed metadata, then the data.

    header : b"RRSNAP01" | u32 crc32(header with this field zeroed) | u32 meta_len
             | meta (msgpack) | zero padding up to 4096
    meta   : [index, term, [voters], [learners], data_len, data_crc32, min_seq]
    data   : the application's opaque bytes, data_len of them

The header is written last (the data streams in first), then the file is fsynced
and renamed into place, so a snapshot file under its final name is complete.
`min_seq`: log segments with a lower sequence number were discarded when this
snapshot was installed and must be ignored (and deleted) at recovery.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import msgpack

from raftredis.raft.types import ConfState, SnapshotMeta
from raftredis.storage.errors import StorageCorruptError

SNAP_MAGIC = b"RRSNAP01"
HEADER_SIZE = 4096
_FIXED = struct.Struct("<8sII")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class SnapFileInfo:
    meta: SnapshotMeta
    data_len: int
    data_crc: int
    min_seq: int


def encode_header(info: SnapFileInfo) -> bytes:
    m = info.meta
    meta = msgpack.packb(
        (
            m.index,
            m.term,
            sorted(m.conf.voters),
            sorted(m.conf.learners),
            info.data_len,
            info.data_crc,
            info.min_seq,
            *([[list(a) for a in m.conf.addrs]] if m.conf.addrs else []),
        )
    )
    if _FIXED.size + len(meta) > HEADER_SIZE:
        raise ValueError(f"snapshot metadata of {len(meta)} bytes does not fit the header")
    body = meta + b"\0" * (HEADER_SIZE - _FIXED.size - len(meta))
    zeroed = _FIXED.pack(SNAP_MAGIC, 0, len(meta)) + body
    return _FIXED.pack(SNAP_MAGIC, zlib.crc32(zeroed), len(meta)) + body


def decode_header(buf: bytes, path: Path) -> SnapFileInfo:
    if len(buf) < HEADER_SIZE:
        raise StorageCorruptError(path, len(buf), "snapshot header is cut short")
    magic, crc, n = _FIXED.unpack_from(buf, 0)
    if magic != SNAP_MAGIC:
        raise StorageCorruptError(path, 0, f"bad snapshot magic {magic!r}")
    zeroed = _FIXED.pack(magic, 0, n) + buf[_FIXED.size : HEADER_SIZE]
    if zlib.crc32(zeroed) != crc:
        raise StorageCorruptError(path, 8, "snapshot header checksum mismatch")
    if _FIXED.size + n > HEADER_SIZE:
        raise StorageCorruptError(path, 12, "snapshot metadata length is out of range")
    try:
        fields = msgpack.unpackb(buf[_FIXED.size : _FIXED.size + n])
        # An 8th field, when present, holds the members' addresses (ConfState.addrs).
        index, term, voters, learners, dlen, dcrc, min_seq = fields[:7]
        addrs = tuple(sorted((int(a), str(t)) for a, t in fields[7])) if len(fields) > 7 else ()
        conf = ConfState(frozenset(int(x) for x in voters), frozenset(int(x) for x in learners),
                         addrs)
        ok = all(type(x) is int and x >= 0 for x in (index, term, dlen, dcrc, min_seq))
    except Exception:
        ok = False
    if not ok:
        raise StorageCorruptError(path, _FIXED.size, "snapshot metadata has an unknown shape")
    return SnapFileInfo(SnapshotMeta(index, term, conf), dlen, dcrc, min_seq)


def verify(path: Path) -> SnapFileInfo:
    """Read the whole file once (in bounded chunks) and check header, size and data checksum."""
    with open(path, "rb") as f:
        info = decode_header(f.read(HEADER_SIZE), path)
        size = os.fstat(f.fileno()).st_size
        if size != HEADER_SIZE + info.data_len:
            raise StorageCorruptError(
                path, min(size, HEADER_SIZE + info.data_len),
                f"snapshot file is {size} bytes, header says {HEADER_SIZE + info.data_len}",
            )
        verify_data(f, info, path)
    return info


def verify_data(f: BinaryIO, info: SnapFileInfo, path: Path) -> None:
    f.seek(HEADER_SIZE)
    crc = 0
    while chunk := f.read(_CHUNK):
        crc = zlib.crc32(chunk, crc)
    if crc != info.data_crc:
        raise StorageCorruptError(path, HEADER_SIZE, "snapshot data checksum mismatch")
    f.seek(HEADER_SIZE)


def snap_name(index: int) -> str:
    return f"snap-{index:020d}.snap"
