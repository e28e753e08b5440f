"""TLS on the client port (redis-cli --tls, redis-py ssl=True in RESP2 and RESP3, client
certificates under tls-auth-clients yes/no, plain bytes and silent handshakes on the
TLS port) and on the peer link (tls-cluster yes: a cluster elects and replicates over
mutual TLS; a node whose certificate the cluster CA did not sign stays off the link).
Real node processes; the certificates are made by the test (tests/tlscerts.py)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.integration.conftest import REPO, free_port
from tests.integration.harness import Cluster, free_ports, wait_for
from tests.tlscerts import TlsFiles, make_tls_files, serve_flags


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA of its own and a certificate it signs: valid, but not the cluster's."""
    return make_tls_files(tmp_path_factory.mktemp("rogue"), "rogue")


def tls_client(port: int, files: TlsFiles, cert: TlsFiles | None = None, protocol: int = 2,
               **kw) -> redis.Redis:
    """redis-py over TLS, trusting `files`' CA, presenting `cert`'s certificate if given."""
    extra = {"ssl_certfile": str(cert.node.cert), "ssl_keyfile": str(cert.node.key)} \
        if cert is not None else {}
    kw.setdefault("socket_timeout", 5)
    kw.setdefault("retry", Retry(NoBackoff(), 0))  # a refusal is what some tests look for
    return redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(files.ca),
                       protocol=protocol, **extra, **kw)


