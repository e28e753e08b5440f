"""A load generator for etcd's v3 HTTP/JSON gateway, shaped like redis-benchmark.

    python3 benchmarks/etcd_load.py --port 2379 --op put --clients 50 --requests 20000

Debian's etcd packages ship no load tool (etcd's own `benchmark` is not packaged,
and `etcdctl check perf` runs fixed, rate-limited loads), so this one drives
`POST /v3/kv/put` and `POST /v3/kv/range` (serializable false: a linearizable read)
over `--clients` keep-alive HTTP/1.1 connections, one request in flight on each
(etcd has no pipelining), keys `key:NNNNNNNNNNNN` drawn from `--keyspace` and
3-byte values, as redis-benchmark's `-r` and default `-d 3`. It prints one JSON
object: rps, avg/p50/p99/max latency in ms, requests. Any answer but 200 stops the
run with exit status 1, as redis-benchmark does on an error reply.

It is Python, so it costs more CPU per request than redis-benchmark; the harness
measures its CPU (as it does redis-benchmark's) and reports it next to etcd's own.
The gateway turns JSON into an internal gRPC call inside etcd, which etcd's CPU
counters include.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import random
import sys
import time

MAX_RESPONSE = 1 << 20  # an etcd answer to one small put or range is far below this


class HttpError(RuntimeError):
    """The server answered something other than a 200 with a Content-Length body."""


def request_bytes(port: int, op: str, key: bytes, value: bytes) -> bytes:
    """One HTTP/1.1 request for the gateway: a put of key=value, or a range of key."""
    body: dict[str, object] = {"key": base64.b64encode(key).decode()}
    if op == "put":
        body["value"] = base64.b64encode(value).decode()
    elif op == "range":
        body["serializable"] = False  # the default, said out loud: a linearizable read
    else:
        raise ValueError(f"unknown op {op!r}: put or range")
    data = json.dumps(body, separators=(",", ":")).encode()
    return (f"POST /v3/kv/{op} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
            ).encode() + data


def parse_response(buf: bytes | bytearray) -> tuple[int, bytes, int] | None:
    """(status, body, bytes used) of the first complete response in `buf`, or None
    while it is incomplete. Only Content-Length framing: the gateway's answers to
    single requests carry it."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buf) > MAX_RESPONSE:
            raise HttpError("response header too long")
        return None
    head = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise HttpError(f"not an HTTP status line: {head[0][:80]!r}")
    length = None
    for line in head[1:]:
        name, _, val = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(val.strip())
        elif name == "transfer-encoding" and val.strip().lower() != "identity":
            raise HttpError(f"unsupported transfer-encoding {val.strip()!r}")
    if length is None or not 0 <= length <= MAX_RESPONSE:
        raise HttpError(f"response without a usable Content-Length: {head[:3]!r}")
    end = head_end + 4 + length
    if len(buf) < end:
        return None
    return int(parts[1]), bytes(buf[head_end + 4:end]), end


def percentile(sorted_vals: list[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, nearest rank."""
    if not sorted_vals:
        raise ValueError("no values")
    k = min(len(sorted_vals) - 1, max(0, math.ceil(q * len(sorted_vals)) - 1))
    return sorted_vals[k]


def figures(latencies_s: list[float], elapsed_s: float) -> dict[str, float]:
    lat = sorted(x * 1000.0 for x in latencies_s)
    return {"rps": round(len(lat) / elapsed_s, 2) if elapsed_s > 0 else 0.0,
            "avg_ms": round(sum(lat) / len(lat), 3), "p50_ms": round(percentile(lat, 0.5), 3),
            "p99_ms": round(percentile(lat, 0.99), 3), "max_ms": round(lat[-1], 3),
            "requests": len(lat)}


class Budget:
    """The requests left to send, shared by every connection."""

    def __init__(self, n: int) -> None:
        self.left = n

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


class LoadConnection(asyncio.Protocol):
    """One keep-alive connection: send, wait for the answer, send the next."""

    def __init__(self, port: int, op: str, keyspace: int, budget: Budget,
                 latencies: list[float], done: asyncio.Future[None]) -> None:
        self.port, self.op, self.keyspace = port, op, keyspace
        self.budget, self.latencies, self.done = budget, latencies, done
        self.buf = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.BaseTransport | None = None
        self.rng = random.Random()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._send_next()

    def _send_next(self) -> None:
        if not self.budget.take():
            self._finish(None)
            return
        key = b"key:%012d" % self.rng.randrange(self.keyspace)
        self.sent_at = time.perf_counter()
        self.transport.write(request_bytes(self.port, self.op, key, b"xxx"))  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            got = parse_response(self.buf)
        except HttpError as exc:
            self._finish(exc)
            return
        if got is None:
            return
        status, body, used = got
        del self.buf[:used]
        if status != 200:
            self._finish(HttpError(f"etcd answered {status}: {body[:200]!r}"))
            return
        self.latencies.append(time.perf_counter() - self.sent_at)
        self._send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(HttpError(f"connection closed: {exc}") if not self.done.done() else None)

    def _finish(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.done.done():
            return
        if exc is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(exc)


async def run_load(port: int, op: str, clients: int, requests: int,
                   keyspace: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    budget = Budget(requests)
    latencies: list[float] = []
    dones: list[asyncio.Future[None]] = []
    started = time.perf_counter()
    for _ in range(clients):
        done: asyncio.Future[None] = loop.create_future()
        dones.append(done)
        await loop.create_connection(
            lambda d=done: LoadConnection(port, op, keyspace, budget, latencies, d),
            "127.0.0.1", port)
    await asyncio.gather(*dones)
    return figures(latencies, time.perf_counter() - started)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--op", choices=("put", "range"), required=True)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--requests", type=int, default=10_000)
    p.add_argument("--keyspace", type=int, default=100_000)
    a = p.parse_args(argv)
    if not 1 <= a.clients <= 10_000 or not a.clients <= a.requests <= 100_000_000:
        p.error("need 1 <= clients <= 10000 and clients <= requests <= 1e8")
    if not 1 <= a.keyspace <= 10**12:
        p.error("keyspace out of range")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop  # a runtime dependency of raftredis; plain asyncio works too
        uvloop.install()
    try:
        out = asyncio.run(run_load(a.port, a.op, a.clients, a.requests, a.keyspace))
    except (HttpError, OSError) as exc:
        print(f"etcd_load: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
