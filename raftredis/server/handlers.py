"""Every module of local command handlers, imported for its registrations (dispatch's
HANDLERS): import this one module wherever commands must be answerable."""

from raftredis.server import admin_commands, conn_commands, debug_commands

MODULES = (admin_commands, conn_commands, debug_commands)
