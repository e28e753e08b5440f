"""INFO as redis_exporter reads it (issue 21), with real values rather than fixed ones:
instantaneous_ops_per_sec follows the load on a RespServer in this process, and on a
live 3-node cluster the leader's connected_slaves / slaveN count only the followers it
hears from, while a follower's master_link_status goes down when it is cut off.

Every wait is a condition with a deadline; every process is stopped by PID.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import uvloop

from raftredis.miniclient import parse_info
from raftredis.server.local_backend import LocalBackend
from raftredis.server.resp_server import RespServer
from tests.integration.harness import Cluster, wait_for

PING = b"*1\r\n$4\r\nPING\r\n"
INFO_STATS = b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n"


async def _info_stats(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict:
    writer.write(INFO_STATS)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
    assert head.startswith(b"$"), head
    body = await asyncio.wait_for(reader.readexactly(int(head[1:-2]) + 2), 10)
    return parse_info(body[:-2])


def test_instantaneous_ops_per_sec_follows_the_load() -> None:
    async def main() -> None:
        srv = RespServer(LocalBackend())
        await srv.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            assert int((await _info_stats(reader, writer))["instantaneous_ops_per_sec"]) == 0
            # Pipelined PINGs for up to 10 s, until INFO reports a rate above zero.
            deadline, ops = time.monotonic() + 10, 0
            while ops == 0:
                assert time.monotonic() < deadline, "instantaneous_ops_per_sec stayed 0"
                writer.write(PING * 200)
                await asyncio.wait_for(reader.readexactly(len(b"+PONG\r\n") * 200), 10)
                ops = int((await _info_stats(reader, writer))["instantaneous_ops_per_sec"])
            fields = await _info_stats(reader, writer)
            assert float(fields["instantaneous_input_kbps"]) > 0
            assert float(fields["instantaneous_output_kbps"]) > 0
            # Idle again (but for these INFO calls, two a second): the rate falls back.
            deadline = time.monotonic() + 10
            while int((await _info_stats(reader, writer))["instantaneous_ops_per_sec"]) > 5:
                assert time.monotonic() < deadline, "instantaneous_ops_per_sec did not fall"
                await asyncio.sleep(0.5)
            writer.close()
        finally:
            await srv.stop()

    uvloop.run(asyncio.wait_for(main(), 60))


def test_default_info_has_redis_7_sections_in_order() -> None:
    """Plain INFO lists what Redis 7's does, errorstats included (between cpu and
    cluster); commandstats and latencystats only with INFO all / everything / by name."""
    async def main() -> None:
        srv = RespServer(LocalBackend())
        await srv.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)

            async def titles(*section: bytes) -> list[str]:
                args = [b"INFO", *section]
                writer.write(b"*%d\r\n" % len(args) +
                             b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
                head = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
                body = await asyncio.wait_for(reader.readexactly(int(head[1:-2]) + 2), 10)
                return [line[2:] for line in body.decode().split("\r\n")
                        if line.startswith("# ")]

            writer.write(b"*1\r\n$7\r\nNOSUCHC\r\n")  # one error, for errorstats
            await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
            assert await titles() == ["Server", "Clients", "Memory", "Persistence", "Stats",
                                      "Replication", "CPU", "Errorstats", "Cluster",
                                      "Keyspace"]
            everything = await titles(b"everything")
            assert {"Errorstats", "Commandstats", "Latencystats"} <= set(everything)
            assert everything.count("Errorstats") == 1
            writer.close()
        finally:
            await srv.stop()

    uvloop.run(asyncio.wait_for(main(), 60))


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, proxied=True).start()
    try:
        yield c
    finally:
        c.stop()


def _slaves(fields: dict[str, str]) -> list[dict[str, str]]:
    out = []
    for i in range(int(fields["connected_slaves"])):
        out.append(dict(kv.split("=", 1) for kv in fields[f"slave{i}"].split(",")))
    return out


def test_replication_section_counts_only_followers_it_hears_from(cluster: Cluster) -> None:
    c = cluster
    lead = c.wait_leader()
    followers = sorted(i for i in c.nodes if i != lead)
    ports = {str(c.nodes[i].port) for i in followers}

    def all_online() -> bool:
        f = c.info(lead, "replication")
        slaves = _slaves(f)
        return (f["role"] == "master" and {s["port"] for s in slaves} == ports
                and all(s["state"] == "online" for s in slaves))

    wait_for(all_online, 10, "both followers online in the leader's INFO replication")
    # Steady while nothing happens: a healthy follower is never shown offline between
    # two check-quorum periods (at 20 ms a poll, 3 s see about ten period boundaries).
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert all_online(), c.info(lead, "replication")
        time.sleep(0.02)
    for i in followers:
        wait_for(lambda i=i: c.info(i, "replication")["master_link_status"] == "up", 10,
                 f"node {i}'s master link up")
        f = c.info(i, "replication")
        assert f["role"] == "slave" and f["master_port"] == str(c.nodes[lead].port)

    # A follower cut off: its link goes down; the leader stops counting it.
    cut = followers[0]
    c.isolate(cut)
    wait_for(lambda: c.info(cut, "replication")["master_link_status"] == "down", 10,
             f"node {cut}'s master link down when cut off")

    def one_left() -> bool:
        f = c.info(lead, "replication")
        return f["connected_slaves"] == "1" and \
            _slaves(f)[0]["port"] == str(c.nodes[followers[1]].port)

    wait_for(one_left, 10, "the leader to count only the follower it hears from")
    c.heal()
    wait_for(all_online, 20, "both followers online again after the heal")
    wait_for(lambda: c.info(cut, "replication")["master_link_status"] == "up", 20,
             f"node {cut}'s master link up again")
