"""Jepsen-style test of the real 3-node cluster: random reads and writes of unique values
under kill -9 / SIGSTOP faults, then a linearizability check of the recorded history.

Clients are plain RESP connections with no hidden retries (redis-py retries on its own,
which could apply one SET twice): each call is one attempt, timed with time.monotonic().
A nemesis driven by one seed kills or pauses the leader or a random node for a bounded
time; at most one node is faulty at a time, so a majority is always there to make progress.

Partitions (opt-in, `JEPSEN_PARTITIONS=1`, or the slow partition test): peer traffic goes
through in-test TCP proxies (tests/integration/netproxy.py) and the nemesis also isolates
the leader or a random node (reset or black hole), makes the leader deaf or mute (one-way),
or cuts two followers apart while both still reach the third (a bridge).

Membership (opt-in, `JEPSEN_MEMBERSHIP=1`, or the slow membership test): the nemesis also
replaces a voter (kill -9 it, CLUSTER FORGET it, a new id joins with --join and is
promoted) or removes the leader (its process keeps running) and adds a new node; the
cluster is back to three voters before the next fault.

Default run: about 25 s of faults (`JEPSEN_SECONDS`), a random seed (`JEPSEN_SEED` replays
one). Long run: `python3 -m pytest -m slow tests/integration/test_jepsen.py` (3 seeds x 100 s,
and 2 seeds x 60 s with partitions).
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path

import hiredis
import pytest

from tests.integration.harness import Cluster, wait_for
from tests.integration.netproxy import BLACKHOLE, REFUSE
from tests.linearizability import FAIL, OK, UNKNOWN, Op, RegisterModel, check

KEYS = [f"jepsen:{i}" for i in range(5)]
CLIENTS = 5
SOCKET_TIMEOUT = 1.5  # a paused node gives an unknown outcome after this, not a hang
CHECK_BUDGET = 5_000_000  # search steps per key


class Conn:
    """One blocking RESP connection; error replies come back as hiredis.ReplyError."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
        self.sock.settimeout(SOCKET_TIMEOUT)
        self.reader = hiredis.Reader()

    def call(self, *args: str) -> object:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        while (reply := self.reader.gets()) is False:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed by the server")
            self.reader.feed(data)
        return reply

    def close(self) -> None:
        self.sock.close()


