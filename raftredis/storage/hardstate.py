"""The hard state checkpoint file: term, vote, commit plus the bootstrap configuration.

    b"RRHS0001" | u32 length | u32 crc32(payload) | payload
    payload = msgpack [seq, term, vote, commit, [voters], [learners]]

Hard state also travels as records inside the log (one fsync with the entries);
this file is the checkpoint taken before log records are truncated or deleted.
`seq` orders the file against those records: the highest seq wins at recovery.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import msgpack

from raftredis.raft.types import ConfState, HardState
from raftredis.storage.errors import StorageCorruptError
from raftredis.storage.fsutil import atomic_write

HS_MAGIC = b"RRHS0001"
_HDR = struct.Struct("<8sII")
MAX_HS_FILE = 1 << 20


@dataclass(frozen=True, slots=True)
class HardStateFile:
    seq: int
    hs: HardState
    bootstrap: ConfState  # the configuration a brand-new directory was created with


def encode(rec: HardStateFile) -> bytes:
    payload = msgpack.packb(
        (
            rec.seq,
            rec.hs.term,
            rec.hs.vote,
            rec.hs.commit,
            sorted(rec.bootstrap.voters),
            sorted(rec.bootstrap.learners),
        )
    )
    return _HDR.pack(HS_MAGIC, len(payload), zlib.crc32(payload)) + payload


def decode(buf: bytes, path: Path) -> HardStateFile:
    if len(buf) < _HDR.size:
        raise StorageCorruptError(path, len(buf), "hard state file is cut short")
    magic, n, crc = _HDR.unpack_from(buf, 0)
    if magic != HS_MAGIC:
        raise StorageCorruptError(path, 0, f"bad hard state magic {magic!r}")
    if _HDR.size + n != len(buf):
        raise StorageCorruptError(path, 8, f"hard state length {n} does not fit file size {len(buf)}")
    payload = buf[_HDR.size :]
    if zlib.crc32(payload) != crc:
        raise StorageCorruptError(path, _HDR.size, "hard state checksum mismatch")
    try:
        seq, term, vote, commit, voters, learners = msgpack.unpackb(payload)
        ok = all(type(x) is int and x >= 0 for x in (seq, term, vote, commit))
        ok = ok and all(type(x) is int for x in [*voters, *learners])
    except Exception:
        ok = False
    if not ok:
        raise StorageCorruptError(path, _HDR.size, "hard state payload has an unknown shape")
    return HardStateFile(
        seq, HardState(term, vote, commit), ConfState(frozenset(voters), frozenset(learners))
    )


def read(path: Path) -> HardStateFile:
    size = os.path.getsize(path)
    if size > MAX_HS_FILE:
        raise StorageCorruptError(path, MAX_HS_FILE, f"hard state file is too large ({size} bytes)")
    return decode(path.read_bytes(), path)


def write(path: Path, rec: HardStateFile) -> None:
    atomic_write(path, encode(rec))
