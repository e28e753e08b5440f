"""The timeout argument of blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP,
BZPOPMIN, BZPOPMAX, BZMPOP).

The state machine only makes a non-blocking attempt; the node does the waiting and
calls `parse_timeout_ms(timeout_arg(args))` to know for how long. The texts are Redis 7's.
"""

from __future__ import annotations

import math

from raftredis.reply import Error
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import INT64_MAX, to_float

TIMEOUT_NOT_FLOAT = Error("ERR timeout is not a float or out of range")
TIMEOUT_NEGATIVE = Error("ERR timeout is negative")
TIMEOUT_OUT_OF_RANGE = Error("ERR timeout is out of range")


def parse_timeout_ms(arg: bytes) -> int:
    """Seconds (fractions allowed) as whole milliseconds; 0 means wait forever."""
    secs = to_float(arg)
    if secs is None:
        raise fail(TIMEOUT_NOT_FLOAT)
    ms = secs * 1000.0
    if ms < 0:
        raise fail(TIMEOUT_NEGATIVE)
    if math.isinf(ms) or ms > INT64_MAX:
        raise fail(TIMEOUT_OUT_OF_RANGE)
    return int(ms)  # truncated toward zero, as Redis's (long long) cast


# BLMPOP and BZMPOP carry their timeout first (before numkeys); the others carry it last.
_TIMEOUT_FIRST = (b"blmpop", b"bzmpop")


def timeout_arg(args: list[bytes]) -> bytes:
    """The timeout argument of a blocking command (args[0] is its name)."""
    return args[1] if args[0].lower() in _TIMEOUT_FIRST else args[-1]
