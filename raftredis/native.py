"""Which build of the hot modules runs: compiled by mypyc, or the pure-Python source.

setup.py compiles the modules in COMPILED with mypyc when it can (a C compiler, Python's
headers and mypy are there, and RAFTREDIS_PURE is not set) and writes MANIFEST beside
them: the SHA-256 of each source it compiled. The source stays the reference: every
compiled module is the very .py file next to it, and the pure build runs that file.

At import (raftredis/__init__.py calls choose() before anything else is imported) the
compiled modules are used only when all of them are there and each source is still the
one they were compiled from. Otherwise, or with RAFTREDIS_PURE=1 at run time, a finder
placed first on sys.meta_path loads those modules from their .py files: a source edited
after a build (an editable install, a work tree) runs as edited, never a stale binary.
All or none: compiled modules call each other natively, so they are never mixed.

What compiling changes, and what a module in COMPILED must respect: its annotations are
checked at run time (a wrong hint is a TypeError, compiled only); its classes take no
attributes beyond those assigned in __init__; its calls to its own functions and
methods are bound when compiled, so monkeypatching one reaches only outside callers
(module-level values, e.g. a limit a test lowers, are still read at each use).

This module imports the standard library only: setup.py reads COMPILED from it.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from types import ModuleType

# The modules mypyc compiles, each kept only where it measurably pays (see README,
# "Compiled modules"). Their annotations are checked at run time once compiled, so
# a module joins this list only if its annotations tell the truth.
COMPILED: tuple[str, ...] = (
    "raftredis.replica.applier",
    "raftredis.replica.ops",
    "raftredis.replica.proposals",
    "raftredis.replica.reads",
    "raftredis.replica.slowwatch",
    "raftredis.resp.parser",
    "raftredis.server.cmdstats",
    "raftredis.server.dispatch",
    "raftredis.statemachine.access",
    "raftredis.statemachine.db",
    "raftredis.statemachine.machine",
    "raftredis.statemachine.memory",
    "raftredis.statemachine.registry",
    "raftredis.statemachine.strings",
)
# mypyc's shared library for the group (the shims above import it).
GROUP = "raftredis.native"
MANIFEST = "compiled.json"  # in the package directory, written by setup.py's build_ext

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

_state: dict[str, object] = {"chosen": False, "compiled": False, "reason": "not chosen yet"}


def source_path(module: str, package_dir: str = _PACKAGE_DIR) -> str:
    """The .py file of a module of this package (module: its dotted name)."""
    parts = module.split(".")[1:]
    return os.path.join(package_dir, *parts) + ".py"


def source_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _has_extension(module: str, package_dir: str) -> bool:
    stem = os.path.join(package_dir, *module.split(".")[1:])
    return any(os.path.exists(stem + suffix) for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def stale_extensions(package_dir: str) -> list[str]:
    """Compiled extensions in the package directory that the build no longer makes (a
    module taken out of COMPILED): each would shadow its .py, since Python imports the
    extension first, and fail against the new group library. setup.py removes them
    before an in-place build."""
    wanted = {*COMPILED, GROUP + "__mypyc"}
    top = os.path.basename(os.path.normpath(package_dir))
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    stale = []
    for root, _dirs, files in os.walk(package_dir):
        for name in sorted(files):
            suffix = next((x for x in suffixes if name.endswith(x)), None)
            if suffix is None:
                continue
            rel = os.path.relpath(os.path.join(root, name[:-len(suffix)]), package_dir)
            if f"{top}.{rel.replace(os.sep, '.')}" not in wanted:
                stale.append(os.path.join(root, name))
    return stale


def why_not_compiled(package_dir: str) -> str | None:
    """None when the compiled build can be used, else the reason it cannot."""
    if os.environ.get("RAFTREDIS_PURE", "") not in ("", "0"):
        return "RAFTREDIS_PURE is set"
    try:
        with open(os.path.join(package_dir, MANIFEST), encoding="utf-8") as f:
            built = json.load(f)["sources"]
    except FileNotFoundError:
        return "not compiled at install"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable {MANIFEST}: {exc}"
    for module in (*COMPILED, GROUP + "__mypyc"):
        if not _has_extension(module, package_dir):
            return f"compiled module missing: {module}"
    for module in COMPILED:
        try:
            if built.get(module) != source_digest(source_path(module, package_dir)):
                return f"source changed since the build: {module}"
        except OSError as exc:
            return f"source unreadable: {module}: {exc}"
    return None


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Finds the listed modules as their .py source, ahead of any compiled file."""

    def __init__(self, names: Sequence[str]) -> None:
        self._names = frozenset(names)

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._names:
            return None
        leaf = fullname.rpartition(".")[2] + ".py"
        for entry in path or ():
            candidate = os.path.join(entry, leaf)
            if os.path.isfile(candidate):
                return importlib.util.spec_from_file_location(fullname, candidate)
        return None


def choose(package_dir: str = _PACKAGE_DIR) -> bool:
    """Decide once per process, before the modules are imported; True: compiled."""
    if _state["chosen"]:
        return bool(_state["compiled"])
    reason = why_not_compiled(package_dir)
    if reason is not None and not any(isinstance(f, _SourceFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst(COMPILED))
    _state.update(chosen=True, compiled=reason is None, reason=reason or "compiled with mypyc")
    return reason is None


def compiled() -> bool:
    """Whether this process runs the compiled modules (the INFO field
    raftredis_compiled); checked on the loaded modules themselves."""
    if not _state["compiled"]:
        return False
    for name in COMPILED:
        module = sys.modules.get(name)
        if module is not None and not isinstance(
                getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader):
            return False
    return True


def describe() -> str:
    """One line for humans: which build runs, and why when it is the pure one."""
    return "compiled (mypyc)" if compiled() else f"pure Python ({_state['reason']})"
