"""RespServer in this process with a backend that answers through Futures: replies keep
request order whatever the completion order, stop() finishes in-flight replies, and
reading pauses while too many replies are pending."""

from __future__ import annotations

import asyncio

import uvloop

from raftredis.commands.spec import CommandSpec
from raftredis.reply import OK
from raftredis.server.resp_server import RespServer


class SlowBackend:
    """GET k resolves after k milliseconds; everything else right away."""

    def __init__(self) -> None:
        self.calls = 0

    def execute(self, conn: object, spec: CommandSpec, args: list[bytes]) -> object:
        self.calls += 1
        if spec.name == "get":
            fut = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(int(args[1]) / 1000, fut.set_result, args[1])
            return fut
        return OK

    def execute_multi(self, conn: object, commands: list) -> object:
        return [OK for _ in commands]

    def cluster_command(self, conn: object, args: list[bytes]) -> object:
        return OK

    def info_sections(self) -> dict:
        return {}

    def dbsize(self) -> int:
        return 0


async def _read_exactly(reader: asyncio.StreamReader, n: int, timeout: float = 10) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), timeout)


def run(coro) -> None:
    uvloop.run(asyncio.wait_for(coro, 60))


def test_replies_in_request_order() -> None:
    async def main() -> None:
        srv = RespServer(SlowBackend())
        await srv.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            delays = [50, 5, 30, 0, 20]
            writer.write(b"".join(b"GET %d\r\n" % d for d in delays) + b"PING\r\n")
            want = b"".join(b"$%d\r\n%d\r\n" % (len(str(d)), d) for d in delays) + b"+PONG\r\n"
            assert await _read_exactly(reader, len(want)) == want
            writer.close()
        finally:
            await srv.stop()

    run(main())


def test_stop_finishes_in_flight_replies() -> None:
    async def main() -> None:
        srv = RespServer(SlowBackend())
        await srv.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET 200\r\n")
        await writer.drain()
        # Wait until the command is in flight, then stop.
        for _ in range(500):
            if srv.state.stats.total_commands_processed:
                break
            await asyncio.sleep(0.01)
        await srv.stop()
        assert await _read_exactly(reader, 9) == b"$3\r\n200\r\n"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # then closed
        writer.close()

    run(main())


def test_deep_pipeline_pauses_reading_and_completes() -> None:
    async def main() -> None:
        backend = SlowBackend()
        srv = RespServer(backend)
        await srv.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            n = 20_000
            writer.write(b"GET 1\r\n" * n)
            want = b"$1\r\n1\r\n" * n
            got = await _read_exactly(reader, len(want), timeout=30)
            assert got == want
            assert backend.calls == n
            conn = next(iter(srv.state.clients.values()))
            assert conn.flow.pauses >= 1  # 20,000 pending replies paused reading
            assert not conn.flow.reading_paused  # and it resumed once they drained
            writer.close()
        finally:
            await srv.stop()

    run(main())
