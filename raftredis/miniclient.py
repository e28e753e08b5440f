"""A tiny blocking RESP client on hiredis, for the CLI (`status`, readiness checks).

Applications should use redis-py or raftredis.client; this exists so the command
line needs no extra dependency.
"""

from __future__ import annotations

import socket

import hiredis


class MiniClientError(Exception):
    pass


def encode_command(*args: bytes | str | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def call(host: str, port: int, *args: bytes | str | int, timeout: float = 1.0,
         password: str | None = None) -> object:
    """Send one command (after AUTH if a password is given) and return the reply.
    Error replies come back as hiredis.ReplyError values, not raised."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        reader = hiredis.Reader()
        wanted = 1
        payload = encode_command(*args)
        if password:
            payload = encode_command("AUTH", password) + payload
            wanted = 2
        sock.sendall(payload)
        replies: list[object] = []
        while len(replies) < wanted:
            data = sock.recv(65536)
            if not data:
                raise MiniClientError(f"{host}:{port} closed the connection")
            reader.feed(data)
            while True:
                reply = reader.gets()
                if reply is False:
                    break
                replies.append(reply)
        return replies[-1]


def parse_info(text: bytes | str) -> dict[str, str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value
    return fields
