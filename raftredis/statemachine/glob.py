"""Glob patterns as Redis's stringmatchlen() reads them (KEYS, SCAN MATCH).

`*` any run, `?` one byte, `[abc]` `[^abc]` `[a-z]` classes (a reversed range is
swapped, an unterminated class runs to the end of the pattern), and `\\x` a literal x
(a trailing backslash is itself literal). Matching is case-sensitive.

Every token but `*` matches exactly one byte, so the pattern splits at the stars into
fixed-length segments: the first must match at the start, the last at the end, and
each middle one at its leftmost place in between. That is linear in practice and has
none of the exponential backtracking a naive recursive matcher (or a regex with many
`.*`) can hit on hostile patterns.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_CACHE_LIMIT = 256
_cache: dict[bytes, Callable[[bytes], bool]] = {}


def _class_regex(members: list[bool], negate: bool) -> bytes:
    if negate:
        members = [not m for m in members]
    if not any(members):
        return b"(?!)"  # matches nothing
    parts: list[bytes] = []
    c = 0
    while c < 256:
        if members[c]:
            start = c
            while c + 1 < 256 and members[c + 1]:
                c += 1
            parts.append(b"\\x%02x" % start if start == c else b"\\x%02x-\\x%02x" % (start, c))
        c += 1
    return b"[" + b"".join(parts) + b"]"


def _tokens(pattern: bytes) -> list[bytes | None]:
    """One regex piece per one-byte token; None for a star."""
    out: list[bytes | None] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # *
            if not out or out[-1] is not None:
                out.append(None)
            i += 1
        elif c == 0x3F:  # ?
            out.append(b".")
            i += 1
        elif c == 0x5B:  # [
            i += 1
            negate = i < n and pattern[i] == 0x5E  # ^
            if negate:
                i += 1
            members = [False] * 256
            while i < n:
                c = pattern[i]
                if c == 0x5C and i + 1 < n:  # \ escapes inside a class
                    members[pattern[i + 1]] = True
                    i += 2
                elif c == 0x5D:  # ]
                    i += 1
                    break
                elif i + 2 < n and pattern[i + 1] == 0x2D:  # a-z
                    lo, hi = c, pattern[i + 2]
                    if lo > hi:
                        lo, hi = hi, lo
                    for x in range(lo, hi + 1):
                        members[x] = True
                    i += 3
                else:
                    members[c] = True
                    i += 1
            out.append(_class_regex(members, negate))
        else:
            if c == 0x5C and i + 1 < n:  # \x is a literal x
                i += 1
                c = pattern[i]
            out.append(re.escape(bytes([c])))
            i += 1
    return out


def compile_glob(pattern: bytes) -> Callable[[bytes], bool]:
    """A predicate telling whether a key matches `pattern` (cached)."""
    fn = _cache.get(pattern)
    if fn is None:
        fn = _compile(pattern)
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[pattern] = fn
    return fn


def _compile(pattern: bytes) -> Callable[[bytes], bool]:
    toks = _tokens(pattern)
    if toks == [None]:
        return lambda s: True
    segments: list[list[bytes]] = [[]]
    for t in toks:
        if t is None:
            segments.append([])
        else:
            segments[-1].append(t)
    regs = [re.compile(b"".join(seg), re.DOTALL) for seg in segments]
    lens = [len(seg) for seg in segments]
    if len(segments) == 1:
        full = regs[0]
        return lambda s: full.fullmatch(s) is not None
    first, last = regs[0], regs[-1]
    first_len, last_len = lens[0], lens[-1]
    middles = list(zip(regs[1:-1], lens[1:-1], strict=True))
    min_len = sum(lens)

    def match(s: bytes) -> bool:
        n = len(s)
        if n < min_len:
            return False
        if first_len and first.match(s) is None:
            return False
        end = n - last_len
        if last_len and last.fullmatch(s, end) is None:
            return False
        pos = first_len
        for reg, ln in middles:
            if ln == 0:
                continue
            m = reg.search(s, pos, end)
            if m is None:
                return False
            pos = m.end()
        return True

    return match


def glob_match(pattern: bytes, key: bytes) -> bool:
    return compile_glob(pattern)(key)
