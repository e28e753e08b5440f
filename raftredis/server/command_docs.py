"""COMMAND, COMMAND INFO, COMMAND DOCS in Redis 7's reply shapes, built from the table.

redis-py's cluster client reads `COMMAND` to find each command's keys: entry fields are
name, arity, flags, first key, last key, step, ACL categories, tips, key specs and
subcommands (each subcommand an entry of the same shape, named "container|sub")."""

from __future__ import annotations

from raftredis.commands import COMMANDS
from raftredis.commands.spec import CommandSpec
from raftredis.reply import Map, Set, Status


def _key_specs(spec: CommandSpec) -> list[object]:
    if spec.key_fn is not None:
        return [Map({
            b"flags": Set([Status("RW" if "write" in spec.flags else "RO")]),
            b"begin_search": Map({b"type": b"unknown", b"spec": Map()}),
            b"find_keys": Map({b"type": b"unknown", b"spec": Map()}),
        })]
    if spec.first_key <= 0:
        return []
    last = spec.last_key - spec.first_key if spec.last_key >= 0 else spec.last_key
    access = "RW" if "write" in spec.flags else "RO"
    return [Map({
        b"flags": Set([Status(access), Status("ACCESS")]),
        b"begin_search": Map({b"type": b"index", b"spec": Map({b"index": spec.first_key})}),
        b"find_keys": Map({
            b"type": b"range",
            b"spec": Map({b"lastkey": last, b"keystep": spec.step or 1, b"limit": 0}),
        }),
    })]


def command_entry(spec: CommandSpec) -> list[object]:
    flags = sorted(spec.flags)
    if spec.key_fn is not None:
        flags.append("movablekeys")
    return [
        spec.name.encode(),
        spec.arity,
        Set([Status(f) for f in flags]),
        spec.first_key,
        spec.last_key,
        spec.step,
        Set([Status(c) for c in sorted(spec.acl_categories)]),
        [],
        _key_specs(spec),
        [command_entry(s) for s in spec.subcommands],
    ]


def command_doc(spec: CommandSpec) -> Map:
    doc = Map({
        b"summary": spec.summary.encode(),
        b"since": spec.since.encode(),
        b"group": spec.group.encode(),
    })
    if spec.subcommands:
        doc[b"subcommands"] = Map({s.name.encode(): command_doc(s) for s in spec.subcommands})
    return doc


def find(name: bytes) -> CommandSpec | None:
    """A command or "container|sub" by name, any case."""
    text = name.decode("utf-8", "replace").lower()
    top, _, sub = text.partition("|")
    spec = COMMANDS.get(top)
    if spec is None or not sub:
        return spec
    for s in spec.subcommands:
        if s.name == text:
            return s
    return None


def all_names(with_subcommands: bool = True) -> list[CommandSpec]:
    out = []
    for spec in COMMANDS.values():
        out.append(spec)
        if with_subcommands:
            out.extend(spec.subcommands)
    return out
