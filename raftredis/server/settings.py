"""ServerSettings: the configuration as CONFIG GET / CONFIG SET see it.

Keyed by Redis 7 parameter names. Each parameter has a kind (how a value is parsed),
a current value, and whether CONFIG SET may change it here. Parameters that exist in
Redis but have no effect on this server answer Redis's default on GET and a clear
error on SET. Others (the node: fsync policy, snapshot threshold...) add their own
parameters with define() and learn about changes through on_change().

client-output-buffer-limit keeps Redis's syntax (`<class> <hard> <soft> <seconds>`,
classes normal / replica (alias slave) / pubsub): a CONFIG SET changes only the classes
it names, so the parsed value depends on the current one; every node applies the
same log in the same order, so they agree.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from raftredis.events.notify import canonical as notify_canonical

# Kinds of values
INT, MEMORY, STRING, BOOL = "int", "memory", "string", "bool"
OBUF = "output-buffer-limits"  # client-output-buffer-limit: {class: OutputBufferLimit}

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3,
          "gb": 1024**3}


class ConfigError(ValueError):
    """CONFIG SET refused a value; the text goes after Redis's 'CONFIG SET failed' prefix."""


def parse_memory(text: str) -> int:
    """Redis's memtoull: a number with an optional unit (k, kb, m, mb, g, gb)."""
    t = text.strip().lower()
    i = len(t)
    while i > 0 and t[i - 1].isalpha():
        i -= 1
    num, unit = t[:i], t[i:]
    if unit not in _UNITS or not num.isdigit():
        raise ConfigError("argument must be a memory value")
    return int(num) * _UNITS[unit]


@dataclass(frozen=True, slots=True)
class OutputBufferLimit:
    """One client class's output buffer limit, in bytes and seconds; 0 = no limit.
    The client is closed when its unsent output reaches `hard`, or has stayed at or
    above `soft` for more than `soft_seconds`."""

    hard: int = 0
    soft: int = 0
    soft_seconds: int = 0

    @property
    def limited(self) -> bool:
        return bool(self.hard or self.soft)


# Redis's names for the classes (CONFIG SET accepts both replica and slave; CONFIG GET
# says slave, as Redis 7 does).
_OBUF_CLASSES = {"normal": "normal", "replica": "replica", "slave": "replica",
                 "pubsub": "pubsub"}
_OBUF_SHOWN = (("normal", "normal"), ("replica", "slave"), ("pubsub", "pubsub"))
DEFAULT_OUTPUT_BUFFER_LIMITS: dict[str, OutputBufferLimit] = {
    "normal": OutputBufferLimit(0, 0, 0),
    "replica": OutputBufferLimit(256 * 1024**2, 64 * 1024**2, 60),
    "pubsub": OutputBufferLimit(32 * 1024**2, 8 * 1024**2, 60),
}


def parse_output_buffer_limits(text: str, current: dict[str, OutputBufferLimit]
                               ) -> dict[str, OutputBufferLimit]:
    """Redis 7's client-output-buffer-limit: groups of `<class> <hard> <soft> <seconds>`,
    all checked before any applies; classes not named keep their limits."""
    from raftredis.resp.parser import split_args  # quotes as Redis's sdssplitargs

    args = split_args(text.encode("utf-8", "replace"))
    if args is None or len(args) % 4:
        raise ConfigError("Wrong number of arguments in buffer limit configuration.")
    out = dict(current)
    for i in range(0, len(args), 4):
        cls = _OBUF_CLASSES.get(args[i].decode("utf-8", "replace").lower())
        if cls is None:  # includes master, which Redis refuses here too
            raise ConfigError("Invalid client class specified in buffer limit configuration.")
        try:
            hard, soft, secs = (parse_memory(a.decode("utf-8", "replace"))
                                for a in args[i + 1 : i + 4])
        except ConfigError:
            raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit "
                              "configuration.") from None
        out[cls] = OutputBufferLimit(hard, soft, secs)
    return out


def render_output_buffer_limits(limits: dict[str, OutputBufferLimit]) -> str:
    return " ".join(f"{shown} {limits[c].hard} {limits[c].soft} {limits[c].soft_seconds}"
                    for c, shown in _OBUF_SHOWN)


