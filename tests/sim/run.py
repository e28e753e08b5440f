"""Run simulator seeds from the command line.

    python3 -m tests.sim.run --seed 123 --nodes 5 -v     # replay one seed with a trace
    python3 -m tests.sim.run --seeds 10000               # 10,000 seeds, 3 and 5 nodes
    python3 -m tests.sim.run --disk --seeds 1000         # on DiskStorage, losing unsynced data
    python3 -m tests.sim.run --group --seed 7 -v          # the replica group simulator
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.sim import group_sim
from tests.sim.cluster import SimFailure, run_membership_seed, run_seed
from tests.sim.disk import run_disk_seed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="deterministic Raft simulator")
    ap.add_argument("--seed", type=int, help="run this one seed")
    ap.add_argument("--nodes", type=int, default=0, help="cluster size (default: 3 and 5 alternate)")
    ap.add_argument("--seeds", type=int, default=100, help="how many seeds (from --start)")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--membership", action="store_true",
                    help="core simulator: membership changes in the fault mix")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the event trace on failure")
    ap.add_argument("--disk", action="store_true",
                    help="each node on DiskStorage in a temp dir; crashes lose unsynced data")
    ap.add_argument("--zero-fill", type=float, default=0.0,
                    help="disk mode: chance a lost tail stays as zeros from a sector edge on "
                         "instead of being cut (off by default: see tests/sim/disk.py)")
    ap.add_argument("--group", action="store_true",
                    help="run the replica group (raftredis/replica) under tests/sim/group_sim.py")
    args = ap.parse_args(argv)

    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    t0 = time.perf_counter()
    failures = 0
    for i, seed in enumerate(seeds):
        nodes = args.nodes or (3 if seed % 2 == 0 else 5)
        try:
            if args.group:
                stats = group_sim.run_group_seed(seed, nodes, trace=args.verbose)
            elif args.disk:
                stats = run_disk_seed(seed, nodes, trace=args.verbose, zero_fill=args.zero_fill)
            else:
                run = run_membership_seed if args.membership else run_seed
                stats = run(seed, nodes, trace=args.verbose)
        except (SimFailure, group_sim.SimFailure) as e:
            failures += 1
            print(f"FAIL {e}", flush=True)
            continue
        if args.seed is not None:
            print(f"seed {seed} ({nodes} nodes) ok: {stats}")
        elif (i + 1) % 500 == 0:
            print(f"{i + 1} seeds, {failures} failures, {time.perf_counter() - t0:.1f}s", flush=True)
    dt = time.perf_counter() - t0
    print(f"{len(seeds)} seeds, {failures} failures, {dt:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