class Client(threading.Thread):
    """Random GET/SET of unique values; appends one Op per attempt to `history`."""

    def __init__(self, pid: int, cluster: Cluster, seed: int, stop: threading.Event,
                 history: list[Op], unexpected: list[str]) -> None:
        super().__init__(daemon=True, name=f"jepsen-client-{pid}")
        self.pid, self.cluster, self.stop = pid, cluster, stop
        self.rng = random.Random(seed)
        self.history, self.unexpected = history, unexpected
        self.ports = {n.port: i for i, n in cluster.nodes.items()}

    def run(self) -> None:
        target = self.rng.choice(list(self.cluster.nodes))
        conn: Conn | None = None
        n = 0
        try:
            while not self.stop.is_set():
                if conn is None:
                    try:
                        conn = Conn(self.cluster.nodes[target].port)
                    except OSError:  # node down: try another after a short back-off
                        target = self.rng.choice(list(self.cluster.nodes))
                        self.stop.wait(0.05)
                        continue
                key = self.rng.choice(KEYS)
                n += 1
                kind, value = ("read", None) if self.rng.random() < 0.5 else (
                    "write", f"{self.pid}.{n}")
                invoke = time.monotonic()
                try:
                    reply = conn.call("GET", key) if kind == "read" else conn.call(
                        "SET", key, value)
                except OSError:
                    # Timeout or reset: the write may or may not have happened. The reply
                    # could still arrive later on this connection, so never reuse it.
                    self._record(key, kind, value, invoke, UNKNOWN)
                    conn.close()
                    conn = None
                    target = self.rng.choice(list(self.cluster.nodes))
                    continue
                outcome, redirect = self._classify(kind, reply)
                if kind == "read" and outcome == OK:
                    value = reply.decode() if reply is not None else None
                self._record(key, kind, value, invoke, outcome)
                if redirect is not None or outcome != OK:
                    conn.close()
                    conn = None
                    if redirect is not None:
                        target = redirect
                    else:
                        target = self.rng.choice(list(self.cluster.nodes))
                        self.stop.wait(0.02)  # no leader yet: back off a little
        finally:
            if conn is not None:
                conn.close()

    def _record(self, key: str, kind: str, value, invoke: float, outcome: str) -> None:
        self.history.append(Op(self.pid, kind, value, invoke, time.monotonic(), outcome, key))

    def _classify(self, kind: str, reply: object) -> tuple[str, int | None]:
        if not isinstance(reply, hiredis.ReplyError):
            if kind == "write" and reply != b"OK":
                self.unexpected.append(f"SET answered {reply!r}")
                return UNKNOWN, None
            return OK, None
        text = str(reply)
        if text.startswith("MOVED "):
            port = int(text.rsplit(":", 1)[1])
            # a follower ran nothing (nodes that joined later are looked up anew)
            ports = {n.port: i for i, n in list(self.cluster.nodes.items())}
            return FAIL, ports.get(port)
        if text.startswith(("CLUSTERDOWN", "TRYAGAIN")):
            return FAIL, None  # documented as "not applied"
        if text.startswith("UNCERTAIN"):
            return UNKNOWN, None
        self.unexpected.append(text)
        return UNKNOWN, None


