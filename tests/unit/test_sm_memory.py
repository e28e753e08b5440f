"""Memory per key of the keyspace, measured as process RSS in a fresh subprocess.

Run directly for the full 1,000,000-key figure:

    python3 tests/unit/test_sm_memory.py [keys]

The pytest test uses fewer keys, prints the figure and only checks a loose bound
(it is a measurement, not a benchmark).
"""

from __future__ import annotations

import subprocess
import sys

_PROBE = r"""
import sys
from raftredis.statemachine import StateMachine

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")

n = int(sys.argv[1])
sm = StateMachine()
sm.apply([b"SET", b"warmup", b"x"], 0)
sm.apply([b"DEL", b"warmup"], 0)
before = rss_kb()
apply = sm.apply
for i in range(n):
    # 16-byte keys, 32-byte values, built per key as a client would send them
    apply([b"SET", b"key:%012d" % i, b"value:%026d" % i], 0)
after = rss_kb()
assert sm.dbsize() == n
print((after - before) * 1024 / n)
"""


def measure(keys: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(keys)], capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stderr
    return float(out.stdout.strip())


def test_bytes_per_key() -> None:
    per_key = measure(200_000)
    print(f"\nstate machine RSS per key (200k keys, 16-byte keys, 32-byte values): {per_key:.0f} B")
    assert 0 < per_key < 300


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"{n} keys: {measure(n):.1f} bytes of RSS per key")
