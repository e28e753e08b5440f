"""A fresh 3-node cluster of real processes, driven by redis-cli and redis-py."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from raftredis.commands.slots import key_slot
from tests.integration.harness import Cluster, wait_for

REDIS_CLI = shutil.which("redis-cli")
needs_cli = pytest.mark.skipif(REDIS_CLI is None, reason="redis-cli (Debian redis-tools) missing")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("basic")).start()
    try:
        c.wait_leader(timeout=30)
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()


def leader_and_follower(c: Cluster) -> tuple[int, int]:
    lead = c.wait_leader()
    follower = next(i for i in c.nodes if i != lead)
    # The follower must know the leader before it can redirect to it.
    wait_for(lambda: c.info(follower)["raft_leader_id"] == str(lead), 10, "follower sees leader")
    return c.nodes[lead].port, c.nodes[follower].port


def cli(port: int, *args: str, cluster_mode: bool = False, resp3: bool = False) -> str:
    cmd = [REDIS_CLI, "-p", str(port)]
    if cluster_mode:
        cmd.append("-c")
    if resp3:
        cmd.append("-3")
    out = subprocess.run(cmd + list(args), capture_output=True, timeout=20, text=True)
    return (out.stdout + out.stderr).strip()


@needs_cli
def test_redis_cli_on_leader(cluster):
    lport, _ = leader_and_follower(cluster)
    assert cli(lport, "SET", "a", "b") == "OK"
    assert cli(lport, "GET", "a") == "b"
    assert cli(lport, "INCR", "counter") == "1"
    assert cli(lport, "-3", "GET", "a") == "b"


@needs_cli
def test_follower_redirects_with_moved(cluster):
    lport, fport = leader_and_follower(cluster)
    out = cli(fport, "SET", "foo", "bar")
    assert out == f"MOVED {key_slot(b'foo')} 127.0.0.1:{lport}", out
    # Hash tags decide the slot.
    out = cli(fport, "GET", "{user1000}.following")
    assert out.startswith(f"MOVED {key_slot(b'user1000')} "), out
    # redis-cli -c follows the redirect by itself.
    assert cli(fport, "SET", "foo", "bar", cluster_mode=True) == "OK"
    assert cli(fport, "GET", "foo", cluster_mode=True) == "bar"


def test_cluster_commands_describe_one_shard(cluster):
    lport, fport = leader_and_follower(cluster)
    r = redis.Redis(port=fport)
    slots = r.execute_command("CLUSTER", "SLOTS")
    assert len(slots) == 1
    start, end, master, *replicas = slots[0]
    assert (start, end) == (0, 16383)
    assert master[1] == lport
    assert len(replicas) == 2
    info = r.execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    assert "cluster_state:ok" in text
    assert r.execute_command("CLUSTER", "KEYSLOT", "foo") == 12182
    myid = r.execute_command("CLUSTER", "MYID")
    assert len(myid) == 40
    # One shard: MYSHARDID is the same on every node (and no node's id); no bus links.
    shard_ids = {redis.Redis(port=n.port).execute_command("CLUSTER", "MYSHARDID")
                 for n in cluster.nodes.values()}
    assert len(shard_ids) == 1 and len(next(iter(shard_ids))) == 40
    assert myid not in shard_ids
    assert r.execute_command("CLUSTER", "LINKS") == []
    assert "cluster_enabled:1" in r.info("cluster").__repr__() or r.info("cluster")[
        "cluster_enabled"] == 1
    assert r.info("replication")["role"] == "slave"
    assert redis.Redis(port=lport).info("replication")["role"] == "master"


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_cluster_client_from_follower(cluster, protocol):
    _, fport = leader_and_follower(cluster)
    rc = RedisCluster(host="127.0.0.1", port=fport, protocol=protocol)
    try:
        for i in range(50):
            assert rc.set(f"rc{protocol}:{i}", i)
        assert [int(rc.get(f"rc{protocol}:{i}")) for i in range(50)] == list(range(50))
        assert rc.incr(f"rc{protocol}:n") == 1
        pipe = rc.pipeline()
        for _ in range(20):
            pipe.incr(f"rc{protocol}:p")
        assert pipe.execute() == list(range(1, 21))
    finally:
        rc.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_async_redis_cluster_client(cluster, protocol):
    _, fport = leader_and_follower(cluster)

    async def main() -> None:
        rc = AsyncRedisCluster(host="127.0.0.1", port=fport, protocol=protocol)
        try:
            await asyncio.gather(*(rc.set(f"arc{protocol}:{i}", i) for i in range(100)))
            values = await asyncio.gather(*(rc.get(f"arc{protocol}:{i}") for i in range(100)))
            assert [int(v) for v in values] == list(range(100))
        finally:
            await rc.aclose()

    asyncio.run(asyncio.wait_for(main(), 60))


def test_readonly_reads_from_replicas(cluster):
    lport, fport = leader_and_follower(cluster)
    redis.Redis(port=lport).set("replicated", "yes")
    follower = redis.Redis(port=fport)
    follower.execute_command("READONLY")
    # A follower serves possibly stale reads once it has applied the write.
    wait_for(lambda: follower.get("replicated") == b"yes", 10, "follower to apply the write")
    rc = RedisCluster(host="127.0.0.1", port=fport, read_from_replicas=True)
    try:
        assert rc.get("replicated") == b"yes"
    finally:
        rc.close()


def test_peer_port_survives_garbage(cluster):
    lead = cluster.wait_leader()
    term = cluster.info(lead)["raft_term"]
    for node in cluster.nodes.values():
        for payload in (os.urandom(64), b"\xff" * 4096, b"GET / HTTP/1.1\r\n\r\n", b""):
            with socket.create_connection(("127.0.0.1", node.peer_port), timeout=2) as s:
                s.sendall(payload)
    r = redis.Redis(port=cluster.nodes[lead].port)
    assert r.set("after-garbage", "1")
    assert r.get("after-garbage") == b"1"
    assert cluster.leader() == lead
    assert cluster.info(lead)["raft_term"] == term


def test_wrong_secret_is_refused(cluster, tmp_path):
    """An impostor with a wrong secret, claiming a member's id, cannot join or disturb."""
    lead = cluster.wait_leader()
    term = int(cluster.info(lead)["raft_term"])
    impostor = Cluster(tmp_path, n=3)
    # Reuse the real cluster's peer addresses so the impostor dials the real nodes.
    impostor.nodes = {i: n for i, n in cluster.nodes.items()}
    victim = next(i for i in cluster.nodes if i != lead)
    node = cluster.nodes[victim]
    from tests.integration.harness import free_ports

    cport, pport = free_ports(2)
    cmd = impostor.command(node, secret="not-the-cluster-secret")
    cmd[cmd.index("--port") + 1] = str(cport)
    cmd[cmd.index("--peer-port") + 1] = str(pport)
    cmd[cmd.index("--data-dir") + 1] = str(tmp_path / "impostor")
    log_path = tmp_path / "impostor.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        # The real nodes log the refusal.
        def refused() -> bool:
            return any("secret" in n.log_path.read_text(errors="replace").lower()
                       or "refus" in n.log_path.read_text(errors="replace").lower()
                       for n in cluster.nodes.values())

        wait_for(refused, 15, "a node to log the refused handshake")
        r = redis.Redis(port=cluster.nodes[lead].port)
        assert r.set("after-impostor", "1")
        assert cluster.leader() == lead
        assert int(cluster.info(lead)["raft_term"]) == term
    finally:
        proc.kill()
        proc.wait(timeout=10)


@needs_cli
def test_redis_benchmark_against_leader(cluster):
    bench = shutil.which("redis-benchmark")
    if bench is None:
        pytest.skip("redis-benchmark (Debian redis-tools) missing")
    lport, _ = leader_and_follower(cluster)
    out = subprocess.run([bench, "-p", str(lport), "-t", "set,get", "-P", "16", "-n", "20000",
                          "-q"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "ERR" not in text and "error" not in text.lower(), text
    assert "SET:" in text and "GET:" in text, text


@needs_cli
def test_redis_benchmark_default_tests_against_leader(cluster):
    """redis-benchmark's default test list (no -t) touches lists, sets, hashes, sorted sets."""
    bench = shutil.which("redis-benchmark")
    if bench is None:
        pytest.skip("redis-benchmark (Debian redis-tools) missing")
    lport, _ = leader_and_follower(cluster)
    out = subprocess.run([bench, "-p", str(lport), "-n", "300", "-c", "10", "-P", "8", "--csv"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    assert "ERR" not in text and "error" not in text.lower(), text
    for test in ("SET", "GET", "LPUSH", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN",
                 "LRANGE_100", "MSET"):
        assert f'"{test}' in text, (test, text)