class Nemesis(threading.Thread):
    """One fault at a time, each for a bounded time chosen by the seeded rng."""

    FAULTS = ("kill-leader", "kill-random", "pause-leader", "pause-random", "kill-all",
              "pause-leader-kill-other")
    # Only with a proxied cluster (partitions=True).
    PARTITION_FAULTS = ("isolate-leader", "isolate-random", "deaf-leader", "mute-leader",
                        "bridge")

    # Only without proxies (a joining node's links are not proxied); at most a few per run,
    # each leaving one more process behind.
    MEMBERSHIP_FAULTS = ("replace-random", "remove-leader-add")
    MAX_MEMBERSHIP_FAULTS = 3

    def __init__(self, cluster: Cluster, seed: int, seconds: float,
                 stop: threading.Event, partitions: bool = False,
                 membership: bool = False) -> None:
        super().__init__(daemon=True, name="jepsen-nemesis")
        self.cluster, self.rng, self.seconds, self.stop = cluster, random.Random(seed), seconds, stop
        self.faults_menu = self.FAULTS + (self.PARTITION_FAULTS if partitions else ())
        if membership and not partitions:
            self.faults_menu += self.MEMBERSHIP_FAULTS * 2  # as likely as the rest together
        self.membership_faults = 0
        self.events: list[str] = []
        self.faults = 0
        self.kinds: dict[str, int] = {}
        self.error: BaseException | None = None
        self.t0 = time.monotonic()
        # Nodes a membership fault took out of the cluster: no fault picks them again
        # (a killed one has no process to signal) and healing does not restart them.
        self.retired: set[int] = set()

    def log(self, what: str) -> None:
        self.events.append(f"{time.monotonic():.3f} (+{time.monotonic() - self.t0:.2f}s) {what}")

    def run(self) -> None:
        end = self.t0 + self.seconds
        try:
            while not self.stop.is_set() and time.monotonic() < end:
                # The schedule: quiet time, then one fault held for a while.
                if self.stop.wait(self.rng.uniform(0.5, 2.0)):
                    break
                fault = self.rng.choice(self.faults_menu)
                if fault in self.MEMBERSHIP_FAULTS and \
                        self.membership_faults >= self.MAX_MEMBERSHIP_FAULTS:
                    fault = self.rng.choice(self.FAULTS)
                hold = self.rng.uniform(0.2, 3.0)
                ids = sorted(i for i in self.cluster.nodes if i not in self.retired)
                victim = self.rng.choice(ids)
                if fault.endswith("leader"):
                    victim = self.cluster.leader() or victim
                self.faults += 1
                self.kinds[fault] = self.kinds.get(fault, 0) + 1
                if fault in self.PARTITION_FAULTS:
                    self.partition(fault, victim, hold)
                elif fault in self.MEMBERSHIP_FAULTS:
                    self.membership_faults += 1
                    self.membership_change(fault)
                elif fault == "kill-all":
                    # Every node crashes at once: acknowledged writes live on disk only.
                    self.log("kill-all: kill -9 every node")
                    for i in ids:
                        self.cluster.kill(i)
                    self.stop.wait(hold / 4)
                    for i in ids:
                        self.cluster.start_node(i)
                    self.log("restarted every node")
                elif fault == "pause-leader-kill-other":
                    # No majority for a while: nothing may be acknowledged, nothing lost.
                    other = self.rng.choice([i for i in ids if i != victim])
                    self.log(f"{fault}: SIGSTOP node{victim}, kill -9 node{other} for {hold:.2f}s")
                    self.cluster.pause(victim)
                    self.cluster.kill(other)
                    self.stop.wait(hold)
                    self.cluster.start_node(other)
                    self.cluster.resume(victim)
                    self.log(f"restarted node{other}, SIGCONT node{victim}")
                elif fault.startswith("kill"):
                    self.log(f"{fault}: kill -9 node{victim} for {hold:.2f}s")
                    self.cluster.kill(victim)
                    self.stop.wait(hold)
                    self.cluster.start_node(victim)
                    self.log(f"restarted node{victim}")
                else:
                    self.log(f"{fault}: SIGSTOP node{victim} for {hold:.2f}s")
                    self.cluster.pause(victim)
                    self.stop.wait(hold)
                    self.cluster.resume(victim)
                    self.log(f"SIGCONT node{victim}")
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc
        finally:
            heal(self.cluster, self.retired)

    def membership_change(self, fault: str) -> None:
        """Take one voter out (killed, or the leader left running) and bring a new id in."""
        from raftredis.admin import member_command

        c = self.cluster
        lead = c.wait_leader(timeout=30)
        voters = sorted(int(x) for x in c.info(lead)["raft_voters"].split(",") if x)
        victim = self.rng.choice(voters) if fault == "replace-random" else lead
        via = next(i for i in voters if i != victim)
        new = max(c.nodes) + 1
        if fault == "replace-random":
            self.log(f"{fault}: kill -9 node{victim}, forget it, node{new} joins")
            c.kill(victim)
        else:
            self.log(f"{fault}: forget the leader node{victim} (left running), node{new} joins")
        member_command(f"127.0.0.1:{c.nodes[via].port}", "CLUSTER", "FORGET", victim,
                       deadline_s=30)
        self.log(f"node{victim} removed")
        self.retired.add(victim)
        c.add_node(new, join_via=via)
        c.start_node(new)

        def promoted() -> bool:
            f = c.info(c.wait_leader(timeout=30))
            return str(new) in f["raft_voters"].split(",")

        wait_for(promoted, 60, f"node{new} promoted")
        self.log(f"node{new} is a voter")

    def partition(self, fault: str, victim: int, hold: float) -> None:
        """Cut links for `hold` seconds, then heal them all."""
        c = self.cluster
        mode = self.rng.choice((REFUSE, BLACKHOLE))
        if fault.startswith("isolate"):
            what = f"node{victim} cut off from everyone"
            c.isolate(victim, mode=mode)
        elif fault == "deaf-leader":  # it sends, hears nothing: check-quorum must act
            what = f"nothing reaches node{victim}"
            c.cut_inbound(victim, mode=mode)
        elif fault == "mute-leader":  # it hears, nothing it sends arrives
            what = f"nothing from node{victim} arrives"
            c.cut_outbound(victim, mode=mode)
        else:  # bridge: two nodes cannot talk, both still reach the victim
            what = f"the others cut in two halves, node{victim} reaches both"
            c.bridge(victim, mode=mode)
        self.log(f"{fault} ({mode}): {what} for {hold:.2f}s")
        self.stop.wait(hold)
        c.heal()
        self.log("healed the network")


