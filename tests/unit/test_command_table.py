"""The command table: every spec has a handler, arity/keys are sane, COMMAND shapes."""

from __future__ import annotations

import subprocess
import sys

import pytest

import raftredis.server.handlers  # noqa: F401
from raftredis.commands import COMMANDS, lookup
from raftredis.commands.data import spec_of
from raftredis.commands.spec import Route
from raftredis.reply import Error, Map
from raftredis.server.command_docs import command_doc, command_entry, find
from raftredis.server.dispatch import resolve
from raftredis.server.registry import HANDLERS
from raftredis.statemachine.registry import DEFS, Family
from raftredis.statemachine.registry import HANDLERS as SM_HANDLERS

MINE = {"ping", "echo", "quit", "hello", "auth", "select", "reset", "readonly", "readwrite",
        "asking", "client", "config", "info", "time", "command", "cluster", "multi", "exec",
        "discard", "watch", "unwatch"}


def test_my_commands_are_registered() -> None:
    assert set(COMMANDS) >= MINE


def test_every_local_spec_has_a_handler() -> None:
    for spec in COMMANDS.values():
        if spec.route is not Route.LOCAL:
            continue
        if spec.subcommands:
            for sub in spec.subcommands:
                assert sub.name in HANDLERS, sub.name
            if spec.arity != -2:  # a container callable bare (COMMAND)
                assert spec.name in HANDLERS, spec.name
        else:
            assert spec.name in HANDLERS, spec.name


def test_lookup_is_case_insensitive() -> None:
    assert lookup(b"PiNg") is COMMANDS["ping"]
    assert lookup(b"\xff") is None


def test_resolve_errors_as_redis() -> None:
    assert resolve([b"nosuch", b"a", b"b"]) == Error(
        "ERR unknown command 'nosuch', with args beginning with: 'a' 'b' ")
    assert resolve([b"config", b"bogus"]) == Error(
        "ERR unknown subcommand 'bogus'. Try CONFIG HELP.")
    assert resolve([b"config"]) == Error("ERR wrong number of arguments for 'config' command")
    assert resolve([b"config", b"get"]) == Error(
        "ERR wrong number of arguments for 'config|get' command")
    assert resolve([b"echo"]) == Error("ERR wrong number of arguments for 'echo' command")
    assert resolve([b"CONFIG", b"GET", b"x"]) is COMMANDS["config"].subcommands[0]


def test_command_entry_shape() -> None:
    entry = command_entry(COMMANDS["watch"])
    assert entry[0] == b"watch" and entry[1] == -2
    assert entry[3:6] == [1, -1, 1]
    assert len(entry) == 10
    spec = entry[8][0]
    assert spec[b"begin_search"][b"spec"][b"index"] == 1
    assert spec[b"find_keys"][b"spec"][b"lastkey"] == -1
    cfg = command_entry(COMMANDS["config"])
    assert [s[0] for s in cfg[9]][:2] == [b"config|get", b"config|set"]


def test_every_spec_renders() -> None:
    for spec in COMMANDS.values():
        e = command_entry(spec)
        assert e[0] == spec.name.encode()
        assert isinstance(command_doc(spec), Map)


def test_find_subcommand_by_full_name() -> None:
    assert find(b"CONFIG|GET").name == "config|get"
    assert find(b"config|nope") is None
    assert find(b"nope") is None


# ---- data commands: declared once, spec and handler together ---------------------------

def test_data_specs_come_from_the_family_definitions() -> None:
    for name, d in DEFS.items():
        assert d.handler is not None and SM_HANDLERS[name] is d.handler, name
        assert COMMANDS[name] == spec_of(d), name
    data = {n for n, s in COMMANDS.items() if s.route is not Route.LOCAL}
    assert data - set(DEFS) == {"session.open", "session.exec", "session.close"}


def test_a_command_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        Family("string", "string").command("get", 2, "readonly fast")(lambda ctx, args: None)


def test_either_package_may_be_imported_first() -> None:
    probe = "import raftredis.commands as c; print(len(c.COMMANDS))"
    counts = set()
    for first in ("raftredis.commands", "raftredis.statemachine",
                  "raftredis.statemachine.strings", "raftredis.statemachine.machine",
                  "raftredis.server.dispatch"):
        out = subprocess.run([sys.executable, "-c", f"import {first}; {probe}"],
                             capture_output=True, text=True, timeout=60, check=True)
        counts.add(int(out.stdout))
    assert counts == {len(COMMANDS)}
