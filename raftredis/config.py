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

FSYNC_POLICIES = ("always", "everysec", "no")
MIN_SECRET_BYTES = 16


class ConfigError(ValueError):
    pass


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
    _peer_map: dict[int, PeerAddress] = field(default_factory=dict, repr=False)
    # The settings given explicitly (file, environment or flag), not left at the default.
    _given: frozenset[str] = field(default=frozenset(), repr=False)

    def finish(self) -> NodeConfig:
        """Fill defaults that depend on other settings and check everything."""
        if not self.peer_host:
            self.peer_host = self.host
        if not self.peer_port:
            self.peer_port = self.port + 10000
        if not self.announce_host:
            self.announce_host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if not self.announce_port:
            self.announce_port = self.port
        if self.fsync not in FSYNC_POLICIES:
            raise ConfigError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}")
        if self.id < 1:
            raise ConfigError("id must be >= 1")
        for name in ("port", "peer_port", "announce_port"):
            if not 0 <= getattr(self, name) < 65536:
                raise ConfigError(f"{name} out of range")
        if " " in self.announce_host:
            raise ConfigError("announce_host must not contain spaces")
        self._peer_map = parse_peers(self.peers)
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
            raise ConfigError("join must be HOST:PORT (the client port of a member)")
        if self.promote_lag < 0:
            raise ConfigError("promote_lag must be >= 0")
        if self.tick_ms < 1 or self.election_ticks < 2 or self.heartbeat_ticks < 1:
            raise ConfigError("tick settings must be positive; election_ticks >= 2")
        if self.heartbeat_ticks >= self.election_ticks:
            raise ConfigError("heartbeat_ticks must be smaller than election_ticks")
        if self.stall_limit_ms < 0:
            raise ConfigError(f"stall_limit_ms must be >= 0 (0: off), got {self.stall_limit_ms}")
        if self.enable_debug_command not in ("no", "yes", "local"):
            raise ConfigError("enable_debug_command must be one of no, yes, local; "
                              f"got {self.enable_debug_command!r}")
        return self

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML file with settings (flags override it)")
    for f in _FIELDS:
        flag = "--" + f.name.replace("_", "-")
        typ = int if f.type in ("int", int) else str
        parser.add_argument(
            flag, type=typ, default=None, dest=f.name,
            help=f"(env RAFTREDIS_{f.name.upper()}; default {f.default!r})",
        )


def _coerce(name: str, value: Any) -> Any:
    f = next((f for f in _FIELDS if f.name == name), None)
    if f is None:
        raise ConfigError(f"unknown setting {name!r}")
    if f.type in ("int", int):
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} must be an integer, got {value!r}") from exc
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
