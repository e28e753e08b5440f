"""How a Raft group looks to Redis Cluster clients: one shard owning all 16384 slots,
its master the current leader, its replicas the followers. Answers the CLUSTER
subcommands and renders the node's INFO sections (replication, persistence,
keyspace, cluster, raft).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Protocol

from raftredis.commands.slots import SLOTS, key_slot
from raftredis.raft.types import Role
from raftredis.reply import Error, Map, Status, Verbatim

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

    from raftredis.config import NodeConfig
    from raftredis.raft.status import RaftStatus
    from raftredis.raft.types import ConfState
    from raftredis.statemachine import StateMachine


class GroupView(Protocol):
    """What the cluster view reads of a replica group (ReplicaGroup implements it)."""

    id: int
    config: NodeConfig
    sm: StateMachine

    @property
    def applied(self) -> int: ...

    @property
    def applied_conf(self) -> ConfState: ...

    @property
    def is_leader(self) -> bool: ...

    @property
    def role(self) -> Role: ...

    @property
    def term(self) -> int: ...

    def known_leader(self) -> int: ...

    def members(self) -> tuple[int, list[int]]: ...

    def client_address(self, node_id: int, tls: bool = False) -> str | None: ...

    def when_leader_known(self, fn: Callable[[], object]) -> asyncio.Future: ...

    def campaign_now(self) -> bool: ...

    def request_leadership(self) -> bool: ...

    def raft_status(self) -> RaftStatus: ...

    def storage_stats(self) -> dict: ...

    def counters(self) -> Any: ...

    def loop_stats(self) -> Any: ...

    def learners(self) -> frozenset[int]: ...

    def peer_address(self, node_id: int) -> str: ...

    def change_membership(self, op: str, node_id: int, addr: Any = None) -> object: ...

ROLE_NAMES = {Role.FOLLOWER: "follower", Role.PRE_CANDIDATE: "pre-candidate",
              Role.CANDIDATE: "candidate", Role.LEADER: "leader"}


def redis_node_id(raft_id: int) -> str:
    """A stable 40-hex-character Redis Cluster node id derived from the Raft id."""
    return hashlib.sha1(f"raftredis-node-{raft_id}".encode()).hexdigest()


# The group is one shard: every node answers the same shard id (Redis 7.2's MYSHARDID).
SHARD_ID = hashlib.sha1(b"raftredis-shard").hexdigest()


def _split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


class ClusterView:
    """Renders one group's state; reads it only through the group's public methods."""

    def __init__(self, node: GroupView) -> None:
        self.node = node

    def _members(self) -> tuple[int, list[int]]:
        return self.node.members()

    def _addr(self, node_id: int, tls: bool = False) -> str | None:
        """A client that came in over TLS is shown TLS ports, as Redis 7.2 does."""
        return self.node.client_address(node_id, tls)

    # -------------------------------------------------------------- CLUSTER
    def command(self, conn, args: list[bytes]) -> object:
        if len(args) < 2:
            return Error("ERR wrong number of arguments for 'cluster' command")
        sub = args[1].decode("utf-8", "replace").lower()
        handler = getattr(self, "_cmd_" + sub.replace("-", "_"), None)
        if handler is None:
            return Error(
                f"ERR unknown subcommand '{args[1].decode('utf-8', 'replace')[:128]}'. "
                "Try CLUSTER HELP."
            )
        if sub in ("slots", "shards", "nodes") and not self.node.known_leader():
            # Let an election finish (bounded) rather than show a shard with no master.
            return self.node.when_leader_known(lambda: handler(conn, args[2:]))
        return handler(conn, args[2:])

    def _arity(self, name: str) -> Error:
        return Error(f"ERR wrong number of arguments for 'cluster|{name}' command")

    def _cmd_help(self, conn, rest: list[bytes]) -> object:
        return [Status(s) for s in (
            "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "INFO", "    Return information about the cluster.",
            "MYID", "    Return the node id.",
            "MYSHARDID", "    Return the shard id (the same on every node of the group).",
            "LINKS", "    Return the cluster bus links (none: the nodes talk Raft).",
            "NODES", "    Return cluster configuration seen by node.",
            "SLOTS", "    Return information about slots range mappings.",
            "SHARDS", "    Return information about slot range mappings and the nodes.",
            "KEYSLOT <key>", "    Return the hash slot for <key>.",
            "COUNTKEYSINSLOT <slot>", "    Return the number of keys in <slot> (leader only).",
            "FAILOVER [FORCE|TAKEOVER]", "    On a follower: become the leader now.",
            "JOIN <raft-id> <peer-host:port> <client-host:port>",
            "    Add a node as a learner, promoted to voter once caught up.",
            "ADDLEARNER <raft-id> <peer-host:port> <client-host:port>",
            "    Add a node as a learner that stays one until CLUSTER PROMOTE.",
            "PROMOTE <raft-id>", "    Make a learner a voter.",
            "FORGET <node-id>", "    Remove a member (its Raft id or 40-character node id).",
            "HELP", "    Print this help.",
        )]

    def _cmd_myid(self, conn, rest: list[bytes]) -> object:
        if rest:
            return self._arity("myid")
        return redis_node_id(self.node.id).encode()

    def _cmd_myshardid(self, conn, rest: list[bytes]) -> object:
        if rest:
            return self._arity("myshardid")
        return SHARD_ID.encode()

    def _cmd_links(self, conn, rest: list[bytes]) -> object:
        if rest:
            return self._arity("links")
        # Redis Cluster's gossip bus links; Raft's peer links are not those: none.
        return []

    def _cmd_keyslot(self, conn, rest: list[bytes]) -> object:
        if len(rest) != 1:
            return self._arity("keyslot")
        return key_slot(rest[0])

    def _node_triple(self, node_id: int, tls: bool) -> list | None:
        addr = self._addr(node_id, tls)
        if addr is None:
            return None
        host, port = _split_addr(addr)
        return [host.encode(), port, redis_node_id(node_id).encode()]

    def _cmd_slots(self, conn, rest: list[bytes]) -> object:
        if rest:
            return self._arity("slots")
        leader, others = self._members()
        tls = bool(getattr(conn, "tls", False))
        if not leader or self._addr(leader) is None:
            return []  # no master known: clients retry (CLUSTERDOWN-like)
        entry: list = [0, SLOTS - 1, self._node_triple(leader, tls)]
        for nid in others:
            triple = self._node_triple(nid, tls)
            if triple is not None:
                entry.append(triple)
        return [entry]

    def _cmd_shards(self, conn, rest: list[bytes]) -> object:
        if rest:
            return self._arity("shards")
        leader, others = self._members()
        learners = self.node.learners()
        nodes = []
        for nid in ([leader] if leader else []) + others:
            addr = self._addr(nid)
            if addr is None:
                continue
            host, port = _split_addr(addr)
            # Redis 7's fields: the plain port, and the TLS port where there is one.
            tls_addr = self._addr(nid, tls=True)
            tls_port = {b"tls-port": _split_addr(tls_addr)[1]} \
                if tls_addr is not None and tls_addr != addr else {}
            nodes.append(Map({
                b"id": redis_node_id(nid).encode(),
                b"port": port,
                **tls_port,
                b"ip": host.encode(),
                b"endpoint": host.encode(),
                b"role": b"master" if nid == leader else b"replica",
                b"replication-offset": self.node.applied if nid == self.node.id else 0,
                b"health": b"loading" if nid in learners else b"online",
            }))
        slots = [0, SLOTS - 1] if leader else []
        return [Map({b"slots": slots, b"nodes": nodes})]

    def _cmd_nodes(self, conn, rest: list[bytes]) -> object:
        if rest:
            return self._arity("nodes")
        node = self.node
        leader, others = self._members()
        learners = node.learners()
        term = node.term
        tls = bool(getattr(conn, "tls", False))
        lines = []
        for nid in ([leader] if leader else []) + others:
            addr = self._addr(nid, tls) or ":0"
            peer = node.config.peer_map.get(nid)
            cport = peer.port if peer else 0
            peer_addr = node.peer_address(nid)
            cport = int(peer_addr.rpartition(":")[2]) if ":" in peer_addr else cport
            flags = []
            if nid == node.id:
                flags.append("myself")
            flags.append("master" if nid == leader else "slave")
            if nid in learners:
                flags.append("nofailover")  # a learner: it never votes nor leads
            master = "-" if nid == leader else (redis_node_id(leader) if leader else "-")
            slots = f" 0-{SLOTS - 1}" if nid == leader else ""
            link = "connected"
            lines.append(f"{redis_node_id(nid)} {addr}@{cport} {','.join(flags)} {master} "
                         f"0 0 {term} {link}{slots}")
        return Verbatim("\n".join(lines) + "\n")

    def _cmd_info(self, conn, rest: list[bytes]) -> object:
        if rest:
            return self._arity("info")
        node = self.node
        leader, others = self._members()
        ok = bool(leader)
        term = node.term
        fields = [
            ("cluster_state", "ok" if ok else "fail"),
            ("cluster_slots_assigned", SLOTS if ok else 0),
            ("cluster_slots_ok", SLOTS if ok else 0),
            ("cluster_slots_pfail", 0),
            ("cluster_slots_fail", 0),
            ("cluster_known_nodes", len(others) + (1 if leader else 0)),
            ("cluster_size", 1 if ok else 0),
            ("cluster_current_epoch", term),
            ("cluster_my_epoch", term),
            ("cluster_stats_messages_sent", 0),
            ("cluster_stats_messages_received", 0),
            ("total_cluster_links_buffer_limit_exceeded", 0),
        ]
        return Verbatim("".join(f"{k}:{v}\r\n" for k, v in fields))

    def _cmd_failover(self, conn, rest: list[bytes]) -> object:
        """CLUSTER FAILOVER on a follower, as Redis's manual failover: the leader is asked
        for a graceful transfer (it catches this node up, then hands over), so a healthy
        leader is never deposed by a node that cannot win. FORCE and TAKEOVER, Redis's
        forms for a leader that is down, campaign at once instead (safe like any
        election: only a node whose log is up to date can win)."""
        if len(rest) > 1 or (rest and rest[0].upper() not in (b"FORCE", b"TAKEOVER")):
            return Error("ERR syntax error")
        node = self.node
        if node.is_leader:
            return Error("ERR You should send CLUSTER FAILOVER to a replica")
        if rest:
            if not node.campaign_now():
                return Error("ERR this node cannot become the leader (not a voter)")
            return Status("OK")
        if not node.known_leader():
            return Error("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE")
        if not node.request_leadership():
            return Error("ERR this node cannot become the leader (not a voter)")
        return Status("OK")

    # -------------------------------------------------------------- membership (§4)
    def _cmd_join(self, conn, rest: list[bytes]) -> object:
        return self._add(rest, "join")

    def _cmd_addlearner(self, conn, rest: list[bytes]) -> object:
        return self._add(rest, "addlearner")

    def _add(self, rest: list[bytes], op: str) -> object:
        from raftredis.replica.membership import MemberAddr, split_hostport

        if len(rest) != 3:
            return self._arity(op)
        try:
            nid = int(rest[0])
            peer, client = rest[1].decode(), rest[2].decode()
            split_hostport(peer)
            split_hostport(client)
        except (ValueError, UnicodeDecodeError):
            return Error("ERR expected <raft-id> <peer-host:port> <client-host:port>")
        if nid < 1 or "|" in peer + client or " " in peer + client:
            return Error("ERR invalid node id or address")
        return self.node.change_membership(op, nid, MemberAddr(peer, client))

    def _cmd_promote(self, conn, rest: list[bytes]) -> object:
        if len(rest) != 1:
            return self._arity("promote")
        nid = self._node_arg(rest[0])
        if nid is None:
            return Error(f"ERR Unknown node {rest[0].decode('utf-8', 'replace')[:64]}")
        return self.node.change_membership("promote", nid)

    def _cmd_forget(self, conn, rest: list[bytes]) -> object:
        """CLUSTER FORGET <node-id>: remove a member (Redis's verb; here cluster-wide,
        through the log). The node id is the Raft id or the 40-character id."""
        if len(rest) != 1:
            return self._arity("forget")
        nid = self._node_arg(rest[0])
        if nid is None:
            return Error(f"ERR Unknown node {rest[0].decode('utf-8', 'replace')[:64]}")
        return self.node.change_membership("remove", nid)

    def _node_arg(self, arg: bytes) -> int | None:
        text = arg.decode("utf-8", "replace").lower()
        if text.isdigit():
            return int(text)
        leader, others = self._members()
        for nid in ([leader] if leader else []) + others:
            if redis_node_id(nid) == text:
                return nid
        return None

    def _cmd_countkeysinslot(self, conn, rest: list[bytes]) -> object:
        if len(rest) != 1:
            return self._arity("countkeysinslot")
        return Error("ERR CLUSTER COUNTKEYSINSLOT is not supported: slots are not indexed here")

    # -------------------------------------------------------------- INFO
    def info_sections(self) -> dict[str, list[tuple[str, object]]]:
        node = self.node
        st = node.raft_status()
        storage_stats = node.storage_stats()
        counters = node.counters()
        leader = node.known_leader()
        sections: dict[str, list[tuple[str, object]]] = {}

        repl: list[tuple[str, object]] = []
        if node.is_leader:
            repl.append(("role", "master"))
            peers = st.progress
            # As Redis: only the replicas this leader hears from count and are listed
            # (an alert on connected_slaves must fire when a follower is gone; INFO raft
            # still shows every peer).
            followers = [nid for nid in sorted(peers)
                         if nid != node.id and peers[nid].heard_recently]
            repl.append(("connected_slaves", len(followers)))
            for i, nid in enumerate(followers):
                pr = peers[nid]
                host, port = _split_addr(self._addr(nid) or "?:0")
                match = pr.match
                lag = max(0, st.last_index - match)
                repl.append((f"slave{i}", f"ip={host},port={port},state=online,"
                             f"offset={match},lag={lag}"))
        else:
            repl.append(("role", "slave"))
            addr = self._addr(leader) if leader else None
            host, port = _split_addr(addr) if addr else ("", 0)
            repl.append(("master_host", host))
            repl.append(("master_port", port))
            repl.append(("master_link_status", "up" if leader else "down"))
            repl.append(("master_sync_in_progress", 0))
            repl.append(("slave_repl_offset", node.applied))
            repl.append(("slave_read_only", 1))
            repl.append(("connected_slaves", 0))
        repl.append(("master_repl_offset", node.applied))
        sections["replication"] = repl

        sections["persistence"] = [
            ("loading", 0),
            ("aof_enabled", 1),
            ("aof_fsync", node.config.fsync),
            ("raft_fsync_policy", node.config.fsync),
            ("raft_fsyncs", storage_stats.get("fsync_count", 0)),
            ("raft_last_fsync_ms", storage_stats.get("last_fsync_ms", 0)),
            ("raft_fsync_p99_ms", storage_stats.get("fsync_p99_ms", 0)),
            ("rdb_changes_since_last_save", node.applied - storage_stats.get("snapshot_index", 0)),
            ("rdb_last_save_index", storage_stats.get("snapshot_index", 0)),
            ("rdb_bgsave_in_progress", 0),
        ]
        if node.config.fsync != "always":
            sections["persistence"].append(
                ("raft_durability_warning",
                 "fsync policy is not 'always': acknowledged writes may be lost on machine crash"))

        keys = node.sm.dbsize()
        sections["keyspace"] = (
            [("db0", f"keys={keys},expires={node.sm.expires_count()},avg_ttl=0")] if keys else []
        )
        sections["cluster"] = [("cluster_enabled", 1)]

        raft: list[tuple[str, object]] = [
            ("raft_node_id", node.id),
            ("raft_role", ROLE_NAMES.get(node.role, str(node.role))),
            ("raft_term", st.term),
            ("raft_leader_id", leader),
            ("raft_commit_index", st.commit),
            ("raft_applied_index", node.applied),
            ("raft_log_first_index", storage_stats.get("first_index", 0)),
            ("raft_log_last_index", st.last_index),
            ("raft_log_bytes", storage_stats.get("log_bytes", 0)),
            ("raft_snapshot_index", storage_stats.get("snapshot_index", 0)),
            ("raft_voters", ",".join(str(v) for v in sorted(st.conf.voters))),
            ("raft_learners", ",".join(str(v) for v in sorted(st.conf.learners))),
            ("raft_member", int(node.id in st.conf.voters | st.conf.learners)),
            ("raft_proposals", counters.proposals),
            ("raft_entries_proposed", counters.entries_proposed),
            ("raft_read_rounds", counters.read_rounds),
            ("raft_snapshots_taken", counters.snapshots_taken),
            ("raft_snapshots_installed", counters.snapshots_installed),
        ]
        loop = node.loop_stats()
        raft += [
            ("raft_loop_max_stall_ms", loop.max_stall_ms),  # the worst of the last minute
            ("raft_loop_stalls", loop.stalls),
            ("raft_loop_stall_threshold_ms", loop.stall_threshold_ms),
            ("raft_elections_started", loop.elections_started),
            ("raft_leader_changes", loop.leader_changes),
            ("raft_keepalive", int(loop.keepalive)),
            ("raft_keepalive_vouches", loop.vouches),
            ("raft_keepalive_leader_heard", int(loop.leader_heard)),
        ]
        progress = st.progress
        for nid in sorted(progress):
            if nid == node.id:
                continue
            pr = progress[nid]
            match = pr.match
            raft.append((f"raft_peer{nid}",
                         f"addr={self._addr(nid) or ''},match={match},"
                         f"lag={max(0, st.last_index - match)},"
                         f"state={pr.state},active={int(pr.heard_recently)}"))
        sections["raft"] = raft
        return sections
