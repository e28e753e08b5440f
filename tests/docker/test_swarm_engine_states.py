"""How tests/docker/swarm.py's single_node_swarm treats each engine state, with the
docker calls faked: no engine needed. (The made and existing-manager paths also run for
real in test_swarm_stack.py.)"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from tests.docker import swarm


class FakeDocker:
    """Answers the docker commands single_node_swarm runs; records them."""

    def __init__(self, state: dict, init_rc: int = 0) -> None:
        self.state, self.init_rc, self.calls = state, init_rc, []

    def run(self, cmd: list[str], timeout: float, check: bool = True,
            **_: object) -> subprocess.CompletedProcess[str]:
        self.calls.append(cmd[1:3])
        rc, out = 0, ""
        if cmd[1:3] == ["swarm", "init"]:
            rc = self.init_rc
            if rc == 0:
                self.state = {"LocalNodeState": "active", "ControlAvailable": True}
        elif cmd[1:3] == ["swarm", "leave"]:
            self.state = {"LocalNodeState": "inactive", "ControlAvailable": False}
        elif cmd[1:3] == ["network", "ls"]:
            out = "bridge\nhost\nnone\n" + ("docker_gwbridge\n" if ["swarm", "init"]
                                              in self.calls else "")
        return subprocess.CompletedProcess(cmd, rc, out, "init refused" if rc else "")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeDocker]:
    def make(state: dict, init_rc: int = 0) -> FakeDocker:
        f = FakeDocker(state, init_rc)
        monkeypatch.setattr(swarm, "run", f.run)
        monkeypatch.setattr(swarm, "swarm_state", lambda: f.state)
        return f
    return make


def test_an_inactive_engine_gets_a_swarm_that_is_left_again(fake: Callable[..., FakeDocker]) -> None:
    f = fake({"LocalNodeState": "inactive", "ControlAvailable": False})
    with swarm.single_node_swarm() as how:
        assert how == "made"
    assert ["swarm", "leave"] in f.calls
    assert ["network", "rm"] in f.calls  # the docker_gwbridge swarm mode made


def test_the_swarm_is_left_even_when_the_body_fails(fake: Callable[..., FakeDocker]) -> None:
    f = fake({"LocalNodeState": "inactive", "ControlAvailable": False})
    with pytest.raises(RuntimeError), swarm.single_node_swarm():
        raise RuntimeError("test failed")
    assert ["swarm", "leave"] in f.calls


def test_an_existing_manager_is_used_and_kept(fake: Callable[..., FakeDocker]) -> None:
    f = fake({"LocalNodeState": "active", "ControlAvailable": True})
    with swarm.single_node_swarm() as how:
        assert how == "existing"
    assert ["swarm", "init"] not in f.calls and ["swarm", "leave"] not in f.calls


@pytest.mark.parametrize(("state", "init_rc", "reason"), [
    ({"LocalNodeState": "active", "ControlAvailable": False}, 0, "worker"),
    ({"LocalNodeState": "locked", "ControlAvailable": False}, 0, "'locked'"),
    ({"LocalNodeState": "inactive", "ControlAvailable": False}, 1, "init refused"),
])
def test_other_states_say_why_they_cannot(fake: Callable[..., FakeDocker], state: dict, init_rc: int,
                                          reason: str) -> None:
    f = fake(state, init_rc)
    with pytest.raises(swarm.SwarmUnavailable, match=reason), swarm.single_node_swarm():
        pass
    assert ["swarm", "leave"] not in f.calls
