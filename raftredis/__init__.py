"""raftredis: a Redis-protocol compatible, strongly consistent, replicated cache on Raft."""

from raftredis import native

__version__ = "0.1.0"

# Before any hot module is imported: compiled modules, or their pure-Python source.
native.choose()
