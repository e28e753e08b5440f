"""The users of one group: changed only by applied log entries (ACL SETUSER / DELUSER,
CONFIG SET requirepass), the same on every node, carried by snapshots.

Listeners (the client-port server) hear of each changed or deleted user, to refresh
or close the connections authenticated as it.
"""

from __future__ import annotations

from collections.abc import Callable

from raftredis.acl.selector import AclRuleError
from raftredis.acl.user import User, hash_password, hashed_hex
from raftredis.reply import CommandError

DEFAULT = b"default"
MAX_USERS = 1 << 16  # a bound on what a snapshot may hold
Listener = Callable[[User, bool], None]  # (user, deleted)


def merge_selectors(ops: list[bytes]) -> list[bytes]:
    """Redis's ACLMergeSelectorArguments: "(~a" "+get)" given apart become one rule."""
    out: list[bytes] = []
    pending: bytes | None = None
    for op in ops:
        if pending is None and op[:1] == b"(" and op[-1:] != b")":
            pending = op
            start = op
            continue
        if pending is not None:
            pending += b" " + op
            if op[-1:] == b")":
                out.append(pending)
                pending = None
            continue
        out.append(op)
    if pending is not None:
        raise CommandError("ERR Unmatched parenthesis in acl selector starting at '"
                           + start.decode("utf-8", "replace") + "'.")
    return out


def hashed_rules(ops: list[bytes]) -> list[bytes]:
    """The rules as the log carries them: >clear becomes #sha256, <clear becomes !sha256,
    so no password reaches the log, a snapshot or a file in clear."""
    out = []
    for op in ops:
        if op[:1] == b">":
            op = b"#" + hash_password(op[1:]).encode()
        elif op[:1] == b"<":
            op = b"!" + hash_password(op[1:]).encode()
        out.append(op)
    return out


class UserTable:
    def __init__(self) -> None:
        self.users: dict[bytes, User] = {DEFAULT: User.default()}
        # The requirepass the default user last took ("" = none): a restart that sets
        # the same requirepass again must not undo ACL SETUSER default rules made since.
        self.requirepass_seen = ""
        self._listeners: list[Listener] = []

    @property
    def default(self) -> User:
        return self.users[DEFAULT]

    def listen(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def _changed(self, user: User, deleted: bool = False) -> None:
        for fn in self._listeners:
            fn(user, deleted)

    def get(self, name: bytes) -> User | None:
        return self.users.get(name)

    def names(self) -> list[bytes]:
        return sorted(self.users)  # Redis keeps them in a radix tree: byte order

    def is_default_state(self) -> bool:
        """Nothing to carry in a snapshot: only the untouched default user."""
        if len(self.users) != 1 or self.requirepass_seen:
            return False
        return self.default.record() == User.default().record()

    # -- changes (from the log) ---------------------------------------------------------
    def check_setuser(self, name: bytes, ops: list[bytes]) -> tuple[User, list[bytes]]:
        """Validate ACL SETUSER without changing anything: (the user as it would be, the
        merged rules). CommandError with Redis's message if a rule is refused."""
        if any(c in b" \t\n\r\x0b\x0c\x00" for c in name):
            raise CommandError("ERR Usernames can't contain spaces or null characters")
        merged = merge_selectors(ops)
        current = self.users.get(name)
        temp = current.copy() if current is not None else User(name)
        for op in merged:
            try:
                temp.apply(op)
            except AclRuleError as e:
                raise CommandError("ERR Error in ACL SETUSER modifier '"
                                   + op.decode("utf-8", "replace") + f"': {e}") from None
        if current is None and len(self.users) >= MAX_USERS:
            raise CommandError(f"ERR too many ACL users (at most {MAX_USERS})")
        return temp, merged

    def setuser(self, name: bytes, ops: list[bytes]) -> User:
        temp, _ = self.check_setuser(name, ops)
        user = self.users.get(name)
        if user is None:
            user = self.users[name] = temp
        else:
            user.copy_from(temp)
        self._changed(user)
        return user

    @staticmethod
    def check_deluser(names: list[bytes]) -> None:
        if DEFAULT in names:
            raise CommandError("ERR The 'default' user cannot be removed")

    def deluser(self, names: list[bytes]) -> int:
        self.check_deluser(names)
        deleted = 0
        for name in names:
            user = self.users.pop(name, None)
            if user is not None:
                deleted += 1
                self._changed(user, deleted=True)
        return deleted

    def take_requirepass(self, clear: str | bytes) -> None:
        """CONFIG SET requirepass (as Redis's ACLUpdateDefaultUserPassword): the default
        user's passwords become this one, or nopass when it is empty. A "sha256:<hex>"
        value (how a cluster node stores it) is the hash itself."""
        raw = clear.encode() if isinstance(clear, str) else clear
        known = hashed_hex(raw.decode("utf-8", "replace"))
        seen = known if known is not None else hash_password(raw) if raw else ""
        if seen == self.requirepass_seen:
            return
        self.requirepass_seen = seen
        user = self.default
        user.apply(b"resetpass")
        user.apply(b"#" + seen.encode() if raw else b"nopass")
        self._changed(user)

    def apply_op(self, args: list[bytes]) -> object:
        """A logged ACL change: [b"setuser", name, rule...] or [b"deluser", name...].
        Returns the reply (OK, a count, or the Error every replica gives alike)."""
        from raftredis.reply import OK, Error

        try:
            verb = bytes(args[0]).lower()
            if verb == b"setuser" and len(args) >= 2:
                self.setuser(bytes(args[1]), [bytes(a) for a in args[2:]])
                return OK
            if verb == b"deluser":
                return self.deluser([bytes(a) for a in args[1:]])
        except CommandError as e:
            return e.reply()
        return Error("ERR unknown ACL log operation")

    # -- snapshot records -----------------------------------------------------------------
    def records(self) -> list[list]:
        return [[b"requirepass-seen", self.requirepass_seen]] + \
            [u.record() for u in self.users.values()]

    def load_records(self, records: list) -> None:
        """Replace the users with a snapshot's (ValueError/TypeError on a bad record);
        [] restores the initial table. Listeners hear of every user of the new table
        and of every one that is gone."""
        users: dict[bytes, User] = {}
        seen = ""
        for rec in records:
            if isinstance(rec, list) and len(rec) == 2 and rec[0] == b"requirepass-seen":
                seen = str(rec[1])
                continue
            u = User.from_record(rec)
            if u.name in users:
                raise ValueError("a snapshot holds an ACL user twice")
            users[u.name] = u
            if len(users) > MAX_USERS:
                raise ValueError("a snapshot holds too many ACL users")
        if DEFAULT not in users:
            users[DEFAULT] = User.default()
        old = self.users
        # Keep the objects connections hold: same name, new rules.
        for name, u in users.items():
            if name in old:
                old[name].copy_from(u)
                users[name] = old[name]
        self.users = users
        self.requirepass_seen = seen
        for name, u in old.items():
            if name not in users:
                self._changed(u, deleted=True)
        for u in users.values():
            self._changed(u)
