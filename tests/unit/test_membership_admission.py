"""Which authenticated peers, new to the transport, membership admits."""

from __future__ import annotations

from raftredis.raft.types import ConfState
from raftredis.replica.membership import MemberAddr, Membership


class FakeCore:
    def __init__(self, conf: ConfState) -> None:
        self.conf = conf


class FakeRouter:
    def learn_address(self, node_id: int, addr: str) -> None:
        pass

    def address(self, node_id: int) -> str | None:
        return None


class FakeTransport:
    def __init__(self) -> None:
        self.peers: dict[int, tuple[str, int]] = {}
        self.removed: list[int] = []

    def set_peer(self, node_id: int, host: str, port: int) -> None:
        self.peers[node_id] = (host, port)

    def remove_peer(self, node_id: int) -> None:
        self.removed.append(node_id)
        self.peers.pop(node_id, None)


def _membership(core: FakeCore, transport: FakeTransport) -> Membership:
    return Membership(1, lambda: core, lambda: transport, FakeRouter(),  # type: ignore[arg-type]
                      MemberAddr("127.0.0.1:9001", "127.0.0.1:7001"),
                      {2: "127.0.0.1:9002", 3: "127.0.0.1:9003"}, 1000, lambda: None,
                      applied_conf=lambda: core.conf)


def test_a_newcomer_is_admitted_at_its_announced_address() -> None:
    core = FakeCore(ConfState(frozenset({1, 2, 3})))
    m = _membership(core, FakeTransport())
    assert m.admit_peer(5, {"peer": "10.0.0.5:9005"}) == ("10.0.0.5", 9005)
    assert m.admit_peer(5, {}) is None  # no address to dial it back
    assert m.admit_peer(1, {"peer": "127.0.0.1:9001"}) is None  # ourselves


def test_a_member_seen_removed_stays_refused_until_added_again() -> None:
    core = FakeCore(ConfState(frozenset({1, 2, 3})))
    t = FakeTransport()
    m = _membership(core, t)
    m.maybe_sync()
    core.conf = ConfState(frozenset({1, 2}))  # 3 removed (and applied)
    m.maybe_sync()
    assert t.removed == [3]
    assert m.admit_peer(3, {"peer": "127.0.0.1:9003"}) is None
    core.conf = ConfState(frozenset({1, 2}), learners=frozenset({3}))  # re-added
    m.maybe_sync()
    assert m.admit_peer(3, {"peer": "127.0.0.1:9003"}) == ("127.0.0.1", 9003)
