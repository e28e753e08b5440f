"""raftredis.client: a redis-py based client with exactly-once writes through sessions.

    from raftredis.client import Client, DistDict
    with Client("127.0.0.1:7000") as c:
        c.incr("hits")
        d = DistDict(c, prefix="cfg:")
        d["a"] = "b"
"""

from raftredis.client.aio import AsyncClient
from raftredis.client.distdict import DistDict
from raftredis.client.errors import ClusterUnavailableError, RaftRedisError, UnknownOutcomeError
from raftredis.client.sync import Client

__all__ = [
    "AsyncClient",
    "Client",
    "ClusterUnavailableError",
    "DistDict",
    "RaftRedisError",
    "UnknownOutcomeError",
]
