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
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from raftredis.acl.user import hashed_requirepass
from raftredis.events.notify import canonical as notify_canonical

# Kinds of values. INT/UINT and MEMORY/UMEMORY differ as Redis's signed and unsigned
# numeric configs do: an unsigned one sees a negative number wrapped (2**64 - n), so it
# fails the bound check with the unsigned bounds in the message.
INT, UINT, MEMORY, UMEMORY, STRING, BOOL = "int", "uint", "memory", "umemory", "string", "bool"
ENUM = "enum"  # one of `choices`, case-insensitive, shown in its canonical spelling
PERCENT = "percent"  # maxmemory-clients: a memory value or N% (stored as -N)
OBUF = "output-buffer-limits"  # client-output-buffer-limit: {class: OutputBufferLimit}

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3,
          "gb": 1024**3}
_ULLONG_MAX = 2**64 - 1
_INT_RE = re.compile(r"-?(0|[1-9][0-9]*)\Z")


class ConfigError(ValueError):
    """CONFIG SET refused a value; the text goes after Redis's 'CONFIG SET failed' prefix."""


def parse_memory(text: str) -> int:
    """Redis's memtoull: digits with an optional unit (b, k, kb, m, mb, g, gb, any case);
    "" is 0 and a number too big saturates at 2**64 - 1, as strtoull does."""
    t = text.lower()
    i = len(t)
    while i > 0 and t[i - 1].isalpha():
        i -= 1
    num, unit = t[:i], t[i:]
    if unit not in _UNITS or (num and not (num.isascii() and num.isdigit())):
        raise ConfigError("argument must be a memory value")
    return min(int(num or "0"), _ULLONG_MAX) * _UNITS[unit] % 2**64


def parse_ll(text: str) -> int:
    """Redis's string2ll: optional '-', no '+', no spaces, no leading zeros, 64-bit."""
    if not _INT_RE.match(text) or text == "-0":
        raise ConfigError("argument couldn't be parsed into an integer")
    v = int(text)
    if not -(2**63) <= v < 2**63:
        raise ConfigError("argument couldn't be parsed into an integer")
    return v


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
    # Redis accepts a number within the bounds but applies it clamped (hz to 1..500,
    # repl-backlog-size to at least 16 kB): CONFIG GET then shows the clamped value.
    clamp: tuple[int, int] | None = None

    def render(self) -> bytes:
        if self.kind == BOOL:
            return b"yes" if self.value else b"no"
        if self.kind == OBUF:
            return render_output_buffer_limits(self.value).encode()  # type: ignore[arg-type]
        v = self.value
        if self.kind == PERCENT and isinstance(v, int) and v < 0:
            return f"{-v}%".encode()
        return v.encode() if isinstance(v, str) else str(v).encode()

    def parse(self, raw: bytes) -> object:
        text = raw.decode("utf-8", "replace")
        kind = self.kind
        if kind == OBUF:
            return parse_output_buffer_limits(text, self.value)  # type: ignore[arg-type]
        if kind == BOOL:
            low = text.lower()
            if low not in ("yes", "no"):
                raise ConfigError("argument must be 'yes' or 'no'")
            return low == "yes"
        if kind in (INT, UINT, MEMORY, UMEMORY, PERCENT):
            v = self._number(text)
            return v if self.clamp is None else max(self.clamp[0], min(v, self.clamp[1]))
        if self.check is not None:
            try:
                return self.check(text)
            except ValueError as e:
                raise ConfigError(str(e)) from None
        if self.choices and text.lower() not in self.choices:
            raise ConfigError("argument(s) must be one of the following: " + ", ".join(self.choices))
        return text.lower() if self.choices else text

    def _number(self, text: str) -> int:
        """Redis's numeric configs: parse as the kind says, then the bound check with
        Redis's own view of the number (64-bit, wrapped for unsigned types)."""
        kind = self.kind
        lo = self.minimum if self.minimum is not None else -(2**63)
        hi = self.maximum if self.maximum is not None else 2**63 - 1
        if kind == PERCENT:
            try:
                v = _signed(parse_memory(text))
            except ConfigError:
                if len(text) > 1 and text.endswith("%") and _INT_RE.match(text[:-1]) \
                        and text[:-1] != "-0" and int(text[:-1]) < 2**63 \
                        and not text.startswith("-"):
                    v = -int(text[:-1])
                else:
                    raise ConfigError("argument must be a memory or percent value") from None
            if v < 0:
                if v < lo:
                    raise ConfigError(f"percentage argument must be less or equal to {-lo}")
                return v
        elif kind in (MEMORY, UMEMORY):
            v = _signed(parse_memory(text))
        else:
            v = parse_ll(text)
        unsigned = kind in (UINT, UMEMORY) or hi > 2**63 - 1
        if unsigned:
            u = v % 2**64
            if not lo <= u <= hi:
                raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
            return u
        if not lo <= v <= hi:
            raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
        return v


