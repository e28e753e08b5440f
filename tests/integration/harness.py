"""Real raftredis node processes for tests: start, kill -9, pause, resume, restart,
and (with `proxied=True`) network partitions between them through in-test TCP proxies
(tests/integration/netproxy.py): node i reaches peer j through a proxy for the directed
link i -> j, which the test can cut (REFUSE), black-hole (BLACKHOLE) or heal (OPEN).

Every wait polls a condition against a deadline; every process is stopped by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from raftredis.miniclient import MiniClientError, call, parse_info
from tests import ports
from tests.integration.netproxy import OPEN, REFUSE, NetProxy

SECRET = "test-cluster-secret"


def free_ports(n: int) -> list[int]:
    """n distinct free ports, below the ephemeral range (tests/ports.py says why)."""
    return ports.free_ports(n)


def free_base(n: int) -> int:
    """A base port with port+i and port+10000+i free for i < n (what `raftredis cluster
    --port base` and a node given only --port use: the peer port is port + 10000)."""
    return ports.free_run(n, gap=10000)


def wait_for(cond: Callable[[], object], timeout: float, what: str, interval: float = 0.02):
    """Poll `cond` until it returns a truthy value; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Exception as exc:  # conditions may fail while nodes are down
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


@dataclass
class NodeProc:
    id: int
    port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    extra: list[str]
    proc: subprocess.Popen | None = None
    paused: bool = False
    join: str = ""  # HOST:PORT of a member: started empty with --join, not --peers

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    base: Path
    n: int = 3
    extra: list[str] = field(default_factory=list)
    secret: str = SECRET
    nodes: dict[int, NodeProc] = field(default_factory=dict)
    proxied: bool = False  # route peer traffic through a NetProxy, so partitions work
    net: NetProxy | None = None

    def __post_init__(self) -> None:
        ports = free_ports(2 * self.n)
        for i in range(1, self.n + 1):
            d = self.base / f"node{i}"
            self.nodes[i] = NodeProc(i, ports[i - 1], ports[self.n + i - 1], d,
                                     self.base / f"node{i}.log", list(self.extra))
        if self.proxied:
            self.net = NetProxy().start()
            try:
                for i in self.nodes:
                    for j, dst in self.nodes.items():
                        if i != j:
                            self.net.add_link(i, j, ("127.0.0.1", dst.peer_port))
            except BaseException:
                self.net.stop()
                raise

    @property
    def peers(self) -> str:
        """The real peer addresses (what every node is told when not proxied)."""
        return ",".join(f"{n.id}=127.0.0.1:{n.peer_port}" for n in self.nodes.values())

    def peers_for(self, node: NodeProc) -> str:
        """`--peers` for one node: its own real address, and each peer through the proxy
        for the link node -> peer."""
        if self.net is None:
            return self.peers
        return ",".join(
            f"{n.id}=127.0.0.1:"
            f"{n.peer_port if n.id == node.id else self.net.links[(node.id, n.id)].port}"
            for n in self.nodes.values())

    def command(self, node: NodeProc, secret: str | None = None) -> list[str]:
        members = ["--join", node.join] if node.join else ["--peers", self.peers_for(node)]
        return [
            sys.executable, "-m", "raftredis", "serve", "--id", str(node.id),
            "--host", "127.0.0.1", "--port", str(node.port), "--peer-port", str(node.peer_port),
            *members, "--data-dir", str(node.data_dir),
            "--secret", secret or self.secret, *node.extra,
        ]

    def add_node(self, i: int, join_via: int) -> NodeProc:
        """A new node (not in --peers) that joins through member `join_via`'s client port;
        not started. Not with proxied=True (its links are not proxied)."""
        assert i not in self.nodes and self.net is None
        port, peer_port = free_ports(2)
        self.nodes[i] = NodeProc(i, port, peer_port, self.base / f"node{i}",
                                 self.base / f"node{i}.log", list(self.extra),
                                 join=f"127.0.0.1:{self.nodes[join_via].port}")
        return self.nodes[i]

    def start_node(self, i: int, secret: str | None = None) -> NodeProc:
        node = self.nodes[i]
        assert not node.alive()
        with open(node.log_path, "ab") as log:
            node.proc = subprocess.Popen(self.command(node, secret), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        node.paused = False
        return node

    def start(self) -> Cluster:
        for i in self.nodes:
            self.start_node(i)
        return self

    def kill(self, i: int) -> None:
        node = self.nodes[i]
        if node.alive():
            os.kill(node.pid, signal.SIGKILL)
            node.proc.wait(timeout=10)

    def pause(self, i: int) -> None:
        os.kill(self.nodes[i].pid, signal.SIGSTOP)
        self.nodes[i].paused = True

    def resume(self, i: int) -> None:
        os.kill(self.nodes[i].pid, signal.SIGCONT)
        self.nodes[i].paused = False

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.alive():
                if node.paused:
                    os.kill(node.pid, signal.SIGCONT)
                node.proc.terminate()
        for node in self.nodes.values():
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(timeout=10)
        if self.net is not None:
            self.net.stop()

    # ------------------------------------------------------------- partitions
    def _net(self) -> NetProxy:
        if self.net is None:
            raise RuntimeError("partitions need Cluster(..., proxied=True)")
        return self.net

    def cut(self, src: int, dst: int, mode: str = REFUSE) -> None:
        """One-way: what `src` sends to `dst` is lost (mode REFUSE or BLACKHOLE)."""
        self._net().set_state(src, dst, mode)

    def heal(self, src: int | None = None, dst: int | None = None) -> None:
        """Reopen one link, or every link when none is named."""
        if src is None and dst is None:
            self._net().heal_all()
        elif src is not None and dst is not None:
            self._net().set_state(src, dst, OPEN)
        else:
            raise ValueError("name both ends of the link, or neither")

    def partition(self, *groups: Iterable[int], mode: str = REFUSE) -> None:
        """Split the nodes into `groups` (the nodes no group names form one more group):
        every link between groups is cut both ways, every link inside a group is open.
        Applied in one step of the proxy loop."""
        side: dict[int, int] = {}
        for g, members in enumerate(groups):
            for i in members:
                if i not in self.nodes or i in side:
                    raise ValueError(f"bad or repeated node id {i} in {groups!r}")
                side[i] = g
        for i in self.nodes:
            side.setdefault(i, len(groups))
        self._net().set_states({
            (i, j): OPEN if side[i] == side[j] else mode for (i, j) in self._net().links})

    def bridge(self, middle: int, mode: str = REFUSE) -> None:
        """The other nodes split in two halves that cannot talk to each other, while both
        still reach `middle` (Jepsen's bridge). Applied in one step."""
        others = sorted(i for i in self.nodes if i != middle)
        side = {i: 0 for i in others[:len(others) // 2]} | {i: 1 for i in others[len(others) // 2:]}
        side[middle] = -1
        self._net().set_states({
            (i, j): mode if -1 not in (side[i], side[j]) and side[i] != side[j] else OPEN
            for (i, j) in self._net().links})

    def isolate(self, i: int, mode: str = REFUSE) -> None:
        """Node i can neither send to nor hear from anyone; the rest talk freely."""
        self.partition([i], mode=mode)

    def cut_inbound(self, i: int, mode: str = REFUSE) -> None:
        """One-way partition: node i still sends to everyone but hears from nobody
        (links that do not end at i are left as they are)."""
        self._net().set_states({(j, i): mode for j in self.nodes if j != i})

    def cut_outbound(self, i: int, mode: str = REFUSE) -> None:
        """One-way partition: node i hears everyone but what it sends is lost."""
        self._net().set_states({(i, j): mode for j in self.nodes if j != i})

    def logs(self) -> str:
        out = []
        for node in self.nodes.values():
            if node.log_path.exists():
                tail = node.log_path.read_text(errors="replace").splitlines()[-40:]
                out.append(f"--- node{node.id} (port {node.port}) ---\n" + "\n".join(tail))
        if self.net is not None:
            out.append("--- proxy links ---\n" + self.net.describe())
        return "\n".join(out)

    # ------------------------------------------------------------- queries
    def info(self, i: int, section: str = "raft") -> dict[str, str]:
        reply = call("127.0.0.1", self.nodes[i].port, "INFO", section, timeout=1.0)
        if not isinstance(reply, bytes | str):
            raise MiniClientError(f"INFO answered {reply!r}")
        return parse_info(reply)

    def leader(self) -> int | None:
        """The node that says it is leader and that the live majority agrees on."""
        seen: dict[int, int] = {}
        for i, node in self.nodes.items():
            if not node.alive() or node.paused:
                continue
            try:
                f = self.info(i)
            except (OSError, MiniClientError):
                continue
            if f.get("raft_role") == "leader":
                seen[i] = int(f.get("raft_term", 0))
        if not seen:
            return None
        return max(seen, key=lambda k: seen[k])

    def wait_leader(self, timeout: float = 20, exclude: int | None = None) -> int:
        def cond():
            lead = self.leader()
            return lead if lead is not None and lead != exclude else None

        return wait_for(cond, timeout, "a leader")

    def terms(self) -> dict[int, int]:
        return {i: int(self.info(i)["raft_term"]) for i in self.nodes}

    def wait_settled(self, lead: int, timeout: float = 20) -> dict[int, int]:
        """Every node follows `lead` in one term, and those terms: a baseline to check
        that nothing moves them (a node may still be learning the term a moment after
        the leader is known)."""
        def agreed() -> dict[int, int] | None:
            terms = self.terms()
            leaders = {self.info(i).get("raft_leader_id") for i in self.nodes}
            return terms if len(set(terms.values())) == 1 and leaders == {str(lead)} else None
        return wait_for(agreed, timeout, "every node to follow the leader")

    def wait_applied(self, i: int, index: int, timeout: float = 30) -> None:
        wait_for(lambda: int(self.info(i)["raft_applied_index"]) >= index, timeout,
                 f"node{i} to apply index {index}")

    def commit_index(self, i: int) -> int:
        return int(self.info(i)["raft_commit_index"])


def auth_ok(port: int, user: str, password: str) -> bool:
    """AUTH on a bare connection: redis-py's own handshake may need the password, and it
    retries a refused AUTH with backoff."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        args = [b"AUTH", user.encode(), password.encode()]
        sock.sendall(b"*3\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                return False
            reply += chunk
        return reply == b"+OK\r\n"
