"""Container health check, exit 0 when healthy.

With a metrics port (RAFTREDIS_METRICS_PORT, set in the image): GET /readyz, healthy when
the node is a member with a leader heard from recently and its log applied (a node cut
off from the majority turns unhealthy, and healthy again once it rejoins). Without one:
PING the client port, healthy when the server answers RESP.

Plain sockets and stdlib only: the image has no redis-cli or curl and needs nothing more.
"""

import os
import socket
import sys
import urllib.error
import urllib.request

TIMEOUT = 2.0  # seconds; well under the HEALTHCHECK --timeout
MAX_REPLY = 512  # a PING reply is a few bytes; never read more than this


def ready(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=TIMEOUT) as r:
            return 0 if r.status == 200 else 1
    except urllib.error.HTTPError as err:
        print(f"unhealthy: {err.read(MAX_REPLY).decode('utf-8', 'replace').strip()}")
    except OSError as exc:
        print(f"unhealthy: metrics port {port}: {exc}")
    return 1


def ping(port: int) -> int:
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


def main() -> int:
    metrics = int(os.environ.get("RAFTREDIS_METRICS_PORT", "0") or 0)
    if metrics:
        return ready(metrics)
    return ping(int(os.environ.get("RAFTREDIS_PORT", "7000")))


if __name__ == "__main__":
    sys.exit(main())
