"""Redis 7.0's configuration parameters, as CONFIG GET / CONFIG SET know them.

One row per parameter: name, alias (or ""), kind, default, bounds or choices, and what
CONFIG SET does with it here:

* STORE  - accepted with Redis's validation and remembered (cluster-wide, through the
           log); it has no effect on this server (Redis's internal encodings, its
           replication, AOF, TLS, defrag, ...). README's CONFIG section lists them.
* IMMUT  - Redis refuses it at run time too: "can't set immutable config".
* PROT   - a protected config (enable-protected-configs is no): "can't set protected
           config", as Redis.

Parameters with an effect here (requirepass, maxclients, timeout, the buffer limits,
slowlog-*, loglevel, ...) and those owned by other parts of the node (maxmemory*,
lfu-*, notify-keyspace-events, appendfsync, dir, ...) are defined in settings.py or by
the node itself; a definition there replaces the row here.
"""

from __future__ import annotations

INT_MAX = 2**31 - 1
UINT_MAX = 2**32 - 1
LONG_MAX = 2**63 - 1
ULLONG_MAX = 2**64 - 1

STORE, IMMUT, PROT = "store", "immutable", "protected"

# kind names (match raftredis.server.settings)
B, N, U, M, UM, E, S = "bool", "int", "uint", "memory", "umemory", "enum", "string"

