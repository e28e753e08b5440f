"""What scripting adds to the replicated state: the script cache (EVAL, SCRIPT LOAD) and
the function libraries (FUNCTION LOAD), plus the Lua state that runs them.

The cache and the libraries are part of the state machine's snapshot (`records()`);
the Lua state is not: it is made on first use and the libraries are loaded into it
again from their code, so a restored replica runs the same functions as one that
replayed the log.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from raftredis.reply import CommandError, Error
from raftredis.statemachine.registry import Ctx
from raftredis.statemachine.scripting.engine import LuaEngine, Runner, ScriptFailed, sha1hex

SCRIPT_FLAGS = frozenset({"no-writes", "allow-oom", "allow-stale", "no-cluster",
                          "allow-cross-slot-keys"})
_LIB_NAME = re.compile(rb"^[A-Za-z0-9_]+$")
NOSCRIPT = Error("NOSCRIPT No matching script. Please use EVAL.")
NO_FUNCTION = Error("ERR Function not found")
WRITE_FLAG_RO = Error("ERR Can not execute a script with write flag using *_ro command.")


@dataclass(slots=True)
class Script:
    body: bytes
    flags: frozenset[str] | None  # None: no shebang (Redis's legacy, may write)
    code_start: int  # where the Lua code starts (after the shebang line)


@dataclass(slots=True)
class Function:
    name: bytes
    fn: Any  # the Lua callback
    flags: tuple[str, ...]
    description: bytes | None


@dataclass(slots=True)
class Library:
    name: bytes
    code: bytes
    functions: dict[bytes, Function] = field(default_factory=dict)


def parse_shebang(body: bytes) -> tuple[frozenset[str] | None, int]:
    """(flags, offset of the code) from `#!lua flags=a,b`; CommandError as Redis."""
    if not body.startswith(b"#!"):
        return None, 0
    end = body.find(b"\n")
    line = body[:end if end >= 0 else len(body)]
    parts = line.split()
    if not parts or parts[0] != b"#!lua":
        raise CommandError("ERR Unexpected engine in script shebang: "
                           + (parts[0] if parts else line).decode("utf-8", "replace"))
    flags: set[str] = set()
    for part in parts[1:]:
        if not part.startswith(b"flags="):
            raise CommandError("ERR Unknown lua shebang option: "
                               + part.decode("utf-8", "replace"))
        for f in part[6:].split(b","):
            if not f:
                continue
            name = f.decode("utf-8", "replace")
            if name not in SCRIPT_FLAGS:
                raise CommandError(f"ERR Unexpected flag in script shebang: {name}")
            flags.add(name)
    return frozenset(flags), len(line)


class Scripting:
    """Per StateMachine: the script cache, the libraries and (lazily) the Lua state."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self._engine: LuaEngine | None = None
        self.scripts: dict[bytes, Script] = {}
        self._compiled: dict[bytes, Any] = {}
        self.libraries: dict[bytes, Library] = {}
        self.functions: dict[bytes, tuple[Library, Function]] = {}
        self._unloaded: list[bytes] = []  # library code from a snapshot, not run yet

    @property
    def engine(self) -> LuaEngine:
        if self._engine is None:
            self._engine = LuaEngine(self._runner)
        return self._engine

    # ---- scripts ----------------------------------------------------------------------
    def lookup(self, sha: bytes) -> Script | None:
        return self.scripts.get(sha.lower())

    def prepare(self, body: bytes, cache: bool) -> tuple[bytes, Script]:
        """Check and compile a script body; keep it in the cache when `cache` (an applied
        entry: the cache is replicated state and a read must not change it)."""
        sha = sha1hex(body)
        script = self.scripts.get(sha)
        if script is None:
            flags, start = parse_shebang(body)
            script = Script(body, flags, start)
            self._compile(sha, script)
            if cache:
                self.scripts[sha] = script
        return sha, script

    def _compile(self, sha: bytes, script: Script) -> Any:
        fn = self._compiled.get(sha)
        if fn is None:
            try:
                fn = self.engine.compile(script.body[script.code_start:], b"@user_script")
            except ScriptFailed as e:
                raise CommandError("ERR Error compiling script (new function): "
                                   + str(e.reply)) from None
            if len(self._compiled) >= 10_000:  # compiled code is a cache, not state
                self._compiled.clear()
            self._compiled[sha] = fn
        return fn

    def run_script(self, ctx: Ctx, sha: bytes, script: Script, keys: list[bytes],
                   argv: list[bytes], ro_command: bool) -> object:
        if script.flags is not None and "no-writes" not in script.flags and ro_command:
            return WRITE_FLAG_RO
        read_only = ro_command or not ctx.write or (
            script.flags is not None and "no-writes" in script.flags)
        fn = self._compile(sha, script)
        return self.engine.run(fn, keys, argv, ctx, read_only, sha.decode())

    def flush_scripts(self) -> None:
        self.scripts.clear()
        self._compiled.clear()

    def script_is_read_only(self, body: bytes | None, sha: bytes | None) -> bool:
        """For routing: whether this EVAL/EVALSHA would refuse every write anyway."""
        if sha is not None:
            script = self.lookup(sha)
            return script is not None and script.flags is not None \
                and "no-writes" in script.flags
        try:
            flags, _ = parse_shebang(body or b"")
        except CommandError:
            return True  # it fails before running: a read answers the same error
        return flags is not None and "no-writes" in flags

    # ---- functions --------------------------------------------------------------------
    def _ensure_loaded(self, ctx: Ctx) -> None:
        pending, self._unloaded = self._unloaded, []
        for code in pending:
            # It loaded when it was first applied, and this is the same Lua.
            with contextlib.suppress(CommandError):
                self.load_library(ctx, code, replace=False)

    def find_function(self, ctx: Ctx, name: bytes) -> tuple[Library, Function] | None:
        self._ensure_loaded(ctx)
        return self.functions.get(name)

    def all_libraries(self, ctx: Ctx) -> dict[bytes, Library]:
        self._ensure_loaded(ctx)
        return self.libraries

    def compile_library(self, ctx: Ctx, code: bytes) -> Library:
        """Parse the metadata and run the library's code; nothing is installed yet."""
        if not code.startswith(b"#!"):
            raise CommandError("ERR Missing library metadata")
        end = code.find(b"\n")
        line = code[:end if end >= 0 else len(code)]
        parts = line[2:].split()
        if not parts:
            raise CommandError("ERR Missing library metadata")
        if parts[0] != b"lua":
            raise CommandError("ERR Engine '" + parts[0].decode("utf-8", "replace")
                               + "' not found")
        name: bytes | None = None
        for part in parts[1:]:
            if part.startswith(b"name="):
                name = part[5:]
            else:
                raise CommandError("ERR Invalid metadata value given: "
                                   + part.decode("utf-8", "replace"))
        if name is None:
            raise CommandError("ERR Library name was not given")
        if not _LIB_NAME.match(name):
            raise CommandError("ERR Library names can only contain letters, numbers, or "
                               "underscores(_) and must be at least one character long")
        engine = self.engine
        try:
            fn = engine.compile(code[len(line):], b"@user_function")
        except ScriptFailed as e:
            raise CommandError("ERR Error compiling function: " + str(e.reply)) from None
        try:
            registered = engine.load_library(fn, ctx)
        except ScriptFailed as e:
            raise CommandError(str(e.reply)) from None
        lib = Library(name, code)
        for fname, cb, flags, desc in registered:
            if not _LIB_NAME.match(fname):
                raise CommandError("ERR Error registering functions: Function names can only "
                                   "contain letters, numbers, or underscores(_) and must be at "
                                   "least one character long")
            if fname in lib.functions:
                raise CommandError("ERR Error registering functions: Function already exists "
                                   "in the library")
            names = tuple(f.decode("utf-8", "replace") for f in flags)
            for f in names:
                if f not in SCRIPT_FLAGS:
                    raise CommandError("ERR Error registering functions: unknown flag given")
            lib.functions[fname] = Function(fname, cb, names, desc)
        if not lib.functions:
            raise CommandError("ERR No functions registered")
        return lib

    def load_library(self, ctx: Ctx, code: bytes, replace: bool) -> bytes:
        lib = self.compile_library(ctx, code)
        self.install([lib], replace)
        return lib.name

    def install(self, libs: list[Library], replace: bool) -> None:
        """Add libraries all or nothing: a name clash leaves everything as it was."""
        if self._unloaded:
            raise RuntimeError("libraries from the snapshot must be loaded first")
        dropped = {lib.name for lib in libs if lib.name in self.libraries}
        for lib in libs:
            if lib.name in self.libraries and not replace:
                raise CommandError(f"ERR Library '{lib.name.decode('utf-8', 'replace')}' "
                                   "already exists")
        seen: set[bytes] = set()
        for lib in libs:
            for fname in lib.functions:
                owner = self.functions.get(fname)
                if (owner is not None and owner[0].name not in dropped) or fname in seen:
                    raise CommandError(f"ERR Function {fname.decode('utf-8', 'replace')} "
                                       "already exists")
                seen.add(fname)
        for name in dropped:
            self.delete_library(name)
        for lib in libs:
            self.libraries[lib.name] = lib
            for fname, f in lib.functions.items():
                self.functions[fname] = (lib, f)

    def delete_library(self, name: bytes) -> bool:
        lib = self.libraries.pop(name, None)
        if lib is None:
            return False
        for fname in lib.functions:
            self.functions.pop(fname, None)
        return True

    def flush_functions(self) -> None:
        self.libraries.clear()
        self.functions.clear()
        self._unloaded.clear()

    def run_function(self, ctx: Ctx, name: bytes, keys: list[bytes], argv: list[bytes],
                     ro_command: bool) -> object:
        found = self.find_function(ctx, name)
        if found is None:
            return NO_FUNCTION
        _, f = found
        no_writes = "no-writes" in f.flags
        if ro_command and not no_writes:
            return WRITE_FLAG_RO
        read_only = ro_command or no_writes or not ctx.write
        return self.engine.run(f.fn, keys, argv, ctx, read_only, name.decode("utf-8", "replace"),
                               function=True)

    def function_is_read_only(self, name: bytes, ctx: Ctx) -> bool:
        found = self.find_function(ctx, name)  # (loads a restored snapshot's libraries)
        return found is not None and "no-writes" in found[1].flags

    # ---- snapshot ---------------------------------------------------------------------
    def records(self) -> Iterator[list]:
        """[kind, body]: "s" a cached script, "l" a library's code (loaded in order)."""
        for script in self.scripts.values():
            yield ["s", script.body]
        for code in self._unloaded:
            yield ["l", code]
        for lib in self.libraries.values():
            yield ["l", lib.code]

    def is_empty(self) -> bool:
        return not self.scripts and not self.libraries and not self._unloaded

    def load_records(self, records: list) -> None:
        """Replace everything from records(); ValueError on a malformed one."""
        scripts: dict[bytes, Script] = {}
        codes: list[bytes] = []
        for rec in records:
            if not isinstance(rec, list) or len(rec) != 2 or not isinstance(rec[1], bytes):
                raise ValueError("scripting record is malformed")
            kind, body = rec
            if kind == "s":
                try:
                    flags, start = parse_shebang(body)
                except CommandError as e:
                    raise ValueError(f"cached script is invalid: {e.message}") from None
                scripts[sha1hex(body)] = Script(body, flags, start)
            elif kind == "l":
                codes.append(body)
            else:
                raise ValueError(f"scripting record kind {kind!r} is unknown")
        self.scripts = scripts
        self._compiled.clear()
        self.libraries.clear()
        self.functions.clear()
        self._unloaded = codes