def _signed(u: int) -> int:
    """A 64-bit unsigned value as Redis's `long long` holds it."""
    return u - 2**64 if u >= 2**63 else u


Listener = Callable[[str, object], None]


class ServerSettings:
    def __init__(self, **overrides: object) -> None:
        self._params: dict[str, Param] = {}
        self._listeners: list[Listener] = [_apply_loglevel]
        _define_defaults(self)
        for key, value in overrides.items():
            self.set_value(key.replace("_", "-"), value)

    # -- definition and access -------------------------------------------------------------
    def define(self, name: str, kind: str, value: object, settable: bool = True,
               alias: str = "", **kw: object) -> None:
        """Add (or replace) a parameter, reachable by its name and its `alias` too
        (Redis 7's old names, e.g. hash-max-ziplist-entries). Use on_change() to apply
        changes."""
        old = self._params.get(name)
        param = Param(name, kind, value, settable, **kw)  # type: ignore[arg-type]
        self._params[name] = param
        if old is not None:  # a redefinition keeps the alias pointing at the new one
            for other, p in self._params.items():
                if p is old:
                    self._params[other] = param
        if alias:
            self._params[alias] = param

    def on_change(self, listener: Listener) -> None:
        """`listener(name, value)` runs after each successful CONFIG SET of a parameter."""
        self._listeners.append(listener)

    def __getitem__(self, name: str) -> object:
        return self._params[name].value

    def get(self, name: str, default: object = None) -> object:
        p = self._params.get(name)
        return default if p is None else p.value

    def set_value(self, name: str, value: object) -> None:
        """Set from code (command line, node config): no settable check, listeners run
        (with the parameter's own name when set through an alias)."""
        p = self._params[name]
        p.value = value
        for listener in self._listeners:
            listener(p.name, value)

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
        """Parse CONFIG SET pairs without changing anything; ConfigError if any is bad.
        As Redis 7: names are checked first (unknown, immutable or protected, repeated),
        then the values."""
        params: list[Param] = []
        names: set[str] = set()
        for raw_name, _ in pairs:
            shown = raw_name.decode("utf-8", "replace")
            name = shown.lower()
            p = self._params.get(name)
            if p is None:
                raise ConfigError(
                    f"ERR Unknown option or number of arguments for CONFIG SET - '{shown}'")
            if not p.settable:
                raise ConfigError(_failed(shown, p.note or IMMUTABLE))
            if name in names:
                raise ConfigError(_failed(shown, "duplicate parameter"))
            names.add(name)
            params.append(p)
        parsed: list[tuple[str, object]] = []
        for p, (raw_name, raw_value) in zip(params, pairs, strict=True):
            try:
                parsed.append((p.name, p.parse(raw_value)))
            except ConfigError as e:
                # (values are blamed on the parameter's lower-case name, as Redis does)
                raise ConfigError(_failed(raw_name.decode("utf-8", "replace").lower(),
                                          str(e))) from None
        return parsed


_LOG_LEVELS = {"debug": logging.DEBUG, "verbose": logging.DEBUG, "notice": logging.INFO,
               "warning": logging.WARNING}


def _apply_loglevel(name: str, value: object) -> None:
    """CONFIG SET loglevel: Redis's four levels onto this process's raftredis loggers."""
    if name == "loglevel" and value in _LOG_LEVELS:
        logging.getLogger("raftredis").setLevel(_LOG_LEVELS[str(value)])


def _failed(name: str, why: str) -> str:
    return f"ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"


IMMUTABLE = "can't set immutable config"
PROTECTED = "can't set protected config"
_KINDS = {"bool": BOOL, "int": INT, "uint": UINT, "memory": MEMORY, "umemory": UMEMORY,
          "enum": ENUM, "string": STRING}


