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


def test_a_peer_missing_from_a_stale_configuration_is_admitted() -> None:
    """A snapshot's configuration may predate the member that leads now (seen in a
    Jepsen run: the joiner dropped its leader, then refused it forever)."""
    core = FakeCore(ConfState(frozenset({1, 2, 3})))
    t = FakeTransport()
    m = _membership(core, t)
    m.learn_peer(5, "127.0.0.1:9005")  # from the JOIN reply: 5 leads
    core.conf = ConfState(frozenset({1, 2, 4}))  # a snapshot from before 5 was added
    m.maybe_sync()
    assert 5 in t.removed  # the transport forgets it for now
    assert m.admit_peer(5, {"peer": "127.0.0.1:9005"}) == ("127.0.0.1", 9005)  # but not for ever
