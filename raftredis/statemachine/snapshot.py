"""Streamed snapshots of the keyspace.

Layout (all integers big-endian):

    b"RRSM" version(1 byte)
    frame*      length(u32) crc32(u32) payload   -- payload: msgpack records
    end         length=0    crc32=0    key count(u64)

Each record is the msgpack array [key, type code, encoded value, deadline ms or nil].

Version 2 (written once any client session was ever opened) appends the session table
in the same framing: frames of msgpack records, then an end marker with the record
count; the records are SessionTable.records(). Version 1 snapshots still load (no
sessions).
Version 4 (written once any ACL user or rule differs from the initial default user)
appends, after the scripting records (possibly none), the ACL records
(UserTable.records(): password hashes only, never a clear password).
Frames are flushed at ~1 MiB so memory stays flat whatever the keyspace size; the CRC
per frame catches corruption msgpack alone would happily parse. Reading validates
everything and builds a fresh state, so a bad snapshot changes nothing.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import BinaryIO

import msgpack

from raftredis.statemachine.db import Keyspace
from raftredis.statemachine.parse import INT64_MAX, INT64_MIN
from raftredis.statemachine.sessions import SessionTable
from raftredis.statemachine.values import TYPES_BY_CODE, TYPES_BY_PY

MAGIC = b"RRSM"
VERSION = 1
VERSION_SESSIONS = 2  # keyspace, then the session table
VERSION_SCRIPTS = 3  # keyspace, session table, scripting records
VERSION_ACL = 4  # keyspace, session table, scripting records, ACL records
MAX_SESSION_RECORDS = 1 << 20
_FRAME = struct.Struct(">II")
_COUNT = struct.Struct(">Q")
FRAME_TARGET = 1 << 20  # flush a frame once its payload passes this
MAX_FRAME = (1 << 32) - 1
MAX_KEY_LEN = 512 * 1024 * 1024
_READ_CHUNK = 64 << 20  # read big frames piecewise so a corrupt length cannot allocate 4 GiB


class SnapshotError(ValueError):
    """The snapshot is corrupt, truncated or of an unknown format."""


def write(db: Keyspace, fp: BinaryIO, sessions: SessionTable | None = None,
          scripting: Iterable[list] | None = None, acl: Iterable[list] | None = None) -> None:
    """`scripting`, `acl`: their records, or None when there are none."""
    if acl is not None and scripting is None:
        scripting = ()
    with_sessions = (sessions is not None and sessions.next_id > 1) or scripting is not None
    version = VERSION_ACL if acl is not None else VERSION_SCRIPTS if scripting is not None \
        else (VERSION_SESSIONS if with_sessions else VERSION)
    fp.write(MAGIC + bytes([version]))
    packer = msgpack.Packer(use_bin_type=True)
    expires = db.expires
    parts: list[bytes] = []
    size = 0
    count = 0
    for key, value in db.data.items():
        vt = TYPES_BY_PY[type(value)]
        rec = packer.pack([key, vt.code, vt.encode(value), expires.get(key)])
        parts.append(rec)
        size += len(rec)
        count += 1
        if size >= FRAME_TARGET:
            _write_frame(fp, b"".join(parts))
            parts, size = [], 0
    if parts:
        _write_frame(fp, b"".join(parts))
    fp.write(_FRAME.pack(0, 0) + _COUNT.pack(count))
    if with_sessions:
        _write_records(fp, (sessions or SessionTable()).records(), packer)
    if scripting is not None:
        _write_records(fp, scripting, packer)
    if acl is not None:
        _write_records(fp, acl, packer)


def _write_records(fp: BinaryIO, records, packer: msgpack.Packer) -> None:
    parts: list[bytes] = []
    size = count = 0
    for rec in records:
        data = packer.pack(rec)
        parts.append(data)
        size += len(data)
        count += 1
        if size >= FRAME_TARGET:
            _write_frame(fp, b"".join(parts))
            parts, size = [], 0
    if parts:
        _write_frame(fp, b"".join(parts))
    fp.write(_FRAME.pack(0, 0) + _COUNT.pack(count))


def _write_frame(fp: BinaryIO, payload: bytes) -> None:
    if len(payload) > MAX_FRAME:
        raise ValueError("snapshot record too large for one frame")
    fp.write(_FRAME.pack(len(payload), zlib.crc32(payload)))
    fp.write(payload)


def _read_exact(fp: BinaryIO, n: int, what: str) -> bytes:
    chunks: list[bytes] = []
    left = n
    while left > 0:
        chunk = fp.read(min(left, _READ_CHUNK))
        if not chunk:
            raise SnapshotError(f"snapshot truncated in {what}")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read(fp: BinaryIO) -> tuple[dict[bytes, object], dict[bytes, int]]:
    """Parse and validate a whole snapshot; returns (data, expires)."""
    data, expires, _ = read_with_sessions(fp)
    return data, expires


def read_with_sessions(
    fp: BinaryIO,
) -> tuple[dict[bytes, object], dict[bytes, int], SessionTable]:
    """Parse and validate a whole snapshot; returns (data, expires, session table)."""
    data, expires, table, _ = read_all(fp)
    return data, expires, table


def read_all(
    fp: BinaryIO,
) -> tuple[dict[bytes, object], dict[bytes, int], SessionTable, list]:
    """Parse and validate a whole snapshot: (data, expires, session table, scripting
    records; [] when the snapshot has none)."""
    return read_full(fp)[:4]  # type: ignore[return-value]


def read_full(
    fp: BinaryIO,
) -> tuple[dict[bytes, object], dict[bytes, int], SessionTable, list, list]:
    """read_all() and the ACL records ([] when the snapshot has none)."""
    head = _read_exact(fp, len(MAGIC) + 1, "header")
    if head[: len(MAGIC)] != MAGIC:
        raise SnapshotError("not a raftredis state machine snapshot (bad magic)")
    if head[-1] not in (VERSION, VERSION_SESSIONS, VERSION_SCRIPTS, VERSION_ACL):
        raise SnapshotError(f"unsupported snapshot version {head[-1]}")
    data, expires = _read_keyspace(fp)
    if head[-1] == VERSION:
        return data, expires, SessionTable(), [], []
    records = _read_records(fp)
    try:
        table = SessionTable.from_records(records)
    except (ValueError, TypeError) as e:
        raise SnapshotError(f"snapshot session table is corrupt: {e}") from e
    scripting = _read_records(fp) if head[-1] >= VERSION_SCRIPTS else []
    acl = _read_records(fp) if head[-1] >= VERSION_ACL else []
    return data, expires, table, scripting, acl


def _read_records(fp: BinaryIO) -> list[object]:
    records: list[object] = []
    while True:
        length, crc = _FRAME.unpack(_read_exact(fp, _FRAME.size, "session frame header"))
        if length == 0:
            if crc != 0:
                raise SnapshotError("snapshot session end marker is corrupt")
            (count,) = _COUNT.unpack(_read_exact(fp, _COUNT.size, "session end marker"))
            if count != len(records):
                raise SnapshotError(f"snapshot says {count} session records but holds {len(records)}")
            return records
        payload = _read_exact(fp, length, "session frame")
        if zlib.crc32(payload) != crc:
            raise SnapshotError("snapshot session frame checksum mismatch")
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                    max_buffer_size=max(len(payload), 1))
        unpacker.feed(payload)
        try:
            for rec in unpacker:
                records.append(rec)
                if len(records) > MAX_SESSION_RECORDS:
                    raise SnapshotError("snapshot holds too many session records")
        except SnapshotError:
            raise
        except Exception as e:
            raise SnapshotError(f"snapshot session record is corrupt: {e}") from e


def _read_keyspace(fp: BinaryIO) -> tuple[dict[bytes, object], dict[bytes, int]]:
    data: dict[bytes, object] = {}
    expires: dict[bytes, int] = {}
    while True:
        length, crc = _FRAME.unpack(_read_exact(fp, _FRAME.size, "frame header"))
        if length == 0:
            if crc != 0:
                raise SnapshotError("snapshot end marker is corrupt")
            (count,) = _COUNT.unpack(_read_exact(fp, _COUNT.size, "end marker"))
            if count != len(data):
                raise SnapshotError(f"snapshot says {count} keys but holds {len(data)}")
            return data, expires
        payload = _read_exact(fp, length, "frame")
        if zlib.crc32(payload) != crc:
            raise SnapshotError("snapshot frame checksum mismatch")
        _load_frame(payload, data, expires)


def _load_frame(payload: bytes, data: dict[bytes, object], expires: dict[bytes, int]) -> None:
    unpacker = msgpack.Unpacker(
        raw=False, strict_map_key=False, max_buffer_size=max(len(payload), 1)
    )
    unpacker.feed(payload)
    try:
        for rec in unpacker:
            _load_record(rec, data, expires)
    except SnapshotError:
        raise
    except Exception as e:  # msgpack's many error types, ValueError from decoders
        raise SnapshotError(f"snapshot record is corrupt: {e}") from e


def _load_record(rec: object, data: dict[bytes, object], expires: dict[bytes, int]) -> None:
    if not isinstance(rec, list) or len(rec) != 4:
        raise SnapshotError("snapshot record is not a 4-item array")
    key, code, encoded, deadline = rec
    if not isinstance(key, bytes) or len(key) > MAX_KEY_LEN:
        raise SnapshotError("snapshot key is not a byte string")
    if key in data:
        raise SnapshotError("snapshot holds a key twice")
    vt = TYPES_BY_CODE.get(code) if type(code) is int else None
    if vt is None:
        raise SnapshotError(f"snapshot value type {code!r} is unknown")
    if deadline is not None and (
        type(deadline) is not int or not INT64_MIN <= deadline <= INT64_MAX
    ):
        raise SnapshotError("snapshot deadline is not an int64")
    data[key] = vt.decode(encoded)
    if deadline is not None:
        expires[key] = deadline
