"""The HMAC challenge-response handshake and its session keys, over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import Awaitable
from typing import Any

import msgpack
import pytest

from raftredis.transport.framing import frame
from raftredis.transport.handshake import (
    PROTOCOL,
    HandshakeError,
    Session,
    accept_handshake,
    check_meta,
    dial_handshake,
)
from raftredis.transport.seal import AuthError

SECRET = b"correct horse battery staple"


async def _closed(reader: asyncio.StreamReader) -> bool:
    """True once the other side closed (EOF, or a reset when our bytes were unread)."""
    try:
        return await reader.read() == b""
    except ConnectionResetError:
        return True


def run(coro: Awaitable[Any], timeout: float = 20.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _accepting(
    known: set[int], secret: bytes = SECRET, node_id: int = 1, timeout: float = 5.0,
    meta: dict[str, str] | None = None, step_timeout: float | None = None,
) -> tuple[asyncio.Server, int, asyncio.Future[Any]]:
    """A server running accept_handshake once; the future holds the Session or the exception."""
    result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            got = await accept_handshake(reader, writer, node_id, secret,
                                         meta or {"client": "a:7000"}, known.__contains__,
                                         timeout, step_timeout=step_timeout)
            if not result.done():
                result.set_result(got)
        except Exception as exc:
            if not result.done():
                result.set_result(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], result


async def _dial(port: int, node_id: int, expect: int, secret: bytes = SECRET) -> Any:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await dial_handshake(reader, writer, node_id, expect, secret,
                                    {"client": f"n{node_id}:7000"}, 5.0)
    except Exception as exc:
        return exc
    finally:
        writer.close()


def test_right_secret_both_sides_learn_id_and_meta() -> None:
    async def main() -> None:
        server, port, result = await _accepting({2, 3})
        async with server:
            dialer = await _dial(port, 2, 1)
            assert isinstance(dialer, Session)
            assert (dialer.peer_id, dialer.peer_meta) == (1, {"client": "a:7000"})
            acceptor = await result
            assert (acceptor.peer_id, acceptor.peer_meta) == (2, {"client": "n2:7000"})
            # Each direction has its own key and both sides agree on it.
            assert dialer.recv_key != acceptor.recv_key
            to_acceptor = dialer.sealer.seal_messages([b"hello"])
            assert [bytes(m) for m in acceptor.opener(100).feed(to_acceptor)] == [b"hello"]
            # The acceptor's sealer already sealed the confirmation (record 0 its way).
            to_dialer = acceptor.sealer.seal_messages([b"back"])
            assert [bytes(m) for m in dialer.opener(100).feed(to_dialer)] == [b"back"]
            # No key opens the other direction: a reflected record fails.
            with pytest.raises(AuthError):
                dialer.opener(100).feed(dialer.sealer.seal_messages([b"mirror"]))
            assert "key" not in repr(dialer)  # keys stay out of log lines

    run(main())


def test_every_connection_gets_fresh_keys() -> None:
    async def main() -> None:
        keys = set()
        for _ in range(3):
            server, port, result = await _accepting({2})
            async with server:
                dialer = await _dial(port, 2, 1)
                acceptor = await result
                keys |= {dialer.recv_key, acceptor.recv_key}
        assert len(keys) == 6

    run(main())


def test_wrong_secret_is_refused_on_both_sides() -> None:
    async def main() -> None:
        server, port, result = await _accepting({2})
        async with server:
            got = await _dial(port, 2, 1, secret=b"wrong")
            # The dialer cannot verify the acceptor's MAC, so it gives up first and says so.
            assert isinstance(got, HandshakeError) and "authentication" in str(got)
            exc = await result
            assert isinstance(exc, HandshakeError) and "wrong cluster secret" in str(exc)

    run(main())


def test_acceptor_rejects_dialer_proof_made_with_another_secret() -> None:
    """A dialer that skips checking the acceptor and sends a proof with its own secret."""

    async def main() -> None:
        server, port, result = await _accepting({2})
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            hello = msgpack.packb([PROTOCOL, 2, b"n" * 32, {}], use_bin_type=True)
            writer.write(frame(hello))
            n = int.from_bytes(await reader.readexactly(4), "big")
            body, _mac = msgpack.unpackb(await reader.readexactly(n))
            forged = hmac.new(b"guess", b"D" + hello + body, hashlib.sha256).digest()
            writer.write(frame(msgpack.packb([forged], use_bin_type=True)))
            exc = await result
            assert isinstance(exc, HandshakeError) and "failed authentication" in str(exc)
            n = int.from_bytes(await reader.readexactly(4), "big")
            assert msgpack.unpackb(await reader.readexactly(n))[0] == "err"
            assert await _closed(reader)
            writer.close()

    run(main())


def test_unknown_node_id_is_refused_and_dialer_told_why() -> None:
    async def main() -> None:
        server, port, result = await _accepting({2, 3})
        async with server:
            got = await _dial(port, 9, 1)
            assert isinstance(got, HandshakeError) and "unknown node id 9" in str(got)
            exc = await result
            assert isinstance(exc, HandshakeError) and "unknown node id 9" in str(exc)

    run(main())


def test_own_id_is_refused() -> None:
    async def main() -> None:
        server, port, result = await _accepting({1, 2})
        async with server:
            got = await _dial(port, 1, 1)
            assert isinstance(got, HandshakeError)
            assert isinstance(await result, HandshakeError)

    run(main())


def test_dialer_refuses_an_acceptor_with_another_id() -> None:
    async def main() -> None:
        server, port, _result = await _accepting({2}, node_id=3)
        async with server:
            got = await _dial(port, 2, 1)  # we expect node 1 but node 3 answers
            assert isinstance(got, HandshakeError) and "expected node 1" in str(got)

    run(main())


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x00\x00\x00\x05hello",
        b"\x00\x00\x10\x01" + b"x" * 100,  # over the 4 KiB handshake limit
        # A version-1 node (frames in clear after the handshake) is refused.
        frame(msgpack.packb(["raftredis-peer/1", 2, b"n" * 32, {}])),
        frame(msgpack.packb([PROTOCOL, 2, b"short", {}])),  # bad nonce
        frame(msgpack.packb([PROTOCOL, 2, b"n" * 32, {"k": 1}])),  # bad meta
        frame(msgpack.packb([PROTOCOL, "2", b"n" * 32, {}])),  # id as str
        frame(b"\xc1\xc1"),
    ],
)
def test_nonsense_bytes_fail_the_handshake(garbage: bytes) -> None:
    async def main() -> None:
        server, port, result = await _accepting({2})
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(garbage)
            exc = await result
            assert isinstance(exc, HandshakeError)
            await reader.read()  # the acceptor closes (possibly after a refusal frame)
            writer.close()

    run(main())


def test_slow_loris_hits_the_handshake_timeout() -> None:
    async def main() -> None:
        server, port, result = await _accepting({2}, timeout=0.3)
        async with server:
            loop = asyncio.get_running_loop()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = loop.time()
            hello = frame(msgpack.packb([PROTOCOL, 2, b"n" * 32, {}]))
            for b in hello[:10]:  # a byte now and then, never the whole hello
                writer.write(bytes([b]))
                await writer.drain()
                if result.done():
                    break
                await asyncio.sleep(0.05)
            exc = await result
            assert isinstance(exc, TimeoutError)
            assert loop.time() - started < 2.0
            assert await _closed(reader)
            writer.close()

    run(main())


def test_dialer_times_out_on_a_silent_acceptor() -> None:
    async def main() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # never answers
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            with pytest.raises(TimeoutError):
                await dial_handshake(reader, writer, 2, 1, SECRET, {}, 0.2)
            writer.close()

    run(main())


def test_secret_never_crosses_the_wire() -> None:
    """Record everything both sides send and check the secret is not in it."""

    async def main() -> None:
        seen = bytearray()
        server, port, result = await _accepting({2})

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", port)

            async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                while data := await r.read(4096):
                    seen.extend(data)
                    w.write(data)
                w.close()

            await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer),
                                 return_exceptions=True)

        proxy = await asyncio.start_server(relay, "127.0.0.1", 0)
        async with server, proxy:
            got = await _dial(proxy.sockets[0].getsockname()[1], 2, 1)
            assert got.peer_meta == {"client": "a:7000"}
            assert (await result).peer_id == 2
        assert len(seen) > 100 and SECRET not in seen

    run(main())


def test_meta_is_bounded() -> None:
    assert check_meta({"client": "h:1"}) == {"client": "h:1"}
    for bad in ({str(i): "" for i in range(17)}, {"k" * 65: ""}, {"k": "v" * 257},
                {"k": 1}, {1: "v"}, ["k"]):
        with pytest.raises(HandshakeError):
            check_meta(bad)


def test_a_silent_connection_fails_at_the_step_deadline_not_the_whole_one() -> None:
    async def main() -> None:
        server, port, result = await _accepting({2}, timeout=30.0, step_timeout=0.2)
        async with server:
            loop = asyncio.get_running_loop()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = loop.time()
            exc = await result
            assert isinstance(exc, HandshakeError) and "hello timed out" in str(exc)
            assert loop.time() - started < 5.0
            assert await _closed(reader)
            writer.close()

    run(main())


def test_a_dialer_silent_after_hello_fails_at_the_step_deadline() -> None:
    async def main() -> None:
        server, port, result = await _accepting({2}, timeout=30.0, step_timeout=0.2)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(frame(msgpack.packb([PROTOCOL, 2, b"n" * 32, {}], use_bin_type=True)))
            exc = await result  # the challenge came, the proof never does
            assert isinstance(exc, HandshakeError) and "proof timed out" in str(exc)
            writer.close()

    run(main())


def test_dialer_refuses_an_answer_that_does_not_confirm_the_keys() -> None:
    """A relay that lets the handshake through but forges the acceptor's "ok"."""

    async def main() -> None:
        server, port, _result = await _accepting({2})

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", port)
            n_back = 0

            async def fwd() -> None:
                while data := await reader.read(4096):
                    up_w.write(data)

            async def back() -> None:
                nonlocal n_back
                while True:
                    head = await up_r.readexactly(4)
                    body = await up_r.readexactly(int.from_bytes(head, "big"))
                    n_back += 1
                    if n_back == 2:  # the answer: same shape, a confirmation it made up
                        body = msgpack.packb(["ok", b"\0" * 18], use_bin_type=True)
                    writer.write(frame(body))

            await asyncio.gather(fwd(), back(), return_exceptions=True)
            writer.close()

        proxy = await asyncio.start_server(relay, "127.0.0.1", 0)
        async with server, proxy:
            got = await _dial(proxy.sockets[0].getsockname()[1], 2, 1)
            assert isinstance(got, HandshakeError) and "confirm" in str(got)

    run(main())


def test_on_hello_is_told_about_a_well_formed_hello_only() -> None:
    async def main() -> None:
        seen: list[int] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                await accept_handshake(reader, writer, 1, SECRET, {}, {2}.__contains__, 5.0,
                                       on_hello=seen.append)
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            assert isinstance(await _dial(port, 9, 1), HandshakeError)  # unknown id
            assert seen == []
            assert isinstance(await _dial(port, 2, 1), Session)
            assert seen == [2]

    run(main())
