"""A tiny scripting language for hand-driven Raft scenarios (paper situations).

Each line is one command; `#` starts a comment. Messages queue up and move only
when the script says so, so a scenario controls exactly who hears what:

    campaign 1            node 1 times out (ticks until it leaves the follower role)
    elect 1               campaign and deliver until node 1 leads (its first messages
                          stay queued)
    propose 1 x           node 1 proposes b"x" (error text is recorded, not raised)
    deliver [k]           deliver the queued messages k rounds (default 1); each round
                          hands every message queued before it to its receiver
    stabilize             deliver rounds until nothing is queued
    drop [from=N] [to=N]  discard queued messages (all, or matching)
    cut N...              isolate nodes: their messages are dropped on delivery
    mend                  undo every cut
    crash N               lose the node's volatile state and its queued messages
    restart N             start it again from its storage
    tick N [k]            tick node N k times (default 1)
    expect N key value    status()[key] of node N equals value ("leader", "role", ...)
    expect-term N idx t   node N's log holds term t at idx ("none": absent/compacted)
    expect-error text     the last propose failed with an error containing text
    read N ctx            node N asks for a read index (ReadIndex, §6.4)
    expect-read N ctx v   v = the read index given, "none" (not yet) or "dropped"

Every node runs the real RaftCore on a MemoryStorage through the same Ready loop
the simulator uses; entries applied by any two nodes at the same index must match
(a violation raises ScriptError, which is what a broken core trips on).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from raftredis.raft.config import RaftConfig
from raftredis.raft.core import NotLeaderError, ProposalDroppedError, RaftCore
from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.messages import Message
from raftredis.raft.types import ConfState, Role


class ScriptError(AssertionError):
    pass


@dataclass
class _SNode:
    storage: MemoryStorage
    core: RaftCore | None = None
    applied: list[tuple[int, int, bytes]] = field(default_factory=list)


class Script:
    def __init__(self, nodes: int, voters: int = 0, **cfg: object) -> None:
        base = {"election_tick": 10, "heartbeat_tick": 1, "max_size_per_msg": 28}
        base.update(cfg)
        self.cfg = RaftConfig(**base)  # type: ignore[arg-type]
        # Nodes past `voters` exist but start outside the configuration (to be added).
        conf = ConfState(voters=frozenset(range(1, (voters or nodes) + 1)))
        self.nodes = {i: _SNode(MemoryStorage(conf)) for i in range(1, nodes + 1)}
        self.queue: list[Message] = []
        self.cut: set[int] = set()
        self.applied: dict[int, tuple[int, bytes]] = {}
        self.last_error = ""
        self.reads: dict[tuple[int, bytes], int] = {}  # (node, ctx) -> read index; -1 dropped
        for i in self.nodes:
            self._start(i)

    def _start(self, i: int) -> None:
        n = self.nodes[i]
        n.core = RaftCore(i, n.storage, self.cfg, random.Random(i))
        n.applied = []

    def core(self, i: int) -> RaftCore:
        c = self.nodes[i].core
        if c is None:
            raise ScriptError(f"node {i} is down")
        return c

    def _process(self, i: int) -> None:
        n = self.nodes[i]
        c = n.core
        while c is not None and c.has_ready():
            rd = c.ready()
            if rd.snapshot is not None:
                n.storage.install_snapshot(rd.snapshot)
            n.storage.append(rd.entries)
            if rd.hard_state is not None:
                n.storage.set_hard_state(rd.hard_state)
            self.queue.extend(rd.messages)
            self.queue.extend(rd.messages_after_persist)
            for e in rd.committed_entries:
                seen = self.applied.setdefault(e.index, (e.term, e.data))
                if seen != (e.term, e.data):
                    raise ScriptError(
                        f"state machine safety: node {i} applied {e.index}@{e.term} "
                        f"but {e.index}@{seen[0]} was applied elsewhere"
                    )
                n.applied.append((e.index, e.term, e.data))
            for rs in rd.read_states:
                self.reads[(i, rs.ctx)] = rs.index
            for ctx in rd.dropped_reads:
                self.reads[(i, ctx)] = -1
            c.advance(rd)

    def _deliver_round(self) -> None:
        batch, self.queue = self.queue, []
        for m in batch:
            if m.src in self.cut or m.dst in self.cut or self.nodes[m.dst].core is None:
                continue
            self.core(m.dst).step(m)
            self._process(m.dst)

    def run(self, text: str) -> None:
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                self.command(line.split())
            except ScriptError as e:
                raise ScriptError(f"line {lineno} `{line}`: {e}") from None

    def command(self, w: list[str]) -> None:
        op, args = w[0], w[1:]
        if op == "campaign":
            i = int(args[0])
            c = self.core(i)
            for _ in range(3 * self.cfg.election_tick):
                c.tick()
                if c.role != Role.FOLLOWER:
                    break
            self._process(i)
        elif op == "elect":
            # Campaign (again after a lost pre-vote) and deliver rounds until node N leads;
            # stops right there, so the new leader's first messages are still queued.
            i = int(args[0])
            for _ in range(50):
                c = self.core(i)
                if c.role == Role.LEADER:
                    return
                if c.role == Role.FOLLOWER:
                    self.command(["campaign", str(i)])
                    continue
                self._deliver_round()
            raise ScriptError(f"node {i} did not become leader")
        elif op == "propose":
            i = int(args[0])
            self.last_error = ""
            try:
                self.core(i).propose(args[1].encode())
            except (NotLeaderError, ProposalDroppedError) as e:
                self.last_error = str(e)
            self._process(i)
        elif op == "read":
            i = int(args[0])
            try:
                self.core(i).read_index(args[1].encode())
            except NotLeaderError as e:
                self.last_error = str(e)
            self._process(i)
        elif op == "expect-read":
            i, ctx, want = int(args[0]), args[1].encode(), args[2]
            got = self.reads.get((i, ctx))
            shown = "none" if got is None else "dropped" if got == -1 else str(got)
            if shown != want:
                raise ScriptError(f"read {args[1]} on node {i}: expected {want}, got {shown}")
        elif op == "deliver":
            for _ in range(int(args[0]) if args else 1):
                self._deliver_round()
        elif op == "stabilize":
            for _ in range(1000):
                if not self.queue:
                    return
                self._deliver_round()
            raise ScriptError("did not stabilize")
        elif op == "drop":
            kw = dict(a.split("=") for a in args)
            src, dst = int(kw.get("from", 0)), int(kw.get("to", 0))
            self.queue = [
                m for m in self.queue
                if not ((src in (0, m.src)) and (dst in (0, m.dst)))
            ]
        elif op == "cut":
            self.cut.update(int(a) for a in args)
        elif op == "mend":
            self.cut.clear()
        elif op == "crash":
            for a in args:
                i = int(a)
                self.nodes[i].core = None
                self.queue = [m for m in self.queue if m.src != i]
        elif op == "restart":
            for a in args:
                self._start(int(a))
        elif op == "tick":
            i = int(args[0])
            for _ in range(int(args[1]) if len(args) > 1 else 1):
                self.core(i).tick()
            self._process(i)
        elif op == "expect":
            i, key, want = int(args[0]), args[1], " ".join(args[2:])
            got = self.core(i).status()[key]
            if str(got) != want:
                raise ScriptError(f"node {i} {key}: expected {want}, got {got}")
        elif op == "expect-term":
            i, idx, want = int(args[0]), int(args[1]), args[2]
            t = self.core(i).log.term_or_none(idx)
            if str(t if t is not None else "none") != want:
                raise ScriptError(f"node {i} term at {idx}: expected {want}, got {t}")
        elif op == "expect-error":
            want = " ".join(args)
            if want not in self.last_error:
                raise ScriptError(f"expected an error with {want!r}, got {self.last_error!r}")
        else:
            raise ScriptError(f"unknown command {op}")
