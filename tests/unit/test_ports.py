"""tests/ports.py: the ports test servers are given."""

from __future__ import annotations

import socket

from tests import ports


def test_ports_are_below_the_ephemeral_range_and_never_handed_out_twice() -> None:
    low = ports._ephemeral_low()  # noqa: SLF001 (the module's own reading of the range)
    seen: set[int] = set()
    for _ in range(50):
        # A small gap: the walk reaches the gap port next, still unbound.
        base = ports.free_run(1, gap=2)
        for got in ({base, base + 2}, set(ports.free_ports(3))):
            assert not got & seen, f"handed out twice: {sorted(got & seen)}"
            seen |= got
    if low - 10000 > 10:  # the range leaves room below it (Linux's default does)
        assert max(seen) < low


def test_a_port_taken_by_a_listener_is_skipped() -> None:
    # The port the walk tries next, held by someone else's listener.
    room = ports._HIGH - ports._LOW - 1  # noqa: SLF001
    nxt = ports._LOW + (ports._next - ports._LOW) % room  # noqa: SLF001
    with socket.socket() as s:
        s.bind(("127.0.0.1", nxt))
        s.listen()
        assert ports.free_port() != nxt
