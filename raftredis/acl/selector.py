"""One ACL selector: which commands, keys and channels it allows, changed by Redis 7's
rules (+cmd, -@cat, ~pattern, %R~pattern, &channel, allkeys, ...).

Commands are kept as the set of allowed full names (Redis keeps a bitmap of command
ids: the same thing). `future` is Redis's reserved bit: set by +@all only, it says the
rules started from everything (described as "+@all ..."), while `all_commands` (also
set by +@all) is cleared by any rule that takes a command away, so the per-command
check can be skipped only while nothing was. The command rules are remembered as
Redis 7.2 remembers them: in the order given, a later rule on a command (or on its
container) replacing the earlier ones, so ACL LIST shows what was set.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftredis.acl.catalog import catalog

READ, WRITE = 1, 2
ALL = READ | WRITE

# Redis's ACLSetUserStringError() texts, by cause.
UNKNOWN = "Unknown command or category name in ACL"
SYNTAX = "Syntax error"
AFTER_ALLKEYS = ("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid "
                 "and does not have any effect. Try 'resetkeys' to start with an empty list "
                 "of patterns")
AFTER_ALLCHANNELS = ("Adding a pattern after the * pattern (or the 'allchannels' flag) is not "
                     "valid and does not have any effect. Try 'resetchannels' to start with an "
                     "empty list of channels")
NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"
BAD_HASH = ("The password hash must be exactly 64 characters and contain only lowercase "
            "hexadecimal characters")
SUB_FIRSTARG = "Allowing first-arg of a subcommand is not supported"


class AclRuleError(ValueError):
    """A rule Redis would refuse; the text is the reason part of Redis's message."""


@dataclass(slots=True)
class KeyPattern:
    pattern: bytes
    perms: int  # READ, WRITE or ALL

    def render(self) -> bytes:
        prefix = {ALL: b"~", READ: b"%R~", WRITE: b"%W~"}[self.perms]
        return prefix + self.pattern


def _has_space(s: bytes) -> bool:
    return any(c in b" \t\n\r\x0b\x0c\x00" for c in s)


