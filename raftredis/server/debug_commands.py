"""DEBUG, answered by the node that receives it, and only when the operator allowed it
(`enable-debug-command`: no, yes, or local for loopback clients), as in Redis 7.

DEBUG SLEEP holds this node's event loop on purpose, as Redis's does: it is how a test
(or an operator) shows that a busy node keeps its role (replica.keepalive) and that one
wedged beyond the stall limit is replaced.
"""

from __future__ import annotations

import ipaddress
import time

from raftredis.reply import OK, Error
from raftredis.server.client import ClientState
from raftredis.server.registry import handler
from raftredis.server.state import ServerState

NOT_ALLOWED = Error(
    'ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", '
    "you can run it from a local connection, otherwise you need to set this option in the "
    "configuration file, and then restart the server.")
HELP = [
    b"DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    b"SLEEP <seconds>",
    b"    Stop the server for <seconds>. Decimals allowed.",
    b"HELP",
    b"    Print this help.",
]


def _is_local(addr: str) -> bool:
    host = addr.rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("", "localhost")  # a Unix socket has no address


def _seconds(raw: bytes) -> float:
    """strtod as Redis reads it: the longest numeric prefix, 0 when there is none."""
    text = raw.decode("ascii", "replace").strip()
    for end in range(len(text), 0, -1):
        try:
            return float(text[:end])
        except ValueError:
            continue
    return 0.0


@handler("debug")
def debug(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    allowed = srv.settings.get("enable-debug-command", "no")
    if allowed != "yes" and not (allowed == "local" and _is_local(client.addr)):
        return NOT_ALLOWED
    sub = args[1].lower()
    if sub == b"help" and len(args) == 2:
        return HELP
    if sub == b"sleep" and len(args) == 3:
        seconds = _seconds(args[2])
        if seconds > 0:
            time.sleep(seconds)  # holds the loop, on purpose (see the module's docstring)
        return OK
    name = args[1].decode("utf-8", "replace")
    return Error(f"ERR unknown subcommand or wrong number of arguments for '{name}'. "
                 "Try DEBUG HELP.")
