"""Scripting inside the StateMachine: determinism across replicas, the step budget,
routing of read-only scripts, snapshots, MULTI, the sandbox and change notes."""

from __future__ import annotations

import io

import pytest

from raftredis.commands import lookup
from raftredis.commands.spec import Route
from raftredis.reply import Error
from raftredis.statemachine import StateMachine
from raftredis.statemachine.changes import ChangeKind
from raftredis.statemachine.scripting import engine
from raftredis.statemachine.snapshot import SnapshotError

NOW = 1_700_000_000_123
LOOP = b"redis.call('incr', KEYS[1]) while true do end"
LIB = (b"#!lua name=lib\n"
       b"redis.register_function('put', function(k, a) return redis.call('set', k[1], a[1]) end)\n"
       b"redis.register_function{function_name='peek', callback=function(k) "
       b"return redis.call('get', k[1]) end, flags={'no-writes'}}\n")


@pytest.fixture(autouse=True)
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A twentieth of the real budget: the same checks, a fraction of the run time."""
    monkeypatch.setattr(engine, "BUDGET", engine.BUDGET // 20)


def a(sm: StateMachine, *args: bytes | str | int, seed: int = 7) -> object:
    return sm.apply([x if isinstance(x, bytes) else str(x).encode() for x in args], NOW, seed)


def r(sm: StateMachine, *args: bytes | str | int) -> object:
    return sm.read([x if isinstance(x, bytes) else str(x).encode() for x in args], NOW)


def test_replicas_apply_the_same_script_identically() -> None:
    script = b"local t = {} for i = 1, 5 do t[i] = math.random(1000) end " \
             b"redis.call('set', KEYS[1], table.concat(t, ',')) return t"
    one, two = StateMachine(), StateMachine()
    assert a(one, "EVAL", script, 1, "k", seed=42) == a(two, "EVAL", script, 1, "k", seed=42)
    assert r(one, "GET", "k") == r(two, "GET", "k")
    # Another entry, another seed: the draws come from the entry, not a process-wide state.
    assert a(one, "EVAL", script, 1, "k", seed=43) != a(two, "EVAL", script, 1, "k", seed=42)


def test_time_inside_a_script_is_the_entrys_stamp() -> None:
    sm = StateMachine()
    assert a(sm, "EVAL", "return redis.call('TIME')", 0) == [b"1700000000", b"123000"]


def test_a_runaway_script_stops_at_the_same_step_everywhere_and_keeps_its_writes() -> None:
    machines = [StateMachine() for _ in range(3)]
    replies = [a(sm, "EVAL", LOOP, 1, "n") for sm in machines]
    assert all(rep == engine.KILLED for rep in replies)
    used = {sm.scripting.engine.used for sm in machines}
    assert len(used) == 1 and used.pop() >= engine.BUDGET
    assert [r(sm, "GET", "n") for sm in machines] == [b"1"] * 3  # not rolled back
    for sm in machines:  # the state is fine afterwards
        assert a(sm, "EVAL", "return redis.call('incr', KEYS[1])", 1, "n") == 2


@pytest.mark.parametrize("body", [
    b"while true do pcall(function() while true do end end) end",
    b"while true do local ok = pcall(redis.call, 'ping') end",
    b"local i = 0 while true do i = i + 1; redis.pcall('incr', 'c') end",
    b"local co = coroutine.wrap(function() while true do end end) co()",
])
def test_pcall_and_coroutines_cannot_escape_the_budget(body: bytes) -> None:
    sm = StateMachine()
    assert a(sm, "EVAL", body, 0) == engine.KILLED
    assert a(sm, "EVAL", "return 'alive'", 0) == b"alive"


def test_read_only_scripts_have_the_budget_too() -> None:
    sm = StateMachine()
    assert r(sm, "EVAL_RO", "while true do end", 0) == engine.KILLED


def test_redis_call_counts_against_the_budget() -> None:
    sm = StateMachine()
    reply = a(sm, "EVAL", "for i = 1, 1e9 do redis.call('incr', 'c') end", 0)
    assert reply == engine.KILLED
    calls = int(r(sm, "GET", "c"))  # type: ignore[arg-type]
    assert 0 < calls <= engine.BUDGET // engine.CALL_COST


def test_read_only_invocations_route_as_reads() -> None:
    sm = StateMachine()
    sha = a(sm, "SCRIPT", "LOAD", b"#!lua flags=no-writes\nreturn 1")
    plain = a(sm, "SCRIPT", "LOAD", b"return 1")
    assert a(sm, "FUNCTION", "LOAD", LIB) == b"lib"

    def route(*args: bytes | str | int) -> Route:
        argv = [x if isinstance(x, bytes) else str(x).encode() for x in args]
        spec = lookup(argv[0])
        assert spec is not None
        return sm.route(spec, argv)

    assert route("EVAL", b"#!lua flags=no-writes\nreturn 1", 0) is Route.READ
    assert route("EVAL", b"return 1", 0) is Route.WRITE
    assert route("EVAL", b"#!lua\nreturn 1", 0) is Route.WRITE
    assert route("EVALSHA", sha, 0) is Route.READ  # type: ignore[arg-type]
    assert route("EVALSHA", plain, 0) is Route.WRITE  # type: ignore[arg-type]
    assert route("EVALSHA", "0" * 40, 0) is Route.WRITE
    assert route("FCALL", "peek", 1, "k") is Route.READ
    assert route("FCALL", "put", 1, "k", "v") is Route.WRITE
    assert route("EVAL_RO", b"return 1", 0) is Route.READ
    assert route("FCALL_RO", "peek", 0) is Route.READ
    # A read-only script served as a read refuses writes, and changes nothing.
    reply = r(sm, "EVAL", b"#!lua flags=no-writes\nreturn redis.call('set', 'x', 1)", 0)
    assert isinstance(reply, Error)
    assert reply.startswith("ERR Write commands are not allowed from read-only scripts.")
    assert r(sm, "GET", "x") is None


def test_keys_route_by_numkeys() -> None:
    spec = lookup(b"EVAL")
    assert spec is not None
    assert spec.keys([b"EVAL", b"return 1", b"2", b"k1", b"k2", b"a"]) == [b"k1", b"k2"]
    assert spec.keys([b"EVAL", b"return 1", b"0", b"a"]) == []
    assert spec.keys([b"EVAL", b"return 1", b"9", b"a"]) == []
    fcall = lookup(b"FCALL")
    assert fcall is not None and fcall.keys([b"FCALL", b"f", b"1", b"{t}x"]) == [b"{t}x"]


def test_a_read_does_not_fill_the_replicated_script_cache() -> None:
    sm = StateMachine()
    assert r(sm, "EVAL_RO", "return 5", 0) == 5
    assert r(sm, "SCRIPT", "EXISTS", "ee1c2df3c8e2d7b2d1b8e9e9b1c5d4f5c0e3a2b1") == [0]
    sha = a(sm, "SCRIPT", "LOAD", "return 5")
    assert r(sm, "SCRIPT", "EXISTS", sha) == [1]  # type: ignore[arg-type]
    assert r(sm, "SCRIPT", "LOAD", "return 6") == Error("ERR command is not read-only")
    assert r(sm, "SCRIPT", "FLUSH") == Error("ERR command is not read-only")
    assert r(sm, "FUNCTION", "LOAD", LIB) == Error("ERR command is not read-only")


def test_scripts_and_functions_survive_a_snapshot() -> None:
    sm = StateMachine()
    sha = a(sm, "SCRIPT", "LOAD", "return ARGV[1] .. '!'")
    assert a(sm, "EVAL", "return 'cached too'", 0) == b"cached too"
    assert a(sm, "FUNCTION", "LOAD", LIB) == b"lib"
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    assert buf.getvalue()[4] == 3  # the version with scripting records
    buf.seek(0)
    restored = StateMachine()
    restored.restore_snapshot(buf)
    assert a(restored, "EVALSHA", sha, 0, "hi") == b"hi!"  # type: ignore[arg-type]
    assert a(restored, "FCALL", "put", 1, "k", "v") == "OK"
    assert r(restored, "FCALL_RO", "peek", 1, "k") == b"v"
    assert r(restored, "FUNCTION", "DUMP") == r(sm, "FUNCTION", "DUMP")
    fresh = StateMachine()  # a restored node routes a no-writes function as a read at once
    buf.seek(0)
    fresh.restore_snapshot(buf)
    spec = lookup(b"FCALL")
    assert spec is not None and fresh.route(spec, [b"FCALL", b"peek", b"1", b"k"]) is Route.READ
    assert a(restored, "FUNCTION", "LOAD", LIB) == Error("ERR Library 'lib' already exists")


def test_a_machine_without_scripts_writes_the_older_snapshot_versions() -> None:
    sm = StateMachine()
    a(sm, "SET", "k", "v")
    buf = io.BytesIO()
    sm.write_snapshot(buf)
    assert buf.getvalue()[4] == 1


def test_corrupt_scripting_records_are_refused_before_anything_changes() -> None:
    from raftredis.statemachine import snapshot

    sm = StateMachine()
    a(sm, "SET", "k", "v")
    buf = io.BytesIO()
    snapshot.write(sm.db, buf, sm.sessions, [["s", b"#!perl\nprint 1"]])
    buf.seek(0)
    with pytest.raises(SnapshotError):
        sm.decode_snapshot(buf)


def test_scripts_inside_multi() -> None:
    sm = StateMachine()
    replies = sm.apply_multi([[b"SET", b"k", b"1"],
                              [b"EVAL", b"return redis.call('incr', KEYS[1])", b"1", b"k"],
                              [b"EVAL_RO", b"return redis.call('get', KEYS[1])", b"1", b"k"],
                              [b"EVALSHA", b"0" * 40, b"0"]], NOW, 3)
    assert replies == ["OK", 2, b"2",
                       Error("NOSCRIPT No matching script. Please use EVAL.")]


def test_script_writes_are_noted_as_changes_of_their_own_commands() -> None:
    sm = StateMachine()
    sm.record_changes(True)
    a(sm, "EVAL", "redis.call('set', KEYS[1], 1) redis.call('lpush', 'other', 'x') "
                  "return redis.call('get', KEYS[1])", 1, "k")
    changes = sm.take_changes()
    assert [(c.kind, c.keys) for c in changes] == [(ChangeKind.WRITE, (b"k",)),
                                                   (ChangeKind.WRITE, (b"other",))]


@pytest.mark.parametrize("body", [
    b"string.len = nil", b"redis.call = nil", b"math.random = nil", b"cjson.encode = nil",
    b"rawset(_G, 'x', 1)", b"rawset(string, 'x', 1)", b"_G.x = 1", b"setmetatable(_G, nil)",
    b"getmetatable('').__index = {}", b"x = 1",
])
def test_nothing_a_later_script_sees_can_be_changed(body: bytes) -> None:
    sm = StateMachine()
    reply = a(sm, "EVAL", body, 0)
    assert isinstance(reply, Error), (body, reply)
    assert a(sm, "EVAL", "return {string.len('abc'), type(redis.call), type(math.random), "
                         "cjson.encode({1}), ('x'):rep(2)}", 0) == [3, b"userdata", b"function",
                                                                    b"[1]", b"xx"]


def test_bytecode_is_refused() -> None:
    sm = StateMachine()
    assert a(sm, "EVAL", "local f, e = loadstring(string.dump(function() return 1 end)) "
                         "return e", 0) == b"binary chunks are not allowed"