def heal(cluster: Cluster, retired: Collection[int] = ()) -> None:
    if cluster.net is not None:
        cluster.heal()
    for i, node in cluster.nodes.items():
        if i in retired:
            continue
        if node.alive() and node.paused:
            cluster.resume(i)
        elif not node.alive():
            cluster.start_node(i)


def final_reads(cluster: Cluster, history: list[Op]) -> None:
    """After healing: one successful linearizable read of every key on the leader."""
    for key in KEYS:
        def attempt(key: str = key) -> bool:
            leader = cluster.wait_leader(timeout=30)
            conn = Conn(cluster.nodes[leader].port)
            try:
                invoke = time.monotonic()
                reply = conn.call("GET", key)
            finally:
                conn.close()
            if isinstance(reply, hiredis.ReplyError):
                return False
            value = reply.decode() if reply is not None else None
            history.append(Op("final", "read", value, invoke, time.monotonic(), OK, key))
            return True

        wait_for(attempt, 40, f"a final read of {key}")


def lost_acked_writes(history: list[Op]) -> list[str]:
    """Acknowledged writes that the final value shows were lost (implied by
    linearizability, spelled out so a failure names the write)."""
    lost = []
    for key in KEYS:
        final = [o for o in history if o.key == key and o.process == "final"][-1]
        writes = [o for o in history if o.key == key and o.kind == "write" and o.outcome != FAIL]
        source = next((o for o in writes if o.value == final.value), None)
        for w in writes:
            # An ok write that began after the final value's write had finished must win.
            if (w.outcome == OK and source is not None and w.invoke > source.complete
                    and source.outcome == OK):
                lost.append(f"{key}: acked {w.value!r} lost under {final.value!r}")
        if final.value is None and any(w.outcome == OK for w in writes):
            lost.append(f"{key}: acked writes but the key is missing")
    return lost


