"""The docker compose cluster (docker/compose.yaml) under real container faults.

Each test gets its own compose project on free host ports. Clients run on the host:
redis-cli and redis-py's RedisCluster, following MOVED to the announced 127.0.0.1 ports.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.docker.harness import (
    SERVICES,
    Cluster,
    WriteLoad,
    assert_all_readable,
    wait_for,
    write_keys,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


def redis_cli(port: int, *args: str) -> str:
    proc = subprocess.run(["redis-cli", "-c", "-p", str(port), *args], capture_output=True,
                          text=True, timeout=30, check=True)
    return proc.stdout.strip()


def test_cluster_up_write_read_from_host(cluster: Cluster) -> None:
    leader = cluster.wait_ready()
    ports = cluster.ports

    # redis-cli -c on any node follows MOVED to the leader's announced address.
    for svc in SERVICES:
        assert redis_cli(ports[svc], "SET", f"cli:{svc}", f"from-{svc}") == "OK"
    for svc in SERVICES:
        for other in SERVICES:
            assert redis_cli(ports[svc], "GET", f"cli:{other}") == f"from-{other}"

    # CLUSTER SLOTS names host-reachable addresses: 127.0.0.1 and the published ports.
    with cluster.client(leader) as c:
        slots = c.execute_command("CLUSTER", "SLOTS")  # split: no parsing callback
    assert len(slots) == 1 and slots[0][0] == 0 and slots[0][1] == 16383
    master, *replicas = slots[0][2:]
    assert (master[0], int(master[1])) == ("127.0.0.1", ports[leader])
    assert sorted(int(r[1]) for r in replicas) == sorted(
        p for s, p in ports.items() if s != leader)

    # RedisCluster from the host: keys across many slots, hash tags included.
    rc = cluster.cluster_client()
    try:
        data = {f"k{i}": str(i) for i in range(200)} | {f"{{tag}}:{i}": "t" for i in range(20)}
        for k, v in data.items():
            assert rc.set(k, v) is True
        assert {k: rc.get(k) for k in data} == data
    finally:
        rc.close()

    # The image's own promises: health check passes, non-root, peer port not published.
    for svc in SERVICES:
        wait_for(f"{svc} healthy",
                 lambda s=svc: cluster.inspect(s, "{{.State.Health.Status}}") == "healthy", 90)
        assert cluster.inspect(svc, "{{.Config.User}}") == "raftredis"
        published = cluster.inspect(svc, "{{json .NetworkSettings.Ports}}")
        assert '"7000/tcp":[{' in published.replace(" ", "")
        assert '"17000/tcp":null' in published.replace(" ", "")


def test_kill_leader_under_write_load(cluster: Cluster) -> None:
    old = cluster.wait_ready()
    load = WriteLoad(cluster, "load")
    load.start()
    try:
        wait_for("writes before the kill", lambda: load.count() >= 100, 60)
        cluster.kill(old)
        at_kill = load.count()
        survivors = tuple(s for s in SERVICES if s != old)
        new = cluster.leader(among=survivors, timeout=60)
        assert new != old
        # Clients carry on: acknowledged writes keep coming after the failover.
        wait_for("writes after the failover", lambda: load.count() >= at_kill + 200, 90)
    finally:
        load.stop.set()
        load.join(timeout=30)
    assert not load.is_alive()
    acked = dict(load.acked)
    print(f"kill: {len(acked)} writes acknowledged, {load.errors} client errors")

    # No acknowledged write is lost: read them all through the new leader.
    assert_all_readable(cluster, acked, survivors)

    # The killed node comes back as a follower and catches up with everything.
    cluster.start(old)
    wait_for(f"{old} to rejoin as follower", lambda: cluster.role(old) == "slave", 90)
    last = max(acked, key=lambda k: int(k.rsplit(":", 1)[1]))
    wait_for(f"{old} to catch up", lambda: cluster.local_get(old, last) == acked[last], 90)


def test_network_partition_of_leader(cluster: Cluster) -> None:
    old = cluster.wait_ready()
    before = write_keys(cluster, "before", 50)
    majority = tuple(s for s in SERVICES if s != old)

    cluster.disconnect(old)
    try:
        # The cut-off leader must not acknowledge a write: it cannot reach a majority.
        probe = cluster.exec_resp(old, [["SET", "isolated", "lost"]], wait=6.0)
        replies = probe["replies"]
        assert replies == [] or replies[0] != {"status": "OK"}, probe

        # The majority elects a leader of its own and serves reads and writes.
        new = cluster.leader(among=majority, timeout=60)
        assert new != old
        rc = cluster.cluster_client(majority)
        try:
            assert rc.set("after", "majority") is True
            assert rc.get("after") == "majority"
        finally:
            rc.close()
        assert_all_readable(cluster, before, majority)
    finally:
        cluster.connect(old)

    # Healed: the old leader follows, has the majority's data, and its unacknowledged
    # write was discarded with its stale log tail.
    wait_for(f"{old} to rejoin as follower", lambda: cluster.role(old) == "slave", 90)
    wait_for(f"{old} to get the majority's write",
             lambda: cluster.local_get(old, "after") == "majority", 90)
    assert cluster.local_get(old, "isolated") is None
    assert cluster.leader(timeout=30) == new
    rc = cluster.cluster_client()
    try:
        assert rc.get("isolated") is None
    finally:
        rc.close()


def test_compose_restart_keeps_all_data(cluster: Cluster) -> None:
    cluster.wait_ready()
    written = write_keys(cluster, "durable", 300)
    rc = cluster.cluster_client()
    try:
        for _ in range(25):
            rc.incr("counter")
    finally:
        rc.close()

    started = time.monotonic()
    cluster.compose("restart", "-t", "10", timeout=180)
    cluster.wait_ready()
    print(f"restart: cluster serving again {time.monotonic() - started:.1f}s after restart")

    assert_all_readable(cluster, written | {"counter": "25"})
    # Every node, not just the leader, recovered its copy.
    for svc in SERVICES:
        wait_for(f"{svc} local copy after restart",
                 lambda s=svc: cluster.local_get(s, "durable:299") == written["durable:299"], 60)


def test_recreated_container_with_new_ip_rejoins(cluster: Cluster) -> None:
    leader = cluster.wait_ready()
    follower = next(s for s in SERVICES if s != leader)
    old_ip = cluster.ip(follower)
    with cluster.client(follower) as c:
        old_id = c.execute_command("CLUSTER", "MYID")
    first = write_keys(cluster, "first", 50)

    cluster.compose("rm", "--stop", "--force", follower, timeout=120)  # keeps its volume
    # Hold the old address so the new container cannot get it back.
    cluster.start_filler()
    while_gone = write_keys(cluster, "gone", 50)
    cluster.up(follower)

    new_ip = cluster.ip(follower)
    assert new_ip != old_ip, "the recreated container must have a new IP for this test"
    wait_for(f"{follower} to rejoin as follower", lambda: cluster.role(follower) == "slave", 90)
    with cluster.client(follower) as c:
        assert c.execute_command("CLUSTER", "MYID") == old_id  # same identity, from its volume

    # It has everything, including what was written while it was away, and keeps up.
    after = write_keys(cluster, "after", 10)
    everything = first | while_gone | after
    for key in ("first:49", "gone:49", "after:9"):
        wait_for(f"{follower} to have {key}",
                 lambda k=key: cluster.local_get(follower, k) == everything[k], 90)
    assert_all_readable(cluster, everything)
    with cluster.client(leader) as c:
        nodes = c.execute_command("CLUSTER", "NODES")  # raw text
    assert len([ln for ln in nodes.splitlines() if ln.strip()]) == 3
