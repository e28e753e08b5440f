"""Number parsing and formatting exactly as Redis accepts and prints numbers.

Python's int()/float() accept spaces, underscores and '+' signs that Redis refuses,
so we check the text first.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from raftredis.reply import NOT_FLOAT, NOT_INTEGER, CommandError

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

# Redis's string2ll: optional '-', no leading zeros, no '+', no spaces, at most 20 chars.
_INT_RE = re.compile(rb"-?[1-9][0-9]{0,19}|0")
# strtold syntax without hex floats; Redis also rejects leading spaces and trailing junk.
_FLOAT_RE = re.compile(
    rb"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity)", re.IGNORECASE
)
MAX_LONG_DOUBLE_CHARS = 5 * 1024


def to_int(data: bytes) -> int | None:
    """The int64 value of `data` if Redis's string2ll accepts it, else None."""
    if len(data) > 20 or _INT_RE.fullmatch(data) is None:
        return None
    v = int(data)
    if v < INT64_MIN or v > INT64_MAX:
        return None
    return v


def parse_int(data: bytes, error: str = NOT_INTEGER) -> int:
    v = to_int(data)
    if v is None:
        raise CommandError(str(error))
    return v


def to_float(data: bytes) -> float | None:
    """A finite-or-infinite float Redis would accept as a long double, else None (NaN refused)."""
    if len(data) >= MAX_LONG_DOUBLE_CHARS or _FLOAT_RE.fullmatch(data) is None:
        return None
    v = float(data)
    if math.isnan(v):
        return None
    return v


def parse_float(data: bytes, error: str = NOT_FLOAT) -> float:
    v = to_float(data)
    if v is None:
        raise CommandError(str(error))
    return v


def format_float(v: float) -> bytes:
    """Redis's human friendly float text (INCRBYFLOAT): no exponent, no trailing zeros."""
    if v == 0:
        return b"0"
    text = repr(v)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.encode()
