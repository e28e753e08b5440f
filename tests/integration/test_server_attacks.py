"""Hostile request headers against a real socket: a RespServer in this process (so a
stalled parser stalls the very loop the PING client runs on), attackers on their own
connections, and a PING on another connection that must answer promptly.

Before the parser's guard, `*2147483647\\r\\n` held the loop ~4.4 s (hiredis built and
freed a 2**31-slot list) and `*4294967295\\r\\n` raised a MemoryError out of
data_received, which dropped the connection without Redis's reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import uvloop

from raftredis.server.local_backend import LocalBackend
from raftredis.server.resp_server import RespServer

PING_BOUND_S = 1.0  # generous for a shared machine; the unguarded parser took 4.4 s

INVALID_MB = b"-ERR Protocol error: invalid multibulk length\r\n"
INVALID_BULK = b"-ERR Protocol error: invalid bulk length\r\n"
TOO_BIG_INLINE = b"-ERR Protocol error: too big inline request\r\n"
UNKNOWN_DOLLAR = b"-ERR unknown command '$2147483647', with args beginning with: \r\n"

# attack bytes -> (what Redis answers, whether Redis then closes); see
# tests/integration/test_resp_differential.py for the comparison with redis-server.
ATTACKS: dict[str, tuple[bytes, bytes, bool]] = {
    "*2147483647": (b"*2147483647\r\n", b"", False),  # in range: Redis waits for args
    "*4294967295": (b"*4294967295\r\n", INVALID_MB, True),
    "$2147483647": (b"$2147483647\r\n", UNKNOWN_DOLLAR, False),  # an inline command
    "*1 $2147483647": (b"*1\r\n$2147483647\r\n", INVALID_BULK, True),
    "*1 *2147483647": (b"*1\r\n*2147483647\r\n",
                       b"-ERR Protocol error: expected '$', got '*'\r\n", True),
    "inline 8 MB": (b"x" * (8 << 20), TOO_BIG_INLINE, True),
}


def run(coro) -> None:
    uvloop.run(asyncio.wait_for(coro, 120))


class Pinger:
    """A connection opened before the attack, so its PING measures only the stall."""

    @classmethod
    async def open(cls, port: int) -> Pinger:
        self = cls()
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        return self

    async def ping(self) -> None:
        self.writer.write(b"*1\r\n$4\r\nPING\r\n")
        assert await asyncio.wait_for(self.reader.readexactly(7), 30) == b"+PONG\r\n"

    def close(self) -> None:
        self.writer.close()


async def _ping_seconds(port: int) -> float:
    pinger = await Pinger.open(port)
    try:
        t0 = time.perf_counter()
        await pinger.ping()
        return time.perf_counter() - t0
    finally:
        pinger.close()


class Attacker:
    """A raw non-blocking socket on the test's loop: unlike asyncio streams, it still
    returns a reply that arrived just before the server's reset (as Redis, the server
    closes with the attacker's unread bytes pending, which makes the kernel send RST)."""

    def __init__(self, sock: socket.socket, sending: asyncio.Task) -> None:
        self.sock = sock
        self.sending = sending

    @classmethod
    async def start(cls, port: int, data: bytes) -> Attacker:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))

        async def send() -> None:
            with contextlib.suppress(OSError):  # closed by the server mid-send
                await loop.sock_sendall(sock, data)

        task = loop.create_task(send())
        await asyncio.sleep(0)  # let the first bytes go out
        return cls(sock, task)

    async def outcome(self, want: bytes, closes: bool) -> tuple[bytes, bool]:
        """`want`'s length of reply, then (if a close is expected) whether it came."""
        loop = asyncio.get_running_loop()
        got, closed = b"", False
        try:
            while len(got) < len(want):
                chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), 30)
                if not chunk:
                    closed = True
                    break
                got += chunk
            if closes and not closed:
                closed = await asyncio.wait_for(loop.sock_recv(self.sock, 1), 30) == b""
        except ConnectionResetError:
            closed = True
        return got, closed

    async def close(self) -> None:
        self.sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.sending
        self.sock.close()


def test_each_attack_gets_redis_reply_while_ping_answers_at_once() -> None:
    async def main() -> None:
        srv = RespServer(LocalBackend())
        await srv.start()
        worst: dict[str, float] = {}
        try:
            pinger = await Pinger.open(srv.port)
            await pinger.ping()
            for name, (data, want, closes) in ATTACKS.items():
                # From the attack's first byte to the other connection's PONG.
                t0 = time.perf_counter()
                attacker = await Attacker.start(srv.port, data)
                await pinger.ping()
                worst[name] = time.perf_counter() - t0
                assert await attacker.outcome(want, closes) == (want, closes), name
                await attacker.close()
            pinger.close()
            print("PING after each attack (s):", {k: round(v, 4) for k, v in worst.items()})
            assert max(worst.values()) < PING_BOUND_S, worst
        finally:
            await srv.stop()

    run(main())


def test_all_attacks_at_once_and_repeated() -> None:
    async def main() -> None:
        srv = RespServer(LocalBackend())
        await srv.start()
        try:
            slowest = 0.0
            pinger = await Pinger.open(srv.port)
            for _round in range(3):
                t0 = time.perf_counter()
                attackers = [(await Attacker.start(srv.port, data), want, closes)
                             for data, want, closes in ATTACKS.values()]
                await pinger.ping()
                slowest = max(slowest, time.perf_counter() - t0)
                for attacker, want, closes in attackers:
                    assert await attacker.outcome(want, closes) == (want, closes)
                # Connections waiting on a huge count hold (almost) nothing.
                assert all(c.query_buffered() < 1024 for c in srv.state.clients.values())
                for attacker, _, _ in attackers:
                    await attacker.close()
            pinger.close()
            print("slowest PING with every attack at once (s):", round(slowest, 4))
            assert slowest < PING_BOUND_S, slowest
        finally:
            await srv.stop()

    run(main())


def test_in_range_count_then_arguments_trickling_in() -> None:
    async def main() -> None:
        srv = RespServer(LocalBackend())
        await srv.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            n = 100_000
            writer.write(b"*%d\r\n$4\r\nMSET\r\n" % (n * 2 + 1))
            for i in range(0, n, 10_000):  # pairs arrive in batches, PING stays prompt
                writer.write(b"".join(b"$6\r\nk%05d\r\n$1\r\nv\r\n" % j
                                      for j in range(i, i + 10_000)))
                await writer.drain()
                assert await _ping_seconds(srv.port) < PING_BOUND_S
            assert await asyncio.wait_for(reader.readexactly(5), 30) == b"+OK\r\n"
            writer.write(b"*1\r\n$6\r\nDBSIZE\r\n")
            assert await asyncio.wait_for(reader.readexactly(9), 30) == b":100000\r\n"
            writer.close()
        finally:
            await srv.stop()

    run(main())
