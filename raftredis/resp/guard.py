"""How much of a buffer hiredis may parse without allocating more than the buffer holds.

hiredis builds an aggregate's whole list as soon as it reads the header: `*2147483647`
(14 bytes) is a 16 GB calloc, and freeing it reads every slot, a 4 s stall; `>N` and
`|N` are worse. The parser's fast path therefore feeds hiredis only `safe_prefix()` of
a buffer, the part before the first aggregate header whose count could claim more
slots than there are bytes. Every byte that starts `*N\\r`, `~N\\r`, `>N\\r` or `|N\\r`
counts, bodies included: hiredis does not check a bulk's trailing CRLF, so any byte
can begin an item. (A map, `%N`, fills a dict as items arrive: harmless.)

A one-digit count is free: at most 9 slots for 4 bytes, even nested. Larger counts
share a budget of one slot per byte of the buffer (a prefix is cut where the next
header would overdraw it). Finding the markers is most of the
cost of the parser's fast path, so there are three ways to look, by buffer shape:
a translate for tiny buffers (one command), a regex for pipelines of small commands,
and memchr (bytes.find) hops for big values. The first two only prove a buffer has
no header of two or more digits; when they cannot, the exact walk decides.
"""

from __future__ import annotations

import re

# Buffers up to this size are checked with one translate (cheapest for one command).
TINY = 256
# Above this many bytes per command (from the previous run), walk with bytes.find,
# which skips big bodies at memchr speed; below it a regex pass is cheaper.
BIG_COMMAND = 512
# Slack of the budget, so a lone command with a two-digit count always qualifies.
SLACK = 64

TO_MARKS = bytes.maketrans(b"0123456789~>|", b"0000000000***")
_STAR_2DIGITS = re.compile(rb"\*[0-9][0-9]").search
_RARE = ((b"~", re.compile(rb"~[0-9][0-9]").search),
         (b">", re.compile(rb">[0-9][0-9]").search),
         (b"|", re.compile(rb"\|[0-9][0-9]").search))
_MARKERS = (b"*", b"~", b">", b"|")


def safe_prefix(buf: bytes | bytearray, start: int, n: int, avg_command: int = 0) -> int:
    """End of the longest prefix of buf[start:n] that hiredis may parse: n in the
    common case, else the offset of the first header that would overdraw the budget.
    `avg_command` (bytes per command seen before) only picks the fastest check."""
    size = n - start
    if size <= TINY:
        view = buf if start == 0 and n == len(buf) else buf[start:n]
        if view.translate(TO_MARKS).find(b"*00") < 0:
            return n
    elif avg_command < BIG_COMMAND and _STAR_2DIGITS(buf, start, n) is None:
        find = buf.find
        for marker, has_digits in _RARE:
            if find(marker, start, n) >= 0 and has_digits(buf, start, n) is not None:
                break
        else:
            return n
    return walk(buf, start, n)


def walk(buf: bytes | bytearray, start: int, n: int) -> int:
    """The exact check: every marker, in order of type, against one shared budget."""
    budget = n - start + SLACK
    cut = n
    find = buf.find
    for marker in _MARKERS:
        i = find(marker, start, cut)
        while i >= 0:
            claim = 0
            if i + 2 >= n or buf[i + 2] != 13:  # one digit (or none) is free
                nl = find(b"\r", i + 1, i + 22)
                if nl > 0:
                    digits = bytes(buf[i + 1 : nl])
                    if digits.isdigit():
                        claim = int(digits)
                # No CR within 21 bytes: too long for a count (hiredis refuses it) or
                # not complete yet (hiredis waits for the line, allocating nothing).
            if claim > budget:
                cut = i
                break
            budget -= claim
            i = find(marker, i + 1, cut)
    return cut
