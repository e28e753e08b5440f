"""Errors of raftredis.client. All derive from redis-py's RedisError so callers that
already catch redis errors keep working."""

from __future__ import annotations

import redis.exceptions


class RaftRedisError(redis.exceptions.RedisError):
    """Base class of the client's own errors."""


class ClusterUnavailableError(RaftRedisError, redis.exceptions.ConnectionError):
    """No leader could be reached before the deadline; the command was NOT applied."""


class UnknownOutcomeError(RaftRedisError):
    """The command was sent, may or may not have been applied, and the client could not
    find out before its deadline (or the session expired while it was in doubt). The
    command is never applied twice; it may have been applied once."""