# (name, alias, kind, default, lo/choices, hi, mode)
ROWS: list[tuple[str, str, str, object, object, object, str]] = [
    # --- booleans
    ("rdbchecksum", "", B, True, None, None, IMMUT),
    ("daemonize", "", B, False, None, None, IMMUT),
    ("io-threads-do-reads", "", B, False, None, None, IMMUT),
    ("always-show-logo", "", B, False, None, None, IMMUT),
    ("protected-mode", "", B, True, None, None, STORE),
    ("rdbcompression", "", B, True, None, None, STORE),
    ("rdb-del-sync-files", "", B, False, None, None, STORE),
    ("activerehashing", "", B, True, None, None, STORE),
    ("stop-writes-on-bgsave-error", "", B, True, None, None, STORE),
    ("set-proc-title", "", B, True, None, None, IMMUT),
    ("dynamic-hz", "", B, True, None, None, STORE),
    ("lazyfree-lazy-eviction", "", B, False, None, None, STORE),
    ("lazyfree-lazy-expire", "", B, False, None, None, STORE),
    ("lazyfree-lazy-server-del", "", B, False, None, None, STORE),
    ("lazyfree-lazy-user-del", "", B, False, None, None, STORE),
    ("lazyfree-lazy-user-flush", "", B, False, None, None, STORE),
    ("repl-disable-tcp-nodelay", "", B, False, None, None, STORE),
    ("repl-diskless-sync", "", B, True, None, None, STORE),
    ("aof-rewrite-incremental-fsync", "", B, True, None, None, STORE),
    ("no-appendfsync-on-rewrite", "", B, False, None, None, STORE),
    ("cluster-require-full-coverage", "", B, True, None, None, STORE),
    ("rdb-save-incremental-fsync", "", B, True, None, None, STORE),
    ("aof-load-truncated", "", B, True, None, None, STORE),
    ("aof-use-rdb-preamble", "", B, True, None, None, STORE),
    ("aof-timestamp-enabled", "", B, False, None, None, STORE),
    ("cluster-replica-no-failover", "cluster-slave-no-failover", B, False, None, None, STORE),
    ("replica-lazy-flush", "slave-lazy-flush", B, False, None, None, STORE),
    ("replica-serve-stale-data", "slave-serve-stale-data", B, True, None, None, STORE),
    ("replica-read-only", "slave-read-only", B, True, None, None, STORE),
    ("replica-ignore-maxmemory", "slave-ignore-maxmemory", B, True, None, None, STORE),
    ("replica-ignore-disk-write-errors", "", B, False, None, None, STORE),
    ("jemalloc-bg-thread", "", B, True, None, None, STORE),
    ("activedefrag", "", B, False, None, None, STORE),
    ("syslog-enabled", "", B, False, None, None, IMMUT),
    ("cluster-allow-reads-when-down", "", B, False, None, None, STORE),
    ("cluster-allow-pubsubshard-when-down", "", B, True, None, None, STORE),
    ("crash-log-enabled", "", B, True, None, None, STORE),
    ("crash-memcheck-enabled", "", B, True, None, None, STORE),
    ("disable-thp", "", B, True, None, None, IMMUT),
    ("cluster-allow-replica-migration", "", B, True, None, None, STORE),
    ("replica-announced", "", B, True, None, None, STORE),
    ("latency-tracking", "", B, True, None, None, STORE),
    ("aof-disable-auto-gc", "", B, False, None, None, STORE),
    ("tls-cluster", "", B, False, None, None, STORE),
    ("tls-replication", "", B, False, None, None, STORE),
    ("tls-prefer-server-ciphers", "", B, False, None, None, STORE),
    ("tls-session-caching", "", B, True, None, None, STORE),
    # --- strings
    ("aclfile", "", S, "", None, None, IMMUT),
    ("unixsocket", "", S, "", None, None, IMMUT),
    ("pidfile", "", S, "", None, None, IMMUT),
    ("replica-announce-ip", "slave-announce-ip", S, "", None, None, STORE),
    ("masteruser", "", S, "", None, None, STORE),
    ("masterauth", "", S, "", None, None, STORE),
    ("cluster-announce-ip", "", S, "", None, None, STORE),
    ("cluster-config-file", "", S, "nodes.conf", None, None, IMMUT),
    ("cluster-announce-hostname", "", S, "", None, None, STORE),
    ("syslog-ident", "", S, "redis", None, None, IMMUT),
    ("dbfilename", "", S, "dump.rdb", None, None, PROT),
    ("appendfilename", "", S, "appendonly.aof", None, None, IMMUT),
    ("appenddirname", "", S, "appendonlydir", None, None, IMMUT),
    ("server_cpulist", "", S, "", None, None, IMMUT),
    ("bio_cpulist", "", S, "", None, None, IMMUT),
    ("aof_rewrite_cpulist", "", S, "", None, None, IMMUT),
    ("bgsave_cpulist", "", S, "", None, None, IMMUT),
    ("ignore-warnings", "", S, "", None, None, STORE),
    ("proc-title-template", "", S, "{title} {listen-addr} {server-mode}", None, None, STORE),
    ("bind-source-addr", "", S, "", None, None, STORE),
    ("logfile", "", S, "", None, None, IMMUT),
    ("replicaof", "slaveof", S, "", None, None, IMMUT),
    *((f"tls-{n}", "", S, "", None, None, STORE) for n in (
        "cert-file", "key-file", "key-file-pass", "client-cert-file", "client-key-file",
        "client-key-file-pass", "dh-params-file", "ca-cert-file", "ca-cert-dir", "protocols",
        "ciphers", "ciphersuites")),
    # --- enums
    ("supervised", "", E, "no", ("upstart", "systemd", "auto", "no"), None, IMMUT),
    ("syslog-facility", "", E, "local0",
     ("user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"),
     None, IMMUT),
    ("repl-diskless-load", "", E, "disabled", ("disabled", "on-empty-db", "swapdb"), None,
     STORE),
    ("oom-score-adj", "", E, "no", ("no", "yes", "relative", "absolute"), None, STORE),
    ("acl-pubsub-default", "", E, "resetchannels", ("allchannels", "resetchannels"), None,
     STORE),
    ("sanitize-dump-payload", "", E, "no", ("no", "yes", "clients"), None, STORE),
    ("enable-protected-configs", "", E, "no", ("no", "yes", "local"), None, IMMUT),
    ("enable-module-command", "", E, "no", ("no", "yes", "local"), None, IMMUT),
    ("cluster-preferred-endpoint-type", "", E, "ip", ("ip", "hostname", "unknown-endpoint"),
     None, STORE),
    ("propagation-error-behavior", "", E, "ignore", ("ignore", "panic", "panic-on-replicas"),
     None, STORE),
    ("tls-auth-clients", "", E, "yes", ("no", "yes", "optional"), None, STORE),
    # --- signed integers
    ("io-threads", "", N, 1, 1, 128, IMMUT),
    ("auto-aof-rewrite-percentage", "", N, 100, 0, INT_MAX, STORE),
    ("cluster-replica-validity-factor", "cluster-slave-validity-factor", N, 10, 0, INT_MAX,
     STORE),
    ("list-max-listpack-size", "list-max-ziplist-size", N, -2, -(2**31), INT_MAX, STORE),
    ("tcp-keepalive", "", N, 300, 0, INT_MAX, STORE),
    ("cluster-migration-barrier", "", N, 1, 0, INT_MAX, STORE),
    ("active-defrag-cycle-min", "", N, 1, 1, 99, STORE),
    ("active-defrag-cycle-max", "", N, 25, 1, 99, STORE),
    ("active-defrag-threshold-lower", "", N, 10, 0, 1000, STORE),
    ("active-defrag-threshold-upper", "", N, 100, 0, 1000, STORE),
    ("replica-priority", "slave-priority", N, 100, 0, INT_MAX, STORE),
    ("repl-diskless-sync-delay", "", N, 5, 0, INT_MAX, STORE),
    ("replica-announce-port", "slave-announce-port", N, 0, 0, 65535, STORE),
    ("tcp-backlog", "", N, 511, 0, INT_MAX, IMMUT),
    ("cluster-port", "", N, 0, 0, 65535, IMMUT),
    ("cluster-announce-bus-port", "", N, 0, 0, 65535, STORE),
    ("cluster-announce-port", "", N, 0, 0, 65535, STORE),
    ("cluster-announce-tls-port", "", N, 0, 0, 65535, STORE),
    ("repl-timeout", "", N, 60, 1, INT_MAX, STORE),
    ("repl-ping-replica-period", "repl-ping-slave-period", N, 10, 1, INT_MAX, STORE),
    ("list-compress-depth", "", N, 0, 0, INT_MAX, STORE),
    ("active-expire-effort", "", N, 1, 1, 10, STORE),
    ("hz", "", N, 10, 0, INT_MAX, STORE),
    ("min-replicas-to-write", "min-slaves-to-write", N, 0, 0, INT_MAX, STORE),
    ("min-replicas-max-lag", "min-slaves-max-lag", N, 10, 0, INT_MAX, STORE),
    ("shutdown-timeout", "", N, 10, 0, INT_MAX, STORE),
    ("repl-diskless-sync-max-replicas", "", N, 0, 0, INT_MAX, STORE),
    ("tls-port", "", N, 0, 0, 65535, STORE),
    ("tls-session-cache-size", "", N, 20480, 0, INT_MAX, STORE),
    ("tls-session-cache-timeout", "", N, 300, 0, INT_MAX, STORE),
    ("busy-reply-threshold", "lua-time-limit", N, 5000, 0, LONG_MAX, STORE),
    ("cluster-node-timeout", "", N, 15000, 0, LONG_MAX, STORE),
    ("latency-monitor-threshold", "", N, 0, 0, LONG_MAX, STORE),
    ("stream-node-max-entries", "", N, 100, 0, LONG_MAX, STORE),
    ("repl-backlog-ttl", "", N, 3600, 0, LONG_MAX, STORE),
    # --- unsigned integers (a negative number wraps, as in Redis's unsigned check)
    ("socket-mark-id", "", U, 0, 0, UINT_MAX, IMMUT),
    ("active-defrag-max-scan-fields", "", U, 1000, 1, LONG_MAX, STORE),
    ("acllog-max-len", "", U, 128, 0, LONG_MAX, STORE),
    ("hash-max-listpack-entries", "hash-max-ziplist-entries", U, 512, 0, LONG_MAX, STORE),
    ("set-max-intset-entries", "", U, 512, 0, LONG_MAX, STORE),
    ("zset-max-listpack-entries", "zset-max-ziplist-entries", U, 128, 0, LONG_MAX, STORE),
    ("tracking-table-max-keys", "", U, 1000000, 0, LONG_MAX, STORE),
    # --- memory values, signed then unsigned
    ("repl-backlog-size", "", M, 1048576, 1, LONG_MAX, STORE),
    ("auto-aof-rewrite-min-size", "", M, 67108864, 0, LONG_MAX, STORE),
    ("cluster-link-sendbuf-limit", "", UM, 0, 0, ULLONG_MAX, STORE),
    ("active-defrag-ignore-bytes", "", UM, 104857600, 1, LONG_MAX, STORE),
    ("hash-max-listpack-value", "hash-max-ziplist-value", UM, 64, 0, LONG_MAX, STORE),
    ("stream-node-max-bytes", "", UM, 4096, 0, LONG_MAX, STORE),
    ("zset-max-listpack-value", "zset-max-ziplist-value", UM, 64, 0, LONG_MAX, STORE),
    ("hll-sparse-max-bytes", "", UM, 3000, 0, LONG_MAX, STORE),
]


