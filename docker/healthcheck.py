"""Container health check, exit 0 when healthy.

With a metrics port (RAFTREDIS_METRICS_PORT, set in the image): GET /readyz, healthy when
the node is a member with a leader heard from recently and its log applied (a node cut
off from the majority turns unhealthy, and healthy again once it rejoins). Without one:
PING the client port, healthy when the server answers RESP.

`healthcheck.py live` always PINGs the client port: liveness only, for orchestrators that
act on health. Docker swarm publishes a task's DNS name only once it is healthy and
replaces unhealthy tasks, so a readiness check there (which needs a leader, which needs
the peers' names) would keep a fresh cluster from ever electing one (docker/stack.yaml).

Plain sockets only: the image has no redis-cli or curl and needs nothing more.
"""

import os
import socket
import sys

TIMEOUT = 2.0  # seconds; well under the HEALTHCHECK --timeout
MAX_REPLY = 512  # a PING reply is a few bytes; never read more than this


def _exchange(port: int, request: bytes) -> bytes:
    """Send a request to a local port, return what came back (at most MAX_REPLY bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        reply = b""
        while len(reply) < MAX_REPLY:
            chunk = sock.recv(MAX_REPLY)
            if not chunk:
                break
            reply += chunk
            if request.startswith(b"*") and b"\r\n" in reply:
                break  # a RESP reply line is all a PING needs
        return reply


def ready(port: int) -> int:
    # HTTP by hand: importing urllib costs seconds on a loaded machine whose stdlib has
    # no bytecode cache (the image runs as a user that cannot write one).
    try:
        reply = _exchange(port, b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    except OSError as exc:
        print(f"unhealthy: metrics port {port}: {exc}")
        return 1
    if reply.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200")):
        return 0
    print("unhealthy: " + reply.partition(b"\r\n\r\n")[2].decode("utf-8", "replace").strip())
    return 1


def ping(port: int) -> int:
    try:
        reply = _exchange(port, b"*1\r\n$4\r\nPING\r\n")
    except OSError as exc:
        print(f"unhealthy: port {port}: {exc}")
        return 1
    # NOAUTH still proves the server is up and speaking RESP.
    if reply.startswith((b"+PONG", b"-NOAUTH")):
        return 0
    print(f"unhealthy: port {port} answered {reply[:80]!r}")
    return 1


def main(argv: list[str]) -> int:
    metrics = int(os.environ.get("RAFTREDIS_METRICS_PORT", "0") or 0)
    if metrics and argv[1:] != ["live"]:
        return ready(metrics)
    return ping(int(os.environ.get("RAFTREDIS_PORT", "7000")))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
