"""A small language for hand-driven Raft scenarios (paper situations), one handler per verb.

Scenarios live in data files (tests/sim/testdata/*.txt, format in datadriven.py):
each command prints a trace of what happened (messages delivered, role and term
changes, entries applied, reads answered), and the file holds the trace it must
print. Messages queue up and move only when the script says so, so a scenario
controls exactly who hears what:

    new nodes=N [voters=V] [k=v ...]   a fresh cluster (k=v: RaftConfig fields); nodes
                                       past V exist but start outside the configuration
    campaign N            node N times out (ticks until it leaves the follower role)
    elect N               campaign and deliver until node N leads (its first messages
                          stay queued)
    propose N data        node N proposes b"data" (prints the index or the error)
    read N ctx            node N asks for a read index (ReadIndex, §6.4)
    transfer N target     node N (the leader) hands leadership to target (§3.10)
    conf N op target      node N (the leader) proposes one membership change (§4.1): op is
                          add (as a learner), promote, demote or remove
    deliver [k]           deliver the queued messages k rounds (default 1); each round
                          hands every message queued before it to its receiver
    stabilize             deliver rounds until nothing is queued
    drop [from=N] [to=N]  discard queued messages (all, or matching)
    hold [from=N] [to=N]  take matching queued messages aside: a slow link, whose
                          messages arrive only once released, however late
    release               put the held messages back at the head of the queue
    heartbeat-at N to=M prev=I   node N (the leader) sends M an Append with no entries
                          at prev index I and its commit, as a Figure 2 leader does
                          while it walks nextIndex back one entry at a time (ours
                          jumps by the conflict hint and never sends this one)
    cut N...              isolate nodes: their messages are dropped on delivery
    mend                  undo every cut
    crash N...            lose the nodes' volatile state and their queued messages
    restart N...          start them again from their storage
    tick N [k]            tick node N k times (default 1)
    compact N idx [size]  node N's application snapshots at idx (size bytes, default 35)
                          and its storage drops the log up to there
    status N [field...]   print status fields of node N (role term leader commit ...)
    term-at N idx...      print the term node N's log holds at idx ("none": absent)
    reads N ctx...        print each read's index, "none" (not yet) or "dropped"

The trace: `1->2 Append t1 ...` is a message delivered (`(cut)` when a cut dropped
it), `2: ...` is something node 2 did while handling it (`term=2 vote=1` hard state,
`role=leader leader=2` soft state, `apply 3@2 x`, `read r1 at 3`). A command that
prints nothing else prints `ok`.

The older assertion verbs stay for unit tests that drive a Script from Python with
`Script.run(text)`: `expect N field value`, `expect-term N idx t`, `expect-error
text` (the last propose/read failed with it), `expect-read N ctx v`.

Every node runs the real RaftCore on a MemoryStorage through the same Ready loop the
simulator uses. Three checkers raise CheckerFailure, which is what a broken core trips
on: entries applied by any two nodes at the same index must match; a read's index must
cover every entry applied anywhere before the read was asked (linearizability: those
writes may have been acknowledged); and no node campaigns before a whole election
timeout since it last heard its leader or granted a vote (election_timer.py).

    python3 -m tests.sim.script [--rewrite] [file ...]    run (or rewrite) testdata files
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from raftredis.raft.config import RaftConfig
from raftredis.raft.core import NotLeaderError, ProposalDroppedError, RaftCore
from raftredis.raft.memory_storage import MemoryStorage
from raftredis.raft.messages import (
    Append,
    AppendResp,
    Heartbeat,
    HeartbeatResp,
    InstallSnapshot,
    InstallSnapshotResp,
    Message,
    PreVote,
    PreVoteResp,
    ReadIndex,
    ReadIndexResp,
    TimeoutNow,
    TransferLeader,
    Vote,
    VoteResp,
)
from raftredis.raft.status import RaftStatus
from raftredis.raft.types import ConfState, Entry, EntryKind, Role
from tests.sim.datadriven import DataDrivenError, TestData, parse, run_file
from tests.sim.election_timer import ElectionTimerWatch

TESTDATA = Path(__file__).parent / "testdata"


class ScriptError(AssertionError):
    pass


class CheckerFailure(ScriptError):
    """A checker saw the core break a Raft property (not a script that went wrong)."""


@dataclass
class _SNode:
    storage: MemoryStorage
    core: RaftCore | None = None
    applied: list[tuple[int, int, bytes]] = field(default_factory=list)
    term_vote: tuple[int, int] = (0, 0)  # last shown in the trace
    commit: int = 0  # the highest commit index it has persisted since it started
    timer: ElectionTimerWatch | None = None


# ---- trace formatting ------------------------------------------------------------------------
def _ctx(ctx: bytes) -> str:
    if not ctx:
        return "-"
    if len(ctx) == 8:
        return str(int.from_bytes(ctx, "big"))  # a read round id
    if len(ctx) == 16:
        return "#" + str(int.from_bytes(ctx[8:], "big"))  # forwarded: incarnation + seq
    return ctx.decode(errors="replace")


def fmt_entry(e: Entry) -> str:
    if e.kind == EntryKind.NOOP:
        body = "noop"
    elif e.kind == EntryKind.CONFIG:
        c = ConfState.decode(e.data)
        body = f"conf voters={_ids(c.voters)}" + (f" learners={_ids(c.learners)}" if c.learners else "")
    else:
        body = e.data.decode(errors="replace")
    return f"{e.index}@{e.term} {body}"


def _ids(s: frozenset[int] | set[int]) -> str:
    return "(" + ",".join(str(x) for x in sorted(s)) + ")"


def fmt_msg(m: Message) -> str:
    head = f"{m.src}->{m.dst} {type(m).__name__} t{m.term}"
    if isinstance(m, (PreVote, Vote)):
        tail = f" last={m.last_log_index}@{m.last_log_term}"
        if isinstance(m, Vote) and m.transfer:
            tail += " transfer"
    elif isinstance(m, (PreVoteResp, VoteResp)):
        tail = " granted" if m.granted else " rejected"
    elif isinstance(m, Append):
        tail = f" prev={m.prev_index}@{m.prev_term} commit={m.commit}"
        if m.entries:
            tail += " [" + ", ".join(fmt_entry(e) for e in m.entries) + "]"
    elif isinstance(m, AppendResp):
        if m.success:
            tail = f" ok index={m.index}"
        else:
            tail = f" reject index={m.index} hint={m.conflict_index}@{m.conflict_term}"
    elif isinstance(m, Heartbeat):
        tail = f" commit={m.commit} ctx={_ctx(m.ctx)}"
    elif isinstance(m, HeartbeatResp):
        tail = f" ctx={_ctx(m.ctx)}"
    elif isinstance(m, InstallSnapshot):
        tail = (f" snap={m.meta.index}@{m.meta.term} off={m.offset} len={len(m.data)}"
                + (" done" if m.done else ""))
    elif isinstance(m, InstallSnapshotResp):
        tail = (f" index={m.index} off={m.offset}" + (" done" if m.done else "")
                + ("" if m.success else " refused"))
    elif isinstance(m, ReadIndex):
        tail = f" ctx={_ctx(m.ctx)}"
    elif isinstance(m, ReadIndexResp):
        tail = f" ctx={_ctx(m.ctx)} index={m.index}" + ("" if m.ok else " refused")
    elif isinstance(m, TimeoutNow | TransferLeader):
        tail = ""
    else:  # pragma: no cover
        tail = f" {m!r}"
    return head + tail


def status_fields(st: RaftStatus) -> dict[str, str]:
    """The typed status, rendered field by field for traces and `expect`."""
    out = {
        "role": st.role.name.lower(),
        "term": str(st.term),
        "vote": str(st.vote),
        "leader": str(st.leader),
        "commit": str(st.commit),
        "applied": str(st.applied),
        "last_index": str(st.last_index),
        "first_index": str(st.first_index),
        "snapshot_index": str(st.snapshot_index),
        "voters": _ids(st.conf.voters),
        "learners": _ids(st.conf.learners),
        "lead_transferee": str(st.lead_transferee),
    }
    if st.role == Role.LEADER:
        out["progress"] = " ".join(
            f"{pid}:{p.state}/match={p.match}/next={p.next}" for pid, p in st.progress.items()
        )
    return out


DEFAULT_STATUS = ("role", "term", "leader", "commit", "applied", "last_index")


class Script:
    def __init__(self, nodes: int, voters: int = 0, **cfg: object) -> None:
        base = {"election_tick": 10, "heartbeat_tick": 1, "max_size_per_msg": 28}
        base.update(cfg)
        self.cfg = RaftConfig(**base)  # type: ignore[arg-type]
        # Nodes past `voters` exist but start outside the configuration (to be added),
        # empty, as a node started to join does.
        n_voters = voters or nodes
        conf = ConfState(voters=frozenset(range(1, n_voters + 1)))
        self.nodes = {i: _SNode(MemoryStorage(conf if i <= n_voters else ConfState()))
                      for i in range(1, nodes + 1)}
        self.queue: list[Message] = []
        self.held: list[Message] = []  # taken aside by `hold`, back with `release`
        self.cut: set[int] = set()
        self.applied: dict[int, tuple[int, bytes]] = {}
        self.last_error = ""
        self.reads: dict[tuple[int, bytes], int] = {}  # (node, ctx) -> read index; -1 dropped
        # (node, ctx) -> the highest index applied anywhere when the read was asked
        self.read_floor: dict[tuple[int, bytes], int] = {}
        self.out: list[str] = []  # the trace of the command being run
        self.verbs: dict[str, Callable[[list[str]], None]] = {
            "campaign": self.cmd_campaign,
            "elect": self.cmd_elect,
            "propose": self.cmd_propose,
            "read": self.cmd_read,
            "transfer": self.cmd_transfer,
            "failover": self.cmd_failover,
            "conf": self.cmd_conf,
            "deliver": self.cmd_deliver,
            "stabilize": self.cmd_stabilize,
            "drop": self.cmd_drop,
            "hold": self.cmd_hold,
            "release": self.cmd_release,
            "heartbeat-at": self.cmd_heartbeat_at,
            "cut": self.cmd_cut,
            "mend": self.cmd_mend,
            "crash": self.cmd_crash,
            "restart": self.cmd_restart,
            "tick": self.cmd_tick,
            "compact": self.cmd_compact,
            "status": self.cmd_status,
            "term-at": self.cmd_term_at,
            "reads": self.cmd_reads,
            "expect": self.cmd_expect,
            "expect-term": self.cmd_expect_term,
            "expect-error": self.cmd_expect_error,
            "expect-read": self.cmd_expect_read,
        }
        for i in self.nodes:
            self._start(i)

    # ---- plumbing ----------------------------------------------------------------------------
    def _start(self, i: int) -> None:
        n = self.nodes[i]
        n.core = RaftCore(i, n.storage, self.cfg, random.Random(i))
        n.timer = ElectionTimerWatch(self.cfg.election_tick)
        n.applied = []
        hs = n.storage.initial_state()[0]
        n.term_vote = (hs.term, hs.vote)
        n.commit = hs.commit

    def core(self, i: int) -> RaftCore:
        c = self.nodes[i].core
        if c is None:
            raise ScriptError(f"node {i} is down")
        return c

    def _timer(self, i: int) -> ElectionTimerWatch:
        t = self.nodes[i].timer
        assert t is not None
        return t

    def _tick(self, i: int) -> None:
        bad = self._timer(i).tick(self.core(i))
        if bad:
            raise CheckerFailure(bad)

    def _say(self, s: str) -> None:
        self.out.append(s)

    def _process(self, i: int) -> None:
        n = self.nodes[i]
        c = n.core
        while c is not None and c.has_ready():
            rd = c.ready()
            hs = rd.hard_state
            if hs is not None and (hs.term, hs.vote) != n.term_vote:
                n.term_vote = (hs.term, hs.vote)
                self._say(f"{i}: term={hs.term} vote={hs.vote}")
            if hs is not None:
                if hs.commit < n.commit:  # a committed entry is never uncommitted (§5.4)
                    raise CheckerFailure(f"commit index of node {i} went back from "
                                         f"{n.commit} to {hs.commit}")
                n.commit = hs.commit
            if rd.soft_state is not None:
                self._say(f"{i}: role={rd.soft_state.role.name.lower()} "
                          f"leader={rd.soft_state.leader}")
            if rd.snapshot is not None:
                meta = rd.snapshot.meta
                self._say(f"{i}: install snapshot {meta.index}@{meta.term}")
                n.storage.install_snapshot(rd.snapshot)
            n.storage.append(rd.entries)
            if rd.hard_state is not None:
                n.storage.set_hard_state(rd.hard_state)
            self.queue.extend(rd.messages)
            self.queue.extend(rd.messages_after_persist)
            for e in rd.committed_entries:
                seen = self.applied.setdefault(e.index, (e.term, e.data))
                if seen != (e.term, e.data):
                    raise CheckerFailure(
                        f"state machine safety: node {i} applied {e.index}@{e.term} "
                        f"but {e.index}@{seen[0]} was applied elsewhere"
                    )
                n.applied.append((e.index, e.term, e.data))
                self._say(f"{i}: apply {fmt_entry(e)}")
            for rs in rd.read_states:
                floor = self.read_floor.get((i, rs.ctx), 0)
                if rs.index < floor:
                    raise CheckerFailure(
                        f"linearizability: node {i} answered read {_ctx(rs.ctx)} at index "
                        f"{rs.index}, but {floor} was applied before the read was asked"
                    )
                self.reads[(i, rs.ctx)] = rs.index
                self._say(f"{i}: read {_ctx(rs.ctx)} at {rs.index}")
            for ctx in rd.dropped_reads:
                self.reads[(i, ctx)] = -1
                self._say(f"{i}: read {_ctx(ctx)} dropped")
            c.advance(rd)

    def _deliver_round(self) -> None:
        batch, self.queue = self.queue, []
        for m in batch:
            if m.src in self.cut or m.dst in self.cut:
                self._say(f"{fmt_msg(m)} (cut)")
                continue
            if self.nodes[m.dst].core is None:
                self._say(f"{fmt_msg(m)} (down)")
                continue
            self._say(fmt_msg(m))
            self._timer(m.dst).step(self.core(m.dst), m)
            self._process(m.dst)

    def run(self, text: str) -> None:
        """Run commands one per line (`#` comments), for tests written in Python."""
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                self.command(line.split())
            except ScriptError as e:
                raise ScriptError(f"line {lineno} `{line}`: {e}") from None

    def command(self, w: list[str]) -> str:
        """Run one command; returns the trace it printed."""
        op, args = w[0], w[1:]
        handler = self.verbs.get(op)
        if handler is None:
            raise ScriptError(f"unknown command {op}")
        self.out = []
        handler(args)
        out, self.out = self.out, []
        return "\n".join(out) if out else "ok"

    # ---- driving -----------------------------------------------------------------------------
    def cmd_campaign(self, args: list[str]) -> None:
        i = int(args[0])
        c = self.core(i)
        for _ in range(3 * self.cfg.election_tick):
            self._tick(i)
            if c.role != Role.FOLLOWER:
                break
        self._process(i)

    def cmd_elect(self, args: list[str]) -> None:
        # Campaign (again after a lost pre-vote) and deliver rounds until node N leads;
        # stops right there, so the new leader's first messages are still queued.
        i = int(args[0])
        for _ in range(50):
            c = self.core(i)
            if c.role == Role.LEADER:
                return
            if c.role == Role.FOLLOWER:
                self.cmd_campaign([str(i)])
                continue
            self._deliver_round()
        raise ScriptError(f"node {i} did not become leader")

    def cmd_propose(self, args: list[str]) -> None:
        i = int(args[0])
        self.last_error = ""
        try:
            idx, term = self.core(i).propose(args[1].encode())
            self._say(f"{i}: proposed {idx}@{term}")
        except (NotLeaderError, ProposalDroppedError) as e:
            self.last_error = str(e)
            self._say(f"{i}: error: {e}")
        self._process(i)

    def cmd_read(self, args: list[str]) -> None:
        i = int(args[0])
        self.last_error = ""
        self.read_floor[(i, args[1].encode())] = max(self.applied, default=0)
        try:
            self.core(i).read_index(args[1].encode())
        except NotLeaderError as e:
            self.last_error = str(e)
            self._say(f"{i}: error: {e}")
        self._process(i)

    def cmd_transfer(self, args: list[str]) -> None:
        i, target = int(args[0]), int(args[1])
        self.core(i).transfer_leadership(target)
        self._process(i)

    def cmd_failover(self, args: list[str]) -> None:
        """`failover N`: follower N asks its leader for leadership (CLUSTER FAILOVER)."""
        i = int(args[0])
        self._say(f"{i}: request leadership {'sent' if self.core(i).request_leadership() else 'refused'}")
        self._process(i)

    def cmd_conf(self, args: list[str]) -> None:
        i, op, target = int(args[0]), args[1], int(args[2])
        c = self.core(i)
        voters, learners = set(c.conf.voters), set(c.conf.learners)
        if op == "add":
            learners.add(target)
        elif op == "promote":
            learners.discard(target)
            voters.add(target)
        elif op == "demote":
            voters.discard(target)
            learners.add(target)
        elif op == "remove":
            voters.discard(target)
            learners.discard(target)
        else:
            raise ScriptError(f"conf: unknown op {op!r} (add, promote, demote, remove)")
        self.last_error = ""
        try:
            idx, term = c.propose_conf_change(ConfState(frozenset(voters), frozenset(learners)))
            self._say(f"{i}: proposed {idx}@{term}")
        except (NotLeaderError, ProposalDroppedError, ValueError) as e:
            self.last_error = str(e)
            self._say(f"{i}: error: {e}")
        self._process(i)

    def cmd_deliver(self, args: list[str]) -> None:
        for _ in range(int(args[0]) if args else 1):
            self._deliver_round()

    def cmd_stabilize(self, args: list[str]) -> None:
        for _ in range(1000):
            if not self.queue:
                return
            self._deliver_round()
        raise ScriptError("did not stabilize")

    def cmd_drop(self, args: list[str]) -> None:
        kw = dict(a.split("=") for a in args)
        src, dst = int(kw.get("from", 0)), int(kw.get("to", 0))
        keep = []
        for m in self.queue:
            if src in (0, m.src) and dst in (0, m.dst):
                self._say(f"{fmt_msg(m)} (dropped)")
            else:
                keep.append(m)
        self.queue = keep

    def cmd_hold(self, args: list[str]) -> None:
        kw = dict(a.split("=") for a in args)
        src, dst = int(kw.get("from", 0)), int(kw.get("to", 0))
        keep = []
        for m in self.queue:
            if src in (0, m.src) and dst in (0, m.dst):
                self._say(f"{fmt_msg(m)} (held)")
                self.held.append(m)
            else:
                keep.append(m)
        self.queue = keep

    def cmd_release(self, args: list[str]) -> None:
        # First in line, as a stalled connection delivers its backlog before anything new.
        self.queue[:0], self.held = self.held, []

    def cmd_heartbeat_at(self, args: list[str]) -> None:
        i = int(args[0])
        kw = dict(a.split("=") for a in args[1:])
        to, prev = int(kw["to"]), int(kw["prev"])
        c = self.core(i)
        if c.role != Role.LEADER:
            raise ScriptError(f"node {i} is not the leader")
        term = c.log.term_or_none(prev)
        if term is None:
            raise ScriptError(f"node {i} holds no entry at {prev}")
        self.queue.append(Append(i, to, c.term, prev, term, (), c.commit))

    def cmd_cut(self, args: list[str]) -> None:
        self.cut.update(int(a) for a in args)

    def cmd_mend(self, args: list[str]) -> None:
        self.cut.clear()

    def cmd_crash(self, args: list[str]) -> None:
        for a in args:
            i = int(a)
            self.nodes[i].core = None
            lost = sum(1 for m in self.queue if m.src == i)
            self.queue = [m for m in self.queue if m.src != i]
            self._say(f"{i}: crashed ({lost} queued messages lost)")

    def cmd_restart(self, args: list[str]) -> None:
        for a in args:
            i = int(a)
            self._start(i)
            st = self.core(i).status()
            self._say(f"{i}: restarted term={st.term} vote={st.vote} commit={st.commit} "
                      f"last_index={st.last_index}")

    def cmd_tick(self, args: list[str]) -> None:
        i = int(args[0])
        for _ in range(int(args[1]) if len(args) > 1 else 1):
            self._tick(i)
        self._process(i)

    def cmd_compact(self, args: list[str]) -> None:
        i, idx = int(args[0]), int(args[1])
        size = int(args[2]) if len(args) > 2 else 35
        meta = self.nodes[i].storage.create_snapshot(idx, self.core(i).conf_at(idx), b"S" * size)
        self._say(f"{i}: snapshot {meta.index}@{meta.term} ({size} bytes), "
                  f"log from {self.nodes[i].storage.first_index()}")

    # ---- inspecting --------------------------------------------------------------------------
    def cmd_status(self, args: list[str]) -> None:
        i = int(args[0])
        fields = status_fields(self.core(i).status())
        names = args[1:] or DEFAULT_STATUS
        for k in names:
            if k not in fields:
                raise ScriptError(f"no status field {k!r} on node {i}")
        self._say(f"{i}: " + " ".join(f"{k}={fields[k]}" for k in names))

    def _term_at(self, i: int, idx: int) -> str:
        t = self.core(i).log.term_or_none(idx)
        return "none" if t is None else str(t)

    def cmd_term_at(self, args: list[str]) -> None:
        i = int(args[0])
        self._say(f"{i}: " + " ".join(f"{idx}@{self._term_at(i, int(idx))}" for idx in args[1:]))

    def _read_result(self, i: int, ctx: str) -> str:
        got = self.reads.get((i, ctx.encode()))
        return "none" if got is None else "dropped" if got == -1 else str(got)

    def cmd_reads(self, args: list[str]) -> None:
        i = int(args[0])
        self._say(f"{i}: " + " ".join(f"{c}={self._read_result(i, c)}" for c in args[1:]))

    # ---- assertions (for Python-driven tests) ------------------------------------------------
    def cmd_expect(self, args: list[str]) -> None:
        i, key, want = int(args[0]), args[1], " ".join(args[2:])
        fields = status_fields(self.core(i).status())
        if key not in fields:
            raise ScriptError(f"no status field {key!r} on node {i}")
        if fields[key] != want:
            raise ScriptError(f"node {i} {key}: expected {want}, got {fields[key]}")

    def cmd_expect_term(self, args: list[str]) -> None:
        i, idx, want = int(args[0]), int(args[1]), args[2]
        got = self._term_at(i, idx)
        if got != want:
            raise ScriptError(f"node {i} term at {idx}: expected {want}, got {got}")

    def cmd_expect_error(self, args: list[str]) -> None:
        want = " ".join(args)
        if want not in self.last_error:
            raise ScriptError(f"expected an error with {want!r}, got {self.last_error!r}")

    def cmd_expect_read(self, args: list[str]) -> None:
        i, want = int(args[0]), args[2]
        shown = self._read_result(i, args[1])
        if shown != want:
            raise ScriptError(f"read {args[1]} on node {i}: expected {want}, got {shown}")


# ---- data files ----------------------------------------------------------------------------------
class ScenarioRunner:
    """The datadriven handler: `new` makes a cluster, every other verb goes to it."""

    def __init__(self) -> None:
        self.script: Script | None = None

    def __call__(self, d: TestData) -> str:
        if d.cmd == "new":
            kw: dict[str, object] = {}
            for a in d.args:
                if len(a.vals) != 1:
                    raise d.fatal(f"new: {a.key} wants one value")
                v = a.vals[0]
                kw[a.key] = v == "true" if v in ("true", "false") else int(v)
            nodes = kw.pop("nodes", None)
            if not isinstance(nodes, int):
                raise d.fatal("new: nodes=N is required")
            voters = kw.pop("voters", 0)
            self.script = Script(nodes, voters, **kw)  # type: ignore[arg-type]
            return "ok"
        if self.script is None:
            raise d.fatal("no cluster yet: start the file with `new nodes=N`")
        try:
            return self.script.command([d.cmd, *d.words()])
        except CheckerFailure as e:
            raise CheckerFailure(f"{d.pos}: `{d.cmd_line}`: {e}") from None
        except ScriptError as e:
            raise DataDrivenError(f"{d.pos}: `{d.cmd_line}`: {e}") from None


def run_scenario_file(path: str | Path, rewrite: bool | None = None) -> None:
    run_file(path, ScenarioRunner(), rewrite=rewrite)


def check_scenario_file(path: str | Path) -> None:
    """Run every case of the file for its checkers alone, not comparing outputs: what
    the mutation suite runs (tests/sim/mutate.py), where a changed trace means nothing
    but a CheckerFailure means a broken property."""
    path = Path(path)
    runner = ScenarioRunner()
    for d in parse(path.read_text(), str(path)):
        runner(d)


def scenario_files() -> list[Path]:
    return sorted(TESTDATA.glob("*.txt"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m tests.sim.script", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rewrite", action="store_true", help="write the actual outputs back")
    ap.add_argument("files", nargs="*", help="testdata files (default: all of tests/sim/testdata)")
    a = ap.parse_args(argv)
    bad = 0
    for f in a.files or scenario_files():
        try:
            run_scenario_file(f, rewrite=a.rewrite)
            print(f"{'rewrote' if a.rewrite else 'ok'}  {f}")
        except DataDrivenError as e:
            bad += 1
            print(f"FAIL {f}\n{e}\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
