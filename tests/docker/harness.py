"""Drive the docker/compose.yaml cluster from tests: build, up, faults, probes, teardown.

Every docker call runs as a subprocess with a timeout; every container, network and
volume a test makes carries the compose project label (or is tracked by id) so teardown
removes exactly what the test made and nothing else.
"""

from __future__ import annotations

import bisect
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException

from tests.ports import free_ports  # below the ephemeral range: tests/ports.py

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
SERVICES = ("node1", "node2", "node3")
NETWORK = "raft"  # the network's name inside compose.yaml
IMAGE = os.environ.get("RAFTREDIS_DOCKER_IMAGE", "raftredis:docker-tests")
BASE_IMAGE_DEFAULT = "raftredis-base:bookworm"

T = TypeVar("T")


class DockerError(RuntimeError):
    pass


def run(cmd: list[str], timeout: float, env: dict[str, str] | None = None,
        check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one docker command, bounded in time; subprocess.run kills it on timeout."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              input=stdin)
    except subprocess.TimeoutExpired as exc:
        raise DockerError(f"timed out after {timeout}s: {' '.join(cmd)}") from exc
    if check and proc.returncode != 0:
        raise DockerError(f"{' '.join(cmd)} exited {proc.returncode}:\n"
                          f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def wait_for(what: str, probe: Callable[[], T | None], timeout: float,
             interval: float = 0.2) -> T:
    """Poll probe until it returns something other than None/False, with a deadline."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = probe()
            if value is not None and value is not False:
                return value
        except (redis.RedisError, OSError, DockerError, ValueError, KeyError) as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)  # poll interval, not synchronisation: the deadline decides


# ---- engine discovery ----------------------------------------------------------------

def engine_problem() -> str | None:
    """Why docker tests cannot run here, or None when an engine answers."""
    if shutil.which("docker") is None:
        return "no docker command on PATH"
    try:
        proc = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=20,
                   check=False)
    except DockerError as exc:
        return f"docker info: {exc}"
    if proc.returncode != 0 or not proc.stdout.strip():
        return f"no Docker engine answers (docker info: {proc.stderr.strip()[:200]})"
    if compose_command() is None:
        return "neither `docker compose` nor `docker-compose` works"
    if shutil.which("redis-cli") is None:
        return "redis-cli is not installed (apt-get install redis-tools)"
    return None


_compose_cmd: list[str] | None = None


def compose_command() -> list[str] | None:
    """`docker compose` (v2) if present, else `docker-compose` (v1)."""
    global _compose_cmd
    if _compose_cmd is None:
        for cmd in (["docker", "compose"], ["docker-compose"]):
            if shutil.which(cmd[0]) is None:
                continue
            try:
                if run([*cmd, "version"], timeout=20, check=False).returncode == 0:
                    _compose_cmd = cmd
                    break
            except DockerError:
                continue
    return _compose_cmd


def image_exists(name: str) -> bool:
    return run(["docker", "image", "inspect", name], timeout=30, check=False).returncode == 0


# ---- images ---------------------------------------------------------------------------

def ensure_base_image() -> str:
    """The base image for the build: $RAFTREDIS_DOCKER_BASE_IMAGE, else the local
    debootstrap image made (once, cached) by docker/make-base-image.sh."""
    base = os.environ.get("RAFTREDIS_DOCKER_BASE_IMAGE", BASE_IMAGE_DEFAULT)
    if image_exists(base):
        return base
    if base != BASE_IMAGE_DEFAULT:
        raise DockerError(f"base image {base} (RAFTREDIS_DOCKER_BASE_IMAGE) does not exist")
    run([str(DOCKER_DIR / "make-base-image.sh"), base], timeout=1200)
    return base


def build_image(base: str, workdir: Path) -> float:
    """Build the app image from a clean copy of the repository (sources only, with the
    wheels fetched by the host's pip, so the build needs no network); returns seconds."""
    start = time.monotonic()
    ctx = workdir / "context"
    ctx.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, ctx)
    # (A local compiled build's .so files and manifest stay out: the image builds its own.)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.whl", "*.so", "compiled.json")
    shutil.copytree(REPO / "raftredis", ctx / "raftredis", ignore=ignore)
    shutil.copytree(DOCKER_DIR, ctx / "docker", ignore=ignore)
    run([str(DOCKER_DIR / "fetch-wheels.sh"), str(ctx / "docker" / "wheelhouse")], timeout=360)
    previous = run(["docker", "image", "inspect", "-f", "{{.Id}}", IMAGE], timeout=30,
                   check=False).stdout.strip()
    run(["docker", "build", "-f", "docker/Dockerfile", "--build-arg", f"BASE_IMAGE={base}",
         "-t", IMAGE, str(ctx)], timeout=900)
    # Untagged build stages of earlier builds would pile up; the label limits this to ours.
    run(["docker", "image", "prune", "-f", "--filter", "label=org.raftredis.stage=build"],
        timeout=120, check=False)
    if previous and previous != run(["docker", "image", "inspect", "-f", "{{.Id}}", IMAGE],
                                    timeout=30).stdout.strip():
        run(["docker", "rmi", previous], timeout=120, check=False)  # fails harmlessly if in use
    return time.monotonic() - start


# ---- the cluster ----------------------------------------------------------------------

# Runs inside a node's container (its venv python): speaks RESP to the node's own client
# port over loopback, so it works even while the container is cut off the network.
_PROBE = r"""
import json, socket, sys, time
port, wait, cmds = int(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
deadline = time.monotonic() + wait
buf = b""
def need(sock):
    global buf
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    sock.settimeout(left)
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("closed")
    buf += chunk
def line(sock):
    global buf
    while b"\r\n" not in buf:
        need(sock)
    head, buf = buf.split(b"\r\n", 1)
    return head
def parse(sock):
    global buf
    head = line(sock)
    kind, rest = head[:1], head[1:].decode("latin-1")
    if kind == b"+": return {"status": rest}
    if kind == b"-": return {"error": rest}
    if kind == b":": return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0: return None
        while len(buf) < n + 2: need(sock)
        data, buf = buf[:n], buf[n + 2:]
        return data.decode("latin-1")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [parse(sock) for _ in range(n)]
    raise ValueError(head)
out = {"replies": [], "timeout": False}
try:
    with socket.create_connection(("127.0.0.1", port), timeout=max(wait, 0.1)) as sock:
        for cmd in cmds:
            parts = [a.encode() for a in cmd]
            sock.sendall(b"*%d\r\n" % len(parts) + b"".join(
                b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
            out["replies"].append(parse(sock))
except TimeoutError:
    out["timeout"] = True
except OSError as exc:
    out["error"] = repr(exc)
print(json.dumps(out))
"""


def info_field(text: str, name: str) -> str | None:
    for raw in text.splitlines():
        key, _, value = raw.strip().partition(":")
        if key == name:
            return value
    return None


def node_env(ports: dict[str, int]) -> dict[str, str]:
    """The environment compose.yaml is read with (by compose or `docker stack deploy`):
    the test image, a fresh secret, each node's client port published and announced as
    127.0.0.1:<its free port>."""
    env = dict(os.environ)
    env.update({
        "RAFTREDIS_IMAGE": IMAGE,
        "RAFTREDIS_SECRET": secrets.token_hex(16),
        "RAFTREDIS_FSYNC": "always",
        "PUBLISH_ADDR": "127.0.0.1",
    })
    for i, svc in enumerate(SERVICES, 1):
        env[f"NODE{i}_PORT"] = str(ports[svc])
        env[f"NODE{i}_ANNOUNCE_HOST"] = "127.0.0.1"
        env[f"NODE{i}_ANNOUNCE_PORT"] = str(ports[svc])
    return env


class HostClients:
    """Clients on the host for a cluster whose node `svc` is reached at 127.0.0.1:ports[svc]
    (a compose project or a swarm stack alike)."""

    ports: dict[str, int]

    def client(self, svc: str) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.ports[svc], socket_timeout=3,
                           socket_connect_timeout=2, decode_responses=True)

    def cluster_client(self, services: tuple[str, ...] = SERVICES) -> RedisCluster:
        nodes = [ClusterNode("127.0.0.1", self.ports[s]) for s in services]
        return RedisCluster(startup_nodes=nodes, socket_timeout=3, socket_connect_timeout=2,
                            decode_responses=True)

    def role(self, svc: str) -> str | None:
        """role from INFO replication (master / slave), or None if the node is unreachable."""
        try:
            with self.client(svc) as c:
                return c.info("replication").get("role")
        except (redis.RedisError, OSError):
            return None

    def leader(self, among: tuple[str, ...] = SERVICES, timeout: float = 60) -> str:
        """Wait until exactly one of `among` says role:master and return it."""
        def probe() -> str | None:
            masters = [s for s in among if self.role(s) == "master"]
            return masters[0] if len(masters) == 1 else None
        return wait_for(f"one leader among {among}", probe, timeout)

    def raft_info(self, svc: str) -> dict:
        """The node's INFO raft section, parsed by redis-py (numbers as ints)."""
        with self.client(svc) as c:
            return c.info("raft")

    def local_get(self, svc: str, key: str) -> str | None:
        """The node's own copy of key (READONLY allows a follower to answer locally)."""
        with self.client(svc) as c:
            pipe = c.pipeline(transaction=False)  # one connection for both commands
            pipe.execute_command("READONLY")
            pipe.get(key)
            return pipe.execute()[1]


# ---- writes and reads that must not be lost ---------------------------------------

def write_keys(c: HostClients, prefix: str, n: int) -> dict[str, str]:
    rc = c.cluster_client()
    try:
        written = {f"{prefix}:{i}": f"value-{prefix}-{i}" for i in range(n)}
        for key, value in written.items():
            assert rc.set(key, value) is True
        return written
    finally:
        rc.close()


def assert_all_readable(c: HostClients, expected: dict[str, str],
                        services: tuple[str, ...] = SERVICES) -> None:
    rc = c.cluster_client(services)
    try:
        missing = {k: v for k, v in expected.items() if rc.get(k) != v}
    finally:
        rc.close()
    assert not missing, f"{len(missing)} of {len(expected)} keys lost, e.g. {list(missing)[:5]}"


class WriteLoad(threading.Thread):
    """Writes distinct keys in a loop; remembers exactly the acknowledged ones.

    A failed write is retried with the same value, so an error whose outcome is unknown
    can never make a key hold anything but its one value."""

    def __init__(self, c: HostClients, prefix: str, max_keys: int = 20000) -> None:
        super().__init__(daemon=True)
        self.c, self.prefix, self.max_keys = c, prefix, max_keys
        self.acked: dict[str, str] = {}
        self.ack_times: list[float] = []  # time.monotonic() of each acknowledgement, in order
        self.errors = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def first_ack_after(self, t: float) -> float | None:
        """When the first write acknowledged after monotonic time t was, or None yet."""
        with self.lock:
            i = bisect.bisect_right(self.ack_times, t)
            return self.ack_times[i] if i < len(self.ack_times) else None

    def run(self) -> None:
        rc = None
        i = 0
        while not self.stop.is_set() and i < self.max_keys:
            key, value = f"{self.prefix}:{i}", f"v{i}"
            try:
                if rc is None:
                    rc = self.c.cluster_client()
                if rc.set(key, value) is True:
                    with self.lock:
                        self.acked[key] = value
                        self.ack_times.append(time.monotonic())
                    i += 1
            # RedisClusterException is not a RedisError: redis-py raises it when no startup
            # node answers CLUSTER SLOTS (all of them down or slow for a moment).
            except (redis.RedisError, RedisClusterException, OSError):
                self.errors += 1
                if rc is not None:
                    rc.close()
                rc = None  # rebuild the topology from the startup nodes
                self.stop.wait(0.1)  # back off; stop() still wakes us at once
        if rc is not None:
            rc.close()


@dataclass
class Cluster(HostClients):
    """One compose project: three raftredis nodes, client ports published on 127.0.0.1."""

    project: str
    base_image: str
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    extra_containers: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, base_image: str) -> Cluster:
        project = f"rrtest{os.getpid()}{secrets.token_hex(3)}"
        ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        env = node_env(ports)
        env.update({
            "BASE_IMAGE": base_image,
            "RAFTREDIS_RESTART": "no",  # a killed node must stay down until the test says
        })
        return cls(project=project, base_image=base_image, ports=ports, env=env)

    # -- compose and docker plumbing --

    def compose(self, *args: str, timeout: float = 120) -> str:
        cmd = [*compose_command(), "-p", self.project, "-f", str(COMPOSE_FILE), *args]
        return run(cmd, timeout=timeout, env=self.env).stdout

    def up(self, *services: str) -> None:
        self.compose("up", "-d", "--no-build", *services, timeout=180)

    def _label_ids(self, kind: str, *filters: str) -> list[str]:
        args = [f"--filter=label=com.docker.compose.project={self.project}"]
        args += [f"--filter={f}" for f in filters]
        ls = {"container": ["ps", "-a", "-q"], "network": ["network", "ls", "-q"],
              "volume": ["volume", "ls", "-q"]}[kind]
        return run(["docker", *ls, *args], timeout=30).stdout.split()

    def container(self, svc: str) -> str:
        ids = self._label_ids("container", f"label=com.docker.compose.service={svc}")
        if len(ids) != 1:
            raise DockerError(f"expected one container for {svc}, found {ids}")
        return ids[0]

    def network(self) -> str:
        ids = self._label_ids("network", f"label=com.docker.compose.network={NETWORK}")
        if len(ids) != 1:
            raise DockerError(f"expected one network {NETWORK}, found {ids}")
        return run(["docker", "network", "inspect", "-f", "{{.Name}}", ids[0]],
                   timeout=30).stdout.strip()

    def inspect(self, svc: str, fmt: str) -> str:
        return run(["docker", "inspect", "-f", fmt, self.container(svc)],
                   timeout=30).stdout.strip()

    def ip(self, svc: str) -> str:
        nets = json.loads(self.inspect(svc, "{{json .NetworkSettings.Networks}}"))
        return nets[self.network()]["IPAddress"]

    def kill(self, svc: str) -> None:
        run(["docker", "kill", self.container(svc)], timeout=60)

    def start(self, svc: str) -> None:
        run(["docker", "start", self.container(svc)], timeout=60)

    def disconnect(self, svc: str) -> None:
        run(["docker", "network", "disconnect", self.network(), self.container(svc)],
            timeout=60)

    def connect(self, svc: str) -> None:
        # The service name is the DNS alias the peers use; a reconnect must restore it.
        run(["docker", "network", "connect", "--alias", svc, self.network(),
             self.container(svc)], timeout=60)

    def start_filler(self) -> str:
        """A bounded idle container on the cluster network (it takes the lowest free IP)."""
        cid = run(["docker", "run", "-d", "--rm", "--network", self.network(),
                   "--entrypoint", "sleep", IMAGE, "600"], timeout=60).stdout.strip()
        self.extra_containers.append(cid)
        return cid

    def exec_resp(self, svc: str, cmds: list[list[str]], wait: float = 5.0) -> dict:
        """Send commands to the node's client port from inside its container."""
        proc = run(["docker", "exec", "-i", self.container(svc), "python", "-", "7000",
                    str(wait), json.dumps(cmds)], timeout=wait + 30, stdin=_PROBE)
        return json.loads(proc.stdout)

    def logs(self) -> str:
        try:
            return self.compose("logs", "--no-color", "--tail", "60", timeout=60)
        except DockerError as exc:
            return f"(no logs: {exc})"

    def down(self) -> list[str]:
        """Remove everything of the project; returns what had to be force-removed."""
        problems: list[str] = []
        for cid in self.extra_containers:
            run(["docker", "rm", "-f", "-v", cid], timeout=60, check=False)
        try:
            self.compose("down", "-v", "--remove-orphans", "-t", "5", timeout=180)
        except DockerError as exc:
            problems.append(str(exc))
        # Whatever compose left behind (e.g. after a timeout) goes by label.
        leftovers = [
            (["docker", "rm", "-f", "-v"], self._label_ids("container")),
            (["docker", "network", "rm"], self._label_ids("network")),
            (["docker", "volume", "rm", "-f"], self._label_ids("volume")),
        ]
        for cmd, ids in leftovers:
            if ids:
                problems.append(f"leftover {ids}")
                run([*cmd, *ids], timeout=120, check=False)
        return problems

    # -- waiting --

    def wait_ready(self, timeout: float = 90) -> str:
        """All nodes answer PING and one is the leader; returns the leader."""
        def pong(svc: str) -> bool:
            try:
                with self.client(svc) as c:
                    return c.ping()
            except (redis.RedisError, OSError):
                # Fail at once, not at the deadline, when the node's process has died.
                state = self.inspect(svc, "{{.State.Status}}")
                if state not in ("running", "created", "restarting"):
                    raise AssertionError(f"{svc} container is {state}") from None
                raise

        for svc in SERVICES:
            wait_for(f"{svc} to answer PING", lambda s=svc: pong(s), timeout)
        return self.leader(timeout=timeout)

