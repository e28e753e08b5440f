"""What ACL rules name: the command table's full names ("get", "config|get") and the
Redis 7 categories, read from the command specs (their `acl_categories` mirror
Redis's COMMAND INFO). Built once, lazily: `raftredis.commands` imports the state
machine's families, which must not import it back at module load."""

from __future__ import annotations

from dataclasses import dataclass

# Redis 7's categories, in its order (ACL CAT lists them so).
CATEGORIES = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
              "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
              "blocking", "dangerous", "connection", "transaction", "scripting")


@dataclass(frozen=True, slots=True)
class Catalog:
    # full name -> the full names a +/- rule on it changes (itself and its subcommands)
    family: dict[str, tuple[str, ...]]
    # category -> the full names in it (a container's subcommands come with it, as Redis's
    # ACLChangeSelectorPerm does)
    by_category: dict[str, frozenset[str]]
    # category -> the commands tagged with it, in table order (ACL CAT <category>)
    listed: dict[str, tuple[str, ...]]
    everything: frozenset[str]
    parents: frozenset[str]  # commands that have subcommands


_catalog: Catalog | None = None


def catalog() -> Catalog:
    global _catalog
    if _catalog is None:
        _catalog = _build()
    return _catalog


def _build() -> Catalog:
    from raftredis.commands import COMMANDS

    family: dict[str, tuple[str, ...]] = {}
    tagged: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    parents: set[str] = set()
    for spec in COMMANDS.values():
        subs = tuple(s.name for s in spec.subcommands)
        family[spec.name] = (spec.name, *subs)
        if subs:
            parents.add(spec.name)
        for s in (spec, *spec.subcommands):
            if s is not spec:
                family[s.name] = (s.name,)
            for cat in s.acl_categories:
                name = cat.removeprefix("@")
                if name in tagged:
                    tagged[name].append(s.name)
    by_category = {c: frozenset(n for name in names for n in family[name])
                   for c, names in tagged.items()}
    return Catalog(family, by_category, {c: tuple(v) for c, v in tagged.items()},
                   frozenset(family), frozenset(parents))
