"""LocalBackend: a StateMachine driven directly with the wall clock. For front-end
tests only; the real backend is the Raft node (raftredis.replica)."""

from __future__ import annotations

import os
import time

from raftredis.acl.table import UserTable
from raftredis.commands.sessions import runs_script
from raftredis.commands.slots import key_slot
from raftredis.commands.spec import CommandSpec, Route
from raftredis.reply import Error, Map, Status, Verbatim
from raftredis.server.backend import ConnInfo
from raftredis.statemachine import StateMachine


class LocalBackend:
    def __init__(self, sm: StateMachine | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.sm = sm if sm is not None else StateMachine()
        self.host = host
        self.port = port  # set by the devserver once the server has bound
        self.node_id = os.urandom(20).hex()
        self._seed = 0
        self._last_ms = 0

    def _now_ms(self) -> int:
        # Never backwards, like the leader's entry stamps.
        self._last_ms = max(self._last_ms, time.time_ns() // 1_000_000)
        return self._last_ms

    def _next_seed(self) -> int:
        self._seed += 1
        return self._seed

    def execute(self, conn: ConnInfo, spec: CommandSpec, args: list[bytes]) -> object:
        read = self.sm.route(spec, args) is Route.READ
        if getattr(conn, "acl_limited", False) and runs_script(spec, args):
            user = conn.user.name  # type: ignore[attr-defined]
            if read:
                return self.sm.read_as(user, args, self._now_ms())
            return self.sm.apply_as(user, args, self._now_ms(), self._next_seed())
        if read:
            return self.sm.read(args, self._now_ms())
        return self.sm.apply(args, self._now_ms(), self._next_seed())

    def execute_multi(self, conn: ConnInfo,
                      commands: list[tuple[CommandSpec, list[bytes]]]) -> object:
        lines = [a for _, a in commands]
        if getattr(conn, "acl_limited", False) and any(runs_script(s, a) for s, a in commands):
            return self.sm.apply_multi_as(conn.user.name, lines,  # type: ignore[attr-defined]
                                          self._now_ms(), self._next_seed())
        return self.sm.apply_multi(lines, self._now_ms(), self._next_seed())

    @property
    def acl(self) -> UserTable:
        return self.sm.acl

    def acl_change(self, conn: ConnInfo, op: list[bytes]) -> object:
        return self.sm.apply_acl(op)

    def dbsize(self) -> int:
        return self.sm.dbsize()

    def info_sections(self) -> dict[str, list[tuple[str, object]]]:
        keys = self.sm.dbsize()
        keyspace = [("db0", f"keys={keys},expires={self.sm.expires_count()},avg_ttl=0")]
        return {
            "keyspace": keyspace if keys else [],
            "replication": [("role", "master"), ("connected_slaves", 0)],
            "cluster": [("cluster_enabled", 1)],
        }

    def cluster_command(self, conn: ConnInfo, args: list[bytes]) -> object:
        """One node owning every slot: enough for cluster clients to talk to it."""
        sub = args[1].lower()
        me = [self.host.encode(), self.port, self.node_id.encode()]
        if sub == b"slots":
            return [[0, 16383, me]]
        if sub == b"myid":
            return self.node_id.encode()
        if sub == b"myshardid":
            return self.node_id.encode()
        if sub == b"keyslot":
            return key_slot(args[2])
        if sub == b"shards":
            node = Map({b"id": self.node_id.encode(), b"port": self.port, b"ip": self.host.encode(),
                        b"endpoint": self.host.encode(), b"role": b"master",
                        b"replication-offset": 0, b"health": b"online"})
            return [Map({b"slots": [0, 16383], b"nodes": [node]})]
        if sub == b"nodes":
            line = (f"{self.node_id} {self.host}:{self.port}@{self.port + 10000} "
                    f"myself,master - 0 0 1 connected 0-16383\n")
            return Verbatim(line)
        if sub == b"info":
            text = ("cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n"
                    "cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\n"
                    "cluster_size:1\r\ncluster_current_epoch:1\r\ncluster_my_epoch:1\r\n")
            return Verbatim(text)
        if sub == b"countkeysinslot":
            try:
                slot = int(args[2])
            except ValueError:
                return Error("ERR Invalid slot")
            return sum(1 for k in self.sm.db.data if key_slot(k) == slot)
        if sub == b"getkeysinslot":
            try:
                slot, count = int(args[2]), int(args[3])
            except ValueError:
                return Error("ERR Invalid slot or number of keys")
            return [k for k in self.sm.db.data if key_slot(k) == slot][:count]
        if sub == b"replicas":
            return []
        if sub == b"links":
            return []
        return Status("OK")