def run_jepsen(tmp_path: Path, seed: int, seconds: float,
               partitions: bool = False, membership: bool = False) -> dict[str, object]:
    replay = f"JEPSEN_SEED={seed} JEPSEN_SECONDS={seconds}" + (
        " JEPSEN_PARTITIONS=1" if partitions else "") + (
        " JEPSEN_MEMBERSHIP=1" if membership else "")
    print(f"jepsen seed={seed} seconds={seconds} partitions={partitions} (replay: {replay})")
    rng = random.Random(seed)
    # Short election timeouts on some seeds: more elections, more chances to get one wrong.
    election_ticks = rng.choice(["15", "6"])
    print(f"jepsen seed={seed}: election_ticks={election_ticks}")
    cluster = Cluster(tmp_path, extra=["--snapshot-threshold", "2000",
                                       "--election-ticks", election_ticks],
                      proxied=partitions).start()
    history: list[Op] = []
    unexpected: list[str] = []
    stop = threading.Event()
    nemesis_stop = threading.Event()
    clients: list[Client] = []
    nemesis: Nemesis | None = None
    try:
        cluster.wait_leader(timeout=30)
        clients = [Client(p, cluster, rng.randrange(1 << 30), stop, history, unexpected)
                   for p in range(CLIENTS)]
        nemesis = Nemesis(cluster, rng.randrange(1 << 30), seconds, nemesis_stop, partitions,
                          membership)
        for c in clients:
            c.start()
        nemesis.start()
        nemesis.join(timeout=seconds + 30)
        assert not nemesis.is_alive(), "nemesis did not finish"
        assert nemesis.error is None, f"nemesis failed: {nemesis.error!r}; its faults:\n  " + \
            "\n  ".join(nemesis.events)
        # A short healthy phase: the cluster must serve again after the faults.
        healed_at = time.monotonic()
        wait_for(lambda: any(o.invoke > healed_at and o.outcome == OK for o in history[-50:]),
                 30, "an acknowledged op after healing")
        stop.set()
        for c in clients:
            c.join(timeout=SOCKET_TIMEOUT + 5)
        assert not any(c.is_alive() for c in clients), "a client did not stop"
        final_reads(cluster, history)
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        stop.set()
        nemesis_stop.set()
        if nemesis is not None:
            nemesis.join(timeout=10)
        cluster.stop()

    (tmp_path / "history.jsonl").write_text(
        "\n".join(json.dumps(asdict(o), default=str) for o in history))
    t0 = time.monotonic()
    report = check(history, RegisterModel(), budget=CHECK_BUDGET)
    check_s = time.monotonic() - t0
    stats: dict[str, object] = {
        "ops": len(history),
        "ok_writes": sum(o.kind == "write" and o.outcome == OK for o in history),
        "ok_reads": sum(o.kind == "read" and o.outcome == OK for o in history),
        "unknown": sum(o.outcome == UNKNOWN for o in history),
        "failed": sum(o.outcome == FAIL for o in history),
        # Unknown writes a read later saw: the "may have happened" case really occurs.
        "unknown_writes_seen": len({o.value for o in history if o.outcome == UNKNOWN}
                                   & {o.value for o in history if o.kind == "read"}),
        "faults": nemesis.faults,
        "fault_kinds": nemesis.kinds,
        "check_s": round(check_s, 2),
    }
    print(f"jepsen seed={seed}: {stats}")
    context = (f"seed={seed} (replay: {replay})\n"
               f"history: {tmp_path / 'history.jsonl'}\nstats: {stats}\nnemesis:\n  "
               + "\n  ".join(nemesis.events))
    assert not unexpected, f"unexpected replies: {unexpected[:10]}\n{context}"
    assert report.verdict != "not linearizable", f"{report.explain()}\n{context}"
    assert report.ok, f"checker undecided:\n{report.explain()}\n{context}"
    lost = lost_acked_writes(history)
    assert not lost, f"lost acknowledged writes: {lost[:10]}\n{context}"
    # The run must have exercised something, or a pass means nothing.
    assert stats["faults"] >= 3 and stats["ok_writes"] >= 50 and stats["ok_reads"] >= 50, context
    return stats


def _seed() -> int:
    """JEPSEN_SEED=N replays a seed, JEPSEN_SEED=random explores a new one; the default
    suite uses a fixed seed so that it is repeatable (timing still varies run to run)."""
    env = os.environ.get("JEPSEN_SEED", "")
    if env == "random":
        return random.SystemRandom().randrange(1 << 30)
    return int(env) if env else 7


def _partitions() -> bool:
    return os.environ.get("JEPSEN_PARTITIONS", "") not in ("", "0")


def _membership() -> bool:
    return os.environ.get("JEPSEN_MEMBERSHIP", "") not in ("", "0")


def test_jepsen_register_under_kills_and_pauses(tmp_path):
    run_jepsen(tmp_path, _seed(), float(os.environ.get("JEPSEN_SECONDS", "25")), _partitions(),
               _membership())


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("run", range(3))
def test_jepsen_register_under_membership_changes(tmp_path, run):
    stats = run_jepsen(tmp_path, _seed() + run, float(os.environ.get("JEPSEN_SECONDS", "60")),
                       membership=True)
    kinds = stats["fault_kinds"]
    assert isinstance(kinds, dict) and any(k in kinds for k in Nemesis.MEMBERSHIP_FAULTS), kinds


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("run", range(3))
def test_jepsen_register_long(tmp_path, run):
    run_jepsen(tmp_path, _seed() + run, float(os.environ.get("JEPSEN_SECONDS", "100")),
               _partitions())


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("run", range(2))
def test_jepsen_register_under_partitions(tmp_path, run):
    stats = run_jepsen(tmp_path, _seed() + run, float(os.environ.get("JEPSEN_SECONDS", "60")),
                       partitions=True)
    assert any(k in stats["fault_kinds"] for k in Nemesis.PARTITION_FAULTS), stats


