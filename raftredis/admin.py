"""Membership administration over the client port: what `serve --join` and
`raftredis node add|remove|promote` send (CLUSTER JOIN / ADDLEARNER / PROMOTE / FORGET).

Any member may be asked: a follower answers MOVED and we follow it to the leader; a
TRYAGAIN (a change already in flight, a leader that has not committed in its term yet)
or CLUSTERDOWN (no leader) is retried with backoff until the deadline. Blocking, on
raftredis.miniclient: the CLI needs no extra dependency, and the node runs it in a thread.
"""

from __future__ import annotations

import time

import hiredis

from raftredis.miniclient import MiniClientError, call

RETRYABLE = ("TRYAGAIN", "CLUSTERDOWN", "LOADING")
MAX_HOPS = 8


class AdminError(Exception):
    """The change was refused (or could not be made before the deadline)."""


def _split(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep:
        raise AdminError(f"expected HOST:PORT, got {addr!r}")
    return host.strip("[]"), int(port)


def member_command(addr: str, *args: str | int, password: str | None = None,
                   deadline_s: float = 30.0, log=None) -> object:
    """Send one CLUSTER command to the cluster reachable at `addr`, following MOVED and
    retrying what is safe to retry; returns the reply, raises AdminError."""
    end = time.monotonic() + deadline_s
    target = addr
    backoff = 0.05
    last = ""
    hops = 0
    uncertain = False
    while True:
        try:
            host, port = _split(target)
            reply = call(host, port, *args, timeout=max(1.0, min(10.0, end - time.monotonic())),
                         password=password)
        except (OSError, MiniClientError) as exc:
            reply = None
            last = f"{target}: {exc}"
            target = addr  # start over from the address we were given
        if isinstance(reply, hiredis.ReplyError):
            text = str(reply)
            word = text.split(" ", 1)[0]
            if word in ("MOVED", "ASK") and hops < MAX_HOPS:
                parts = text.split()
                if len(parts) >= 3:
                    target = parts[2]
                    hops += 1
                    continue
            if word == "UNCERTAIN" and not uncertain:
                # The leader changed before the change committed: it may have been kept
                # by the next leader. Ask again: a change already in force answers OK
                # (or, for FORGET, that the node is no member: what was asked).
                uncertain = True
                last = text
                target = addr  # not the old leader again: it may have removed itself
                continue
            if uncertain and args[:2] == ("CLUSTER", "FORGET") and text.startswith(
                    "ERR Unknown node"):
                return b"OK"
            if word not in RETRYABLE:
                raise AdminError(text)
            last = text
            target = addr  # a node that cannot serve it now: start over where we began
        elif reply is not None:
            return reply
        if time.monotonic() + backoff > end:
            raise AdminError(f"gave up after {deadline_s:.0f} s: {last}")
        if log is not None:
            log(f"retrying: {last}")
        time.sleep(backoff)
        backoff = min(1.0, backoff * 2)


__all__ = ["AdminError", "member_command"]
