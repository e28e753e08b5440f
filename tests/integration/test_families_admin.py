"""Admin commands on a running 3-node cluster: replies and errors compared with
redis-server (RESP2 and RESP3), then what each does here: SLOWLOG, ROLE (the Raft
leader as master, followers as replicas), WAIT (followers that durably logged the
connection's last write), SAVE/BGSAVE/LASTSAVE (snapshots), CLIENT PAUSE/UNPAUSE,
CLIENT UNBLOCK."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.integration.families_support import family_fixture, params
from tests.integration.harness import Cluster, wait_for

fam = family_fixture("admin")

CASES = [
    [("PING", "a", "b")], [("PING", "a", "b", "c")], [("PING", "a")],
    [("SLOWLOG", "GET", "abc")], [("SLOWLOG", "GET", "-2")], [("SLOWLOG", "GET", "1", "2")],
    [("SLOWLOG", "LEN", "x")], [("SLOWLOG", "BOGUS")], [("SLOWLOG", "HELP")],
    [("SLOWLOG", "RESET")], [("SLOWLOG",)],
    [("WAIT", "x", "0")], [("WAIT", "0", "x")], [("WAIT", "x", "x")], [("WAIT", "0", "-1")],
    [("WAIT",)],
    [("LASTSAVE", "x")], [("SAVE", "x")], [("BGSAVE", "x")], [("BGSAVE", "SCHEDULE", "x")],
    [("SHUTDOWN", "bogus")], [("SHUTDOWN", "ABORT")], [("SHUTDOWN", "ABORT", "NOW")],
    [("SHUTDOWN", "SAVE", "NOSAVE")],
    [("LOLWUT", "VERSION", "x")], [("ROLE", "x")],
    [("CLIENT", "PAUSE")], [("CLIENT", "PAUSE", "x")], [("CLIENT", "PAUSE", "-1")],
    [("CLIENT", "PAUSE", "10", "bogus")], [("CLIENT", "PAUSE", "10", "WRITE", "x")],
    [("CLIENT", "PAUSE", "0"), ("CLIENT", "UNPAUSE")], [("CLIENT", "UNPAUSE", "x")],
    [("CLIENT", "UNBLOCK", "x")], [("CLIENT", "UNBLOCK", "99999")],
    [("CLIENT", "UNBLOCK", "1", "bogus")], [("CLIENT", "UNBLOCK", "99999", "TIMEOUT")],
    [("CLIENT", "UNBLOCK", "1", "TIMEOUT", "x")],
    [("CLIENT", "NO-EVICT", "maybe")], [("CLIENT", "NO-EVICT", "off")],
    [("COMMAND", "GETKEYSANDFLAGS", "set", "a", "b")],
    [("COMMAND", "GETKEYSANDFLAGS", "set", "a", "b", "GET")],
    [("COMMAND", "GETKEYSANDFLAGS", "lmove", "a", "b", "left", "right")],
    [("COMMAND", "GETKEYSANDFLAGS", "mset", "a", "1", "b", "2")],
    [("COMMAND", "GETKEYSANDFLAGS", "zunionstore", "d", "2", "a", "b")],
    [("COMMAND", "GETKEYSANDFLAGS", "eval", "x", "2", "a", "b", "c")],
    [("COMMAND", "GETKEYSANDFLAGS", "xread", "streams", "a", "b", "0", "0")],
    [("COMMAND", "GETKEYSANDFLAGS", "sort", "a", "store", "b")],
    [("COMMAND", "GETKEYSANDFLAGS", "georadius", "a", "1", "2", "3", "m", "store", "b")],
    [("COMMAND", "GETKEYSANDFLAGS", "bitfield", "a", "get", "u8", "0")],
    [("COMMAND", "GETKEYSANDFLAGS", "echo", "x")], [("COMMAND", "GETKEYSANDFLAGS", "nosuch", "x")],
    [("COMMAND", "GETKEYSANDFLAGS", "set", "a")], [("COMMAND", "GETKEYSANDFLAGS", "set")],
    [("COMMAND", "GETKEYS", "set", "a", "b")], [("COMMAND", "GETKEYS", "get")],
    [("COMMAND", "GETKEYS", "eval", "x", "0")], [("COMMAND", "GETKEYS", "config", "get", "x")],
    [("COMMAND", "GETKEYS", "config", "x")],
    [("COMMAND", "LIST", "FILTERBY", "ACLCAT", "@hyperloglog")], [("COMMAND", "LIST", "x")],
    [("COMMAND", "LIST", "FILTERBY", "bogus", "x")],
    [("~COMMAND", "LIST", "FILTERBY", "PATTERN", "config*")],
    [("COMMAND", "LIST", "FILTERBY", "MODULE", "x")], [("COMMAND", "COUNT", "x")],
    [("MULTI",), ("SAVE",), ("SET", "a", "1"), ("EXEC",), ("GET", "a")],
    [("SLOWLOG", "GET", "0")],
]


def test_commandstats_and_latencystats_count_what_ran(fam):
    r = fam.leader_client()
    f = redis.Redis(port=fam.port(fam.follower()))
    try:
        r.config_resetstat()
        for i in range(3):
            r.set(f"cs:{i}", "v")
        assert r.get("cs:0") == b"v"
        with pytest.raises(redis.ResponseError):
            r.execute_command("INCR", "cs:0")  # not an integer: a failed call
        r.execute_command("MULTI")
        r.execute_command("SET", "cs:m", "1")
        r.execute_command("EXEC")
        with pytest.raises(redis.ResponseError):  # MOVED (redis-py strips the code)
            f.set("cs:x", "1")  # a follower refuses it: rejected there
        stats = r.info("commandstats")  # (redis-py parses Redis's format into dicts)
        assert stats["cmdstat_set"]["calls"] == 3
        assert stats["cmdstat_get"]["calls"] == 1
        assert stats.get("cmdstat_incr", {}).get("failed_calls") == 1, stats
        assert stats["cmdstat_exec"]["calls"] == 1
        assert float(stats["cmdstat_set"]["usec_per_call"]) < 100_000  # not the commit wait
        lat = r.info("latencystats")
        assert set(lat["latency_percentiles_usec_set"]) == {"p50", "p99", "p99.9"}
        assert int(f.info("commandstats")["cmdstat_set"]["rejected_calls"]) >= 1
    finally:
        f.close()
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("case", params(CASES))
def test_same_replies_as_redis(fam, case, protocol):
    fam.diff(case, protocol)


@pytest.mark.parametrize("protocol", [2, 3])
def test_lolwut_says_the_version(fam, protocol):
    r = fam.leader_client(protocol)
    try:
        text = r.execute_command("LOLWUT")
        assert text.decode().startswith("Redis ver. 7.") and text.endswith(b"\n")
    finally:
        r.close()


def test_slowlog_records_commands_over_the_threshold(fam):
    r = fam.leader_client()
    try:
        r.config_set("slowlog-log-slower-than", "0")
        r.slowlog_reset()
        r.set("slow:k", "v" * 200)
        entries = r.slowlog_get(10)
        cmds = [e["command"] for e in entries]
        assert b"SET slow:k " + b"v" * 128 + b"... (72 more bytes)" in cmds
        first = next(e for e in entries if e["command"].startswith(b"SET"))
        assert first["duration"] >= 0 and first["start_time"] > 1_600_000_000
        assert r.slowlog_len() >= 1
        r.config_set("slowlog-max-len", "1")
        r.ping()
        assert r.slowlog_len() == 1
        r.config_set("slowlog-log-slower-than", "-1")  # off
        r.slowlog_reset()
        r.set("slow:k", "w")
        assert r.slowlog_len() == 0
    finally:
        r.config_set("slowlog-log-slower-than", "10000")
        r.config_set("slowlog-max-len", "128")
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_role_maps_the_raft_group(fam, protocol):
    lead = fam.leader()
    follower = fam.follower()
    r = fam.leader_client(protocol)
    f = redis.Redis(port=fam.port(follower), protocol=protocol, socket_timeout=15)
    try:
        r.set("role:k", 1)
        role = r.execute_command("ROLE")
        assert role[0] == b"master" and isinstance(role[1], int)
        ports = sorted(int(rep[1]) for rep in role[2])
        assert ports == sorted(fam.port(i) for i in fam.cluster.nodes if i != lead)
        assert all(int(rep[2]) <= role[1] for rep in role[2])
        frole = f.execute_command("ROLE")
        assert frole[:4] == [b"slave", b"127.0.0.1", fam.port(lead), b"connected"]
        assert isinstance(frole[4], int)
        with pytest.raises(redis.ResponseError, match="WAIT cannot be used with replica"):
            f.execute_command("WAIT", "1", "0")
    finally:
        f.close()
        r.close()


def test_wait_counts_followers_that_logged_the_write(fam):
    r = fam.leader_client()
    try:
        r.set("wait:k", 1)
        # Both followers ack appends in a healthy cluster: WAIT 2 returns 2 well within
        # its timeout; asking for more than exist waits the timeout and says 2.
        assert r.execute_command("WAIT", "2", "10000") == 2
        t0 = time.monotonic()
        assert r.execute_command("WAIT", "3", "300") == 2
        assert time.monotonic() - t0 >= 0.25
        # Pipelined right behind the write, WAIT still covers it.
        with r.pipeline(transaction=False) as p:
            p.set("wait:k", 2).execute_command("WAIT", "2", "10000")
            assert p.execute() == [True, 2]
        assert r.execute_command("WAITAOF", "0", "2", "10000")[1] == 2
    finally:
        r.close()


def test_save_takes_a_snapshot_and_lastsave_moves(fam):
    r = fam.leader_client()
    try:
        before = r.lastsave()
        for i in range(20):
            r.set(f"save:{i}", i)
        # LASTSAVE has one-second resolution: make the new snapshot's second differ.
        wait_for(lambda: int(time.time()) > before.timestamp(), 5, "the clock to tick")
        assert r.save()
        after = r.lastsave()
        assert after > before
        assert r.info("persistence")["rdb_last_save_index"] > 0  # the snapshot's log index
        assert r.bgsave() in (True, b"Background saving started")
        wait_for(lambda: r.lastsave() >= after, 10, "the background save")
        assert r.get("save:7") == b"7"
    finally:
        r.close()


def test_client_pause_write_holds_writes_until_unpause(fam):
    r = fam.leader_client()
    writer = fam.leader_client()
    try:
        r.set("pause:k", "before")
        assert r.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
        done = threading.Event()
        result: list[object] = []

        def write() -> None:
            result.append(writer.set("pause:k", "after"))
            done.set()

        t = threading.Thread(target=write, daemon=True)
        t.start()
        # Reads go on while writes are held: the held write has not applied.
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            assert r.get("pause:k") == b"before"
            assert not done.is_set()
        assert r.execute_command("CLIENT", "UNPAUSE")
        assert done.wait(10)
        t.join(10)
        assert result == [True] and r.get("pause:k") == b"after"
    finally:
        r.execute_command("CLIENT", "UNPAUSE")
        writer.close()
        r.close()


@pytest.mark.parametrize("reason", ["TIMEOUT", "ERROR"])
def test_client_unblock_ends_a_blocking_pop(fam, reason):
    r = fam.leader_client()
    blocked = fam.leader_client()
    try:
        cid = blocked.client_id()
        out: list[object] = []

        def pop() -> None:
            try:
                out.append(blocked.blpop(["unblock:list"], 0))
            except redis.ResponseError as e:
                out.append(str(e))

        t = threading.Thread(target=pop, daemon=True)
        t.start()
        wait_for(lambda: r.execute_command("CLIENT", "UNBLOCK", cid, reason) == 1, 10,
                 "the pop to block and be unblocked")
        t.join(10)
        assert out == ([None] if reason == "TIMEOUT"
                       else ["UNBLOCKED client unblocked via CLIENT UNBLOCK"])
        assert r.execute_command("CLIENT", "UNBLOCK", cid) == 0  # no longer blocked
    finally:
        blocked.close()
        r.close()


def test_shutdown_stops_the_node_after_saving(tmp_path):
    """SHUTDOWN SAVE on a one-node cluster: a snapshot is written, then the process
    stops by its own graceful path (the client sees the connection close)."""
    cluster = Cluster(tmp_path, n=1).start()
    try:
        cluster.wait_leader(timeout=30)
        node = cluster.nodes[1]
        r = redis.Redis(port=node.port, socket_timeout=15)
        r.set("shut:k", "v")
        with pytest.raises(redis.ConnectionError):
            r.execute_command("SHUTDOWN", "SAVE")
        wait_for(lambda: not node.alive(), 20, "the node to stop")
        assert any(p.name.startswith("snap-") for p in (tmp_path / "node1").rglob("snap-*"))
    finally:
        cluster.stop()
