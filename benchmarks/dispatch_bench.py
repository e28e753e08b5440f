"""Microbenchmark of one command through the client-port dispatcher (lookup, arity,
authentication, the ACL check, the handler) over a LocalBackend, in ns per command.

    PYTHONPATH=<tree> python3 benchmarks/dispatch_bench.py [--seconds 0.5] [--repeat 5]

Run it with PYTHONPATH set to two trees (e.g. the previous commit exported with
`git archive`) to compare before and after on the same machine in the same minute.
Each figure is the best of --repeat runs, timed in process CPU time (the machine is
shared; the best run is the least disturbed). The "limited user" rows exist only
where the tree has ACL users.
"""

from __future__ import annotations

import argparse
import time

import raftredis.server.handlers  # noqa: F401  (registers the local handlers)
from raftredis.server.client import ClientState
from raftredis.server.dispatch import Dispatcher
from raftredis.server.local_backend import LocalBackend
from raftredis.server.settings import ServerSettings
from raftredis.server.state import ServerState

WORKLOADS = {
    "GET (data, fast lane)": [b"GET", b"app:k"],
    "SET (data, fast lane)": [b"SET", b"app:k", b"v"],
    "PING (local handler)": [b"PING"],
}


def best_ns(fn, args: list[bytes], seconds: float, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        n = 0
        start = time.process_time_ns()
        deadline = start + int(seconds * 1e9)
        while True:
            for _ in range(1000):
                fn(args)
            n += 1000
            now = time.process_time_ns()
            if now >= deadline:
                break
        best = min(best, (now - start) / n)
    return best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=0.5)
    p.add_argument("--repeat", type=int, default=5)
    opts = p.parse_args()
    srv = ServerState(backend=LocalBackend(), settings=ServerSettings())
    d = Dispatcher(srv)
    clients = {"default user": ClientState(id=1, addr="127.0.0.1:1", laddr="127.0.0.1:2")}
    if hasattr(srv, "acl"):
        for c in clients.values():
            c.set_user(srv.acl.default)
        limited = srv.acl.setuser(b"bench", [b"on", b"nopass", b"+@all", b"~app:*"])
        c = ClientState(id=2, addr="127.0.0.1:3", laddr="127.0.0.1:2")
        c.set_user(limited)
        clients["limited user (~app:*)"] = c
    for who, client in clients.items():
        for name, args in WORKLOADS.items():
            ns = best_ns(lambda a, c=client: d.dispatch(c, list(a)), args, opts.seconds,
                         opts.repeat)
            print(f"{who:24} {name:24} {ns:8.0f} ns/command")


if __name__ == "__main__":
    main()
