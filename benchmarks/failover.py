"""Failover time: under a steady write load, kill -9 the leader of a 3-node cluster and
time how long until a write is acknowledged again.

The clock starts once the killed process has been reaped (so no ack can still come
from it) and stops at the first acknowledged SET after that, from any writer.
Writers follow MOVED redirects and move on to the next node when one refuses or
closes, as a cluster client would.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Callable

import hiredis

from benchmarks.resp_client import RespClient, RespError
from benchmarks.servers import RaftCluster, StartError, wait_for


class Writers:
    """A few threads issuing SETs back to back, each noting its first ack after a mark."""

    def __init__(self, ports: list[int], threads: int = 4, io_timeout: float = 3.0) -> None:
        self.ports = ports
        self.io_timeout = io_timeout
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acks = 0
        self.errors = 0
        self.mark: float | None = None  # the kill time; acks after it are looked for
        self.first_after: float | None = None
        self.threads = [threading.Thread(target=self._loop, args=(k,), daemon=True,
                                         name=f"failover-writer-{k}") for k in range(threads)]

    def start(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=self.io_timeout + 2)

    def set_mark(self, t: float) -> None:
        with self.lock:
            self.mark, self.first_after = t, None

    def _acked(self, when: float) -> None:
        with self.lock:
            self.acks += 1
            if self.mark is not None and when > self.mark and self.first_after is None:
                self.first_after = when

    def _loop(self, k: int) -> None:
        idx = k % len(self.ports)
        port = self.ports[idx]
        client: RespClient | None = None
        seq = 0
        while not self.stop.is_set():
            try:
                if client is None:
                    client = RespClient("127.0.0.1", port, timeout=self.io_timeout)
                seq += 1
                reply = client.call("SET", f"failover:{k}:{seq}", "x" * 32)
                if reply == b"OK":
                    self._acked(time.monotonic())
                    continue
                with self.lock:
                    self.errors += 1
                text = str(reply) if isinstance(reply, hiredis.ReplyError) else ""
                if text.startswith("MOVED"):
                    # "MOVED <slot> <host>:<port>": go straight to the named leader.
                    port = int(text.split()[2].rsplit(":", 1)[1])
                    client.close()
                    client = None
                else:  # no leader yet (CLUSTERDOWN, TRYAGAIN...): brief pause, then retry
                    self.stop.wait(0.005)
            except (OSError, RespError, ValueError, IndexError):
                with self.lock:
                    self.errors += 1
                if client is not None:
                    client.close()
                    client = None
                idx = (idx + 1) % len(self.ports)
                port = self.ports[idx]
                self.stop.wait(0.002)  # a refused connect must not spin the CPU
        if client is not None:
            with contextlib.suppress(OSError):
                client.close()


def _caught_up(cluster: RaftCluster, node: int) -> bool:
    lead = cluster.leader()
    if lead is None or lead == node:
        return False
    commit = int(cluster.info(lead)["raft_commit_index"])
    return int(cluster.info(node)["raft_applied_index"]) >= commit - 50


def measure(cluster: RaftCluster, runs: int, warm_seconds: float, timeout: float,
            log: Callable[[str], None]) -> dict:
    """Kill the leader `runs` times; the median time to the next acknowledged write."""
    times: list[float] = []
    errors: list[str] = []
    writers = Writers(list(cluster.ports.values())).start()
    try:
        for run in range(runs):
            try:
                lead = cluster.wait_writable(timeout)
                before = writers.acks
                # Steady load first: wait until writes are flowing, then a little longer.
                wait_for(lambda b=before: writers.acks > b + 20, timeout, "writes to flow")
                time.sleep(warm_seconds)  # a fixed stretch of load, not a synchronisation
                cluster.procs[lead].kill9()
                t_kill = time.monotonic()
                writers.set_mark(t_kill)
                wait_for(lambda: writers.first_after, timeout, "a write after the kill",
                         interval=0.001)
                assert writers.first_after is not None
                took = writers.first_after - t_kill
                times.append(took)
                new = cluster.leader()
                log(f"  failover run {run + 1}: node{lead} killed, first write after "
                    f"{took * 1000:.0f} ms (leader now node{new})")
                cluster.procs[lead].start()
                wait_for(lambda n=lead: _caught_up(cluster, n), timeout * 3,
                         f"node{lead} to catch up after restart", interval=0.05)
            except (StartError, OSError, RespError) as exc:
                errors.append(str(exc))
                log(f"  failover run {run + 1} FAILED: {exc}")
                for proc in cluster.procs.values():
                    if not proc.alive():
                        with contextlib.suppress(OSError):
                            proc.start()
    finally:
        writers.close()
    out: dict = {"runs_ms": [round(t * 1000, 1) for t in times], "errors": errors,
                 "writer_acks": writers.acks, "writer_errors": writers.errors}
    if times:
        out["median_ms"] = round(statistics.median(times) * 1000, 1)
        out["max_ms"] = round(max(times) * 1000, 1)
    return out
