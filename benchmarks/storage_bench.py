"""Appends per second of DiskStorage (fsync=always) against the disk's raw fsync rate.

Run:  python3 benchmarks/storage_bench.py [--dir DIR] [--seconds 2] [--size 100]

For batches of 1, 16 and 256 entries of --size bytes each, persist() is called in a
loop for --seconds; each call is one write and one fsync. The raw rate is a loop of
4 KiB append + fsync on a plain file in the same directory, measured in the same
run. Printed ratios: batches/s against raw fsyncs/s (1.0 means the storage adds no
cost beyond the fsync) and entries/s gained by group commit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raftredis.raft.types import ConfState, Entry, HardState  # noqa: E402
from raftredis.storage import DiskStorage, FsyncPolicy  # noqa: E402


def raw_fsync_rate(directory: Path, seconds: float) -> float:
    path = directory / "raw.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    block = b"x" * 4096
    n, t0 = 0, time.perf_counter()
    try:
        while time.perf_counter() - t0 < seconds:
            os.write(fd, block)
            os.fsync(fd)
            n += 1
    finally:
        os.close(fd)
        path.unlink()
    return n / (time.perf_counter() - t0)


def storage_rate(directory: Path, batch: int, size: int, seconds: float) -> tuple[float, float]:
    d = directory / f"store-{batch}"
    s = DiskStorage.open(d, ConfState(frozenset({1})), fsync=FsyncPolicy.ALWAYS)
    data = b"v" * size
    nxt, calls, t0 = 1, 0, time.perf_counter()
    try:
        while time.perf_counter() - t0 < seconds:
            s.persist(HardState(1, 1, nxt - 1), [Entry(1, i, data=data) for i in range(nxt, nxt + batch)])
            nxt += batch
            calls += 1
        el = time.perf_counter() - t0
    finally:
        s.close()
        shutil.rmtree(d)
    return calls / el, (nxt - 1) / el


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="directory on the disk to test (default: a temp dir)")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--size", type=int, default=100, help="bytes of data per entry")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="rr-bench-", dir=args.dir))
    try:
        raw = raw_fsync_rate(base, args.seconds)
        print(f"raw fsync rate: {raw:,.0f} fsync/s  ({base})")
        print(f"{'batch':>6} {'persist/s':>11} {'entries/s':>12} {'persist/raw':>12} {'entries/raw':>12}")
        for batch in (1, 16, 256):
            calls, ents = storage_rate(base, batch, args.size, args.seconds)
            print(f"{batch:>6} {calls:>11,.0f} {ents:>12,.0f} {calls / raw:>12.2f} {ents / raw:>12.1f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
