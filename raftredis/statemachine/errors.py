"""Error replies of the data commands, word for word as Redis 7 sends them.

The common ones (WRONGTYPE, syntax, not an integer, ...) live in raftredis.reply;
these are the ones only the state machine uses.
"""

from __future__ import annotations

from raftredis.reply import CommandError, Error

STRING_TOO_LONG = Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
OFFSET_OUT_OF_RANGE = Error("ERR offset is out of range")
NAN_OR_INF = Error("ERR increment would produce NaN or Infinity")
DECREMENT_OVERFLOW = Error("ERR decrement would overflow")
INVALID_CURSOR = Error("ERR invalid cursor")
SAME_OBJECT = Error("ERR source and destination objects are the same")
DB_OUT_OF_RANGE = Error("ERR DB index is out of range")
EXECABORT = Error("EXECABORT Transaction discarded because of previous errors.")
NOT_READONLY = Error("ERR command is not read-only")
NX_INCOMPATIBLE = Error("ERR NX and XX, GT or LT options at the same time are not compatible")
GT_LT_INCOMPATIBLE = Error("ERR GT and LT options at the same time are not compatible")


def invalid_expire(command: str) -> CommandError:
    return CommandError(f"ERR invalid expire time in '{command}' command")


def fail(error: str) -> CommandError:
    """A CommandError carrying one of the constant replies, for `raise fail(X)`."""
    return CommandError(str(error))
