"""Sans-I/O request parser: bytes in, commands (lists of bytes) out.

Multibulk requests (`*N` then N `$len` bulks) are framed by our own scanner, which
checks Redis's limits on every header as soon as the header line is complete, before
any body is buffered; hiredis.Reader then builds the argument objects for the
complete commands. hiredis enforces no limits, which is why the scanner exists.

Fast path: when the buffer starts at a fresh multibulk request from an authenticated
client, the buffer goes to hiredis in one feed and each command it returns is checked
afterwards (every argument a bulk string within proto-max-bulk-len, and the canonical
encoded size landing on the request's final CRLF). Anything unusual (an inline
request, a partial tail, a check that fails) hands the rest back to the scanner, which
gives the exact error; the scanner alone was a third of the server's CPU time under
pipelined load.

hiredis allocates an aggregate's whole list when it reads the header (`*2147483647`
is a 16 GB calloc; freeing it reads every slot, a 4 s stall), so the fast path feeds
hiredis only guard.safe_prefix() of the buffer: no header there can claim more slots
than there are bytes. Whatever lies beyond goes to the scanner, which allocates
nothing for a count: bulks are framed as they arrive, so `*1000000` followed by a
trickle of arguments holds only the bytes received.

Inline requests (a line of text, as typed in telnet) are split like Redis's
sdssplitargs. Error texts are Redis 7's (networking.c), word for word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import hiredis

from raftredis.resp.guard import TINY, TO_MARKS, safe_prefix, walk

INT_MAX = 2**31 - 1
LLONG_MAX = 2**63 - 1
# Redis: PROTO_INLINE_MAX_SIZE; also bounds every header line (`*N`, `$N`).
INLINE_MAX = 64 * 1024
# Before authentication (networking.c): at most 10 arguments of at most 16 KB each.
UNAUTH_MAX_ARGS = 10
UNAUTH_MAX_BULK = 16 * 1024
# Redis reads a client's socket 16 KB at a time (PROTO_IOBUF_LEN) and refuses an
# inline line only while more than 64 KB of it lack a newline; a longer line whose
# newline came in the same read is served. We accept a complete line up to this size.
INLINE_READ_SLACK = 16 * 1024
# Compact the buffer once this much consumed data sits in front of it.
_COMPACT_AT = 64 * 1024


@dataclass(slots=True)
class Limits:
    """Redis's protocol limits; the server keeps them in sync with CONFIG SET."""

    proto_max_bulk_len: int = 512 * 1024 * 1024
    client_query_buffer_limit: int = 1024 * 1024 * 1024
    unauth_query_buffer_limit: int = 1024 * 1024
    inline_max: int = INLINE_MAX


class ProtocolError(Exception):
    """The client broke the protocol. `message` is Redis's text ("Protocol error: ...");
    the server replies `-ERR <message>` and closes the connection."""

    def __init__(self, message: str, reply: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.send_reply = reply  # False: close without a reply (query buffer overflow)


class QueryBufferExceeded(ProtocolError):
    """Redis closes such a client without replying (it logs it instead)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"query buffer of {size} bytes exceeds the limit of {limit}", False)


def _parse_ll(s: bytes) -> int | None:
    """Redis's string2ll: an optional '-', digits, no leading zeros, no spaces or '+'."""
    if len(s) > 20:  # string2ll refuses 21+ characters; int() of thousands is slow
        return None
    if s.isdigit():
        if s[0] == 48 and len(s) > 1:
            return None
        v = int(s)
    elif len(s) > 1 and s[0] == 45 and s[1:].isdigit() and s[1] != 48:
        v = int(s)
    else:
        return None
    if v > LLONG_MAX or v < -LLONG_MAX - 1:
        return None
    return v


_SPACE = frozenset(b" \n\r\t\v\f")
_TOKEN_END = frozenset(b" \n\r\t\0")
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}
_HEX = frozenset(b"0123456789abcdefABCDEF")


