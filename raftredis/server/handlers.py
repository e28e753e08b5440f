"""Every module of local command handlers, imported for its registrations (dispatch's
HANDLERS): import this one module wherever commands must be answerable."""

from raftredis.server import acl_commands, admin_commands, conn_commands, debug_commands

MODULES = (acl_commands, admin_commands, conn_commands, debug_commands)
