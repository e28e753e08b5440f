"""Ports for the servers a test starts, chosen below the kernel's ephemeral range.

A port the kernel handed out for `bind(port 0)` comes from the ephemeral range, the
same range every outgoing connection takes its local port from: between choosing it
and the server binding it, a node dialling a peer (or a proxy, or a client) can take
it, and the server fails with "address already in use" (CI saw it: a node of a
partition test never started). Ports below the range are never taken that way; a bind
check still skips ones another listener holds. Each process starts at its own place
(its pid) and walks on, so concurrent test runs rarely try the same ones.
"""

from __future__ import annotations

import os
import socket

_LOW = 10000  # below this live well-known services (and Redis's 6379)


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


_HIGH = min(_ephemeral_low(), 65536)
_next = _LOW + (os.getpid() * 7919) % max(1, _HIGH - _LOW)
# Handed out already by this process: free to bind until its server starts, so the bind
# check alone would hand a run's gap ports (base + gap) to a later caller.
_given: set[int] = set()


def _is_free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _from_kernel(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_run(n: int, *, gap: int = 0, kind: int = socket.SOCK_STREAM) -> int:
    """A base port such that base+i (and base+gap+i when gap is given) are free for
    i < n, all below the ephemeral range when it leaves room for them."""
    global _next
    span = n + gap
    room = _HIGH - _LOW - span
    if room <= 0:  # an ephemeral range that starts low: fall back to the kernel's choice
        for _ in range(200):
            base = _from_kernel(kind)
            if base + span < 65536 and _take(_wanted(base, n, gap), kind):
                return base
        raise RuntimeError("no free ports for a test server")
    for _ in range(room):
        base = _LOW + (_next - _LOW) % room
        _next = base + n
        if _take(_wanted(base, n, gap), kind):
            return base
    raise RuntimeError("no free ports below the ephemeral range")


def _take(wanted: list[int], kind: int) -> bool:
    """Claim `wanted` if none was handed out before and all are free now."""
    if _given.intersection(wanted) or not all(_is_free(p, kind) for p in wanted):
        return False
    _given.update(wanted)
    return True


def _wanted(base: int, n: int, gap: int) -> list[int]:
    ports = [base + i for i in range(n)]
    if gap:
        ports += [base + gap + i for i in range(n)]
    return ports


def free_ports(n: int, kind: int = socket.SOCK_STREAM) -> list[int]:
    """n distinct free ports (consecutive ones)."""
    base = free_run(n, kind=kind)
    return [base + i for i in range(n)]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    return free_run(1, kind=kind)