def _define_defaults(s: ServerSettings) -> None:
    from raftredis.server import redis_params as rp

    big = 2**63 - 1
    # Settings with an effect on this server.
    # Kept hashed ("sha256:<hex>"), never in clear: CONFIG GET shows the hash (Redis
    # shows the password itself) and the log and cluster-config.json carry only it.
    s.define("requirepass", STRING, "", check=hashed_requirepass)
    s.define("maxclients", UINT, 10000, minimum=1, maximum=rp.UINT_MAX)
    s.define("timeout", INT, 0, minimum=0, maximum=rp.INT_MAX)
    s.define("proto-max-bulk-len", MEMORY, 512 * 1024 * 1024, minimum=1024 * 1024, maximum=big)
    s.define("client-query-buffer-limit", UMEMORY, 1024 * 1024 * 1024, minimum=1024 * 1024,
             maximum=big)
    s.define("client-output-buffer-limit", OBUF, dict(DEFAULT_OUTPUT_BUFFER_LIMITS))
    s.define("slowlog-log-slower-than", INT, 10000, minimum=-1, maximum=big)
    s.define("slowlog-max-len", UINT, 128, minimum=0, maximum=big)
    s.define("loglevel", ENUM, "notice", choices=("debug", "verbose", "notice", "warning"))
    s.define("port", INT, 6379, settable=False,
             note="the client port of a running node is fixed (restart it with --port)")
    s.define("bind", STRING, "127.0.0.1", settable=False,
             note="the listening address of a running node is fixed (restart it with --host)")
    s.define("databases", INT, 1, settable=False, note=IMMUTABLE)
    s.define("cluster-enabled", BOOL, True, settable=False, note=IMMUTABLE)
    # Cluster-wide (through the log): every node emits the same keyspace events.
    s.define("notify-keyspace-events", STRING, "", check=notify_canonical)
    s.define("dir", STRING, ".", settable=False, note=PROTECTED)
    s.define("enable-debug-command", STRING, "no", settable=False)
    # Placeholders with Redis's validation; the node (replica/settings.py) replaces them
    # with the definitions that act on its disk and memory.
    s.define("appendonly", BOOL, False)
    s.define("appendfsync", ENUM, "everysec", choices=("everysec", "always", "no"))
    s.define("maxmemory", UMEMORY, 0, minimum=0, maximum=rp.ULLONG_MAX)
    s.define("maxmemory-policy", ENUM, "noeviction", choices=(
        "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru",
        "allkeys-lfu", "allkeys-random", "noeviction"))
    s.define("maxmemory-samples", INT, 5, minimum=1, maximum=rp.INT_MAX)
    s.define("maxmemory-eviction-tenacity", INT, 10, minimum=0, maximum=100)
    s.define("lfu-log-factor", INT, 10, minimum=0, maximum=rp.INT_MAX)
    s.define("lfu-decay-time", INT, 1, minimum=0, maximum=rp.INT_MAX)
    # Redis's parameters with their own syntax: stored, no effect here.
    s.define("save", STRING, "", check=rp.check_save)
    s.define("oom-score-adj-values", STRING, "0 200 800", check=rp.check_oom_values)
    s.define("latency-tracking-info-percentiles", STRING, "50 99 99.9",
             check=rp.check_percentiles)
    for sig in ("shutdown-on-sigint", "shutdown-on-sigterm"):
        s.define(sig, STRING, "default", check=rp.check_shutdown_flags)
    s.define("maxmemory-clients", PERCENT, 0, minimum=-100, maximum=big)
    s.define("unixsocketperm", STRING, "0", settable=False, note=IMMUTABLE)
    checks = {"cluster-announce-hostname": rp.check_hostname,
              "proc-title-template": rp.check_proc_title}
    clamps = {"hz": (1, 500), "repl-backlog-size": (16 * 1024, big)}
    # Every other Redis 7.0 parameter: Redis's validation, stored (see redis_params).
    for name, alias, kind, default, lo, hi, mode in rp.ROWS:
        if name in s._params:
            continue
        kw: dict[str, object] = {}
        if kind == "enum":
            kw["choices"] = lo
        elif lo is not None:
            kw["minimum"], kw["maximum"] = lo, hi
        if name in checks:
            kw["check"] = checks[name]
        if name in clamps:
            kw["clamp"] = clamps[name]
        if mode != rp.STORE:
            kw["note"] = PROTECTED if mode == rp.PROT else IMMUTABLE
        s.define(name, _KINDS[kind], default, settable=mode == rp.STORE, alias=alias, **kw)
