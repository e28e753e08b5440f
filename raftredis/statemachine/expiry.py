"""Turning the TTL arguments of SET/GETEX/SETEX/EXPIRE into absolute deadlines (ms).

Relative times are added to the entry's timestamp, so every replica computes the
same deadline. Range checks follow Redis 7 so the same inputs are refused.
"""

from __future__ import annotations

from raftredis.statemachine.errors import invalid_expire
from raftredis.statemachine.parse import INT64_MAX, INT64_MIN, parse_int

_SEC_MAX = INT64_MAX // 1000  # C's LLONG_MAX / 1000
_SEC_MIN = -(-INT64_MIN // 1000)  # C division truncates toward zero


def set_deadline(arg: bytes, unit_ms: int, absolute: bool, now: int, command: str) -> int:
    """SET EX/PX/EXAT/PXAT, GETEX, SETEX, PSETEX: the value must be positive."""
    n = parse_int(arg)
    if n <= 0 or (unit_ms == 1000 and n > _SEC_MAX):
        raise invalid_expire(command)
    n *= unit_ms
    if not absolute:
        if n > INT64_MAX - now:
            raise invalid_expire(command)
        n += now
    return n


def expire_deadline(arg: bytes, unit_ms: int, absolute: bool, now: int, command: str) -> int:
    """EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT: any int64 (past times delete the key)."""
    n = parse_int(arg)
    if unit_ms == 1000:
        if n > _SEC_MAX or n < _SEC_MIN:
            raise invalid_expire(command)
        n *= 1000
    if not absolute:
        if n > INT64_MAX - now or n < INT64_MIN - now:
            raise invalid_expire(command)
        n += now
    return n
