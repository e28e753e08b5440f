"""Snapshots: round trip with TTLs and types, streaming, corrupt input refused."""

from __future__ import annotations

import io
import struct

import pytest

from raftredis.statemachine import SnapshotError, StateMachine
from raftredis.statemachine import snapshot as snap
from tests.unit.test_sm_support import NOW, FakeHash, M


def state(sm: StateMachine) -> tuple[dict, dict]:
    return dict(sm.db.data), dict(sm.db.expires)


def dump(sm: StateMachine) -> bytes:
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    return buf.getvalue()


@pytest.fixture
def filled() -> M:
    m = M()
    for i in range(3000):
        m("SET", f"key:{i}", f"value:{i}" * (i % 7))
    for i in range(0, 3000, 3):
        m("PEXPIRE", f"key:{i}", str(1000 + i))
    m("SET", "bin\x00\xff", b"\x00\x01\xfe")
    m("SET", "empty", "")
    m.sm.db.set(b"fake", FakeHash({b"a": b"1"}))
    return m


def test_round_trip(filled: M) -> None:
    data = dump(filled.sm)
    other = StateMachine()
    other.apply([b"SET", b"junk", b"gone"], NOW)
    other.restore_snapshot(io.BytesIO(data))
    assert state(other) == state(filled.sm)
    assert other.dbsize() == 3003 and other.expires_count() == 1000
    assert other.read([b"GET", b"junk"], NOW) is None
    assert other.read([b"PTTL", b"key:3"], NOW) == 1003
    assert isinstance(other.db.data[b"fake"], FakeHash)
    # The restored machine behaves the same afterwards, expiry index included.
    assert other.expired_keys(NOW + 1010, 100) == filled.sm.expired_keys(NOW + 1010, 100)
    assert other.apply([b"INCR", b"n"], NOW) == 1
    assert dump(other) != data


def test_empty_round_trip() -> None:
    data = dump(StateMachine())
    sm = StateMachine()
    sm.apply([b"SET", b"a", b"1"], NOW)
    sm.restore_snapshot(io.BytesIO(data))
    assert sm.dbsize() == 0


def test_streamed_in_frames(filled: M, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snap, "FRAME_TARGET", 4096)
    writes: list[int] = []

    class Recorder(io.BytesIO):
        def write(self, b: bytes) -> int:  # type: ignore[override]
            writes.append(len(b))
            return super().write(b)

    out = Recorder()
    filled.sm.write_snapshot(out)
    assert max(writes) < 4096 + 200  # never the whole state in one buffer
    assert len(writes) > 20
    other = StateMachine()

    class Trickle(io.BytesIO):
        def read(self, n: int = -1) -> bytes:  # type: ignore[override]
            return super().read(min(n, 7) if n and n > 0 else 7)

    other.restore_snapshot(Trickle(out.getvalue()))
    assert state(other) == state(filled.sm)


def test_same_state_same_bytes(filled: M) -> None:
    assert dump(filled.sm) == dump(filled.sm)


def corrupt_cases(data: bytes) -> list[tuple[str, bytes]]:
    body = len(snap.MAGIC) + 1
    first_len, _ = struct.unpack(">II", data[body : body + 8])
    flipped = bytearray(data)
    flipped[body + 8 + first_len // 2] ^= 0x40
    return [
        ("empty", b""),
        ("bad magic", b"XXXX" + data[4:]),
        ("bad version", data[:4] + b"\x09" + data[5:]),
        ("truncated header", data[:3]),
        ("truncated frame", data[: body + 8 + first_len // 2]),
        ("no end marker", data[:-16]),
        ("flipped byte", bytes(flipped)),
        ("wrong count", data[:-8] + struct.pack(">Q", 5)),
        ("huge frame length", data[:body] + struct.pack(">II", 2**32 - 1, 0) + b"abc"),
    ]


def test_corrupt_input_refused_and_state_kept(filled: M) -> None:
    data = dump(filled.sm)
    for name, bad in corrupt_cases(data):
        sm = StateMachine()
        sm.apply([b"SET", b"keep", b"me"], NOW)
        with pytest.raises(SnapshotError):
            sm.restore_snapshot(io.BytesIO(bad))
        assert sm.read([b"GET", b"keep"], NOW) == b"me", name
        assert sm.dbsize() == 1, name


def _frame(records: list[object]) -> bytes:
    import zlib

    import msgpack

    payload = b"".join(msgpack.packb(r, use_bin_type=True) for r in records)
    out = snap.MAGIC + bytes([snap.VERSION])
    out += struct.pack(">II", len(payload), zlib.crc32(payload)) + payload
    return out + struct.pack(">IIQ", 0, 0, len(records))


@pytest.mark.parametrize(
    "record",
    [
        [b"k", 0, b"v"],  # 3 items
        ["k", 0, b"v", None],  # key not bytes
        [b"k", 99, b"v", None],  # unknown type
        [b"k", 0, "v", None],  # string value not bytes
        [b"k", 0, b"v", 1.5],  # deadline not int
        [b"k", 0, b"v", 2**63],  # deadline out of range
        {"k": 1},
    ],
)
def test_bad_records_refused(record: object) -> None:
    sm = StateMachine()
    with pytest.raises(SnapshotError):
        sm.restore_snapshot(io.BytesIO(_frame([record])))


def test_duplicate_keys_refused() -> None:
    with pytest.raises(SnapshotError):
        StateMachine().restore_snapshot(io.BytesIO(_frame([[b"k", 0, b"v", None]] * 2)))


def test_valid_handmade_frame() -> None:
    sm = StateMachine()
    sm.restore_snapshot(io.BytesIO(_frame([[b"k", 0, b"v", NOW + 5]])))
    assert sm.read([b"PTTL", b"k"], NOW) == 5
