"""An ACL user: on/off, passwords (SHA-256 hex only, as Redis keeps them), and its
selectors (the root one first; more from "(...)" rules)."""

from __future__ import annotations

import hashlib
import hmac

from raftredis.acl.selector import BAD_HASH, NO_SUCH_PASSWORD, SYNTAX, AclRuleError, Selector

_HEX = frozenset(b"0123456789abcdef")
SANITIZE, SKIP_SANITIZE = 1, 2
# requirepass as the log, cluster-config.json and CONFIG GET hold it on a cluster node.
HASHED_PREFIX = "sha256:"


def hash_password(clear: bytes) -> str:
    return hashlib.sha256(clear).hexdigest()


def hashed_hex(value: str) -> str | None:
    """The hex of a "sha256:<hex>" value, or None if it is not one."""
    if value.startswith(HASHED_PREFIX) and _valid_hash(value[len(HASHED_PREFIX):].encode()):
        return value[len(HASHED_PREFIX):]
    return None


def hashed_requirepass(value: str) -> str:
    """A requirepass value in the form it is stored and replicated in: "" stays "" (no
    password), a "sha256:<hex>" stays as it is, anything else is a clear password and
    becomes "sha256:" + its SHA-256. (A client's CONFIG SET is hashed by the leader
    before it is logged, so a clear password that looks hashed is hashed again.)"""
    if not value or hashed_hex(value) is not None:
        return value
    return HASHED_PREFIX + hash_password(value.encode())


def _valid_hash(h: bytes) -> bool:
    return len(h) == 64 and all(c in _HEX for c in h)


def split_selector(op: bytes) -> list[bytes]:
    """The rules inside "(...)", split as Redis's sdssplitargs splits them."""
    from raftredis.resp.parser import split_args

    parts = split_args(op[1:-1])
    if parts is None:
        raise AclRuleError(SYNTAX)
    return parts


class User:
    __slots__ = ("enabled", "name", "nopass", "passwords", "sanitize", "selectors")

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.enabled = False
        self.nopass = False
        self.sanitize = 0  # 0, SANITIZE or SKIP_SANITIZE (a new user shows neither)
        self.passwords: list[str] = []
        self.selectors: list[Selector] = [Selector()]

    @classmethod
    def default(cls) -> User:
        """Redis's default user: on nopass ~* &* +@all."""
        u = cls(b"default")
        for op in (b"+@all", b"~*", b"&*", b"on", b"nopass"):
            u.apply(op)
        return u

    @property
    def root(self) -> Selector:
        return self.selectors[0]

    @property
    def unrestricted(self) -> bool:
        return self.selectors[0].unrestricted

    def copy(self, name: bytes | None = None) -> User:
        u = User(self.name if name is None else name)
        u.copy_from(self)
        return u

    def copy_from(self, other: User) -> None:
        """Take another user's rules, keeping this name (and this object: connections
        authenticated as it see the change)."""
        self.enabled, self.nopass, self.sanitize = other.enabled, other.nopass, other.sanitize
        self.passwords = list(other.passwords)
        self.selectors = [s.copy() for s in other.selectors]

    # -- rules --------------------------------------------------------------------------
    def apply(self, op: bytes) -> None:
        """One ACL SETUSER rule; AclRuleError if Redis refuses it."""
        if not op:
            return
        low = op.lower()
        if low == b"on":
            self.enabled = True
        elif low == b"off":
            self.enabled = False
        elif low == b"skip-sanitize-payload":
            self.sanitize = SKIP_SANITIZE
        elif low == b"sanitize-payload":
            self.sanitize = SANITIZE
        elif low == b"nopass":
            self.nopass = True
            self.passwords.clear()
        elif low == b"resetpass":
            self.nopass = False
            self.passwords.clear()
        elif op[:1] in (b">", b"#"):
            h = hash_password(op[1:]) if op[:1] == b">" else self._checked_hash(op[1:])
            if h not in self.passwords:
                self.passwords.append(h)
            self.nopass = False
        elif op[:1] in (b"<", b"!"):
            h = hash_password(op[1:]) if op[:1] == b"<" else self._checked_hash(op[1:])
            if h not in self.passwords:
                raise AclRuleError(NO_SUCH_PASSWORD)
            self.passwords.remove(h)
        elif op[:1] == b"(" and op[-1:] == b")":
            sel = Selector()
            for rule in split_selector(op):
                sel.apply(rule)
            self.selectors.append(sel)
        elif low == b"clearselectors":
            del self.selectors[1:]
        elif low == b"reset":
            self.nopass = False
            self.passwords.clear()
            root = self.selectors[0]
            for rule in (b"resetkeys", b"resetchannels", b"-@all"):
                root.apply(rule)
            self.enabled = False
            self.sanitize = SANITIZE
            del self.selectors[1:]
        else:
            self.selectors[0].apply(op)

    @staticmethod
    def _checked_hash(h: bytes) -> str:
        if not _valid_hash(h):
            raise AclRuleError(BAD_HASH)
        return h.decode()

    # -- passwords ------------------------------------------------------------------------
    def password_ok(self, clear: bytes) -> bool:
        """Enabled, and nopass or one of its passwords (compared in constant time)."""
        if not self.enabled:
            return False
        if self.nopass:
            return True
        h = hash_password(clear)
        ok = False
        for p in self.passwords:
            ok |= hmac.compare_digest(p, h)
        return ok

    # -- description ----------------------------------------------------------------------
    def flags(self) -> list[bytes]:
        out = [b"on" if self.enabled else b"off"]
        if self.nopass:
            out.append(b"nopass")
        if self.sanitize == SKIP_SANITIZE:
            out.append(b"skip-sanitize-payload")
        elif self.sanitize == SANITIZE:
            out.append(b"sanitize-payload")
        return out

    def describe(self) -> bytes:
        """ACL LIST's line after "user <name> "."""
        parts = self.flags() + [b"#" + p.encode() for p in self.passwords]
        parts.append(self.selectors[0].describe())
        text = b" ".join(parts)
        for sel in self.selectors[1:]:
            text += b" (" + sel.describe() + b")"
        return text

    # -- snapshot records -------------------------------------------------------------------
    def record(self) -> list:
        return [self.name, int(self.enabled), int(self.nopass), self.sanitize,
                list(self.passwords), [s.record() for s in self.selectors]]

    @classmethod
    def from_record(cls, rec: list) -> User:
        name, enabled, nopass, sanitize, passwords, selectors = rec
        u = cls(bytes(name))
        u.enabled, u.nopass, u.sanitize = bool(enabled), bool(nopass), int(sanitize)
        u.passwords = [str(p) for p in passwords]
        if not selectors:
            raise ValueError("a user record without its root selector")
        u.selectors = [Selector.from_record(s) for s in selectors]
        return u
