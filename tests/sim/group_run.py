"""Run seeds of the replica-group simulator from the command line.

    python3 -m tests.sim.group_run --seed 7 --nodes 3 -v    # replay one seed with a trace
    python3 -m tests.sim.group_run --seeds 10000            # many seeds, 3 and 5 nodes
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.sim.group_sim import SimFailure, run_group_seed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="deterministic simulator of the replica group")
    ap.add_argument("--seed", type=int, help="run this one seed")
    ap.add_argument("--nodes", type=int, default=0, help="cluster size (default: 3 and 5)")
    ap.add_argument("--seeds", type=int, default=100, help="how many seeds (from --start)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("-v", "--verbose", action="store_true", help="print the trace on failure")
    args = ap.parse_args(argv)
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    t0 = time.perf_counter()
    failures = 0
    for i, seed in enumerate(seeds):
        nodes = args.nodes or (3 if seed % 2 == 0 else 5)
        try:
            stats = run_group_seed(seed, nodes, trace=args.verbose)
        except SimFailure as exc:
            failures += 1
            print(f"FAIL {exc}", flush=True)
            continue
        if args.seed is not None:
            print(f"seed {seed} ({nodes} nodes) ok: {stats}")
        elif (i + 1) % 500 == 0:
            print(f"{i + 1} seeds, {failures} failures, {time.perf_counter() - t0:.1f}s",
                  flush=True)
    print(f"{len(seeds)} seeds, {failures} failures, {time.perf_counter() - t0:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
