"""How close the deterministic memory estimate (used_memory) is to real RSS, per data shape.

Each shape is loaded into a fresh StateMachine in its own process; the growth of the
process's resident set is compared with the growth of used_memory. A ratio near 1 means
maxmemory bounds the real memory of the data; RSS also pays the interpreter's and the
allocator's overhead, which the estimate leaves out on purpose (it would differ between
nodes).

    python3 benchmarks/memory_calibration.py [scale]    # scale 1 = about 1M elements each
"""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = r"""
import gc, json, sys
from raftredis.statemachine import StateMachine

def rss():
    with open("/proc/self/statm") as f:
        import os
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

shape, n = sys.argv[1], int(sys.argv[2])
sm = StateMachine()
sm.apply([b"SET", b"warm", b"x"], 0); sm.apply([b"DEL", b"warm"], 0)
gc.collect()
r0, u0 = rss(), sm.used_memory
apply, read = sm.apply, sm.read
now = 1_700_000_000_000
if shape == "string-16-32":
    for i in range(n):
        apply([b"SET", b"key:%012d" % i, b"value:%026d" % i], now)
elif shape == "string-100":
    v = b"v" * 100
    for i in range(n):
        apply([b"SET", b"key:%012d" % i, v + b"%d" % i], now)
elif shape == "string-1000-ttl":
    v = b"v" * 1000
    for i in range(n):
        apply([b"SET", b"key:%012d" % i, v + b"%d" % i, b"EX", b"1000"], now)
elif shape == "string-read":  # every key also read once: the access readings
    for i in range(n):
        apply([b"SET", b"key:%012d" % i, b"value:%026d" % i], now)
    for i in range(n):
        read([b"GET", b"key:%012d" % i], now)
elif shape == "hash-100":
    for i in range(n):
        apply([b"HSET", b"h%d" % (i // 100), b"field:%d" % i, b"value:%012d" % i], now)
elif shape == "list":
    for i in range(n):
        apply([b"RPUSH", b"l%d" % (i // 1000), b"element:%012d" % i], now)
elif shape == "set":
    for i in range(n):
        apply([b"SADD", b"s%d" % (i // 1000), b"member:%012d" % i], now)
elif shape == "zset":
    for i in range(n):
        apply([b"ZADD", b"z%d" % (i // 1000), b"%d" % i, b"member:%012d" % i], now)
elif shape == "stream":
    for i in range(n):
        apply([b"XADD", b"x%d" % (i // 1000), b"*", b"f", b"value:%012d" % i], now)
gc.collect()
print(json.dumps({"rss": rss() - r0, "used": sm.used_memory - u0}))
"""

SHAPES = {"string-16-32": 1_000_000, "string-100": 1_000_000, "string-1000-ttl": 200_000,
          "string-read": 1_000_000, "hash-100": 1_000_000, "list": 1_000_000,
          "set": 1_000_000, "zset": 500_000, "stream": 300_000}


def measure(shape: str, n: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _PROBE, shape, str(n)], capture_output=True,
                         text=True, timeout=900, check=True)
    got = json.loads(out.stdout)
    return {"elements": n, "rss": got["rss"], "used": got["used"],
            "ratio": got["rss"] / got["used"] if got["used"] else float("nan")}


def main() -> int:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    print(f"{'shape':16} {'elements':>9} {'used_memory':>12} {'RSS growth':>12} {'RSS/used':>8}")
    for shape, n in SHAPES.items():
        m = measure(shape, max(1000, int(n * scale)))
        print(f"{shape:16} {m['elements']:>9} {m['used']:>12} {m['rss']:>12} {m['ratio']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
