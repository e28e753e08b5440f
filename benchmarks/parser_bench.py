"""Microbenchmark of the request parser alone: pipelines of SET k v and GET k, fed the
way the server feeds it (one feed + get_commands per read), in commands per second.

    python3 benchmarks/parser_bench.py [--module path/to/parser.py] [--seconds 1.0]

--module times another copy of the parser (e.g. the previous commit's) so before and
after run on the same machine in the same minute. Each figure is the best of --repeat
runs, timed in process CPU time: the machine is shared, the best run is the least
disturbed one.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from types import ModuleType


def mb(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def workloads() -> dict[str, tuple[bytes, int]]:
    """name -> (one read's bytes, commands in it). Keys like redis-benchmark's."""
    out: dict[str, tuple[bytes, int]] = {}
    for depth in (1, 16, 256):
        sets = b"".join(mb(b"SET", b"key:%012d" % i, b"xxx") for i in range(depth))
        gets = b"".join(mb(b"GET", b"key:%012d" % i) for i in range(depth))
        out[f"SET -P {depth}"] = (sets, depth)
        out[f"GET -P {depth}"] = (gets, depth)
    big = b"".join(mb(b"SET", b"key:%012d" % i, b"v" * 1000) for i in range(64))
    out["SET 1KB -P 64"] = (big, 64)
    return out


def load(path: str | None) -> ModuleType:
    if path is None:
        import raftredis.resp.parser as mod

        return mod
    spec = importlib.util.spec_from_file_location("parser_under_test", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["parser_under_test"] = mod
    spec.loader.exec_module(mod)
    return mod


def rate(mod: ModuleType, data: bytes, count: int, seconds: float) -> float:
    p = mod.RequestParser()
    feed, get = p.feed, p.get_commands
    done = 0
    # CPU time of this process: on a shared machine, time spent descheduled is not ours.
    t0 = time.process_time()
    deadline = t0 + seconds
    while True:
        for _ in range(200):
            feed(data)
            if len(get()) != count:
                raise AssertionError("parser returned a wrong number of commands")
        done += 200 * count
        now = time.process_time()
        if now >= deadline:
            return done / (now - t0)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--module", action="append", help="parser.py to time (repeatable)")
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    paths: list[str | None] = args.module or [None]
    mods = [(p or "raftredis.resp.parser", load(p)) for p in paths]
    print(f"{'workload':<16}" + "".join(f"{name[-28:]:>30}" for name, _ in mods))
    for label, (data, count) in workloads().items():
        best = [0.0] * len(mods)
        for _ in range(args.repeat):  # interleaved, so noise hits every parser alike
            for i, (_, mod) in enumerate(mods):
                best[i] = max(best[i], rate(mod, data, count, args.seconds))
        print(f"{label:<16}" + "".join(f"{b / 1e6:>26.3f} M/s" for b in best))


if __name__ == "__main__":
    main()
