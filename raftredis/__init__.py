"""raftredis: a Redis-protocol compatible, strongly consistent, replicated cache on Raft."""

__version__ = "0.1.0"
