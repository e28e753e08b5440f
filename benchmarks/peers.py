"""The systems a user might pick instead of raftredis, run locally for the same rounds.

- `EtcdCluster`: three etcd members (Debian's etcd-server) on loopback, each with its
  own data directory; etcd fsyncs its WAL before acknowledging, as raftredis's
  `--fsync always` does. Driven through its v3 HTTP/JSON gateway (etcd_load.py).
- `PySyncObjCluster`: three nodes of benchmarks/pysyncobj_server.py, a PySyncObj
  key-value store behind RESP, so redis-benchmark drives it like raftredis.

Either is skipped, with the reason, when it is not installed: `missing()` says why.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import urllib.request
from pathlib import Path

from benchmarks.resp_client import RespClient, RespError
from benchmarks.servers import (
    REPO_ROOT,
    Proc,
    ProcGroup,
    Registry,
    StartError,
    free_ports,
    parse_info,
    wait_for,
)

ETCD_HINT = "Debian: apt-get install etcd-server etcd-client"
PYSYNCOBJ_HINT = "pip install pysyncobj (or pip install '.[bench]')"


def etcd_missing(etcd: str) -> str | None:
    """Why an etcd cluster cannot be run with binary `etcd`, or None if it can."""
    if shutil.which(etcd) is None:
        return f"{etcd} not found ({ETCD_HINT})"
    return None


def pysyncobj_missing() -> str | None:
    if importlib.util.find_spec("pysyncobj") is None:
        return f"the pysyncobj module is not installed ({PYSYNCOBJ_HINT})"
    return None


# No proxy from the environment: every request here goes to loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post_json(port: int, path: str, body: dict, timeout: float = 2.0) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with _OPENER.open(req, timeout=timeout) as resp:
        return json.loads(resp.read())


class EtcdCluster(ProcGroup):
    """Three (or n) etcd members on loopback, a fresh cluster in `workdir`."""

    def __init__(self, registry: Registry, name: str, workdir: Path, n: int = 3,
                 etcd: str = "etcd") -> None:
        self.name = name
        ports = free_ports(2 * n)
        self.ports = {i: ports[i - 1] for i in range(1, n + 1)}
        peer_ports = {i: ports[n + i - 1] for i in range(1, n + 1)}
        cluster = ",".join(f"m{i}=http://127.0.0.1:{p}" for i, p in peer_ports.items())
        self.procs: dict[int, Proc] = {}
        for i in range(1, n + 1):
            client, peer = f"http://127.0.0.1:{self.ports[i]}", f"http://127.0.0.1:{peer_ports[i]}"
            argv = [etcd, "--name", f"m{i}", "--data-dir", str(workdir / f"{name}-m{i}"),
                    "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", cluster, "--initial-cluster-state", "new",
                    "--initial-cluster-token", f"{name}-bench",
                    "--logger", "zap", "--log-level", "warn"]
            self.procs[i] = registry.add(Proc(f"{name}-m{i}", argv, workdir / f"{name}-m{i}.log"))

    def start(self, timeout: float = 30.0) -> EtcdCluster:
        for proc in self.procs.values():
            proc.start()
        wait_for(self._writable, timeout, f"{self.name} to elect a leader that takes a put")
        return self

    def _check_alive(self) -> None:
        for proc in self.procs.values():
            if not proc.alive():
                raise StartError(f"{proc.name} exited:\n{proc.log_tail()}")

    def leader(self) -> int | None:
        """The member whose own status names itself leader."""
        for i in self.procs:
            try:
                st = _post_json(self.ports[i], "/v3/maintenance/status", {})
            except (OSError, ValueError):
                continue
            if st.get("leader") and st.get("leader") == st.get("header", {}).get("member_id"):
                return i
        return None

    def _writable(self) -> int | None:
        self._check_alive()
        lead = self.leader()
        if lead is None:
            return None
        try:  # key "bench:ready", value "1", base64
            _post_json(self.ports[lead], "/v3/kv/put", {"key": "YmVuY2g6cmVhZHk=", "value": "MQ=="})
        except (OSError, ValueError):
            return None
        return lead




class PySyncObjCluster(ProcGroup):
    """Three (or n) pysyncobj_server.py nodes; PySyncObj picks its own leader."""

    def __init__(self, registry: Registry, name: str, workdir: Path, n: int = 3) -> None:
        self.name = name
        ports = free_ports(2 * n)
        self.ports = {i: ports[i - 1] for i in range(1, n + 1)}
        raft = {i: f"127.0.0.1:{ports[n + i - 1]}" for i in range(1, n + 1)}
        script = REPO_ROOT / "benchmarks" / "pysyncobj_server.py"
        self.procs: dict[int, Proc] = {}
        for i in range(1, n + 1):
            argv = [sys.executable, str(script), "--port", str(self.ports[i]),
                    "--raft", raft[i], "--peers", ",".join(a for j, a in raft.items() if j != i),
                    "--data-dir", str(workdir / f"{name}-node{i}")]
            self.procs[i] = registry.add(Proc(f"{name}-node{i}", argv,
                                              workdir / f"{name}-node{i}.log"))

    def start(self, timeout: float = 30.0) -> PySyncObjCluster:
        for proc in self.procs.values():
            proc.start()
        wait_for(self._writable, timeout, f"{self.name} to elect a leader that takes a SET")
        return self

    def leader(self) -> int | None:
        for i, proc in self.procs.items():
            if not proc.alive():
                raise StartError(f"{proc.name} exited:\n{proc.log_tail()}")
            try:
                with RespClient("127.0.0.1", self.ports[i], timeout=1.0) as c:
                    if parse_info(c.call("INFO")).get("raft_role") == "leader":
                        return i
            except (OSError, RespError):
                continue
        return None

    def _writable(self) -> int | None:
        lead = self.leader()
        if lead is None:
            return None
        with RespClient("127.0.0.1", self.ports[lead], timeout=5.0) as c:
            return lead if c.call("SET", "bench:ready", "1") == b"OK" else None


