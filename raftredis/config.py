"""Node configuration: one dataclass, filled from a TOML file, environment variables
(RAFTREDIS_<SETTING>) and command-line flags, in rising order of precedence.

Every field here is a `--flag` of `raftredis serve` (underscores become dashes) and a
key of the TOML file (underscores). See conf/node1.toml for a documented example.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any

from raftredis.tls import AUTH_CLIENTS, TlsFiles

FSYNC_POLICIES = ("always", "everysec", "no")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")
MIN_SECRET_BYTES = 16


class ConfigError(ValueError):
    pass


def _bad(name: str, value: object, allowed: str) -> str:
    """A config error that names the setting (as flag and key), the value and what is allowed."""
    return f"setting {name} (--{name.replace('_', '-')}): {value!r} is not allowed; expected {allowed}"


@dataclass(frozen=True, slots=True)
class PeerAddress:
    id: int
    host: str
    port: int  # the peer (Raft) port


def parse_peers(text: str) -> dict[int, PeerAddress]:
    """"1=host:17000,2=host2:17001" -> {1: PeerAddress(1, "host", 17000), ...}."""
    peers: dict[int, PeerAddress] = {}
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        try:
            ident, addr = part.split("=", 1)
            host, port = addr.rsplit(":", 1)
            node_id, port_no = int(ident), int(port)
        except ValueError as exc:
            raise ConfigError(f"bad peer {part!r}: expected ID=HOST:PORT") from exc
        if node_id < 1 or not host or not 0 < port_no < 65536:
            raise ConfigError(f"bad peer {part!r}: id must be >= 1, host non-empty, port 1-65535")
        if node_id in peers:
            raise ConfigError(f"peer id {node_id} given twice")
        peers[node_id] = PeerAddress(node_id, host.strip("[]"), port_no)
    return peers


@dataclass
class NodeConfig:
    id: int = 1
    host: str = "127.0.0.1"  # client port bind address
    port: int = 7000
    peer_host: str = ""  # Raft port bind address; default: same as host
    peer_port: int = 0  # default: port + 10000
    peers: str = ""  # "1=h:17000,2=h:17001,3=h:17002" (all voters, self included); empty: one node
    announce_host: str = ""  # client address given in MOVED / CLUSTER SLOTS; default: host
    announce_port: int = 0  # default: port
    data_dir: str = "./data"
    secret: str = ""  # cluster secret for the peer handshake; required with peers
    secret_file: str = ""  # read the secret from this file instead (keeps it out of argv)
    fsync: str = "always"
    requirepass: str = ""
    maxclients: int = 10000
    timeout: int = 0  # idle client timeout in seconds (0: never)
    snapshot_threshold: int = 100_000  # log entries after the last snapshot before a new one
    tick_ms: int = 20
    election_ticks: int = 15  # min election timeout = tick_ms * election_ticks
    heartbeat_ticks: int = 2
    cluster_down_wait_ms: int = 1500  # how long a request waits for a leader to be elected
    # HOST:PORT (client port) of any member: start empty and join that cluster as a learner,
    # promoted once caught up. Ignored once this node's data directory holds a membership.
    join: str = ""
    # A learner that joined is promoted once its log is within this many entries of the leader's.
    promote_lag: int = 1000
    active_expire_ms: int = 100
    # Memory bound and eviction (Redis's names and defaults); cluster-wide: a CONFIG SET
    # goes through the log and outlives these initial values (cluster-config.json).
    maxmemory: str = "0"  # bytes, or with a unit: 64mb, 1gb
    maxmemory_policy: str = "noeviction"
    maxmemory_samples: int = 5
    maxmemory_eviction_tenacity: int = 10
    lfu_log_factor: int = 10
    lfu_decay_time: int = 1
    # A node whose event loop has not turned for this long is wedged: its keep-alive
    # notices stop and the cluster replaces it (replica/keepalive.py); 0: no side channel.
    stall_limit_ms: int = 10_000
    enable_debug_command: str = "no"  # DEBUG: no, yes, or local (loopback clients only)
    log_level: str = "info"
    log_format: str = "text"  # text, or json (one object per line, for log shippers)
    # Prometheus metrics, /healthz and /readyz over HTTP (raftredis/observability); 0: off.
    metrics_port: int = 0
    metrics_host: str = ""  # default: host
    # TLS as in Redis 6+ (raftredis/tls.py): a TLS client port next to the plain one (port
    # 0 turns the plain one off), and with tls_cluster the peer link over mutual TLS.
    tls_port: int = 0
    announce_tls_port: int = 0  # default: tls_port
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_ca_cert_file: str = ""
    tls_auth_clients: str = "yes"  # yes, no, optional (a client certificate signed by the CA)
    tls_cluster: str = "no"
    tls_handshake_timeout_ms: int = 5000  # a connection that has not finished it is closed
    _peer_map: dict[int, PeerAddress] = field(default_factory=dict, repr=False)
    # The settings given explicitly (file, environment or flag), not left at the default.
    _given: frozenset[str] = field(default=frozenset(), repr=False)

    def finish(self) -> NodeConfig:
        """Fill defaults that depend on other settings and check everything."""
        if not self.peer_host:
            self.peer_host = self.host
        # As Redis: with the plain port off, the TLS port is the base of the others.
        client_port = self.port or self.tls_port
        if not self.peer_port:
            self.peer_port = client_port + 10000
        if not self.announce_host:
            self.announce_host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if not self.announce_port:
            self.announce_port = client_port
        if not self.announce_tls_port:
            self.announce_tls_port = self.tls_port
        if self.fsync not in FSYNC_POLICIES:
            raise ConfigError(_bad("fsync", self.fsync, "one of " + ", ".join(FSYNC_POLICIES)))
        if self.id < 1:
            raise ConfigError(_bad("id", self.id, "an integer >= 1"))
        for name in ("port", "peer_port", "announce_port", "tls_port", "announce_tls_port"):
            if not 0 <= getattr(self, name) < 65536:
                raise ConfigError(_bad(name, getattr(self, name), "a port number 0-65535"))
        self._check_tls()
        if " " in self.announce_host:
            raise ConfigError(_bad("announce_host", self.announce_host, "a host name with no spaces"))
        try:
            self._peer_map = parse_peers(self.peers)
        except ConfigError as exc:
            raise ConfigError(f"setting peers (--peers): {exc}") from None
        if not self._peer_map:
            self._peer_map = {self.id: PeerAddress(self.id, self.peer_host, self.peer_port)}
        if self.id not in self._peer_map:
            raise ConfigError(f"this node's id {self.id} is not among the peers")
        if self.secret_file:
            if self.secret:
                raise ConfigError("give the cluster secret once: secret or secret_file")
            try:
                with open(self.secret_file, encoding="utf-8") as fp:
                    self.secret = fp.read().strip()
            except OSError as exc:
                raise ConfigError(f"secret_file {self.secret_file!r}: {exc}") from exc
        if len(self._peer_map) > 1 and not self.secret:
            raise ConfigError("a cluster secret is required when peers are given "
                              "(RAFTREDIS_SECRET, --secret-file or --secret)")
        if self.secret and len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"the cluster secret must be at least {MIN_SECRET_BYTES} bytes "
                              f"(got {len(self.secret.encode())}); make one with "
                              "`openssl rand -hex 16`")
        if self.join and not self.secret:
            raise ConfigError("a cluster secret is required to --join a cluster (--secret)")
        if self.join and ":" not in self.join:
            raise ConfigError(_bad("join", self.join, "HOST:PORT (the client port of a member)"))
        if self.promote_lag < 0:
            raise ConfigError(_bad("promote_lag", self.promote_lag, "an integer >= 0"))
        for name, low in (("tick_ms", 1), ("election_ticks", 2), ("heartbeat_ticks", 1)):
            if getattr(self, name) < low:
                raise ConfigError(_bad(name, getattr(self, name), f"an integer >= {low}"))
        if self.heartbeat_ticks >= self.election_ticks:
            raise ConfigError(_bad("heartbeat_ticks", self.heartbeat_ticks,
                                   f"fewer than election_ticks ({self.election_ticks})"))
        if self.stall_limit_ms < 0:
            raise ConfigError(_bad("stall_limit_ms", self.stall_limit_ms, "an integer >= 0 (0: off)"))
        if self.enable_debug_command not in ("no", "yes", "local"):
            raise ConfigError(_bad("enable_debug_command", self.enable_debug_command,
                                   "one of no, yes, local"))
        if self.log_level.lower() not in LOG_LEVELS:
            raise ConfigError(_bad("log_level", self.log_level, "one of " + ", ".join(LOG_LEVELS)))
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(_bad("log_format", self.log_format,
                                   "one of " + ", ".join(LOG_FORMATS)))
        if not 0 <= self.metrics_port < 65536:
            raise ConfigError(_bad("metrics_port", self.metrics_port,
                                   "a port number 1-65535, or 0 for no metrics endpoint"))
        if self.metrics_port and self.metrics_port in (self.port, self.peer_port, self.tls_port):
            raise ConfigError(_bad("metrics_port", self.metrics_port,
                                   "a port other than the client ports and the peer port"))
        if not self.metrics_host:
            self.metrics_host = self.host
        return self

    def _check_tls(self) -> None:
        if self.tls_auth_clients not in AUTH_CLIENTS:
            raise ConfigError(_bad("tls_auth_clients", self.tls_auth_clients,
                                   "one of " + ", ".join(AUTH_CLIENTS)))
        if self.tls_cluster not in ("yes", "no"):
            raise ConfigError(_bad("tls_cluster", self.tls_cluster, "yes or no"))
        if self.tls_handshake_timeout_ms < 1:
            raise ConfigError(_bad("tls_handshake_timeout_ms", self.tls_handshake_timeout_ms,
                                   "an integer >= 1"))
        if self.tls_port and self.tls_port in (self.port, self.peer_port):
            raise ConfigError(_bad("tls_port", self.tls_port,
                                   "a port other than the plain client port and the peer port"))
        if not self.tls_port and self.tls_cluster == "no":
            return
        for name in ("tls_cert_file", "tls_key_file", "tls_ca_cert_file"):
            if not getattr(self, name):
                why = "tls_port" if self.tls_port else "tls_cluster yes"
                raise ConfigError(f"setting {name} (--{name.replace('_', '-')}) is required "
                                  f"with {why}")

    @property
    def tls_files(self) -> TlsFiles | None:
        """The certificate, key and CA files, if TLS is on for either port."""
        if not self.tls_port and self.tls_cluster == "no":
            return None
        return TlsFiles(self.tls_cert_file, self.tls_key_file, self.tls_ca_cert_file)

    @property
    def given(self) -> frozenset[str]:
        return self._given

    @property
    def peer_map(self) -> dict[int, PeerAddress]:
        return self._peer_map

    @property
    def voters(self) -> frozenset[int]:
        return frozenset(self._peer_map)


_FIELDS = [f for f in dataclasses.fields(NodeConfig) if not f.name.startswith("_")]


# What each setting does, with its unit; `raftredis serve --help` adds the default and the
# environment variable. tests/unit/test_config_help.py checks every field has an entry.
HELP: dict[str, str] = {
    "id": "this node's Raft id (an integer >= 1): its identity in the cluster, kept with "
          "its data; not its address",
    "host": "address the client (RESP) port binds to",
    "port": "client (RESP) TCP port",
    "peer_host": "address the Raft peer port binds to (empty: same as --host)",
    "peer_port": "Raft peer TCP port (0: --port + 10000)",
    "peers": "the voters at bootstrap, this node included, as ID=HOST:PEER_PORT,... "
             "(empty: a one-node group); ignored once the data directory holds a membership",
    "announce_host": "host clients are sent to in MOVED and CLUSTER SLOTS (empty: --host, "
                     "or 127.0.0.1 when --host is a wildcard)",
    "announce_port": "client port announced in MOVED and CLUSTER SLOTS (0: --port)",
    "data_dir": "directory for the Raft log, hard state, snapshots and cluster settings",
    "secret": "cluster secret (>= 16 bytes) that authenticates and encrypts peer traffic; "
              "prefer RAFTREDIS_SECRET or --secret-file, argv is readable by every user",
    "secret_file": "file holding the cluster secret (instead of --secret)",
    "fsync": "when the log is fsynced: always (before every acknowledgement), everysec or "
             "no (both may lose acknowledged writes on a machine crash)",
    "requirepass": "password clients must AUTH with (empty: none)",
    "maxclients": "maximum simultaneous client connections",
    "timeout": "close a client idle for this many seconds (0: never)",
    "snapshot_threshold": "log entries after the last snapshot that trigger a new snapshot",
    "tick_ms": "Raft tick, in milliseconds: the unit of election and heartbeat timing",
    "election_ticks": "minimum election timeout, in ticks (randomized up to twice that)",
    "heartbeat_ticks": "leader heartbeat interval, in ticks (must be < --election-ticks)",
    "cluster_down_wait_ms": "how long a request waits for a leader to be elected before "
                            "CLUSTERDOWN, in milliseconds",
    "join": "HOST:PORT (client port) of any member: start empty and join that cluster as a "
            "learner, promoted once caught up (ignored once this node holds a membership)",
    "promote_lag": "a joined learner is promoted once within this many log entries of the "
                   "leader",
    "active_expire_ms": "how often the leader looks for expired keys to delete, in "
                        "milliseconds",
    "maxmemory": "memory bound for the dataset, in bytes or with a unit (64mb, 1gb); 0: none",
    "maxmemory_policy": "what to evict at maxmemory: noeviction, allkeys-lru, allkeys-lfu, "
                        "allkeys-random, volatile-lru, volatile-lfu, volatile-random, "
                        "volatile-ttl",
    "maxmemory_samples": "keys sampled per eviction round (Redis's maxmemory-samples)",
    "maxmemory_eviction_tenacity": "eviction effort per write, 0-100 (Redis's "
                                   "maxmemory-eviction-tenacity)",
    "lfu_log_factor": "LFU counter logarithm factor (Redis's lfu-log-factor)",
    "lfu_decay_time": "LFU counter decay period, in minutes (Redis's lfu-decay-time)",
    "stall_limit_ms": "an event loop that has not turned for this long, in milliseconds, is "
                      "wedged: its keep-alive notices stop and the cluster replaces it "
                      "(0: no keep-alive side channel)",
    "enable_debug_command": "allow DEBUG: no, yes, or local (loopback clients only)",
    "log_level": "log level: " + ", ".join(LOG_LEVELS),
    "log_format": "log line format: text, or json (one object per line, for log shippers)",
    "metrics_port": "HTTP port for Prometheus metrics (/metrics) and the health checks "
                    "/healthz and /readyz (0: off)",
    "metrics_host": "address the metrics port binds to (empty: same as --host)",
    "tls_port": "TLS client (RESP) port, next to the plain --port (0: none; --port 0 turns "
                "the plain one off)",
    "announce_tls_port": "TLS client port announced in MOVED and CLUSTER SLOTS to clients "
                         "that came in over TLS (0: --tls-port)",
    "tls_cert_file": "PEM certificate of this node, for the TLS client port and the peer "
                     "link (both ends of it)",
    "tls_key_file": "PEM private key of --tls-cert-file",
    "tls_ca_cert_file": "PEM CA certificate(s) that client and peer certificates must be "
                        "signed by",
    "tls_auth_clients": "TLS clients must present a certificate signed by the CA: yes, no, "
                        "or optional (verified if presented)",
    "tls_cluster": "carry the Raft peer traffic over mutual TLS with the CA (yes/no), on "
                   "top of the cluster secret's handshake and sealing",
    "tls_handshake_timeout_ms": "a connection to the TLS client port that has not "
                                "finished its TLS handshake within this many milliseconds "
                                "is closed (peer connections have their own 5 s bound)",
}


def help_text(name: str, default: object) -> str:
    what = HELP.get(name, "(undocumented)")
    shown = "empty" if default == "" else str(default)
    # argparse treats % as a format character in help strings.
    return f"{what} [default: {shown}; env RAFTREDIS_{name.upper()}]".replace("%", "%%")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="TOML file with settings, keys as the flags with underscores "
                             "(the environment and flags override it) [default: none]")
    for f in _FIELDS:
        flag = "--" + f.name.replace("_", "-")
        typ = int if f.type in ("int", int) else str
        parser.add_argument(
            flag, type=typ, default=None, dest=f.name,
            metavar="N" if typ is int else f.name.split("_")[-1].upper(),
            help=help_text(f.name, f.default),
        )


def _coerce(name: str, value: Any) -> Any:
    f = next((f for f in _FIELDS if f.name == name), None)
    if f is None:
        raise ConfigError(f"unknown setting {name!r}")
    if f.type in ("int", int):
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(_bad(name, value, "an integer")) from exc
    if isinstance(value, list) and name == "peers":
        return ",".join(str(v) for v in value)
    return str(value)


def load(args: argparse.Namespace | None = None, environ: dict[str, str] | None = None,
         toml_path: str | None = None) -> NodeConfig:
    """TOML file < environment < flags."""
    values: dict[str, Any] = {}
    path = toml_path or (getattr(args, "config", None) if args else None)
    if path:
        try:
            with open(path, "rb") as fp:
                data = tomllib.load(fp)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        for key, value in data.items():
            values[key.replace("-", "_")] = _coerce(key.replace("-", "_"), value)
    env = os.environ if environ is None else environ
    for f in _FIELDS:
        key = f"RAFTREDIS_{f.name.upper()}"
        if key in env:
            values[f.name] = _coerce(f.name, env[key])
    if args is not None:
        for f in _FIELDS:
            v = getattr(args, f.name, None)
            if v is not None:
                values[f.name] = v
        if getattr(args, "secret", None):
            # argv is readable by every user of the machine (ps, /proc/PID/cmdline).
            logging.getLogger("raftredis.config").warning(
                "the cluster secret was given on the command line, where every user of this "
                "machine can read it; use RAFTREDIS_SECRET or --secret-file instead")
    cfg = NodeConfig(**values)
    cfg._given = frozenset(values)
    return cfg.finish()