# ------------------------------------------------------------------ special parameters
# Each check takes CONFIG SET's text and returns the value as CONFIG GET shows it, or
# raises ValueError with Redis's reason.

def _args(text: str) -> list[str]:
    from raftredis.resp.parser import split_args  # Redis splits these as sdssplitargs

    args = split_args(text.encode("utf-8", "replace"))
    if args is None:
        raise ValueError("Unbalanced quotes in configuration line")
    return [a.decode("utf-8", "replace") for a in args]


def _strtoll(text: str) -> int | None:
    """C's strtoll with nothing left over: leading spaces and a sign are fine."""
    t = text.lstrip(" \t\n\v\f\r")
    if not t or not (t.lstrip("+-")[:1].isdigit()) or t[0] in "+-" and t[1:2] in "+-":
        return None
    try:
        v = int(t, 10)
    except ValueError:
        return None
    return max(-(2**63), min(v, 2**63 - 1))


def check_save(text: str) -> str:
    args = _args(text)
    if args == [""]:
        args = []
    if len(args) % 2:
        raise ValueError("Invalid save parameters")
    nums: list[int] = []
    for i, a in enumerate(args):
        v = _strtoll(a)
        if v is None or (i % 2 == 0 and v < 1) or (i % 2 == 1 and v < 0):
            raise ValueError("Invalid save parameters")
        nums.append(v)
    return " ".join(str(v) for v in nums)


