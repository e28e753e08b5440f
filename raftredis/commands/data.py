"""The data commands' specs, made from the definitions the state machine families declare
next to their handlers (raftredis.statemachine.registry.Family.command)."""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, Route, register
from raftredis.statemachine.families import DEFS, CommandDef


def spec_of(d: CommandDef) -> CommandSpec:
    """Route and ACL categories follow from the flags, as in Redis 7: write or read
    (no @read for @scripting commands, as Redis), fast or slow, blocking; plus the
    categories the definition names. `replicated` routes through the log too."""
    cats = {"fast" if "fast" in d.flags else "slow"} | d.acl
    if "write" in d.flags:
        cats.add("write")
    elif "readonly" in d.flags and "scripting" not in d.acl:
        cats.add("read")
    if "blocking" in d.flags:
        cats.add("blocking")
    return CommandSpec(
        name=d.name, arity=d.arity, flags=d.flags, first_key=d.first, last_key=d.last,
        step=d.step, route=Route.WRITE if "write" in d.flags or d.replicated else Route.READ,
        acl_categories=frozenset("@" + c for c in cats), summary=d.summary, since=d.since,
        group=d.group, key_fn=d.key_fn, subcommands=tuple(spec_of(s) for s in d.subcommands),
    )


register(*(spec_of(d) for d in DEFS.values()))
