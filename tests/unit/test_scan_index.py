"""The SCAN index against the order it promises (CRC32, then key bytes): full scans,
scans across inserts and deletes, and positional picks."""

from __future__ import annotations

import random
import zlib

from raftredis.statemachine.scanindex import ScanIndex


def _ordered(keys) -> list[bytes]:
    return sorted(set(keys), key=lambda k: (zlib.crc32(k), k))


def _scan_all(idx: ScanIndex, count: int) -> list[bytes]:
    out, cursor = [], 0
    while True:
        cursor, batch = idx.batch(cursor, count)
        out += batch
        if cursor == 0:
            return out


def test_full_scans_follow_the_crc_order() -> None:
    keys = [b"k:%d" % i for i in range(20_000)]
    idx = ScanIndex(keys)
    assert len(idx) == 20_000
    want = _ordered(keys)
    for count in (1, 7, 1000, 50_000):
        assert _scan_all(idx, count) == want
    assert [idx.at(i) for i in range(0, 20_000, 997)] == want[::997]


def test_equal_crcs_are_never_split() -> None:
    # b"plumless" and b"buckeroo" share a CRC32 (a well-known collision).
    assert zlib.crc32(b"plumless") == zlib.crc32(b"buckeroo")
    idx = ScanIndex([b"plumless", b"buckeroo", b"a", b"b"])
    got = []
    cursor = 0
    while True:
        cursor, batch = idx.batch(cursor, 1)
        got.append(batch)
        if cursor == 0:
            break
    assert [b"buckeroo", b"plumless"] in got


def test_random_changes_keep_order_size_and_picks() -> None:
    rng = random.Random(7)
    present = {b"x%d" % rng.randrange(5000) for _ in range(3000)}
    idx = ScanIndex(list(present))
    for _ in range(6000):
        k = b"x%d" % rng.randrange(5000)
        if rng.random() < 0.5:
            idx.add(k)
            present.add(k)
        else:
            idx.discard(k)
            present.discard(k)
    want = _ordered(present)
    assert len(idx) == len(present)
    assert _scan_all(idx, 100) == want
    assert [idx.at(i) for i in range(len(want))] == want


def test_a_key_present_for_the_whole_scan_is_returned_once() -> None:
    rng = random.Random(3)
    stable = [b"s%d" % i for i in range(2000)]
    idx = ScanIndex(stable)
    seen: list[bytes] = []
    cursor = 0
    while True:
        cursor, batch = idx.batch(cursor, 50)
        seen += batch
        for _ in range(20):  # churn of other keys between calls
            k = b"t%d" % rng.randrange(3000)
            (idx.add if rng.random() < 0.6 else idx.discard)(k)
        if cursor == 0:
            break
    got = [k for k in seen if k.startswith(b"s")]
    assert sorted(got) == sorted(stable) and len(got) == len(set(got))