class Selector:
    __slots__ = ("all_channels", "all_commands", "all_keys", "allowed", "channels",
                 "firstargs", "future", "keys", "rules")

    def __init__(self, all_channels: bool = False) -> None:
        self.all_commands = False
        self.future = False
        self.allowed: set[str] = set()
        self.firstargs: dict[str, list[bytes]] = {}  # +select|0: first arguments allowed
        self.rules: list[str] = []  # "+get", "-@write", "+select|0"
        self.all_keys = False
        self.keys: list[KeyPattern] = []
        self.all_channels = all_channels
        self.channels: list[bytes] = []

    def copy(self) -> Selector:
        s = Selector(self.all_channels)
        s.all_commands, s.future = self.all_commands, self.future
        s.allowed = set(self.allowed)
        s.firstargs = {k: list(v) for k, v in self.firstargs.items()}
        s.rules = list(self.rules)
        s.all_keys = self.all_keys
        s.keys = [KeyPattern(k.pattern, k.perms) for k in self.keys]
        s.channels = list(self.channels)
        return s

    @property
    def unrestricted(self) -> bool:
        """Anything goes: the check can be skipped."""
        return self.all_commands and self.all_keys and self.all_channels

    # -- rules ------------------------------------------------------------------------
    def apply(self, op: bytes) -> None:
        """Apply one rule; AclRuleError (nothing changed) if Redis refuses it."""
        low = op.lower()
        if low in (b"allkeys", b"~*"):
            self.all_keys = True
            self.keys.clear()
        elif low == b"resetkeys":
            self.all_keys = False
            self.keys.clear()
        elif low in (b"allchannels", b"&*"):
            self.all_channels = True
            self.channels.clear()
        elif low == b"resetchannels":
            self.all_channels = False
            self.channels.clear()
        elif low in (b"allcommands", b"+@all"):
            self.allowed = set(catalog().everything)
            self.all_commands = self.future = True
            self.firstargs.clear()
            self.rules.clear()
        elif low in (b"nocommands", b"-@all"):
            self.allowed.clear()
            self.all_commands = self.future = False
            self.firstargs.clear()
            self.rules.clear()
        elif op[:1] in (b"~", b"%"):
            self._key_pattern(op)
        elif op[:1] == b"&":
            if self.all_channels:
                raise AclRuleError(AFTER_ALLCHANNELS)
            pattern = op[1:]
            if _has_space(pattern):
                raise AclRuleError(SYNTAX)
            if pattern not in self.channels:
                self.channels.append(pattern)
            self.all_channels = False
        elif op[:2] in (b"+@", b"-@"):
            cat = low[2:].decode("ascii", "replace")
            members = catalog().by_category.get(cat)
            if members is None:
                raise AclRuleError(UNKNOWN)
            allow = op[:1] == b"+"
            for name in members:
                self._set(name, allow)
            self._note_rule("@" + cat, allow)
        elif op[:1] == b"+":
            self._allow(low[1:].decode("utf-8", "replace"))
        elif op[:1] == b"-":
            name = low[1:].decode("utf-8", "replace")
            if name not in catalog().family:
                raise AclRuleError(UNKNOWN)
            self._change(name, False)
            self._note_rule(name, False)
        else:
            raise AclRuleError(SYNTAX)

    def _key_pattern(self, op: bytes) -> None:
        if self.all_keys:
            raise AclRuleError(AFTER_ALLKEYS)
        perms, offset = ALL, 1
        if op[:1] == b"%":
            perms = 0
            while offset < len(op):
                c = op[offset:offset + 1].upper()
                if c == b"R" and not perms & READ:
                    perms |= READ
                elif c == b"W" and not perms & WRITE:
                    perms |= WRITE
                elif c == b"~":
                    offset += 1
                    break
                else:
                    raise AclRuleError(SYNTAX)
                offset += 1
            if not perms:
                raise AclRuleError(SYNTAX)
            # (Redis accepts "%R" with no '~' as the empty pattern, and so do we)
        pattern = op[offset:]
        if _has_space(pattern):
            raise AclRuleError(SYNTAX)
        for k in self.keys:
            if k.pattern == pattern:
                k.perms |= perms
                break
        else:
            self.keys.append(KeyPattern(pattern, perms))
        self.all_keys = False

    def _allow(self, name: str) -> None:
        cat = catalog()
        if "|" not in name:
            if name not in cat.family:
                raise AclRuleError(UNKNOWN)
            self._change(name, True)
            self._note_rule(name, True)
            return
        parent, sub = name.rsplit("|", 1)
        if parent not in cat.family:
            raise AclRuleError(UNKNOWN)
        if "|" in parent:
            raise AclRuleError(SUB_FIRSTARG)
        if not sub:
            raise AclRuleError(SYNTAX)
        if parent in cat.parents:
            if name not in cat.family:
                raise AclRuleError(UNKNOWN)
            self._change(name, True)
        else:
            # +select|0: allow one first argument of an otherwise blocked command
            args = self.firstargs.setdefault(parent, [])
            if sub.encode() not in args:
                args.append(sub.encode())
        self._note_rule(name, True)

    def _change(self, name: str, allow: bool) -> None:
        """Redis's ACLChangeSelectorPerm: the command and its subcommands."""
        for n in catalog().family[name]:
            self._set(n, allow)
        self.firstargs.pop(name, None)

    def _set(self, name: str, allow: bool) -> None:
        if allow:
            self.allowed.add(name)
        else:
            self.allowed.discard(name)
            self.all_commands = False

    def _note_rule(self, name: str, allow: bool) -> None:
        """Redis 7.2's ACLUpdateCommandRules: drop the earlier rules on this name (and on
        its subcommands), then append this one."""
        sub = name + "|"
        self.rules = [r for r in self.rules if r[1:] != name and not r[1:].startswith(sub)]
        self.rules.append(("+" if allow else "-") + name)

    # -- description ----------------------------------------------------------------
    def describe_commands(self) -> bytes:
        head = "+@all" if self.future else "-@all"
        return " ".join([head, *self.rules]).encode()

    def describe_keys(self) -> bytes:
        if self.all_keys:
            return b"~*"
        return b" ".join(k.render() for k in self.keys)

    def describe_channels(self) -> bytes:
        if self.all_channels:
            return b"&*"
        return b" ".join(b"&" + c for c in self.channels)

    def describe(self) -> bytes:
        """As ACL LIST shows a selector: keys, channels, then command rules."""
        parts: list[bytes] = []
        if self.all_keys:
            parts.append(b"~*")
        else:
            parts.extend(k.render() for k in self.keys)
        if self.all_channels:
            parts.append(b"&*")
        else:
            parts.append(b"resetchannels")
            parts.extend(b"&" + c for c in self.channels)
        parts.append(self.describe_commands())
        return b" ".join(parts)

    # -- snapshot records -----------------------------------------------------------
    def record(self) -> list:
        return [int(self.all_commands), int(self.future), sorted(self.allowed),
                [[k, v] for k, v in self.firstargs.items()], list(self.rules),
                int(self.all_keys), [[k.pattern, k.perms] for k in self.keys],
                int(self.all_channels), list(self.channels)]

    @classmethod
    def from_record(cls, rec: list) -> Selector:
        (all_commands, future, allowed, firstargs, rules, all_keys, keys, all_channels,
         channels) = rec
        s = cls(bool(all_channels))
        s.all_commands, s.future = bool(all_commands), bool(future)
        s.allowed = {str(n) for n in allowed}
        s.firstargs = {str(k): [bytes(a) for a in v] for k, v in firstargs}
        s.rules = [str(r) for r in rules]
        s.all_keys = bool(all_keys)
        s.keys = [KeyPattern(bytes(p), int(f) & ALL) for p, f in keys]
        s.channels = [bytes(c) for c in channels]
        return s

