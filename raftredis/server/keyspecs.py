"""COMMAND GETKEYSANDFLAGS: the keys of a command line with each key's access flags,
found the way Redis 7 finds them, from the command's key specs (begin_search:
index or keyword; find_keys: range or keynum). Commands whose specs Redis leaves
"unknown" (their keys depend on the arguments in ways specs cannot say) take the key
positions from our own command table, with the flags of Redis's first spec."""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec
from raftredis.server.keyspecs_data import KEY_SPECS


def _begin(spec: tuple, args: list[bytes]) -> int | None:
    kind = spec[0]
    argc = len(args)
    if kind == "index":
        return spec[1]
    if kind == "keyword":
        word, start = spec[1].encode().lower(), spec[2]
        if start >= 0:
            order = range(start, argc)
        else:
            order = range(argc + start, 0, -1)
        for i in order:
            if 0 < i < argc and args[i].lower() == word:
                return i + 1
        return None
    return None


def _positions(find: tuple, first: int, args: list[bytes]) -> list[int] | None:
    argc = len(args)
    if find[0] == "range":
        lastkey, step, limit = find[1], find[2], find[3]
        if lastkey >= 0:
            last = first + lastkey
        elif not limit:
            last = argc + lastkey
        else:
            last = first + ((argc - first) // limit + lastkey)
    elif find[0] == "keynum":
        idx, firstkey, step = find[1], find[2], find[3]
        if first + idx >= argc:
            return None
        try:
            numkeys = int(args[first + idx])
        except ValueError:
            return None
        first = first + firstkey
        last = first + (numkeys - 1) * step
    else:
        return None
    out = []
    for i in range(first, last + 1, step or 1):
        if i >= argc:
            return None
        out.append(i)
    return out


def keys_and_flags(spec: CommandSpec, args: list[bytes]) -> list[tuple[bytes, tuple[str, ...]]]:
    """[(key, flags)] for `args` (a full command line whose arity was checked)."""
    specs = KEY_SPECS.get(spec.name)
    if not specs:
        access = ("RW", "access", "update") if "write" in spec.flags else ("RO", "access")
        return [(k, access) for k in spec.keys(args)]
    if any(s[1][0] == "unknown" or s[2][0] == "unknown" for s in specs):
        # (SORT's STORE and the like: the first key is the source, later ones take the
        # flags of Redis's last spec)
        keys = spec.keys(args)
        return [(k, specs[0][0] if i == 0 else specs[-1][0]) for i, k in enumerate(keys)]
    out: list[tuple[bytes, tuple[str, ...]]] = []
    for flags, begin, find in specs:
        first = _begin(begin, args)
        if first is None or first >= len(args):
            continue
        positions = _positions(find, first, args)
        if positions is None:
            continue
        if "variable_flags" in flags:
            flags = _variable_flags(spec.name, args)
        out.extend((args[i], flags) for i in positions)
    return out


def has_key_specs(spec: CommandSpec) -> bool:
    """Whether the command takes keys at all (COMMAND GETKEYS then answers a list, even
    an empty one, rather than "The command has no key arguments")."""
    return bool(KEY_SPECS.get(spec.name)) or spec.first_key > 0 or spec.key_fn is not None


def _variable_flags(name: str, args: list[bytes]) -> tuple[str, ...]:
    """The flags Redis computes from the arguments: SET overwrites unless it also GETs,
    BITFIELD only reads unless it SETs or INCRBYs."""
    words = {a.lower() for a in args[2:]}
    if name == "set":
        return ("RW", "access", "update") if b"get" in words else ("OW", "update")
    if words & {b"set", b"incrby"}:
        return ("RW", "access", "update")
    return ("RO", "access")
