"""Drive docker/compose.yaml + docker/stack.yaml as a swarm stack from tests.

The engine is shared with the compose tests, so `single_node_swarm` leaves it as it found
it: a swarm it made is left again (with the networks swarm mode made), one that existed
is used and kept. Everything a stack makes carries its com.docker.stack.namespace label,
by which `Stack.remove` finds what `docker stack rm` leaves behind (volumes, always).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.docker.harness import (
    COMPOSE_FILE,
    DOCKER_DIR,
    SERVICES,
    DockerError,
    HostClients,
    free_ports,
    node_env,
    run,
    wait_for,
)

STACK_FILE = DOCKER_DIR / "stack.yaml"
# Networks the engine makes on first use of swarm mode and keeps after `swarm leave`.
SWARM_LOCAL_NETWORKS = ("docker_gwbridge",)


class SwarmUnavailable(Exception):
    """Swarm cannot be used on this engine; the message says why."""


def swarm_state() -> dict:
    """The engine's swarm state: LocalNodeState (inactive/pending/active/error/locked)
    and ControlAvailable (true on a manager)."""
    return json.loads(run(["docker", "info", "--format", "{{json .Swarm}}"],
                          timeout=30).stdout)


def _network_names() -> set[str]:
    return set(run(["docker", "network", "ls", "--format", "{{.Name}}"], timeout=30)
               .stdout.split())


@contextmanager
def single_node_swarm() -> Iterator[str]:
    """A swarm manager to deploy on; yields how it was obtained ("made" or "existing").

    Raises SwarmUnavailable (before yielding) when the engine is a swarm worker, in an
    odd state, has no `docker stack`, or refuses `swarm init`."""
    if run(["docker", "stack", "--help"], timeout=30, check=False).returncode != 0:
        raise SwarmUnavailable("this docker CLI has no `docker stack` command")
    state = swarm_state()
    node_state = state.get("LocalNodeState")
    if node_state == "active":
        if not state.get("ControlAvailable"):
            raise SwarmUnavailable("the engine is a swarm worker: stacks deploy on managers "
                                   "only, and leaving its swarm is not this test's call")
        yield "existing"
        return
    if node_state != "inactive":
        raise SwarmUnavailable(f"the engine's swarm state is {node_state!r} "
                               f"({state.get('Error') or 'no error given'})")
    networks_before = _network_names()
    # 127.0.0.1: a one-node swarm needs no address other machines can reach.
    init = run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], timeout=60,
               check=False)
    if init.returncode != 0:
        raise SwarmUnavailable(f"docker swarm init failed: {init.stderr.strip()[:300]}")
    try:
        yield "made"
    finally:
        run(["docker", "swarm", "leave", "--force"], timeout=120, check=False)
        for name in SWARM_LOCAL_NETWORKS:
            if name not in networks_before and name in _network_names():
                # Fails harmlessly if a container of someone else's has started using it.
                run(["docker", "network", "rm", name], timeout=60, check=False)
        after = swarm_state().get("LocalNodeState")
        if after != "inactive":
            raise DockerError(f"docker swarm leave --force left the engine {after!r}")


@dataclass
class Stack(HostClients):
    """One stack: services <name>_node1..3, client ports published in host mode on free
    ports and announced as 127.0.0.1:<port>."""

    name: str
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls) -> Stack:
        ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        return cls(name=f"rrswarm{os.getpid()}{secrets.token_hex(3)}", ports=ports,
                   env=node_env(ports))

    def deploy(self) -> None:
        # --resolve-image never: the image is local only; there is no registry to ask.
        run(["docker", "stack", "deploy", "--resolve-image", "never",
             "-c", str(COMPOSE_FILE), "-c", str(STACK_FILE), self.name],
            timeout=180, env=self.env)

    def service(self, svc: str) -> str:
        return f"{self.name}_{svc}"

    def _ps(self, *filters: str, fmt: str = "{{.ID}}") -> list[str]:
        args = [f"--filter=label=com.docker.stack.namespace={self.name}"]
        args += [f"--filter={f}" for f in filters]
        return run(["docker", "ps", "--no-trunc", "--format", fmt, *args],
                   timeout=30).stdout.split()

    def running_task(self, svc: str) -> tuple[str, str] | None:
        """(task id, container id) of the service's one running container, else None."""
        rows = self._ps(f"label=com.docker.swarm.service.name={self.service(svc)}",
                        fmt='{{.Label "com.docker.swarm.task.id"}}/{{.ID}}')
        if len(rows) != 1:
            return None
        task, _, cid = rows[0].partition("/")
        return task, cid

    def task_history(self, svc: str) -> list[str]:
        """`docker service ps` rows: task id, desired state, current state, error."""
        out = run(["docker", "service", "ps", "--no-trunc", "--format",
                   "{{.ID}} {{.DesiredState}} {{.CurrentState}} {{.Error}}",
                   self.service(svc)], timeout=30).stdout
        return [ln for ln in out.splitlines() if ln.strip()]

    def mounts(self, cid: str) -> list[str]:
        """Names of the volumes mounted in a container."""
        mounts = json.loads(run(["docker", "inspect", "-f", "{{json .Mounts}}", cid],
                                timeout=30).stdout)
        return [m.get("Name", "") for m in mounts if m.get("Type") == "volume"]

    def kill(self, svc: str) -> tuple[str, str]:
        """docker kill the service's running container (as a crash would); returns the
        (task, container) killed."""
        task = self.running_task(svc)
        if task is None:
            raise DockerError(f"{svc} has no running task to kill")
        run(["docker", "kill", task[1]], timeout=60)
        return task

    def logs(self) -> str:
        parts = []
        for svc in SERVICES:
            proc = run(["docker", "service", "logs", "--no-task-ids", "--tail", "40",
                        self.service(svc)], timeout=60, check=False)
            parts.append(f"--- {svc} ---\n{proc.stdout}{proc.stderr}")
        return "\n".join(parts)

    def remove(self) -> list[str]:
        """docker stack rm, then wait for its containers to go and remove what it leaves
        (its volumes; its network if removal raced a container); returns problems."""
        problems: list[str] = []
        label = f"label=com.docker.stack.namespace={self.name}"
        run(["docker", "stack", "rm", self.name], timeout=120, check=False)

        def ids(*ls: str) -> list[str]:
            return run(["docker", *ls, "-q", f"--filter={label}"], timeout=30).stdout.split()

        try:
            wait_for(f"containers of stack {self.name} to go",
                     lambda: not ids("ps", "-a"), 90)
        except AssertionError as exc:
            problems.append(str(exc))
            if ids("ps", "-a"):
                run(["docker", "rm", "-f", "-v", *ids("ps", "-a")], timeout=120, check=False)
        if ids("network", "ls"):
            problems.append(f"leftover networks {ids('network', 'ls')}")
            run(["docker", "network", "rm", *ids("network", "ls")], timeout=60, check=False)
        if ids("volume", "ls"):  # expected: stack rm never removes volumes
            run(["docker", "volume", "rm", "-f", *ids("volume", "ls")], timeout=120,
                check=False)
        if ids("volume", "ls") or ids("network", "ls") or ids("ps", "-a"):
            problems.append("stack leftovers remain after removal")
        return problems
