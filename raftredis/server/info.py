"""INFO: sections in Redis's text format; the backend's sections are merged in."""

from __future__ import annotations

import os
import platform
import resource
import time

from raftredis import native
from raftredis.server.cmdstats import parse_percentiles
from raftredis.server.state import REDIS_VERSION, ServerState

# Redis 7's plain INFO (it has a modules section before errorstats; we have no modules).
DEFAULT_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                    "errorstats", "cluster", "keyspace")
_TITLES = {"cpu": "CPU", "raft": "Raft"}

Pairs = list[tuple[str, object]]


def _human(n: int) -> str:
    for unit, size in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n}B"


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _own_sections(srv: ServerState) -> dict[str, Pairs]:
    now = time.monotonic()
    uptime = int(now - srv.started)
    st = srv.stats
    rss = _rss()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ru, ruc = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    maxmem = int(srv.settings.get("maxmemory", 0))  # type: ignore[arg-type]
    return {
        "server": [
            ("redis_version", REDIS_VERSION), ("redis_git_sha1", "00000000"),
            ("redis_git_dirty", 0), ("redis_build_id", "raftredis"), ("redis_mode", "cluster"),
            ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
            ("arch_bits", 64), ("multiplexing_api", "uvloop"),
            ("python_version", platform.python_version()), ("process_id", os.getpid()),
            ("run_id", srv.run_id), ("tcp_port", srv.port),
            ("server_time_usec", int(time.time() * 1_000_000)),
            ("uptime_in_seconds", uptime), ("uptime_in_days", uptime // 86400),
            ("hz", srv.settings.get("hz", 10)), ("executable", ""), ("config_file", ""),
            # 1: the hot modules run compiled by mypyc (raftredis.native), 0: pure Python.
            ("raftredis_compiled", int(native.compiled())),
        ],
        "clients": [
            ("connected_clients", len(srv.clients)), ("cluster_connections", 0),
            ("maxclients", srv.settings["maxclients"]), ("blocked_clients", sum(1 for c in srv.clients.values() if getattr(getattr(c, "client", None), "blocked", False))),
            ("tracking_clients", srv.events.tracking.clients()),
            ("clients_in_timeout_table", 0),
        ],
        "memory": [
            ("used_memory", rss), ("used_memory_human", _human(rss)),
            ("used_memory_rss", rss), ("used_memory_rss_human", _human(rss)),
            ("used_memory_peak", peak), ("used_memory_peak_human", _human(peak)),
            ("maxmemory", maxmem), ("maxmemory_human", _human(maxmem)),
            ("maxmemory_policy", srv.settings.get("maxmemory-policy", "noeviction")),
            ("mem_fragmentation_ratio", "1.00"),
            ("mem_allocator", "pymalloc"),
        ],
        "persistence": [
            ("loading", 0), ("rdb_changes_since_last_save", 0), ("rdb_bgsave_in_progress", 0),
            ("rdb_last_bgsave_status", "ok"), ("aof_enabled", 0), ("aof_rewrite_in_progress", 0),
        ],
        "stats": [
            ("total_connections_received", st.total_connections_received),
            ("total_commands_processed", st.total_commands_processed),
            ("total_net_input_bytes", st.total_net_input_bytes),
            ("total_net_output_bytes", st.total_net_output_bytes),
            *st.instant.info_fields(),
            ("rejected_connections", st.rejected_connections),
            ("expired_keys", 0), ("evicted_keys", 0), ("keyspace_hits", 0),
            ("keyspace_misses", 0), ("total_error_replies", st.total_error_replies),
            ("unexpected_error_replies", st.unexpected_error_replies),
            ("pubsub_channels", len(srv.events.pubsub.channels())),
            ("pubsub_patterns", srv.events.pubsub.numpat()),
            ("pubsubshard_channels", len(srv.events.pubsub.shard_channels())),
            ("tracking_total_keys", srv.events.tracking.tracked_keys()),
            *((f"acl_access_denied_{name}", st.acl_denied.get(reason, 0))
              for name, reason in (("auth", "auth"), ("cmd", "command"), ("key", "key"),
                                   ("channel", "channel"))),
        ],
        "replication": [("role", "master"), ("connected_slaves", 0)],
        "cpu": [
            ("used_cpu_sys", f"{ru.ru_stime:.6f}"), ("used_cpu_user", f"{ru.ru_utime:.6f}"),
            ("used_cpu_sys_children", f"{ruc.ru_stime:.6f}"),
            ("used_cpu_user_children", f"{ruc.ru_utime:.6f}"),
        ],
        "cluster": [("cluster_enabled", 1)],
        "keyspace": [],
        # Redis's errorstats: error replies by their code (what redis_exporter reads).
        "errorstats": [(f"errorstat_{kind}", f"count={n}")
                       for kind, n in sorted(st.error_kinds.items())],
        "commandstats": st.cmdstats.commandstats(),
        "latencystats": st.cmdstats.latencystats(parse_percentiles(
            str(srv.settings["latency-tracking-info-percentiles"]))),
    }


def _merge(own: Pairs, extra: Pairs) -> Pairs:
    """The backend's fields replace ours of the same name and add the rest in order."""
    extra_names = {k for k, _ in extra}
    return [(k, v) for k, v in own if k not in extra_names] + list(extra)


def _fragmentation(memory: Pairs) -> None:
    """mem_fragmentation_ratio: this process's RSS over used_memory, which a backend with
    its own accounting (the keyspace's estimate) has put in place of ours."""
    fields = dict(memory)
    used, rss = fields.get("used_memory"), fields.get("used_memory_rss")
    if not isinstance(used, int) or not isinstance(rss, int) or used <= 0:
        return
    ratio = f"{rss / used:.2f}"
    for i, (k, _) in enumerate(memory):
        if k == "mem_fragmentation_ratio":
            memory[i] = (k, ratio)


def render_info(srv: ServerState, args: list[bytes]) -> str:
    sections = _own_sections(srv)
    try:
        backend_sections = srv.backend.info_sections() or {}
    except Exception:  # INFO must answer even when the backend is unhappy
        backend_sections = {}
    for name, pairs in backend_sections.items():
        name = name.lower()
        sections[name] = _merge(sections.get(name, []), pairs)
    _fragmentation(sections["memory"])
    wanted = [a.decode("utf-8", "replace").lower() for a in args[1:]]
    if not wanted or "default" in wanted:
        names = [s for s in DEFAULT_SECTIONS if s in sections]
        names += [s for s in sections if s not in DEFAULT_SECTIONS and s == "raft"]
        names += [w for w in wanted if w in sections and w not in names]
    elif "all" in wanted or "everything" in wanted:
        names = list(DEFAULT_SECTIONS) + [s for s in sections if s not in DEFAULT_SECTIONS]
    else:
        names = []
        for w in wanted:
            if w in sections and w not in names:
                names.append(w)
    parts = []
    for name in names:
        title = _TITLES.get(name, name.capitalize())
        body = "".join(f"{k}:{v}\r\n" for k, v in sections[name])
        parts.append(f"# {title}\r\n{body}")
    return "\r\n".join(parts)
