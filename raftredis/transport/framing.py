"""Length-prefixed frames: a 4-byte big-endian length, then that many bytes.

Sans-I/O: `FrameDecoder.feed(data)` returns the complete frames so far. A length
over the limit (or zero, which no sender produces) raises `FrameError` as soon
as the 4 header bytes are in, before any buffer for the body is grown, so a
hostile length costs nothing.
"""

from __future__ import annotations

import struct

DEFAULT_MAX_FRAME = 64 << 20
HEADER = struct.Struct(">I")
_pack_len = HEADER.pack
_unpack_len = HEADER.unpack_from


class FrameError(ValueError):
    """The peer broke the framing rules; the connection must be closed."""


def frame(payload: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """One frame for `payload` (raises FrameError if it is empty or over the limit)."""
    n = len(payload)
    if n == 0 or n > max_frame:
        raise FrameError(f"frame payload of {n} bytes outside 1..{max_frame}")
    return _pack_len(n) + payload


def frame_header(n: int) -> bytes:
    """Just the length prefix, for writers that send header and payload separately."""
    return _pack_len(n)


class FrameDecoder:
    """Accumulates bytes and splits them into frames."""

    __slots__ = ("_buf", "_max", "_need")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < 1 or max_frame > 0xFFFFFFFF:
            raise ValueError("max_frame must be within 1 .. 2**32-1")
        self._buf = bytearray()
        self._max = max_frame
        self._need = 0  # body length of the frame being collected, 0 while reading a header

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        end = len(buf)
        need = self._need
        while True:
            if need == 0:
                if end - pos < 4:
                    break
                (need,) = _unpack_len(buf, pos)
                if need == 0 or need > self._max:
                    self._buf = bytearray()
                    raise FrameError(f"frame length {need} outside 1..{self._max}")
                pos += 4
            if end - pos < need:
                break
            out.append(bytes(buf[pos : pos + need]))
            pos += need
            need = 0
        self._need = need
        if pos:
            del buf[:pos]
        return out
