"""One node of a PySyncObj key-value store behind a small RESP server, for the benchmark.

    python3 benchmarks/pysyncobj_server.py --port 7001 --raft 127.0.0.1:17001 \\
        --peers 127.0.0.1:17002,127.0.0.1:17003 --data-dir /tmp/pso1

It exists so that redis-benchmark can drive a PySyncObj cluster with the same
workloads (SET, GET, INCR, pipelined or not) as raftredis. Every command, reads
included, goes through PySyncObj's replicated log and is answered once the node has
applied it: PySyncObj has no read index or lease, so a read through the log is its
only linearizable read. Durability is PySyncObj's own: `journalFile` keeps every
log entry in an mmap'd file as soon as it is received, written by the OS page cache
and never fsynced (it survives kill -9, not a power cut); `fullDumpFile` holds the
snapshots of log compaction. One setting is not PySyncObj's default:
`appendEntriesUseBatch=False`, as with batching every command waits for the next
100 ms append period (at -c 50 that gave 464 SET/s against 760/s without, at -c 1
10/s against 585/s; only -P 16 did better batched, 3,466 against 1,108).

Commands: PING, SET key value, GET key, INCR key, INFO (says `raft_role:leader` on
the leader), CONFIG GET name (answers the name and an empty value, which is all
redis-benchmark asks of it).
A node that is not the leader forwards writes to it (PySyncObj does that itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections import deque
from typing import Any

import hiredis
from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated

MAX_BUFFER = 64 << 20  # a client that sends this much without reading is cut off


class KVStore(SyncObj):
    """The replicated state: a dict of bytes, changed and read only through the log."""

    def __init__(self, self_addr: str, peers: list[str], conf: SyncObjConf) -> None:
        super().__init__(self_addr, peers, conf)
        self._data: dict[bytes, bytes] = {}

    @replicated
    def put(self, key: bytes, value: bytes) -> bytes:
        self._data[key] = value
        return b"OK"

    @replicated
    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    @replicated
    def incr(self, key: bytes) -> int | str:
        try:
            n = int(self._data.get(key, b"0")) + 1
        except ValueError:
            return "ERR value is not an integer or out of range"
        self._data[key] = str(n).encode()
        return n


def encode_reply(value: object) -> bytes:
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, str):  # an error message
        return b"-" + value.encode() + b"\r\n"
    if isinstance(value, bytes):
        if value in (b"OK", b"PONG"):
            return b"+" + value + b"\r\n"
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(encode_reply(v) for v in value)
    raise TypeError(f"cannot encode {type(value).__name__}")


class RespConnection(asyncio.Protocol):
    """One client: commands parsed by hiredis, replies written in command order."""

    def __init__(self, store: KVStore, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self.reader = hiredis.Reader()
        self.pending: deque[asyncio.Future[bytes]] = deque()
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (cmd := self.reader.gets()) is not False:
                self._dispatch(cmd)
        except hiredis.ProtocolError:
            self.transport.write(b"-ERR Protocol error\r\n")
            self.transport.close()
        if self.reader.len() > MAX_BUFFER and self.transport is not None:
            self.transport.close()

    def _dispatch(self, cmd: Any) -> None:
        fut: asyncio.Future[bytes] = self.loop.create_future()
        self.pending.append(fut)
        fut.add_done_callback(self._flush)
        if not isinstance(cmd, list) or not cmd or not all(isinstance(a, bytes) for a in cmd):
            fut.set_result(b"-ERR expected an array of bulk strings\r\n")
            return
        name, args = cmd[0].upper(), cmd[1:]
        if name == b"PING":
            fut.set_result(b"+PONG\r\n")
        elif name == b"INFO":
            fut.set_result(encode_reply(self._info()))
        elif name == b"CONFIG" and len(args) == 2 and args[0].upper() == b"GET":
            fut.set_result(encode_reply([args[1], b""]))
        elif name == b"SET" and len(args) == 2:
            self.store.put(args[0], args[1], callback=self._on_applied(fut))
        elif name == b"GET" and len(args) == 1:
            self.store.get(args[0], callback=self._on_applied(fut))
        elif name == b"INCR" and len(args) == 1:
            self.store.incr(args[0], callback=self._on_applied(fut))
        else:
            fut.set_result(b"-ERR unknown command or wrong number of arguments\r\n")

    def _info(self) -> bytes:
        status = self.store.getStatus()
        lead = status["leader"] is not None and status["leader"] == status["self"]
        role = "leader" if lead and status["has_quorum"] else "follower"
        return f"# Raft\r\nraft_role:{role}\r\n".encode()

    def _on_applied(self, fut: asyncio.Future[bytes]):
        """A PySyncObj callback (run on its own thread) that completes `fut` on ours."""
        def done(result: object, error: int) -> None:
            reply = (encode_reply(result) if error == FAIL_REASON.SUCCESS
                     else f"-TRYAGAIN pysyncobj failed with reason {error}\r\n".encode())
            self.loop.call_soon_threadsafe(_resolve, fut, reply)
        return done

    def _flush(self, _: object = None) -> None:
        out = []
        while self.pending and self.pending[0].done():
            out.append(self.pending.popleft().result())
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _resolve(fut: asyncio.Future[bytes], reply: bytes) -> None:
    if not fut.done():
        fut.set_result(reply)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True, help="RESP port on 127.0.0.1")
    p.add_argument("--raft", required=True, help="this node's PySyncObj address host:port")
    p.add_argument("--peers", default="", help="the other nodes' addresses, comma-separated")
    p.add_argument("--data-dir", required=True, help="journal and dump files go here")
    return p.parse_args(argv)


async def serve(a: argparse.Namespace) -> None:
    os.makedirs(a.data_dir, exist_ok=True)
    conf = SyncObjConf(journalFile=os.path.join(a.data_dir, "journal"),
                       fullDumpFile=os.path.join(a.data_dir, "dump"),
                       appendEntriesUseBatch=False)
    peers = [p for p in a.peers.split(",") if p]
    store = KVStore(a.raft, peers, conf)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: RespConnection(store, loop), "127.0.0.1", a.port)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    try:
        await stop
    finally:
        server.close()
        store.destroy()


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    with contextlib.suppress(ImportError):
        import uvloop
        uvloop.install()
    asyncio.run(serve(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
