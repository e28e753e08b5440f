"""May this user run this command line? Redis 7's ACLCheckAllUserCommandPerm: each
selector in turn checks the command, then the keys (with the access each key spec
says: read for "access", write for insert/update/delete), then the pub/sub channels;
the first selector that allows it wins, else the most telling refusal is reported."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raftredis.acl.selector import READ, WRITE, Selector
from raftredis.acl.user import User
from raftredis.commands.spec import CommandSpec
from raftredis.statemachine.glob import glob_match

OK, DENIED_CMD, DENIED_KEY, DENIED_AUTH, DENIED_CHANNEL = 0, 1, 2, 3, 4
# The reason ACL LOG shows.
REASONS = {DENIED_CMD: "command", DENIED_KEY: "key", DENIED_AUTH: "auth",
           DENIED_CHANNEL: "channel"}

# (key, the access it needs: READ | WRITE) for a command line (the server finds them
# from the key specs, see raftredis.server.acl_guard.key_access)
KeysOf = Callable[[CommandSpec, list[bytes]], list[tuple[bytes, int]]]
_WRITE_FLAGS = frozenset({"insert", "update", "delete"})
# Commands whose arguments are channels: (first channel, all the rest too, as patterns)
_CHANNELS = {"publish": (1, False, False), "spublish": (1, False, False),
             "subscribe": (1, True, False), "ssubscribe": (1, True, False),
             "psubscribe": (1, True, True)}


@dataclass(frozen=True, slots=True)
class Denial:
    reason: int
    index: int  # which key (in key-spec order) or argument was refused; 0: the command
    obj: bytes = b""  # the refused key or channel


def access_of(flags: tuple[str, ...]) -> int:
    """A key spec's flags as the access they need (Redis's ACLSelectorCheckKey)."""
    perms = READ if "access" in flags else 0
    if _WRITE_FLAGS.intersection(flags):
        perms |= WRITE
    return perms


def _selector_check(sel: Selector, spec: CommandSpec, args: list[bytes],
                    keys: Callable[[], list[tuple[int, bytes, int]]]) -> Denial | None:
    if not sel.all_commands and "no_auth" not in spec.flags and spec.name not in sel.allowed:
        parent = spec.name.split("|", 1)[0]
        allowed = sel.firstargs.get(parent if "|" not in spec.name else spec.name)
        idx = 2 if "|" in spec.name else 1
        if not allowed or len(args) <= idx or args[idx].lower() not in allowed:
            return Denial(DENIED_CMD, 0)
    if not sel.all_keys:
        for pos, key, perms in keys():
            if not any(k.perms & perms == perms and glob_match(k.pattern, key)
                       for k in sel.keys):
                return Denial(DENIED_KEY, pos, key)
    if not sel.all_channels:
        chan = _CHANNELS.get(spec.name)
        if chan is not None:
            first, rest, literal = chan
            for pos in range(first, len(args) if rest else first + 1):
                ch = args[pos]
                if not any((p == ch) if literal else glob_match(p, ch) for p in sel.channels):
                    return Denial(DENIED_CHANNEL, pos, ch)
    return None


def check(user: User, spec: CommandSpec, args: list[bytes], keys_of: KeysOf) -> Denial | None:
    """None if `user` may run `args` (whose spec is `spec`), else why not."""
    cache: list[tuple[int, bytes, int]] | None = None

    def keys() -> list[tuple[int, bytes, int]]:
        nonlocal cache
        if cache is None:
            cache = [(i, k, a) for i, (k, a) in enumerate(keys_of(spec, args))]
        return cache

    worst: Denial | None = None
    for sel in user.selectors:
        denial = _selector_check(sel, spec, args, keys)
        if denial is None:
            return None
        if worst is None or (denial.reason, denial.index) > (worst.reason, worst.index):
            worst = denial
    return worst


def may_stay_subscribed(user: User, channels: set[bytes], patterns: set[bytes]) -> bool:
    """After a user's rules changed: may its subscriptions stay (Redis closes the
    connection otherwise)? Channels match the patterns allowed; subscribed patterns must
    be allowed literally."""
    sels = user.selectors
    if any(s.all_channels for s in sels):
        return True
    allowed = [p for s in sels for p in s.channels]
    return all(any(glob_match(p, ch) for p in allowed) for ch in channels) and \
        all(pat in allowed for pat in patterns)