@dataclass(slots=True)
class Param:
    name: str
    kind: str
    value: object
    settable: bool = True
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    note: str = ""  # why a parameter cannot be set here
    # A STRING's own check: returns the value to keep (e.g. canonical spelling), or
    # raises ValueError with the reason.
    check: Callable[[str], str] | None = None

    def render(self) -> bytes:
        if self.kind == BOOL:
            return b"yes" if self.value else b"no"
        if self.kind == OBUF:
            return render_output_buffer_limits(self.value).encode()  # type: ignore[arg-type]
        v = self.value
        return v.encode() if isinstance(v, str) else str(v).encode()

    def parse(self, raw: bytes) -> object:
        text = raw.decode("utf-8", "replace")
        if self.kind == OBUF:
            return parse_output_buffer_limits(text, self.value)  # type: ignore[arg-type]
        if self.kind == BOOL:
            low = text.lower()
            if low not in ("yes", "no"):
                raise ConfigError("argument must be 'yes' or 'no'")
            return low == "yes"
        if self.kind in (INT, MEMORY):
            if self.kind == MEMORY:
                v = parse_memory(text)
            else:
                try:
                    v = int(text)
                except ValueError:
                    raise ConfigError("argument couldn't be parsed into an integer") from None
            if (self.minimum is not None and v < self.minimum) or (
                self.maximum is not None and v > self.maximum
            ):
                raise ConfigError(
                    f"argument must be between {self.minimum} and {self.maximum} inclusive"
                )
            return v
        if self.check is not None:
            try:
                return self.check(text)
            except ValueError as e:
                raise ConfigError(str(e)) from None
        if self.choices and text.lower() not in self.choices:
            raise ConfigError("argument(s) must be one of the following: " + ", ".join(self.choices))
        return text.lower() if self.choices else text


Listener = Callable[[str, object], None]


