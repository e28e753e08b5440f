"""Backpressure that holds, on real sockets against a RespServer in this process: a
client that pipelines big GETs and never reads makes the server hold a bounded amount
(the normal class has no output limit, as in Redis, so flow control is the bound), and
with a client-output-buffer-limit it is cut off at the hard limit, or after its soft
seconds above the soft limit, the way Redis cuts it off."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time

import pytest
import uvloop

from raftredis.server.local_backend import LocalBackend
from raftredis.server.protocol import WRITE_CHUNK, RespProtocol
from raftredis.server.resp_server import RespServer

VALUE = 100_000
REPLY = b"$%d\r\n" % VALUE + b"v" * VALUE + b"\r\n"
GET_BIG = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"
# What the server may hold for one non-reading client of the normal class: the
# transport's high-water mark (64 KiB), a write chunk, and one reply.
HELD_BOUND = 64 * 1024 + WRITE_CHUNK + len(REPLY)


def run(coro) -> None:
    uvloop.run(asyncio.wait_for(coro, 120))


async def until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def command(port: int, *args: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a)
                                                        for a in args))
        return await asyncio.wait_for(reader.readuntil(b"\r\n"), 30)
    finally:
        writer.close()


async def start_server() -> RespServer:
    srv = RespServer(LocalBackend())
    await srv.start()
    assert await command(srv.port, b"SET", b"big", b"v" * VALUE) == b"+OK\r\n"
    return srv


class Sluggard:
    """Sends a pipeline and does not read: a raw socket with a small receive buffer, so
    the kernel holds little and the server's own buffering shows."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.task: asyncio.Task | None = None

    @classmethod
    async def start(cls, port: int, data: bytes = b"") -> Sluggard:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        self = cls(sock)
        if data:
            self.send(data)
        return self

    def send(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()

        async def send() -> None:
            with contextlib.suppress(OSError):
                await loop.sock_sendall(self.sock, data)

        self.task = loop.create_task(send())

    async def read_all(self, n: int) -> bytes:
        loop = asyncio.get_running_loop()
        got = bytearray()
        while len(got) < n:
            chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 20), 30)
            if not chunk:
                break
            got += chunk
        return bytes(got)

    async def closed_by_server(self) -> bool:
        """Drain what the kernel delivers; True once the server's close shows."""
        loop = asyncio.get_running_loop()
        try:
            while await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 20), 30):
                pass
        except ConnectionResetError:
            pass
        return True

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.sock.close()


def server_side(srv: RespServer, exclude: set[int]) -> RespProtocol:
    conns = [c for i, c in srv.state.clients.items() if i not in exclude]
    assert len(conns) == 1
    return conns[0]  # type: ignore[return-value]


def test_unlimited_client_that_never_reads_is_held_to_a_bound_then_served() -> None:
    async def main() -> None:
        srv = await start_server()
        try:
            n = 1000  # 100 MB of replies if the server buffered them all
            slug = await Sluggard.start(srv.port, GET_BIG * n)
            await until(lambda: len(srv.state.clients) == 1, 10, "the connection")
            conn = server_side(srv, set())
            await until(lambda: conn.flow.reading_paused and conn.flow.write_paused, 30,
                        "reading paused on a full output")
            held = max(conn.output_buffered(), 0)
            print(f"held for a non-reading client: {held} bytes (bound {HELD_BOUND})")
            assert held <= HELD_BOUND
            assert conn.pending_replies() <= 1024
            assert not conn.closed.done()  # no limit for the normal class: not cut off
            assert await command(srv.port, b"PING") == b"+PONG\r\n"  # others are served
            # Once it reads, every reply comes, in order.
            got = await slug.read_all(n * len(REPLY))
            assert got == REPLY * n
            await slug.close()
        finally:
            await srv.stop()

    run(main())


@pytest.mark.parametrize("limit", [b"normal 1mb 0 0", b"normal 1mb 256kb 60"])
def test_hard_limit_cuts_off_a_client_that_never_reads(limit: bytes, caplog) -> None:
    async def main() -> None:
        srv = await start_server()
        try:
            slug = await Sluggard.start(srv.port)  # connected before the CONFIG SET
            await until(lambda: len(srv.state.clients) == 1, 10, "the connection")
            conn = server_side(srv, set())
            assert await command(srv.port, b"CONFIG", b"SET", b"client-output-buffer-limit",
                                 limit) == b"+OK\r\n"
            slug.send(GET_BIG * 3000)
            await until(lambda: conn.closed.done(), 30, "the server to cut the client off")
            assert srv.state.stats.client_output_buffer_limit_disconnections == 1
            assert await slug.closed_by_server()
            await slug.close()
            assert await command(srv.port, b"PING") == b"+PONG\r\n"
        finally:
            await srv.stop()

    with caplog.at_level(logging.WARNING, logger="raftredis.server.protocol"):
        run(main())
    assert "scheduled to be closed ASAP for overcoming of output buffer limits." in caplog.text


def test_soft_limit_cuts_off_after_its_seconds() -> None:
    async def main() -> None:
        srv = await start_server()
        try:
            assert await command(srv.port, b"CONFIG", b"SET", b"client-output-buffer-limit",
                                 b"normal 0 256kb 1") == b"+OK\r\n"
            slug = await Sluggard.start(srv.port, GET_BIG * 3000)
            await until(lambda: len(srv.state.clients) == 1, 10, "the connection")
            conn = server_side(srv, set())
            await until(lambda: conn.obuf_soft_since > 0, 30, "output over the soft limit")
            over_since = conn.obuf_soft_since
            await until(lambda: conn.closed.done(), 30, "the soft limit's cut-off")
            above = time.monotonic() - over_since
            print(f"closed {above:.2f} s after going over the soft limit (limit 1 s)")
            assert above > 1.0  # Redis: more than soft_seconds continuously above
            await slug.close()
        finally:
            await srv.stop()

    run(main())


def test_a_client_that_keeps_up_is_not_cut_off_by_the_limit() -> None:
    # As in Redis the hard limit bounds what is buffered at any moment: a client whose
    # pipeline outruns its reading by more than the limit is cut off even if it reads.
    async def main() -> None:
        srv = await start_server()
        try:
            assert await command(srv.port, b"CONFIG", b"SET", b"client-output-buffer-limit",
                                 b"normal 4mb 1mb 10") == b"+OK\r\n"
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            for _ in range(25):  # 50 MB in all, 2 MB in flight at a time
                writer.write(GET_BIG * 20)
                got = await asyncio.wait_for(reader.readexactly(20 * len(REPLY)), 60)
                assert got == REPLY * 20
            writer.close()
            assert srv.state.stats.client_output_buffer_limit_disconnections == 0
        finally:
            await srv.stop()

    run(main())