def split_args(line: bytes) -> list[bytes] | None:
    """Split an inline request like Redis's sdssplitargs; None on unbalanced quotes."""
    out: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return out
        cur = bytearray()
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    return None
                c = line[i]
                if (
                    c == 92
                    and i + 3 < n
                    and line[i + 1] == ord("x")
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    cur.append(_ESCAPES.get(line[i], line[i]))
                elif c == 34:
                    # A closing quote must be followed by a space or the end.
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if i >= n:
                    return None
                c = line[i]
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    cur.append(39)
                elif c == 39:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in _TOKEN_END:
                    i += 1
                    break
                if c == 34:
                    inq = True
                elif c == 39:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        out.append(bytes(cur))


# Encoded sizes, precomputed for the fast path's check: `*N\r\n` and `$L\r\n...\r\n`.
# Every entry is below the smallest proto-max-bulk-len (1 MB), so a hit needs no check.
_HEADER_SIZE = [3 + len(str(i)) for i in range(1024)]
_ARG_SIZE = [la + 5 + len(str(la)) for la in range(4096)]


def _canonical_size(cmd: list, max_bulk: int) -> int:
    """Size of cmd encoded as Redis clients do, or -1 if an argument is not a bulk
    string within max_bulk."""
    size = 3 + len(str(len(cmd)))
    for a in cmd:
        if type(a) is not bytes or len(a) > max_bulk:
            return -1
        size += len(a) + 5 + len(str(len(a)))
    return size


class RequestParser:
    """Incremental request parser for one connection.

    feed(data) appends bytes (raising QueryBufferExceeded past the query buffer
    limit); get_command() returns the next complete command or None; get_commands()
    returns every complete command. A protocol error is raised after the commands
    that preceded it have been returned, and the parser then stays failed.
    `auth_required` turns on the tighter limits Redis applies before AUTH.
    """

    __slots__ = (
        "limits",
        "auth_required",
        "_buf",
        "_start",
        "_pos",
        "_argc",
        "_bulk",
        "_seen",
        "_avg",
        "_reader",
        "_fast",
        "_error",
    )

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits if limits is not None else Limits()
        self.auth_required = False
        # Received bytes. A read that arrives while nothing is buffered is kept as the
        # bytes object it came in (no copy); it becomes a bytearray once more is added.
        # (hiredis's type stub says feed() takes str | bytes; it takes any buffer, hence
        # the type: ignore on each feed of this buffer.)
        self._buf: bytes | bytearray = b""
        self._start = 0  # first byte of the command being framed
        self._pos = 0  # scan position inside that command
        self._argc = 0  # bulks still expected in the current multibulk (0 = none open)
        self._bulk = -1  # length of the bulk whose body is awaited, -1 = header next
        # The line being framed (at _start or _pos) has no terminator before _seen:
        # a line that arrives a byte at a time is searched once, not once per byte.
        self._seen = 0
        self._avg = 0  # bytes per command in the last fast run (picks the guard's check)
        self._reader = hiredis.Reader()
        self._fast = hiredis.Reader()  # always empty between calls
        self._error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as commands (Redis's qbuf)."""
        return len(self._buf) - self._start

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            return  # the connection is closing; drop input
        buf = self._buf
        if not buf:
            buf = self._buf = bytes(data)
        elif type(buf) is bytes:
            buf = self._buf = bytearray(buf)
            buf += data
        else:
            buf += data
        size = len(buf) - self._start
        if size > self.limits.client_query_buffer_limit or (
                self.auth_required and size > self.limits.unauth_query_buffer_limit):
            limit = self.limits.client_query_buffer_limit
            if self.auth_required:
                limit = min(limit, self.limits.unauth_query_buffer_limit)
            self._error = QueryBufferExceeded(size, limit)
            self._buf = b""
            self._start = self._pos = self._seen = 0
            raise self._error

    def get_command(self) -> list[bytes] | None:
        if self._error is not None:
            raise self._error
        while True:
            try:
                frame = self._frame_one()
            except ProtocolError as e:
                self._error = e
                raise
            if frame is None:
                self._compact()
                return None
            kind, end = frame
            if kind is None:  # an inline command (already split) or an empty request
                cmd = end
            else:
                self._reader.feed(self._buf, self._start, end - self._start)  # type: ignore[arg-type]
                cmd = self._reader.gets()
            self._start = self._pos = end if kind is not None else self._pos
            if cmd:
                return cmd

    def get_commands(self) -> list[list[bytes]]:
        """All complete commands; one hiredis feed for each run of multibulk requests."""
        if self._error is not None:
            raise self._error
        out: list[list[bytes]] = []
        buf = self._buf
        start = self._start
        if self._argc == 0 and not self.auth_required and start < len(buf) \
                and buf[start] == 42 and self._fast_run(out, buf, start):
            # The whole buffer was complete commands.
            self._buf = b""
            self._start = self._pos = self._seen = 0
            return out
        run_start = self._start
        run_count = 0
        reader = self._reader
        try:
            while True:
                frame = self._frame_one()
                if frame is None:
                    break
                kind, end = frame
                if kind is None:
                    if run_count:
                        self._drain_run(out, run_start, self._start, run_count)
                        run_count = 0
                    if end:
                        out.append(end)
                    self._start = self._pos
                    run_start = self._start
                else:
                    run_count += 1
                    self._start = self._pos = end
        except ProtocolError as e:
            self._error = e
            if run_count:
                self._drain_run(out, run_start, self._start, run_count)
            if not out:
                raise
            return out
        if run_count:
            reader.feed(self._buf, run_start, self._start - run_start)  # type: ignore[arg-type]
            gets = reader.gets
            for _ in range(run_count):
                cmd = gets()
                if cmd:
                    out.append(cmd)
        self._compact()
        return out

    def _fast_run(self, out: list[list[bytes]], buf: bytes | bytearray, start: int) -> bool:
        """Parse complete requests from `start` with one hiredis feed; advance
        self._start past those that passed the checks (see the module docstring).
        True when they covered the whole buffer."""
        total = len(buf)
        if total - start <= TINY:  # one or a few commands: one translate decides
            view = buf if start == 0 else buf[start:]
            n = total if view.translate(TO_MARKS).find(b"*00") < 0 else walk(buf, start, total)
        else:
            n = safe_prefix(buf, start, total, self._avg)
        if n == start:
            return False
        reader = self._fast
        reader.feed(buf, start, n - start)  # type: ignore[arg-type]
        max_bulk = self.limits.proto_max_bulk_len
        pos = start
        gets = reader.gets
        count = 0
        hdr = _HEADER_SIZE
        arg = _ARG_SIZE
        try:
            while pos < n:
                cmd = gets()
                if cmd is False or type(cmd) is not list or not cmd:
                    break
                # The canonical encoded size; lengths past the tables are rare.
                try:
                    size = hdr[len(cmd)]
                    for a in cmd:
                        if type(a) is not bytes:
                            size = -1
                            break
                        size += arg[len(a)]
                except IndexError:
                    size = _canonical_size(cmd, max_bulk)
                end = pos + size
                if size < 0 or end > n or buf[pos] != 42 or buf[end - 2] != 13 \
                        or buf[end - 1] != 10:
                    break
                out.append(cmd)
                count += 1
                pos = end
        except hiredis.ProtocolError:
            pass  # the scanner reports it with Redis's text
        if count:
            self._avg = (pos - start) // count
        if pos == total:
            return True  # hiredis consumed exactly what it was fed: nothing left in it
        if pos < n or reader.has_data():
            self._fast = hiredis.Reader()  # drop whatever hiredis still holds
        if pos != start:
            self._start = self._pos = self._seen = pos
        return False

    def _drain_run(self, out: list[list[bytes]], start: int, end: int, count: int) -> None:
        self._reader.feed(self._buf, start, end - start)  # type: ignore[arg-type]
        for _ in range(count):
            cmd = self._reader.gets()
            if cmd:
                out.append(cmd)

    def _compact(self) -> None:
        start = self._start
        if start == len(self._buf):
            self._buf = b""
            self._start = self._pos = self._seen = 0
        elif start > _COMPACT_AT:
            buf = self._buf
            if isinstance(buf, bytes):
                self._buf = bytearray(memoryview(buf)[start:])
            else:
                del buf[:start]
            self._pos -= start
            self._seen = max(0, self._seen - start)
            self._start = 0

    def _line_end(self, char: bytes, at: int, n: int) -> int:
        """Offset of the first `char` at or after `at`, or -1; remembers how far it
        looked so the next call for the same line starts there."""
        found = self._buf.find(char, max(at, self._seen))
        self._seen = n if found < 0 else found
        return found

    def _frame_one(self) -> tuple[str | None, Any] | None:
        """Advance over one request. Returns None (need more data), ("mb", end) for a
        complete multibulk request ending at `end`, or (None, args) for an inline or
        empty request (self._pos then points past it)."""
        buf = self._buf
        n = len(buf)
        if self._argc == 0:
            start = self._start
            if start >= n:
                return None
            if buf[start] != 42:  # not '*': inline
                return self._inline()
            nl = self._line_end(b"\r", start, n)
            if nl < 0 or nl + 1 >= n:
                if n - start > self.limits.inline_max:
                    raise ProtocolError("Protocol error: too big mbulk count string")
                return None
            ll = _parse_ll(bytes(buf[start + 1 : nl]))
            if ll is None or ll > INT_MAX:
                raise ProtocolError("Protocol error: invalid multibulk length")
            if ll > UNAUTH_MAX_ARGS and self.auth_required:
                raise ProtocolError("Protocol error: unauthenticated multibulk length")
            self._seen = nl + 2
            if ll <= 0:  # an empty request: skipped, as Redis does
                self._pos = nl + 2
                return (None, [])
            # Nothing is allocated for the count: bulks are framed as they arrive.
            self._argc = ll
            self._bulk = -1
            self._pos = nl + 2
        pos = self._pos
        max_bulk = self.limits.proto_max_bulk_len
        if self.auth_required:
            max_bulk = min(max_bulk, UNAUTH_MAX_BULK)
        while self._argc:
            if self._bulk < 0:
                nl = self._line_end(b"\r", pos, n)
                if nl < 0 or nl + 1 >= n:
                    if n - pos > self.limits.inline_max:
                        raise ProtocolError("Protocol error: too big bulk count string")
                    self._pos = pos
                    return None
                if buf[pos] != 36:  # '$'
                    got = chr(buf[pos]).replace("\r", " ").replace("\n", " ")
                    raise ProtocolError(f"Protocol error: expected '$', got '{got}'")
                ll = _parse_ll(bytes(buf[pos + 1 : nl]))
                if ll is None or ll < 0 or ll > self.limits.proto_max_bulk_len:
                    raise ProtocolError("Protocol error: invalid bulk length")
                if ll > max_bulk:
                    raise ProtocolError("Protocol error: unauthenticated bulk length")
                self._bulk = ll
                pos = nl + 2
            end = pos + self._bulk + 2
            if end > n:
                self._pos = pos
                self._seen = end  # the next line starts after the body
                return None
            pos = end
            self._seen = end
            self._bulk = -1
            self._argc -= 1
        self._pos = pos
        return ("mb", pos)

    def _inline(self) -> tuple[str | None, Any] | None:
        buf = self._buf
        start = self._start
        n = len(buf)
        nl = self._line_end(b"\n", start, n)
        if nl < 0:
            if n - start > self.limits.inline_max:
                raise ProtocolError("Protocol error: too big inline request")
            return None
        # Redis would have seen more than 64 KB of this line without its newline.
        if nl - start > self.limits.inline_max + INLINE_READ_SLACK:
            raise ProtocolError("Protocol error: too big inline request")
        end = nl - 1 if nl > start and buf[nl - 1] == 13 else nl
        args = split_args(bytes(buf[start:end]))
        if args is None:
            raise ProtocolError("Protocol error: unbalanced quotes in request")
        self._pos = nl + 1
        self._seen = nl + 1
        return (None, args)