class TlsNode:
    """One node process with a TLS port (and a plain one unless port is 0)."""

    def __init__(self, base: Path, files: TlsFiles, *flags: str, port: int | None = None):
        self.port = free_port() if port is None else port
        self.tls_port = free_port()
        peer = free_port()
        self.log = base / f"node-{self.tls_port}.log"
        argv = [sys.executable, "-m", "raftredis", "serve", "--port", str(self.port),
                "--tls-port", str(self.tls_port), "--peer-port", str(peer),
                "--data-dir", str(base / f"data-{self.tls_port}"), *serve_flags(files), *flags]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def wait_tls_ready(node: TlsNode, files: TlsFiles, cert: TlsFiles | None) -> None:
    def ready() -> bool:
        assert node.alive(), node.log.read_text()
        try:
            with tls_client(node.tls_port, files, cert, socket_timeout=1) as r:
                return r.set("ready", "1") is True
        except redis.RedisError:
            return False

    wait_for(ready, 30, f"the TLS port {node.tls_port} to take writes")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, certs: TlsFiles) -> Iterator[TlsNode]:
    """Plain and TLS ports, tls-auth-clients yes (the default)."""
    n = TlsNode(tmp_path_factory.mktemp("tlsnode"), certs)
    try:
        wait_tls_ready(n, certs, certs)
        yield n
    finally:
        n.stop()


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli not installed")
def test_redis_cli_over_tls(node: TlsNode, certs: TlsFiles) -> None:
    tls = ["redis-cli", "--tls", "--cacert", str(certs.ca), "--cert", str(certs.node.cert),
           "--key", str(certs.node.key), "-p", str(node.tls_port)]

    def cli(*args: str) -> str:
        done = subprocess.run([*tls, *args], capture_output=True, timeout=20, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert cli("SET", "cli-key", "over tls") == "OK"
    assert cli("GET", "cli-key") == "over tls"
    # One keyspace behind both ports.
    assert redis.Redis(port=node.port).get("cli-key") == b"over tls"


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_ssl(node: TlsNode, certs: TlsFiles, protocol: int) -> None:
    with tls_client(node.tls_port, certs, certs, protocol=protocol) as r:
        assert r.set(f"py{protocol}", "v") is True
        assert r.get(f"py{protocol}") == b"v"
        assert r.hset(f"h{protocol}", mapping={"a": "1"}) == 1
        assert r.hgetall(f"h{protocol}") == {b"a": b"1"}
        cfg = r.config_get("tls-*")
        assert cfg["tls-port"] == str(node.tls_port)
        assert cfg["tls-auth-clients"] == "yes" and cfg["tls-cluster"] == "no"
        assert cfg["tls-ca-cert-file"] == str(certs.ca)
        assert r.config_get("port")["port"] == str(node.port)
        with pytest.raises(redis.ResponseError, match="restart it"):
            r.config_set("tls-port", "1")


def test_client_certificate_required(node: TlsNode, certs: TlsFiles, rogue: TlsFiles) -> None:
    """tls-auth-clients yes: no certificate, or one another CA signed, is refused."""
    for cert in (None, rogue):
        with pytest.raises(redis.ConnectionError), tls_client(node.tls_port, certs, cert) as r:
            r.ping()
    with tls_client(node.tls_port, certs, certs) as r:
        assert r.ping() is True


def test_plain_bytes_on_the_tls_port_are_closed(node: TlsNode, certs: TlsFiles) -> None:
    with socket.create_connection(("127.0.0.1", node.tls_port), timeout=10) as s:
        s.sendall(b"PING\r\n*1\r\n$4\r\nPING\r\n")
        assert s.recv(100) == b""  # closed, no plain-text answer
    assert node.alive()
    with tls_client(node.tls_port, certs, certs) as r:
        assert r.ping() is True
    assert redis.Redis(port=node.port).ping() is True


def test_tls_only_node_without_client_certificates(tmp_path: Path, certs: TlsFiles) -> None:
    """--port 0 (no plain port) and tls-auth-clients no: a client without a certificate
    is served. With maxclients 3, connections that never finish their TLS handshake
    count as clients until the handshake deadline closes them."""
    n = TlsNode(tmp_path, certs, "--tls-auth-clients", "no", "--maxclients", "3",
                "--tls-handshake-timeout-ms", "1500", port=0)
    try:
        wait_tls_ready(n, certs, None)
        with tls_client(n.tls_port, certs) as r:
            assert r.set("k", "v") is True and r.get("k") == b"v"
            assert r.config_get("port")["port"] == "0"
            assert r.config_get("tls-auth-clients")["tls-auth-clients"] == "no"
        silent = [socket.create_connection(("127.0.0.1", n.tls_port), timeout=10)
                  for _ in range(3)]
        try:
            # The three slots are held by handshakes: a fourth connection is refused.
            def refused() -> bool:
                try:
                    with tls_client(n.tls_port, certs, socket_timeout=2) as r:
                        r.ping()
                    return False
                except redis.ConnectionError:
                    return True

            wait_for(refused, 10, "a client over maxclients to be refused")
            # The deadline closes the silent ones, and their slots come back.
            for s in silent:
                s.settimeout(10)
                assert s.recv(10) == b""
        finally:
            for s in silent:
                s.close()

        def served() -> bool:
            with tls_client(n.tls_port, certs, socket_timeout=2) as r:
                return r.ping() is True

        wait_for(served, 10, "a client to be served once the silent handshakes are closed")
    finally:
        n.stop()


def _refused(sock: ssl.SSLSocket) -> bool:
    """The server ends a TLS connection (TLS 1.3 says why only after the handshake)."""
    try:
        return sock.recv(10) == b""
    except (ssl.SSLError, ConnectionError):
        return True


def _readonly_get(port: int, certs: TlsFiles, key: str) -> bytes | None:
    with tls_client(port, certs, certs) as r:
        r.execute_command("READONLY")
        return r.get(key)


def test_cluster_over_mutual_tls(tmp_path: Path, certs: TlsFiles, rogue: TlsFiles) -> None:
    """tls-cluster yes: a node with a certificate the cluster CA did not sign cannot join
    the link (the two others elect and commit without it); restarted with a good one it
    catches up. Over TLS a follower redirects to the leader's TLS port, over plain to its
    plain port; after a failover the write is still there."""
    c = Cluster(tmp_path, 3, extra=["--tls-cluster", "yes", "--fsync", "no"])
    tls_ports = dict(zip(c.nodes, free_ports(3), strict=True))
    base = {i: [*n.extra, "--tls-port", str(tls_ports[i])] for i, n in c.nodes.items()}
    for i, n in c.nodes.items():
        n.extra = base[i] + serve_flags(rogue if i == 3 else certs)
    try:
        c.start()
        lead = c.wait_leader(timeout=30)
        assert lead != 3
        with tls_client(tls_ports[lead], certs, certs) as r:
            assert r.set("over", "mutual tls") is True
        index = max(c.commit_index(i) for i in (1, 2))
        for i in (1, 2):
            c.wait_applied(i, index)
        # Node 3 is up and dialling, and heard nothing: its TLS handshakes with 1 and 2
        # fail both ways.
        wait_for(lambda: "peer TLS handshake from" in
                 c.nodes[lead].log_path.read_text(errors="replace"), 20,
                 "the leader to log that it refused node 3's certificate")
        f3 = wait_for(lambda: c.info(3), 20, "node 3 to answer INFO")
        assert f3["raft_applied_index"] == "0" and f3["raft_leader_id"] == "0", f3

        c.kill(3)
        c.nodes[3].extra = base[3] + serve_flags(certs)
        c.start_node(3)
        wait_for(lambda: _readonly_get(tls_ports[3], certs, "over") == b"mutual tls", 30,
                 "node 3 to catch up once its certificate is the cluster's")

        follower = next(i for i in c.nodes if i != lead)
        with tls_client(tls_ports[follower], certs, certs) as r, \
                pytest.raises(redis.ResponseError) as moved:
            r.get("over")
        assert str(moved.value).endswith(f"127.0.0.1:{tls_ports[lead]}"), moved.value
        with tls_client(tls_ports[follower], certs, certs) as r:
            slots = r.execute_command("CLUSTER", "SLOTS")
            assert slots[0][2][1] == tls_ports[lead]
            assert sorted(n[1] for n in slots[0][2:]) == sorted(tls_ports.values())
            assert f"127.0.0.1:{tls_ports[lead]}@".encode() in r.execute_command("CLUSTER", "NODES")
        # Cluster clients over TLS follow the TLS addresses by themselves.
        if shutil.which("redis-cli") is not None:
            done = subprocess.run(
                ["redis-cli", "--tls", "--cacert", str(certs.ca), "--cert",
                 str(certs.node.cert), "--key", str(certs.node.key), "-c",
                 "-p", str(tls_ports[follower]), "GET", "over"],
                capture_output=True, text=True, timeout=20)
            assert done.stdout.strip() == "mutual tls", (done.stdout, done.stderr)
        rc = redis.RedisCluster(host="127.0.0.1", port=tls_ports[follower], ssl=True,
                                ssl_ca_certs=str(certs.ca), ssl_certfile=str(certs.node.cert),
                                ssl_keyfile=str(certs.node.key))
        try:
            assert rc.get("over") == b"mutual tls"
            assert rc.set("via", "cluster client") is True
        finally:
            rc.close()
        with redis.Redis(port=c.nodes[follower].port, protocol=3) as r:
            shards = r.execute_command("CLUSTER", "SHARDS")
            ports = {(n[b"port"], n[b"tls-port"]) for n in shards[0][b"nodes"]}
            assert ports == {(c.nodes[i].port, tls_ports[i]) for i in c.nodes}, shards
        with redis.Redis(port=c.nodes[follower].port) as r, \
                pytest.raises(redis.ResponseError) as moved:
            r.get("over")
        assert str(moved.value).endswith(f"127.0.0.1:{c.nodes[lead].port}"), moved.value

        c.kill(lead)
        new = c.wait_leader(timeout=30, exclude=lead)
        with tls_client(tls_ports[new], certs, certs) as r:
            assert r.get("over") == b"mutual tls"
            assert r.set("after", "failover") is True
        # The peer port speaks TLS and wants the cluster's certificate.
        ctx = ssl.create_default_context(cafile=str(certs.ca))
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", c.nodes[new].peer_port), timeout=10) as s, \
                ctx.wrap_socket(s) as tls_sock:
            assert tls_sock.version() in ("TLSv1.2", "TLSv1.3")
            assert _refused(tls_sock)  # no certificate of ours
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.stop()
