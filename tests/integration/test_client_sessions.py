"""raftredis.client against real clusters: exactly-once INCRs while the leader is killed
(kill -9) at seeded random moments and restarted; sessions survive a full restart; the
asyncio client with several commands in flight in one session."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time

import pytest

from raftredis.client import AsyncClient, Client, ClusterUnavailableError, UnknownOutcomeError
from tests.integration.harness import Cluster, wait_for

SEED = int(os.environ.get("RAFTREDIS_CHAOS_SEED", "20240909"))


@pytest.fixture
def cluster(tmp_path):
    # A low snapshot threshold so the session table also travels through snapshots.
    c = Cluster(tmp_path, extra=["--snapshot-threshold", "400"]).start()
    try:
        c.wait_leader(timeout=30)
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def seeds(c: Cluster) -> list[str]:
    return [f"127.0.0.1:{n.port}" for n in c.nodes.values()]


class Incrementer(threading.Thread):
    """INCRs its own counter; records what it was told: success (with the reply), in
    doubt, or not applied."""

    def __init__(self, idx: int, c: Cluster, stop: threading.Event, target: int) -> None:
        super().__init__(daemon=True)
        self.key = f"ctr:{idx}"
        self.client = Client(seeds(c), deadline=20, socket_timeout=3)
        self.stop = stop
        self.target = target
        self.replies: list[int] = []
        self.doubt = 0
        self.not_applied = 0
        self.failure: BaseException | None = None
        self.stats: dict[str, int] = {}

    def run(self) -> None:
        try:
            while len(self.replies) < self.target or not self.stop.is_set():
                if len(self.replies) >= 50 * self.target:
                    break  # the chaos thread is stuck; the test's own checks report it
                try:
                    self.replies.append(self.client.incr(self.key))
                except UnknownOutcomeError:
                    self.doubt += 1
                except ClusterUnavailableError:
                    self.not_applied += 1
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure = exc
        finally:
            self.stats = dict(self.client.stats)
            self.client.close()


def run_chaos(c: Cluster, kills: int, rng: random.Random, workers: list[Incrementer]) -> list:
    """Kill -9 the leader at random moments, wait for a new one, restart the old one."""
    events = []
    for _ in range(kills):
        progress = sum(len(w.replies) for w in workers)
        # Let the clients make some progress between kills (at a random amount of it).
        want = progress + rng.randrange(100, 600)
        wait_for(lambda w=want: sum(len(x.replies) for x in workers) >= w
                 or any(x.failure for x in workers), 60, "progress between kills")
        time.sleep(rng.random() * 0.2)  # a random moment within the stream of INCRs
        leader = c.wait_leader(timeout=30)
        c.kill(leader)
        new = c.wait_leader(timeout=30, exclude=leader)
        c.start_node(leader)
        events.append((leader, new))
    return events


def check_counters(c: Cluster, workers: list[Incrementer]) -> dict:
    for w in workers:
        assert w.failure is None, repr(w.failure)
    reader = Client(seeds(c), deadline=30)
    summary = {}
    try:
        for w in workers:
            value = int(reader.get(w.key) or 0)
            ok = len(w.replies)
            # Replies of successes only grow: a double application between two of them
            # would show up as a gap only if in doubt, never as a repeat or a step back.
            assert all(a < b for a, b in zip(w.replies, w.replies[1:], strict=False)), w.key
            assert ok <= value <= ok + w.doubt, (w.key, ok, w.doubt, value)
            if w.doubt == 0:
                assert w.replies == list(range(1, ok + 1)), w.key
            summary[w.key] = (ok, w.doubt, w.not_applied, value)
    finally:
        reader.close()
    return summary


def exactly_once_under_kills(c: Cluster, n_clients: int, target: int, kills: int) -> dict:
    rng = random.Random(SEED)
    stop = threading.Event()
    workers = [Incrementer(i, c, stop, target) for i in range(n_clients)]
    started = time.monotonic()
    for w in workers:
        w.start()
    try:
        events = run_chaos(c, kills, rng, workers)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=60)
    assert not any(w.is_alive() for w in workers), "a client thread did not finish"
    summary = check_counters(c, workers)
    total = sum(v[0] for v in summary.values())
    retried = sum(w.stats.get("in_doubt", 0) for w in workers)
    print(f"seed={SEED} kills={events} incrs={total} in {time.monotonic() - started:.1f}s "
          f"attempts in doubt, retried with their seq={retried} "
          f"per client (ok, doubt, not applied, value)={summary}")
    assert len(events) == kills
    # With every client always busy, a kill -9 of the leader leaves commands in flight:
    # the retries that sessions make safe did happen.
    assert retried > 0
    return summary


def test_exactly_once_incr_while_leader_is_killed(cluster):
    exactly_once_under_kills(cluster, n_clients=4, target=1000, kills=3)


@pytest.mark.slow
def test_exactly_once_incr_while_leader_is_killed_long(cluster):
    exactly_once_under_kills(cluster, n_clients=6, target=5000, kills=12)


def test_session_replies_survive_full_restart(cluster):
    client = Client(seeds(cluster), deadline=20)
    try:
        assert client.incr("n") == 1
        sid = client.session_id
        assert sid is not None
        other = Client(seeds(cluster), deadline=20)
        try:
            for _ in range(500):  # past the snapshot threshold: the table lands in a snapshot
                other.incr("m")
        finally:
            other.close()
        assert client.execute("SESSION.EXEC", sid, 1, "INCR", "n") == 1  # the saved reply
    finally:
        client.close()
    for i in cluster.nodes:
        cluster.kill(i)
    for i in cluster.nodes:
        cluster.start_node(i)
    cluster.wait_leader(timeout=30)
    # SESSION.CLOSE above removed the session: a fresh one, then a restart with it open.
    again = Client(seeds(cluster), deadline=20)
    try:
        assert int(again.get("n")) == 1 and int(again.get("m")) == 500
        assert again.incr("n") == 2
        sid = again.session_id
        for i in cluster.nodes:
            cluster.kill(i)
        for i in cluster.nodes:
            cluster.start_node(i)
        cluster.wait_leader(timeout=30)
        # The retry of seq 1 after the restart: its saved reply, not a third INCR.
        assert again.execute("SESSION.EXEC", sid, 1, "INCR", "n") == 2
        assert int(again.get("n")) == 2
    finally:
        again.close()


def test_async_client_pipelines_in_one_session_through_a_failover(cluster):
    async def worker(client: AsyncClient, key: str, n: int, out: dict) -> None:
        for _ in range(n):
            try:
                await client.incr(key)
                out["ok"] += 1
            except UnknownOutcomeError:
                out["doubt"] += 1

    async def main() -> tuple[int, int, int]:
        client = AsyncClient(seeds(cluster), deadline=20, socket_timeout=3)
        out = {"ok": 0, "doubt": 0}
        try:
            tasks = [asyncio.ensure_future(worker(client, "a", 150, out)) for _ in range(8)]
            deadline = time.monotonic() + 30
            while out["ok"] < 300 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)  # polling our own counter, not synchronising a server
            leader = cluster.wait_leader(timeout=30)
            await asyncio.to_thread(cluster.kill, leader)
            await asyncio.to_thread(cluster.wait_leader, 30, leader)
            await asyncio.wait_for(asyncio.gather(*tasks), 60)
            cluster.start_node(leader)
            value = int(await client.get("a"))
            return out["ok"], out["doubt"], value
        finally:
            await client.aclose()

    ok, doubt, value = asyncio.run(main())
    assert ok + doubt == 8 * 150
    assert ok <= value <= ok + doubt