class ServerSettings:
    def __init__(self, **overrides: object) -> None:
        self._params: dict[str, Param] = {}
        self._listeners: list[Listener] = []
        _define_defaults(self)
        for key, value in overrides.items():
            self.set_value(key.replace("_", "-"), value)

    # -- definition and access -------------------------------------------------------------
    def define(self, name: str, kind: str, value: object, settable: bool = True,
               **kw: object) -> None:
        """Add (or replace) a parameter. Use on_change() to apply changes."""
        self._params[name] = Param(name, kind, value, settable, **kw)  # type: ignore[arg-type]

    def on_change(self, listener: Listener) -> None:
        """`listener(name, value)` runs after each successful CONFIG SET of a parameter."""
        self._listeners.append(listener)

    def __getitem__(self, name: str) -> object:
        return self._params[name].value

    def get(self, name: str, default: object = None) -> object:
        p = self._params.get(name)
        return default if p is None else p.value

    def set_value(self, name: str, value: object) -> None:
        """Set from code (command line, node config): no settable check, listeners run."""
        self._params[name].value = value
        for listener in self._listeners:
            listener(name, value)

    def adjust(self, name: str, value: object) -> None:
        """Replace a value without running listeners: a local correction of what was
        set (maxclients lowered to what this process's file-descriptor limit allows)."""
        self._params[name].value = value

    def names(self) -> list[str]:
        return list(self._params)

    # -- CONFIG GET / SET ----------------------------------------------------------------------
    def config_get(self, patterns: list[bytes]) -> list[tuple[bytes, bytes]]:
        """Parameter/value pairs matching any glob pattern (case-insensitive), each once."""
        seen: dict[str, None] = {}
        for raw in patterns:
            pat = raw.decode("utf-8", "replace").lower()
            if pat in self._params:
                seen[pat] = None
                continue
            for name in self._params:
                if fnmatch.fnmatchcase(name, pat):
                    seen[name] = None
        return [(n.encode(), self._params[n].render()) for n in seen]

    def config_set(self, pairs: list[tuple[bytes, bytes]]) -> None:
        """All or nothing, as Redis 7. Raises ConfigError with Redis's full message."""
        for name, value in self.validate(pairs):
            self.set_value(name, value)

    def validate(self, pairs: list[tuple[bytes, bytes]]) -> list[tuple[str, object]]:
        """Parse CONFIG SET pairs without changing anything; ConfigError if any is bad."""
        parsed: list[tuple[str, object]] = []
        names: set[str] = set()
        for raw_name, raw_value in pairs:
            name = raw_name.decode("utf-8", "replace").lower()
            p = self._params.get(name)
            if p is None:
                raise ConfigError(
                    f"ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                )
            if name in names:
                raise ConfigError(_failed(name, "duplicate parameter"))
            names.add(name)
            if not p.settable:
                raise ConfigError(_failed(name, p.note or "can't set immutable config"))
            try:
                parsed.append((name, p.parse(raw_value)))
            except ConfigError as e:
                raise ConfigError(_failed(name, str(e))) from None
        return parsed


def _failed(name: str, why: str) -> str:
    return f"ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"


_NO_EFFECT = "not supported by this server (the value has no effect here)"


def _define_defaults(s: ServerSettings) -> None:
    big = 2**63 - 1
    # Settings with an effect on this server.
    s.define("requirepass", STRING, "")
    s.define("maxclients", INT, 10000, minimum=1, maximum=1_000_000)
    s.define("timeout", INT, 0, minimum=0, maximum=2**31 - 1)
    s.define("proto-max-bulk-len", MEMORY, 512 * 1024 * 1024, minimum=1024 * 1024, maximum=big)
    s.define("client-query-buffer-limit", MEMORY, 1024 * 1024 * 1024, minimum=1024 * 1024,
             maximum=big)
    s.define("client-output-buffer-limit", OBUF, dict(DEFAULT_OUTPUT_BUFFER_LIMITS))
    s.define("port", INT, 6379, settable=False)
    s.define("bind", STRING, "127.0.0.1", settable=False)
    s.define("databases", INT, 1, settable=False)
    s.define("cluster-enabled", BOOL, True, settable=False)
    # Cluster-wide (through the log): every node emits the same keyspace events.
    s.define("notify-keyspace-events", STRING, "", check=notify_canonical)
    s.define("dir", STRING, ".", settable=False)
    s.define("enable-debug-command", STRING, "no", settable=False)
    # Redis parameters that have no effect here: Redis's defaults, refused by CONFIG SET.
    fixed: list[tuple[str, str, object]] = [
        ("save", STRING, ""),
        ("appendonly", BOOL, False),
        ("appendfsync", STRING, "everysec"),
        ("maxmemory", MEMORY, 0),
        ("maxmemory-policy", STRING, "noeviction"),
        ("maxmemory-samples", INT, 5),
        ("tcp-keepalive", INT, 300),
        ("tcp-backlog", INT, 511),
        ("hz", INT, 10),
        ("loglevel", STRING, "notice"),
        ("logfile", STRING, ""),
        ("daemonize", BOOL, False),
        ("protected-mode", BOOL, False),
        ("io-threads", INT, 1),
        ("dbfilename", STRING, "dump.rdb"),
        ("appendfilename", STRING, "appendonly.aof"),
        ("busy-reply-threshold", INT, 5000),
        ("lua-time-limit", INT, 5000),
        ("slowlog-log-slower-than", INT, 10000),
        ("slowlog-max-len", INT, 128),
        ("latency-tracking", BOOL, True),
        ("latency-monitor-threshold", INT, 0),  # the loop-stall monitor has its own 100 ms
        ("list-max-listpack-size", INT, -2),
        ("list-max-ziplist-size", INT, -2),
        ("list-compress-depth", INT, 0),
        ("hash-max-listpack-entries", INT, 512),
        ("hash-max-listpack-value", INT, 64),
        ("hash-max-ziplist-entries", INT, 512),
        ("hash-max-ziplist-value", INT, 64),
        ("set-max-intset-entries", INT, 512),
        ("set-max-listpack-entries", INT, 128),
        ("zset-max-listpack-entries", INT, 128),
        ("zset-max-listpack-value", INT, 64),
        ("zset-max-ziplist-entries", INT, 128),
        ("zset-max-ziplist-value", INT, 64),
        ("lazyfree-lazy-eviction", BOOL, False),
        ("lazyfree-lazy-expire", BOOL, False),
        ("lazyfree-lazy-user-del", BOOL, False),
        ("replica-read-only", BOOL, True),
        ("slave-read-only", BOOL, True),
        ("min-replicas-to-write", INT, 0),
        ("cluster-node-timeout", INT, 15000),
        ("cluster-require-full-coverage", BOOL, True),
        ("activerehashing", BOOL, True),
        ("stop-writes-on-bgsave-error", BOOL, True),
        ("rdbcompression", BOOL, True),
    ]
    for name, kind, value in fixed:
        s.define(name, kind, value, settable=False, note=_NO_EFFECT)
