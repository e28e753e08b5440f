"""Key positions of commands whose keys (first, last, step) cannot describe: a numkeys
argument followed by that many keys (ZUNION, LMPOP, ...), maybe after fixed keys
(ZUNIONSTORE's destination), or a destination named by an option (SORT ... STORE d).

A malformed numkeys gives no keys rather than an error: the command itself then answers
with Redis's error text, and routing (MOVED) only needs the keys of a valid command.
"""

from __future__ import annotations

from collections.abc import Callable

KeyFn = Callable[[list[bytes]], list[int]]


def numkeys(at: int, fixed: tuple[int, ...] = ()) -> KeyFn:
    """numkeys at position `at`, its keys right after it; `fixed` keys come first."""

    def keys(args: list[bytes]) -> list[int]:
        if len(args) <= at:
            return []
        n_arg = args[at]
        if not n_arg.isdigit() or len(n_arg) > 19:
            return []
        n = int(n_arg)
        if n < 1 or n > len(args) - at - 1:
            return []
        return [*fixed, *range(at + 1, at + 1 + n)]

    return keys


def with_store(scan_from: int) -> KeyFn:
    """GEORADIUS and GEORADIUSBYMEMBER: the key at 1, plus the argument after the last
    STORE or STOREDIST option found from `scan_from` on."""

    def keys(args: list[bytes]) -> list[int]:
        out = [1] if len(args) > 1 else []
        dest = None
        i = scan_from
        while i < len(args) - 1:
            if args[i].upper() in (b"STORE", b"STOREDIST"):
                dest = i + 1
                i += 1
            i += 1
        if dest is not None:
            out.append(dest)
        return out

    return keys
