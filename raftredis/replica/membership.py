"""Membership of one group as the node runs it (§4): proposing single-server changes,
answering them once committed, promoting caught-up learners, and keeping the
transport and the router pointed at every member.

Each configuration entry carries every member's addresses (ConfState.addrs, opaque to
the core; the text format is MemberAddr's), so a node that learns a configuration from
the log or a snapshot, or restarts from its own, knows where its peers are: the
persisted membership wins over --peers, which only seeds a brand-new cluster.

A learner added by CLUSTER JOIN (what `serve --join` sends) is marked for promotion;
the leader promotes it once its match index is within `promote_lag` entries of the
leader's log (the mark lives in the configuration, so a new leader continues it).
CLUSTER ADDLEARNER adds one that stays a learner until CLUSTER PROMOTE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from raftredis.raft.confchange import ConfChangeError
from raftredis.raft.core import NotLeaderError, ProposalDroppedError, RaftCore
from raftredis.raft.types import ConfState, Entry, Role
from raftredis.replica.ports import Transport
from raftredis.replica.routing import Router
from raftredis.reply import Error

log = logging.getLogger("raftredis.replica")

# Replies of a change that did not happen (safe to retry) or whose outcome is unknown.
BUSY = Error("TRYAGAIN membership change in progress or leader just elected, retry")
UNCERTAIN = Error("UNCERTAIN leadership changed while the membership change was in flight; "
                  "check CLUSTER NODES before retrying")


@dataclass(frozen=True, slots=True)
class MemberAddr:
    """A member's addresses as stored in a configuration: `peer|client[|promote]`."""

    peer: str  # host:port of the Raft peer port ("" unknown)
    client: str  # host:port of the client port ("" unknown)
    promote: bool = False  # a learner to promote once caught up

    def encode(self) -> str:
        return f"{self.peer}|{self.client}" + ("|promote" if self.promote else "")

    @staticmethod
    def decode(text: str) -> MemberAddr:
        parts = text.split("|")
        peer = parts[0] if parts else ""
        client = parts[1] if len(parts) > 1 else ""
        return MemberAddr(peer, client, "promote" in parts[2:])


