"""CONFIG for one group: CONFIG GET shows the node's real values; CONFIG SET of
appendfsync acts on this node's disk; every other settable parameter is cluster-wide:
it goes through the log, every node applies it, and it is remembered in
cluster-config.json across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable

from raftredis.config import NodeConfig
from raftredis.replica import ops as logops
from raftredis.reply import OK, Error
from raftredis.statemachine.memory import MEMORY_PARAMS, MemoryPolicy
from raftredis.storage import FsyncPolicy

log = logging.getLogger("raftredis.replica")

# CONFIG SET parameters that act on this node only (its own disk); the rest are
# cluster-wide and go through the log.
NODE_LOCAL_SETTINGS = frozenset({"appendfsync"})
# Node settings (config.py fields) whose CONFIG name is not the field's own.
_CONFIG_NAME = {"snapshot_threshold": "raft-snapshot-threshold"}
# Settings whose parsed value (a hash) is what the log and cluster-config.json carry,
# never the text given (a clear password).
HASHED_SETTINGS = frozenset({"requirepass"})


class ClusterSettings:
    def __init__(self, config: NodeConfig, loop: asyncio.AbstractEventLoop,
                 set_fsync: Callable[[FsyncPolicy], None],
                 memory: MemoryPolicy | None = None) -> None:
        self._config = config
        self._loop = loop
        self._set_fsync = set_fsync
        self._memory = memory if memory is not None else MemoryPolicy()
        self.settings = None  # raftredis.server.settings.ServerSettings, once attached
        # Cluster-wide settings given explicitly to this node: name -> (the flag's text,
        # its parsed value), until a CONFIG SET logged after this start replaces them; and
        # what the cluster logged for them, as far as this node knows (see _take_flags).
        self._overrides: dict[str, tuple[str, object]] = {}
        self._logged: dict[str, object] = {}
        self._warned: set[str] = set()
        self._replay_until = 0  # entries up to here were logged before this start

    def attach(self, settings) -> None:
        """Join the server's settings and load the cluster-wide values applied before."""
        from raftredis.server.settings import BOOL, INT, STRING

        cfg = self._config
        self.settings = settings
        settings.define("appendonly", BOOL, True, settable=False,
                        note="the Raft log is always on")
        settings.define("appendfsync", STRING, cfg.fsync, choices=("always", "everysec", "no"))
        settings.define("raft-snapshot-threshold", INT, cfg.snapshot_threshold, minimum=1,
                        maximum=1 << 40)
        settings.define("dir", STRING, os.path.abspath(cfg.data_dir), settable=False,
                        note="can't set protected config")  # Redis 7's answer too
        self._define_memory(settings)
        # Cluster-wide values applied from the log before the last snapshot live on here.
        try:
            with open(self._path(), encoding="utf-8") as fp:
                saved = json.load(fp)
            rewrite = False
            for name, value in saved.items():
                for parsed_name, parsed in settings.validate([(name.encode(), value.encode())]):
                    settings.set_value(parsed_name, parsed)
                    self._logged[parsed_name] = parsed
                    if parsed_name in HASHED_SETTINGS and parsed != value:
                        saved[name] = parsed  # written in clear by an older version
                        rewrite = True
            if rewrite:
                self._write_saved(saved)
        except FileNotFoundError:
            pass
        except (ValueError, OSError) as exc:
            log.error("ignoring unreadable %s: %s", self._path(), exc)
        self._take_flags(settings)
        for name in MEMORY_PARAMS:  # what the flags and the saved values came to
            self._memory.set(name, settings[name])
        settings.on_change(self._on_setting)

    def _take_flags(self, settings) -> None:
        """The rule between a node's flags and the cluster's logged settings: a
        cluster-wide setting given explicitly (flag, environment or file) that differs
        from the logged value wins on this node from the start, and this node proposes
        it through the log as soon as it leads (`leading`), so the cluster follows. A
        CONFIG SET logged after this start wins over the flag. Said in the log, never
        silent (a rotated --requirepass must work after a restart)."""
        from raftredis.server.settings import ConfigError

        cfg = self._config
        names = set(settings.names())
        for f in sorted(cfg.given):
            name = _CONFIG_NAME.get(f, f.replace("_", "-"))
            if name not in names or name in NODE_LOCAL_SETTINGS:
                continue
            raw = str(getattr(cfg, f))
            try:
                [(_, value)] = settings.validate([(name.encode(), raw.encode())])
            except ConfigError:
                continue  # not settable (port, bind, ...): a node setting, not the cluster's
            if name in HASHED_SETTINGS:
                raw = str(value)  # what leading() proposes: the hash, not the password
            # Every explicit flag overrides what the log replays (the log may hold a value
            # that the file of saved values does not have yet).
            self._overrides[name] = (raw, value)
            if value != settings[name]:
                settings.set_value(name, value)
            if name in self._logged and self._logged[name] != value:
                self._warn_override(name)

    def _warn_override(self, name: str) -> None:
        if name in self._warned:
            return
        self._warned.add(name)
        shown = "(hidden)" if name == "requirepass" else repr(self._overrides[name][0])
        log.warning("%s: this node was started with %s, which differs from the value the "
                    "cluster logged; using it here, and proposing it to the cluster when this "
                    "node leads (a CONFIG SET made later wins)", name, shown)

    def replaying_until(self, index: int) -> None:
        """Entries up to `index` were in the log before this start: re-applying them
        must not undo the flags that override them."""
        self._replay_until = index

    def leading(self, submit: Callable[[logops.ConfigSet], asyncio.Future]) -> None:
        """This node became leader: propose the flags that override logged values."""
        differ = {n: raw for n, (raw, value) in self._overrides.items()
                  if n not in self._logged or self._logged[n] != value}
        if not differ:
            return
        log.info("proposing this node's flags for %s to the cluster", ", ".join(sorted(differ)))
        submit(logops.config_set([[n.encode(), v.encode()] for n, v in sorted(differ.items())]))

    def _define_memory(self, settings) -> None:
        """maxmemory and its companions (defined, with Redis 7's validation, by the server's
        settings) start from the node's flags or file, checked as CONFIG SET checks them."""
        cfg = self._config
        initial = [("maxmemory", cfg.maxmemory), ("maxmemory-policy", cfg.maxmemory_policy),
                   ("maxmemory-samples", cfg.maxmemory_samples),
                   ("maxmemory-eviction-tenacity", cfg.maxmemory_eviction_tenacity),
                   ("lfu-log-factor", cfg.lfu_log_factor), ("lfu-decay-time", cfg.lfu_decay_time)]
        # A bad flag is a ConfigError with CONFIG SET's text: the node does not start.
        parsed = settings.validate([(n.encode(), str(v).encode()) for n, v in initial])
        for name, value in parsed:
            settings.adjust(name, value)

    def _path(self) -> str:
        return os.path.join(self._config.data_dir, "cluster-config.json")

    def _on_setting(self, name: str, value: object) -> None:
        if name == "appendfsync":
            self._set_fsync(FsyncPolicy(str(value)))
            self._config.fsync = str(value)
        elif name == "raft-snapshot-threshold":
            self._config.snapshot_threshold = int(value)  # type: ignore[arg-type]
        elif name in MEMORY_PARAMS:
            self._memory.set(name, value)

    def config_set(self, pairs: list[tuple[bytes, bytes]], is_leader: bool,
                   redirect: Callable[[], object],
                   submit: Callable[[logops.ConfigSet], asyncio.Future]) -> object:
        from raftredis.server.settings import ConfigError

        settings = self.settings
        if settings is None:
            return Error("ERR CONFIG SET is not available yet")
        try:
            parsed = settings.validate(pairs)
        except ConfigError as exc:
            return Error(str(exc))
        local = [(n, v) for n, v in parsed if n in NODE_LOCAL_SETTINGS]
        shared = [[n.encode(), str(v).encode() if n in HASHED_SETTINGS else raw]
                  for (n, v), (_, raw) in zip(parsed, pairs, strict=True)
                  if n not in NODE_LOCAL_SETTINGS]

        def apply_local() -> object:
            for name, value in local:
                settings.set_value(name, value)
            return OK

        if not shared:
            return apply_local()
        if not is_leader:
            return redirect()
        fut = submit(logops.config_set(shared))
        out = self._loop.create_future()

        def done(f: asyncio.Future) -> None:
            reply = f.result()
            reply = apply_local() if reply is OK else reply
            if not out.done():  # cancelled if the client left
                out.set_result(reply)

        fut.add_done_callback(done)
        return out

    def apply(self, pairs: list, index: int) -> object:
        """A CONFIG operation from the log (at `index`), on every node: set and remember
        the values."""
        settings = self.settings
        if settings is None:
            return OK
        from raftredis.server.settings import ConfigError

        try:
            parsed = settings.validate([(bytes(n), bytes(v)) for n, v in pairs])
        except ConfigError as exc:
            return Error(str(exc))
        for name, value in parsed:
            if name in self._overrides:
                if index <= self._replay_until:
                    # Logged before this start: the flag overrides it.
                    self._logged[name] = value
                    if value != self._overrides[name][1]:
                        self._warn_override(name)
                    continue
                del self._overrides[name]  # logged since: it wins (or is the flag itself)
            self._logged[name] = value
            settings.set_value(name, value)
        saved: dict[str, str] = {}
        path = self._path()
        with contextlib.suppress(FileNotFoundError, ValueError), \
                open(path, encoding="utf-8") as fp:
            saved = json.load(fp)
        for (n, v), (parsed_name, value) in zip(pairs, parsed, strict=True):
            saved[bytes(n).decode()] = str(value) if parsed_name in HASHED_SETTINGS \
                else bytes(v).decode("utf-8", "replace")
        self._write_saved(saved)
        return OK

    def _write_saved(self, saved: dict[str, str]) -> None:
        path = self._path()
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fp:
            json.dump(saved, fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