def test_jepsen_register_under_partitions_short(tmp_path):
    """The default suite's partition run: a shorter fault phase with partition faults on
    (the slow test above runs longer ones)."""
    stats = run_jepsen(tmp_path, _seed() + 500, float(os.environ.get("JEPSEN_SECONDS", "15")),
                       partitions=True)
    assert any(k in stats["fault_kinds"] for k in Nemesis.PARTITION_FAULTS), stats


def test_stale_follower_read_is_caught_end_to_end(tmp_path):
    """The recording and the checker together catch a stale read: a READONLY read
    from a follower that missed the last write, cut off from everyone who has it."""
    cluster = Cluster(tmp_path).start()
    history: list[Op] = []
    try:
        leader = cluster.wait_leader(timeout=30)
        lagger, other = (i for i in cluster.nodes if i != leader)
        conn = Conn(cluster.nodes[leader].port)

        def write(value: str) -> None:
            invoke = time.monotonic()
            assert conn.call("SET", "reg", value) == b"OK"
            history.append(Op("w", "write", value, invoke, time.monotonic(), OK, "reg"))

        write("v1")
        cluster.kill(lagger)
        write("v2")  # acknowledged by the leader and `other`, never seen by `lagger`
        conn.close()
        cluster.pause(leader)
        cluster.pause(other)
        cluster.start_node(lagger)

        def stale_read() -> bool:
            c = Conn(cluster.nodes[lagger].port)
            try:
                if c.call("READONLY") != b"OK":
                    return False
                invoke = time.monotonic()
                reply = c.call("GET", "reg")
            finally:
                c.close()
            if isinstance(reply, hiredis.ReplyError):
                return False
            value = reply.decode() if reply is not None else None
            history.append(Op("r", "read", value, invoke, time.monotonic(), OK, "reg"))
            return True

        wait_for(stale_read, 20, "a READONLY read on the restarted follower")
    finally:
        cluster.stop()
    assert history[-1].value in ("v1", None), history
    report = check(history)
    assert report.verdict == "not linearizable", report.explain()
    (bad,) = report.violations
    assert ("read", history[-1].value) == (bad.counterexample[-1].kind, bad.counterexample[-1].value)
    assert len(bad.counterexample) <= 3


def test_lost_acked_writes_names_the_lost_write():
    """The explicit lost-write check on hand-made histories (no cluster needed)."""
    def hist(final_value):
        ops = []
        for key in KEYS:
            ops += [Op(1, "write", f"{key}a", 0, 1, OK, key),
                    Op(2, "write", f"{key}b", 2, 3, OK, key),
                    Op(3, "write", f"{key}c", 2.5, 9, UNKNOWN, key)]
            value = final_value(key)
            ops.append(Op("final", "read", value, 10, 11, OK, key))
        return ops

    assert lost_acked_writes(hist(lambda k: f"{k}b")) == []
    assert lost_acked_writes(hist(lambda k: f"{k}c")) == []  # the unknown write landed last
    lost = lost_acked_writes(hist(lambda k: f"{k}a" if k == KEYS[0] else f"{k}b"))
    assert lost == [f"{KEYS[0]}: acked '{KEYS[0]}b' lost under '{KEYS[0]}a'"]
    assert len(lost_acked_writes(hist(lambda k: None))) == len(KEYS)
