"""Redis 7 ACL users: the rules (`selector`, `user`), the replicated table of users
(`table`), the permission check run by dispatch (`check`) and the node's ACL LOG
(`log`). Pure logic: no I/O, no asyncio; the table is part of the state machine (it is
changed only by log entries and travels in snapshots), the log is per node.
"""

from __future__ import annotations

from raftredis.acl.selector import AclRuleError
from raftredis.acl.table import UserTable
from raftredis.acl.user import User, hash_password

__all__ = ["AclRuleError", "User", "UserTable", "hash_password"]
