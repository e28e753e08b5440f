"""Mutual authentication of a peer connection with the cluster secret, and its keys.

Three frames and an answer (framing as in framing.py, each at most 4 KiB):

    dialer   -> acceptor  HELLO  [protocol, dialer_id, nonce_d, meta_d]
    acceptor -> dialer    CHALLENGE [body, mac_a]   body = [acceptor_id, nonce_a, meta_a]
    dialer   -> acceptor  PROOF  [mac_d]
    acceptor -> dialer    ["ok", confirm]  (or ["err", reason] and close)

    mac_a = HMAC-SHA256(secret, b"A" + HELLO + body)
    mac_d = HMAC-SHA256(secret, b"D" + HELLO + body)

Each MAC covers both fresh nonces, both ids and both meta dicts, so neither side
can be replayed, reflected (the role letter differs) or have its meta altered,
and the secret never crosses the wire. The dialer also checks that the acceptor
is the node id it meant to reach (an address may now belong to another node).

Both sides then derive the connection's two traffic keys (seal.derive_keys: HKDF-SHA256
over the secret, both nonces, the protocol, both ids and the transcript hash). `confirm`
is the acceptor's first sealed record (counter 0 of its direction, plaintext b"ok"):
the dialer learns the acceptor holds the same keys before it sends anything, and every
later frame either way is a sealed record (seal.py).

The whole exchange runs under a deadline, and on the acceptor each read under a shorter
one (`step_timeout`): a genuine dialer sends its HELLO and PROOF at once, so a silent or
slow connection holds its handshake slot for about a second at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from raftredis.transport.framing import HEADER, frame
from raftredis.transport.seal import AuthError, Opener, Sealer, derive_keys

# Version 2: every frame after the handshake is sealed (seal.py). A version-1 node is
# refused with a message that says so.
PROTOCOL = "raftredis-peer/2"
NONCE_LEN = 32
MAX_HANDSHAKE_FRAME = 4096
MAX_META_ITEMS = 16
MAX_META_KEY = 64
MAX_META_VALUE = 256
DEFAULT_HANDSHAKE_TIMEOUT = 5.0
DEFAULT_STEP_TIMEOUT = 1.0
CONFIRM = b"ok"
MAX_NODE_ID = (1 << 63) - 1


class HandshakeError(Exception):
    """The handshake failed; the message says why (safe to log)."""


@dataclass(slots=True)
class Session:
    """What a finished handshake gives one side: who the peer is, the sealer for what it
    sends (the acceptor's has already sealed the confirmation) and the key of what it
    receives, for `opener(max_message)`."""

    peer_id: int
    peer_meta: dict[str, str]
    sealer: Sealer = field(repr=False)
    recv_key: bytes = field(repr=False)
    recv_counter: int = 0  # records of the receiving direction the handshake already used

    def opener(self, max_message: int) -> Opener:
        op = Opener(self.recv_key, max_message)
        op.counter = self.recv_counter
        return op


def check_meta(meta: Any) -> dict[str, str]:
    """Validate a meta dict (str -> str, bounded); returns a plain copy."""
    if not isinstance(meta, dict):
        raise HandshakeError("meta must be a map")
    if len(meta) > MAX_META_ITEMS:
        raise HandshakeError(f"meta has more than {MAX_META_ITEMS} items")
    out: dict[str, str] = {}
    for k, v in meta.items():
        if type(k) is not str or type(v) is not str:
            raise HandshakeError("meta keys and values must be strings")
        if len(k) > MAX_META_KEY or len(v) > MAX_META_VALUE:
            raise HandshakeError("meta key or value too long")
        out[k] = v
    return out


def _mac(secret: bytes, role: bytes, hello: bytes, body: bytes) -> bytes:
    return hmac.new(secret, role + hello + body, hashlib.sha256).digest()


def _check_id(v: Any, what: str) -> int:
    if type(v) is not int or v < 1 or v > MAX_NODE_ID:
        raise HandshakeError(f"{what} is not a valid node id")
    return v


def _unpack(data: bytes, what: str) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:
        raise HandshakeError(f"{what} is not valid msgpack ({type(exc).__name__})") from None


async def _read_frame(reader: asyncio.StreamReader, what: str,
                      step_timeout: float | None = None) -> bytes:
    try:
        async with asyncio.timeout(step_timeout):
            head = await reader.readexactly(4)
            (n,) = HEADER.unpack(head)
            if n == 0 or n > MAX_HANDSHAKE_FRAME:
                raise HandshakeError(f"{what}: frame length {n} outside "
                                     f"1..{MAX_HANDSHAKE_FRAME}")
            return await reader.readexactly(n)
    except asyncio.IncompleteReadError:
        raise HandshakeError(f"connection closed during {what}") from None
    except TimeoutError:  # only the step deadline: the caller's own one cancels instead
        raise HandshakeError(f"{what} timed out") from None


def _write(writer: asyncio.StreamWriter, payload: bytes) -> None:
    writer.write(frame(payload, MAX_HANDSHAKE_FRAME))


def _keys(secret: bytes, hello: bytes, body: bytes, dialer_id: int, acceptor_id: int,
          dialer_nonce: bytes, acceptor_nonce: Any) -> tuple[bytes, bytes]:
    if type(acceptor_nonce) is not bytes or len(acceptor_nonce) != NONCE_LEN:
        raise HandshakeError("bad nonce")
    return derive_keys(secret, PROTOCOL, dialer_id, acceptor_id, dialer_nonce, acceptor_nonce,
                       hello, body)


async def dial_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    node_id: int,
    expected_peer: int,
    secret: bytes,
    meta: dict[str, str],
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
) -> Session:
    """Run the dialer's side. Returns the Session; raises HandshakeError."""
    async with asyncio.timeout(timeout):
        nonce = os.urandom(NONCE_LEN)
        hello = msgpack.packb([PROTOCOL, node_id, nonce, meta], use_bin_type=True)
        _write(writer, hello)
        await writer.drain()

        msg = _unpack(await _read_frame(reader, "challenge"), "challenge")
        if type(msg) is list and len(msg) == 2 and msg[0] == "err" and type(msg[1]) is str:
            raise HandshakeError(f"refused by peer: {msg[1][:200]}")
        if type(msg) is not list or len(msg) != 2 or type(msg[0]) is not bytes:
            raise HandshakeError("malformed challenge")
        body, mac_a = msg
        if type(mac_a) is not bytes or not hmac.compare_digest(
            mac_a, _mac(secret, b"A", hello, body)
        ):
            # Say so instead of just hanging up, so the acceptor can log the mismatch too.
            with contextlib.suppress(Exception):
                _write(writer, msgpack.packb(["err", "authentication failed"]))
                await writer.drain()
            raise HandshakeError("peer failed authentication (wrong cluster secret?)")
        fields = _unpack(body, "challenge body")
        if type(fields) is not list or len(fields) != 3:
            raise HandshakeError("malformed challenge body")
        peer_id = _check_id(fields[0], "peer id")
        if peer_id != expected_peer:
            raise HandshakeError(f"reached node {peer_id}, expected node {expected_peer}")
        peer_meta = check_meta(fields[2])
        send_key, recv_key = _keys(secret, hello, body, node_id, peer_id, nonce, fields[1])

        proof = msgpack.packb([_mac(secret, b"D", hello, body)], use_bin_type=True)
        _write(writer, proof)
        await writer.drain()

        answer = _unpack(await _read_frame(reader, "answer"), "answer")
        if type(answer) is list and len(answer) == 2 and answer[0] == "ok":
            confirm = answer[1]
            try:
                if type(confirm) is not bytes or Opener(recv_key, 1).open(confirm) != CONFIRM:
                    raise AuthError("wrong confirmation")
            except AuthError:
                raise HandshakeError("peer did not confirm the session keys") from None
            return Session(peer_id, peer_meta, Sealer(send_key), recv_key, recv_counter=1)
        if type(answer) is list and len(answer) == 2 and answer[0] == "err":
            raise HandshakeError(f"refused by peer: {str(answer[1])[:200]}")
        raise HandshakeError("malformed answer")


async def accept_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    node_id: int,
    secret: bytes,
    meta: dict[str, str],
    is_known: Callable[[int], bool],
    timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    step_timeout: float | None = None,
    on_hello: Callable[[int], None] | None = None,
    may_admit: Callable[[int, dict[str, str]], bool] | None = None,
) -> Session:
    """Run the acceptor's side (`may_admit(id, meta)`: whether an id `is_known` does not
    know may go on to prove the secret; nothing is decided on it before the proof). Returns the Session (its sealer has used counter 0 for the
    confirmation); raises HandshakeError after telling the dialer why (the reason is also
    meant for the local log). Each read must finish within `step_timeout`, if given;
    `on_hello(peer_id)` is told when a well-formed HELLO from a known id is in."""

    def refuse(reason: str) -> HandshakeError:
        # The socket may already be gone; the refusal stands anyway.
        with contextlib.suppress(Exception):
            _write(writer, msgpack.packb(["err", reason]))
        return HandshakeError(reason)

    async with asyncio.timeout(timeout):
        hello = await _read_frame(reader, "hello", step_timeout)
        msg = _unpack(hello, "hello")
        if type(msg) is not list or len(msg) != 4 or msg[0] != PROTOCOL:
            raise refuse(f"not a {PROTOCOL} hello (another protocol or version)")
        peer_id = _check_id(msg[1], "peer id")
        if type(msg[2]) is not bytes or len(msg[2]) != NONCE_LEN:
            raise refuse("bad nonce")
        peer_meta = check_meta(msg[3])
        if peer_id == node_id or not (is_known(peer_id) or (
                may_admit is not None and may_admit(peer_id, peer_meta))):
            raise refuse(f"unknown node id {peer_id}")
        if on_hello is not None:
            on_hello(peer_id)

        nonce = os.urandom(NONCE_LEN)
        body = msgpack.packb([node_id, nonce, meta], use_bin_type=True)
        _write(writer, msgpack.packb([body, _mac(secret, b"A", hello, body)], use_bin_type=True))
        await writer.drain()

        proof = _unpack(await _read_frame(reader, "proof", step_timeout), "proof")
        if type(proof) is list and len(proof) == 2 and proof[0] == "err":
            raise HandshakeError(f"node {peer_id} could not authenticate us (wrong cluster "
                                 f"secret?): {str(proof[1])[:200]}")
        if (
            type(proof) is not list
            or len(proof) != 1
            or type(proof[0]) is not bytes
            or not hmac.compare_digest(proof[0], _mac(secret, b"D", hello, body))
        ):
            raise refuse(f"node {peer_id} failed authentication (wrong cluster secret?)")
        recv_key, send_key = _keys(secret, hello, body, peer_id, node_id, msg[2], nonce)
        sealer = Sealer(send_key)
        _write(writer, msgpack.packb(["ok", sealer.seal_body(CONFIRM)], use_bin_type=True))
        await writer.drain()
        return Session(peer_id, peer_meta, sealer, recv_key)
