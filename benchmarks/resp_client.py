"""A small blocking RESP client for the harness: one call, or a pipelined bulk load.

hiredis parses replies; error replies come back as RespError values (not raised)
from `call`, so a caller can tell MOVED from a timeout.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import hiredis


class RespError(Exception):
    """The connection failed or closed, or the server's reply was not what we expected."""


def encode(*args: bytes | str | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class RespClient:
    def __init__(self, host: str, port: int, timeout: float = 1.0) -> None:
        self.addr = (host, port)
        self.sock = socket.create_connection(self.addr, timeout=timeout)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def __enter__(self) -> RespClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _read_one(self) -> object:
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            data = self.sock.recv(1 << 16)
            if not data:
                raise RespError(f"{self.addr[0]}:{self.addr[1]} closed the connection")
            self.reader.feed(data)

    def call(self, *args: bytes | str | int) -> object:
        """One command; an error reply is returned as a hiredis.ReplyError value."""
        self.sock.sendall(encode(*args))
        return self._read_one()

    def pipeline(self, commands: Iterable[bytes], window: int = 64) -> int:
        """Send pre-encoded commands keeping up to `window` unanswered; raise on the
        first error reply. Returns how many commands were answered."""
        in_flight = answered = 0
        for cmd in commands:
            self.sock.sendall(cmd)
            in_flight += 1
            if in_flight >= window:
                self._expect_ok(self._read_one())
                in_flight -= 1
                answered += 1
        while in_flight:
            self._expect_ok(self._read_one())
            in_flight -= 1
            answered += 1
        return answered

    @staticmethod
    def _expect_ok(reply: object) -> None:
        if isinstance(reply, hiredis.ReplyError):
            raise RespError(f"server answered an error: {reply}")
