"""Container health check: PING the node's client port, exit 0 on an answer.

Plain sockets and RESP by hand: the image has no redis-cli and needs nothing more.
A node that answers PING is serving clients, whether or not it is the Raft leader.
"""

import os
import socket
import sys

TIMEOUT = 2.0  # seconds; well under the HEALTHCHECK --timeout
MAX_REPLY = 512  # a PING reply is a few bytes; never read more than this


def main() -> int:
    port = int(os.environ.get("RAFTREDIS_PORT", "7000"))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = b""
            while b"\r\n" not in reply and len(reply) < MAX_REPLY:
                chunk = sock.recv(MAX_REPLY)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        print(f"unhealthy: port {port}: {exc}")
        return 1
    # NOAUTH still proves the server is up and speaking RESP.
    if reply.startswith((b"+PONG", b"-NOAUTH")):
        return 0
    print(f"unhealthy: port {port} answered {reply[:80]!r}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