def check_oom_values(text: str) -> str:
    args = _args(text)
    if len(args) != 3:
        raise ValueError("wrong number of arguments")
    out: list[int] = []
    for a in args:
        v = _strtoll(a)
        if v is None or not -2000 <= v <= 2000:
            raise ValueError(
                "Invalid oom-score-adj-values, elements must be between -2000 and 2000.")
        out.append(v)
    return " ".join(map(str, out))


def check_percentiles(text: str) -> str:
    args = _args(text)
    if args == [""]:
        return ""
    shown: list[str] = []
    for a in args:
        try:
            if a != a.strip() or a.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                raise ValueError
            p = float(a)
        except ValueError:
            raise ValueError("Invalid latency-tracking-info-percentiles parameters") from None
        if not 0.0 <= p <= 100.0:
            raise ValueError(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")
        s = f"{p:f}"
        shown.append(s.rstrip("0").rstrip(".") if "." in s else s)
    return " ".join(shown)


_SHUTDOWN_FLAGS = ("default", "save", "nosave", "now", "force")


def check_shutdown_flags(text: str) -> str:
    args = [a.lower() for a in _args(text)]
    if not args or any(a not in _SHUTDOWN_FLAGS for a in args):
        raise ValueError("argument(s) must be one of the following: " + ", ".join(_SHUTDOWN_FLAGS))
    if "save" in args and "nosave" in args:
        raise ValueError("shutdown options SAVE and NOSAVE can't be used simultaneously")
    named = [f for f in _SHUTDOWN_FLAGS[1:] if f in args]
    return " ".join(named) if named else "default"


def check_hostname(text: str) -> str:
    if len(text.encode()) >= 256:
        raise ValueError("Hostnames must be less than 256 characters")
    if any(not (c.isascii() and (c.isalnum() or c in "-.")) for c in text):
        raise ValueError("Hostnames may only contain alphanumeric characters, hyphens or dots")
    return text


_TITLE_VARS = frozenset({"title", "listen-addr", "server-mode", "port", "tls-port",
                         "unixsocket", "config-file"})


def check_proc_title(text: str) -> str:
    """Redis's validateProcTitleTemplate: every {variable} known, braces closed, and
    something left once expanded."""
    bad = ValueError("template format is invalid or contains unknown variables")
    i = 0
    while i < len(text):
        if text[i] == "{":
            j = text.find("}", i)
            if j < 0 or text[i + 1:j] not in _TITLE_VARS:
                raise bad
            i = j + 1
        elif text[i] == "}":
            raise bad
        else:
            i += 1
    if not text.strip():
        raise bad
    return text