def split_hostport(addr: str) -> tuple[str, int]:
    """"host:port" (IPv6 hosts in brackets or not) -> (host, port); ValueError if bad."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {addr!r}")
    port_no = int(port)
    if not 0 < port_no < 65536:
        raise ValueError(f"port out of range in {addr!r}")
    return host.strip("[]"), port_no


@dataclass(slots=True)
class _Pending:
    index: int
    term: int
    future: asyncio.Future


class Membership:
    """The group's membership duties; reads the core, never changes it except by proposing."""

    def __init__(self, node_id: int, core: Callable[[], RaftCore | None],
                 transport: Callable[[], Transport | None], router: Router,
                 own: MemberAddr, bootstrap_peers: dict[int, str], promote_lag: int,
                 wake: Callable[[], None],
                 applied_conf: Callable[[], ConfState] | None = None) -> None:
        self.id = node_id
        self._core = core
        self._transport = transport
        self._router = router
        self.own = own
        # Peer addresses from --peers: used for members the configuration has no address
        # of (a cluster whose membership never changed).
        self._bootstrap = dict(bootstrap_peers)
        self.promote_lag = promote_lag
        self._wake = wake
        self._applied_conf = applied_conf or (lambda: ConfState())
        self._synced: tuple[ConfState, ConfState] | None = None
        # Told every member's peer address after each change (the keep-alive side channel).
        self.on_peers: Callable[[dict[int, tuple[str, int]]], None] | None = None
        # Peers the transport was told of (--peers seeds it), so removals reach it too.
        self._linked: set[int] = set(bootstrap_peers) - {node_id}
        self._pending: _Pending | None = None
        self.changes_applied = 0

    # ---------------------------------------------------------------- what is known
    def conf(self) -> ConfState:
        core = self._core()
        return core.conf if core is not None else ConfState()

    def addr(self, node_id: int) -> MemberAddr:
        """What we know of a member's addresses: the configuration's, else --peers and
        what the transport handshake told us."""
        if node_id == self.id:
            return self.own
        text = self.conf().addr_of(node_id)
        got = MemberAddr.decode(text) if text else MemberAddr("", "")
        peer = got.peer or self._bootstrap.get(node_id, "")
        client = got.client or (self._router.address(node_id) or "")
        return MemberAddr(peer, client, got.promote)

    def is_member(self) -> bool:
        c = self.conf()
        return self.id in c.voters or self.id in c.learners

    def learners(self) -> frozenset[int]:
        return self.conf().learners

    # ---------------------------------------------------------------- keeping in step
    def maybe_sync(self) -> None:
        """After each Ready: point the transport and router at the configuration's members
        (a configuration is in force once in the log, §4.1, so this runs on append)."""
        conf, applied = self.conf(), self._applied_conf()
        if (conf, applied) == self._synced:
            return
        old, self._synced = self._synced, (conf, applied)
        members = conf.voters | conf.learners
        # A member removed by a change still uncommitted keeps its link until the change
        # is applied here: the leader still needs its acks (it may be the leader itself,
        # whose removal only commits with them, §4.2.2).
        keep = members | applied.voters | applied.learners
        for nid in sorted(members):
            if nid == self.id:
                continue
            a = self.addr(nid)
            if a.client:
                self._router.learn_address(nid, a.client)
            if a.peer:
                self._set_peer(nid, a.peer)
        if self.on_peers is not None and conf.voters:
            peers: dict[int, tuple[str, int]] = {}
            for nid in sorted(keep - {self.id}):
                with contextlib.suppress(ValueError):
                    peers[nid] = split_hostport(self.addr(nid).peer)
            self.on_peers(peers)
        remove = getattr(self._transport(), "remove_peer", None)
        if conf.voters and remove is not None:
            for nid in sorted(self._linked - keep):
                remove(nid)
                self._linked.discard(nid)
        if old is not None and old[0] != conf:
            log.info("node %d: configuration now voters=%s learners=%s", self.id,
                     sorted(conf.voters), sorted(conf.learners))

    def admit_peer(self, node_id: int, meta: dict[str, str]) -> tuple[str, int] | None:
        """A peer the transport does not know (it has yet to prove the cluster secret):
        where to dial it back, or None to refuse. Every peer with an address is let in:
        this node's configuration may be stale (a joiner, a lagging node, a snapshot
        older than the latest changes), and the unknown peer may lead by now; refusing
        it would leave this node waiting for entries only that leader can send. Raft
        keeps a removed node harmless without help from the transport: its terms and
        votes lose to an up-to-date majority (pre-vote, leader stickiness)."""
        if node_id == self.id:
            return None
        try:
            return split_hostport(meta.get("peer", ""))
        except ValueError:
            return None

    def learn_peer(self, node_id: int, peer: str) -> None:
        """A peer address from outside the log (the members a JOIN reply lists)."""
        if node_id == self.id or not peer:
            return
        self._bootstrap[node_id] = peer
        self._set_peer(node_id, peer)

    def _set_peer(self, node_id: int, peer: str) -> None:
        # Transports without addresses (the simulator's) have no set_peer.
        setter = getattr(self._transport(), "set_peer", None)
        if setter is None:
            return
        try:
            host, port = split_hostport(peer)
        except ValueError:
            log.warning("member %d has a bad peer address %r", node_id, peer)
            return
        setter(node_id, host, port)
        self._linked.add(node_id)

    # ---------------------------------------------------------------- proposing
    def _with_addrs(self, conf: ConfState, extra: dict[int, MemberAddr]) -> ConfState:
        addrs: dict[int, str] = {}
        for nid in conf.voters | conf.learners:
            a = extra.get(nid) or self.addr(nid)
            if nid in conf.voters and a.promote:
                a = MemberAddr(a.peer, a.client)  # promoted: the mark is spent
            addrs[nid] = a.encode()
        return conf.with_addrs(addrs)

    def propose(self, op: str, node_id: int, addr: MemberAddr | None = None) -> object:
        """op: "join" / "addlearner" (with addr), "promote", "remove". On the leader; the
        reply (a future) is OK once the change is committed."""
        core = self._core()
        if core is None:
            return BUSY
        cur = core.conf
        voters, learners = set(cur.voters), set(cur.learners)
        extra: dict[int, MemberAddr] = {}
        if op in ("join", "addlearner"):
            assert addr is not None
            if node_id in voters or node_id in learners:
                known = self.addr(node_id)
                if known.peer == addr.peer:
                    return self._members_reply() if op == "join" else "OK"  # a retry
                return Error(f"ERR node {node_id} is already a member with another address")
            learners.add(node_id)
            extra[node_id] = MemberAddr(addr.peer, addr.client, op == "join")
        elif op == "promote":
            if node_id in voters:
                return "OK"
            if node_id not in learners:
                return Error(f"ERR node {node_id} is not a learner")
            learners.discard(node_id)
            voters.add(node_id)
        elif op == "remove":
            if node_id not in voters and node_id not in learners:
                return Error(f"ERR Unknown node {node_id}")
            voters.discard(node_id)
            learners.discard(node_id)
            if not voters:
                return Error("ERR can't remove the last voter")
        else:
            return Error(f"ERR unknown membership operation {op!r}")
        new = self._with_addrs(ConfState(frozenset(voters), frozenset(learners)), extra)
        try:
            index, term = core.propose_conf_change(new)
        except NotLeaderError:
            return None  # the caller redirects
        except ProposalDroppedError:
            return BUSY
        except ConfChangeError as exc:
            return Error(f"ERR {exc}")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        if self._pending is not None and not self._pending.future.done():
            self._pending.future.set_result(UNCERTAIN)
        self._pending = _Pending(index, term, fut)
        self._wake()
        log.info("node %d: proposed %s of node %d at %d (term %d)", self.id, op, node_id,
                 index, term)
        if op == "join":
            # The joiner needs every member's peer address to answer our appends.
            out: asyncio.Future = loop.create_future()

            def done(f: asyncio.Future) -> None:
                if not out.done():
                    r = f.result()
                    out.set_result(self._members_reply() if r == "OK" else r)

            fut.add_done_callback(done)
            return out
        return fut

    def _members_reply(self) -> list:
        conf = self.conf()
        rows = []
        for nid in sorted(conf.voters | conf.learners):
            a = self.addr(nid)
            role = b"voter" if nid in conf.voters else b"learner"
            rows.append([nid, role, a.peer.encode(), a.client.encode()])
        return rows

    def applied(self, ent: Entry) -> None:
        """A configuration entry was applied (committed): answer its proposal."""
        self.changes_applied += 1
        p = self._pending
        if p is not None and p.index == ent.index:
            self._pending = None
            if not p.future.done():
                p.future.set_result("OK" if ent.term == p.term else UNCERTAIN)

    def lost_leadership(self) -> None:
        p = self._pending
        if p is None or p.future.done():
            return
        core = self._core()
        if core is not None and core.commit >= p.index and \
                core.log.term_or_none(p.index) == p.term:
            # Committed already (a leader that removed itself steps down on that commit):
            # applied() answers it in a moment.
            return
        self._pending = None
        p.future.set_result(UNCERTAIN)

    # ---------------------------------------------------------------- leader duty
    def promote_caught_up(self) -> None:
        """Leader: promote one learner marked for it whose log is close enough to ours."""
        core = self._core()
        if core is None or core.role != Role.LEADER:
            return
        if self._pending is not None and not self._pending.future.done():
            return
        if not core.conf.learners:
            return  # the common case, checked before status() (which runs every 100 ms)
        st = core.status()
        for nid in sorted(st.conf.learners):
            if not self.addr(nid).promote:
                continue
            pr = st.progress.get(nid)
            if pr is None or not pr.recent_active or pr.match == 0:
                continue
            if st.last_index - pr.match <= self.promote_lag:
                log.info("node %d: learner %d is caught up (match %d of %d): promoting",
                         self.id, nid, pr.match, st.last_index)
                self.propose("promote", nid)
                return


__all__ = ["BUSY", "UNCERTAIN", "MemberAddr", "Membership", "split_hostport"]
