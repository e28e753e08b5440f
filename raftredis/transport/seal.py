"""Sealed records: every peer frame after the handshake is encrypted and authenticated.

Sans-I/O. After the handshake each side holds two 256-bit keys, one per direction,
derived by `derive_keys` (HKDF-SHA256) from the cluster secret, both nonces and a hash
of the whole handshake transcript. One direction of a connection is a stream of records:

    record    = length (4 bytes, big-endian) || AES-256-GCM(key, nonce, plaintext, aad=length)
    nonce     = 4 zero bytes || counter (8 bytes, big-endian), counter = 0, 1, 2, ...
    plaintext = one or more messages, each: length (4 bytes, big-endian) || encoded message

The counter is implicit: neither side sends it, each counts the records it sealed or
opened. A record that is flipped, forged, replayed, reordered, or arrives after a
dropped one therefore fails its tag, and the receiver must close the connection. The
length prefix is the associated data, so it is authenticated too; it is checked against
the limit before any buffer is grown for the body. Many small messages share one record
(one AEAD call per write batch, not per heartbeat).

Why AES-GCM rather than ChaCha20-Poly1305: both are in `cryptography`; with AES-NI
(every server CPU we target) AES-GCM is over twice as fast for big appends.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from raftredis.transport.framing import FrameError

KEY_LEN = 32
TAG_LEN = 16
HEADER = struct.Struct(">I")
_NONCE = struct.Struct(">4xQ")
_pack_len = HEADER.pack
_unpack_len = HEADER.unpack_from
MAX_COUNTER = (1 << 64) - 1


class AuthError(FrameError):
    """A record failed authentication (tampered, forged, replayed, reordered, or one was
    dropped before it): the connection must be closed."""


def transcript_hash(hello: bytes, body: bytes) -> bytes:
    """SHA-256 over the handshake messages, each length-prefixed so no two transcripts
    hash alike by moving bytes from one message to the other."""
    h = hashlib.sha256(b"raftredis-peer transcript\0")
    for part in (hello, body):
        h.update(_pack_len(len(part)))
        h.update(part)
    return h.digest()


def derive_keys(
    secret: bytes, protocol: str, dialer_id: int, acceptor_id: int,
    dialer_nonce: bytes, acceptor_nonce: bytes, hello: bytes, body: bytes,
) -> tuple[bytes, bytes]:
    """(dialer -> acceptor key, acceptor -> dialer key) for one connection.

    The nonces are the salt, so every connection has fresh keys and its counters may
    start at 0. The info binds the protocol version, both ids in their roles and the
    transcript hash (which covers both nonces and both meta maps too), so a relay that
    splices two handshakes, or swaps the roles, ends up with keys neither side has."""
    info = b"".join((
        protocol.encode(), b"\0traffic keys\0",
        dialer_id.to_bytes(8, "big"), acceptor_id.to_bytes(8, "big"),
        transcript_hash(hello, body),
    ))
    okm = HKDF(hashes.SHA256(), 2 * KEY_LEN, dialer_nonce + acceptor_nonce, info).derive(secret)
    return okm[:KEY_LEN], okm[KEY_LEN:]


class Sealer:
    """The sending half of one direction: seals records with counters 0, 1, 2, ..."""

    __slots__ = ("_aead", "counter")

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self.counter = 0

    def _next_nonce(self) -> bytes:
        n = self.counter
        if n >= MAX_COUNTER:  # never in practice; a fresh connection gets fresh keys
            raise FrameError("record counter exhausted: reconnect")
        self.counter = n + 1
        return _NONCE.pack(n)

    def seal_body(self, plaintext: bytes) -> bytes:
        """The record without its length prefix (the handshake carries it in a frame)."""
        return self._aead.encrypt(self._next_nonce(), plaintext,
                                  _pack_len(len(plaintext) + TAG_LEN))

    def seal(self, plaintext: bytes | bytearray) -> bytes:
        """One whole record, ready to write."""
        header = _pack_len(len(plaintext) + TAG_LEN)
        return header + self._aead.encrypt(self._next_nonce(), plaintext, header)

    def seal_messages(self, messages: list[bytes]) -> bytes:
        """One record holding `messages` (each already within the peer's limit)."""
        parts: list[bytes] = []
        for m in messages:
            parts.append(_pack_len(len(m)))
            parts.append(m)
        return self.seal(b"".join(parts))


class Opener:
    """The receiving half of one direction: bytes in, authenticated messages out.

    `feed(data)` returns the messages of every complete record so far, as memoryviews
    (decode them before the next feed). A length outside the limit is a FrameError as
    soon as its 4 bytes are in; a record that fails its tag is an AuthError. Either kills
    the opener and the connection must go: `feed` raises it, unless records before the
    bad one in the same data were good, in which case it returns their messages, sets
    `error`, and raises on the next call. Nothing of or after a bad record comes out."""

    __slots__ = ("_aead", "counter", "_buf", "_need", "_max_record", "_max_message", "error")

    def __init__(self, key: bytes, max_message: int) -> None:
        if max_message < 1:
            raise ValueError("max_message must be positive")
        self._aead = AESGCM(key)
        self.counter = 0
        self._buf = bytearray()
        self._need = 0  # body length of the record being collected, 0 while reading a header
        self.error: FrameError | None = None
        self._max_message = max_message
        # One message at the limit, with its inner length prefix, fits in one record.
        self._max_record = max_message + 4 + TAG_LEN

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def _fail(self, exc: FrameError) -> FrameError:
        self._buf = bytearray()
        self.error = exc
        return exc

    def open(self, body: bytes | bytearray | memoryview) -> bytes:
        """Authenticate and decrypt one record body (its length is the associated data)."""
        n = self.counter
        if self.error is not None:
            raise self.error
        if n >= MAX_COUNTER:
            raise self._fail(AuthError("record counter exhausted"))
        try:
            plain = self._aead.decrypt(_NONCE.pack(n), body, _pack_len(len(body)))
        except InvalidTag:
            raise self._fail(AuthError(
                f"record {n} failed authentication (tampered, replayed, reordered, "
                "dropped or forged)")) from None
        self.counter = n + 1
        return plain

    def _split(self, plain: bytes, out: list[memoryview]) -> None:
        mv = memoryview(plain)
        pos, end = 0, len(plain)
        if end == 0:
            raise self._fail(FrameError("empty record"))
        while pos < end:
            if end - pos < 4:
                raise self._fail(FrameError("truncated message header in a record"))
            (n,) = _unpack_len(plain, pos)
            pos += 4
            if n == 0 or n > self._max_message or n > end - pos:
                raise self._fail(FrameError(f"message length {n} in a record is invalid"))
            out.append(mv[pos : pos + n])
            pos += n

    def feed(self, data: bytes | bytearray | memoryview) -> list[memoryview]:
        if self.error is not None:
            raise self.error
        buf = self._buf
        buf += data
        out: list[memoryview] = []
        pos = 0
        end = len(buf)
        need = self._need
        try:
            with memoryview(buf) as view:
                while True:
                    if need == 0:
                        if end - pos < 4:
                            break
                        (need,) = _unpack_len(buf, pos)
                        if need <= TAG_LEN or need > self._max_record:
                            raise self._fail(FrameError(
                                f"record length {need} outside {TAG_LEN + 1}..{self._max_record}"))
                        pos += 4
                    if end - pos < need:
                        break
                    # A record is split only once it is authentic: all of it or nothing.
                    msgs: list[memoryview] = []
                    self._split(self.open(view[pos : pos + need]), msgs)
                    out += msgs
                    pos += need
                    need = 0
        except FrameError:
            if not out:
                raise
            return out  # the good ones; self.error is set and the next call raises it
        finally:
            self._need = need
        if pos:
            del buf[:pos]
        return out
