"""A 3-node cluster holding a big dataset survives the commands users of a cache run on
it: no change of term, no TRYAGAIN or CLUSTERDOWN, while each command holds the loop.

The default suite runs it with 100,000 keys (and a set and a sorted set as big);
`-m slow` runs issue 13's full size, 1,000,000 of each (BIG_LOAD_KEYS overrides).
Each case records the worst loop stall the nodes saw (INFO raft) and whether the
term moved; `-s` prints them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from tests.integration.harness import Cluster, wait_for

BATCH = 10_000


def _client(c: Cluster, i: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=c.nodes[i].port, socket_timeout=120)


def _load(r: redis.Redis, n: int) -> None:
    for lo in range(0, n, BATCH):
        hi = min(n, lo + BATCH)
        p = r.pipeline(transaction=False)
        p.mset({f"k:{i}": i for i in range(lo, hi)})
        p.sadd("bigset", *range(lo, hi))
        p.zadd("bigzset", {f"m:{i}": i for i in range(lo, hi)})
        p.execute()


def _cases(n: int) -> list[tuple[str, object]]:
    big = b"x" * (40 << 20)
    mset_args = {f"p:{i}": "v" for i in range(100_000)}
    return [
        ("KEYS *", lambda r: len(r.keys("*")) >= n),
        ("SCAN 0 COUNT n", lambda r: r.scan(0, count=n)[1] != []),
        ("SMEMBERS", lambda r: len(r.smembers("bigset")) == n),
        ("ZRANGE 0 -1", lambda r: len(r.zrange("bigzset", 0, -1)) == n),
        ("SET 40MB", lambda r: r.set("big", big)),
        ("GET 40MB", lambda r: r.get("big") == big),
        ("MSET 100k pipelined", lambda r: r.mset(mset_args)),
        ("SETRANGE 500MB", lambda r: r.setrange("range", 500_000_000, "x") == 500_000_001),
        ("DEL 500MB", lambda r: r.delete("range") == 1),
        ("DEBUG SLEEP 2", lambda r: r.execute_command("DEBUG", "SLEEP", "2")),
        ("DEL bigset", lambda r: r.delete("bigset") == 1),
        ("FLUSHALL", lambda r: r.flushall()),
    ]


def _run(tmp_path: Path, n: int) -> list[tuple[str, int, bool]]:
    c = Cluster(tmp_path, extra=["--enable-debug-command", "yes",
                                 "--snapshot-threshold", "1000000"]).start()
    try:
        lead = c.wait_leader()
        r = _client(c, lead)
        _load(r, n)
        wait_for(lambda: all(c.info(i)["raft_keepalive"] == "1" for i in c.nodes), 10,
                 "the keep-alive side channel")
        report = []
        for name, fn in _cases(n):
            before = c.terms()
            for i in c.nodes:
                _client(c, i).execute_command("LATENCY", "RESET")
            try:
                assert fn(r), name
            except redis.ResponseError as exc:  # TRYAGAIN / CLUSTERDOWN / anything
                raise AssertionError(f"{name}: {exc}\n{c.logs()[-4000:]}") from exc
            # Every node has applied it (the followers' stall is part of the case).
            commit = c.commit_index(lead)
            for i in c.nodes:
                c.wait_applied(i, commit, timeout=120)
            stall = max(_worst_stall(_client(c, i)) for i in c.nodes)
            moved = c.terms() != before or c.leader() != lead
            report.append((name, stall, moved))
            assert not moved, (name, report, c.logs()[-6000:])
        return report
    finally:
        c.stop()


def _worst_stall(r: redis.Redis) -> int:
    """The event loop's worst stall since LATENCY RESET (0: none over 100 ms)."""
    latest = r.execute_command("LATENCY", "LATEST")
    return max((int(row[3]) for row in latest if row[0] in (b"event-loop", "event-loop")),
               default=0)


def _print(report: list[tuple[str, int, bool]]) -> None:
    for name, stall, moved in report:
        print(f"{name:22s} worst loop stall {stall:6d} ms  term moved: {moved}")


def test_survives_big_commands(tmp_path: Path) -> None:
    _print(_run(tmp_path, 100_000))


@pytest.mark.slow
def test_survives_big_commands_at_a_million(tmp_path: Path) -> None:
    _print(_run(tmp_path, int(os.environ.get("BIG_LOAD_KEYS", "1000000"))))
