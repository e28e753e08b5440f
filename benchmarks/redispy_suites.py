"""redis-py's own test suites against a one-node raftredis and a real redis-server,
side by side (issue 18): pass / fail / skip counts per suite and protocol.

    python3 -m benchmarks.redispy_suites [--suites test_scripting.py,...] [--nodes 3]
    python3 -m benchmarks.redispy_suites --cluster --suites test_commands.py,test_cluster.py

`--cluster` compares a 3-node raftredis with a real 3-master Redis Cluster (redis-server
--cluster-enabled yes, slots split by `redis-cli --cluster create`), both through
redis-py's RedisCluster (the suites switch to cluster mode on INFO's cluster_enabled:1).

The suites are those of the installed redis-py version, fetched as its source release
(`pip download --no-deps --no-binary :all: redis==<version>`) into a cache directory.
Both servers are started here on free loopback ports and stopped by PID. Takes a minute
or two: not part of the default test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from tests.integration.conftest import free_port, wait_until

DEFAULT_SUITES = "test_scripting.py,test_lock.py,test_function.py"
CACHE = Path(os.environ.get("RAFTREDIS_REDISPY_CACHE", Path(tempfile.gettempdir()) / "redispy-src"))


def redispy_tests() -> Path:
    """The tests/ directory of the installed redis-py's source release."""
    ver = version("redis")
    root = CACHE / f"redis-{ver}"
    if not (root / "tests").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                        ":all:", f"redis=={ver}", "-d", str(CACHE)], check=True,
                       stdout=subprocess.DEVNULL)
        with tarfile.open(CACHE / f"redis-{ver}.tar.gz") as tar:
            tar.extractall(CACHE, filter="data")
    return root / "tests"


def _pings(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_cluster(workdir: Path, n: int):
    """n raftredis nodes; the suites talk to the leader (RedisCluster finds the rest)."""
    from benchmarks.servers import RaftCluster, Registry

    registry = Registry()
    cluster = RaftCluster(registry, "raftredis", workdir, n, extra=["--log-level", "warning"])
    cluster.start()
    return registry, cluster.leader_port()


def start_redis_cluster(registry, workdir: Path, n: int) -> int:
    """n redis-server masters in cluster mode, slots split evenly by redis-cli; the port
    of the first, once every node says cluster_state:ok and knows all n."""
    from benchmarks.servers import Proc, free_ports

    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    both = free_ports(2 * n)
    # The bus port is given: the default (port + 10000) may be taken or above 65535.
    ports, bus_ports = both[:n], both[n:]
    for port, bus in zip(ports, bus_ports, strict=True):
        d = workdir / f"redis-{port}"
        d.mkdir()
        argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                "--cluster-port", str(bus),
                "--cluster-config-file", str(d / "nodes.conf"), "--save", "",
                "--appendonly", "no", "--dir", str(d), "--logfile", ""]
        registry.add(Proc(f"redis-{port}", argv, workdir / f"redis-{port}.log")).start()
    for port in ports:
        wait_until(lambda p=port: _pings(p), 30, f"redis-server :{port} to answer PING")
    subprocess.run([shutil.which("redis-cli") or "/usr/bin/redis-cli", "--cluster", "create",
                    *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
                    "--cluster-yes"], check=True, stdout=subprocess.DEVNULL, timeout=120)

    def ready(port: int) -> bool:
        info = _call(port, "CLUSTER", "INFO")
        return "cluster_state:ok" in info and f"cluster_known_nodes:{n}" in info

    for port in ports:
        wait_until(lambda p=port: ready(p), 60, f"redis-server :{port} cluster_state:ok")
    return ports[0]


def _call(port: int, *args: str) -> str:
    """One command's reply as text (for INFO-like bulk replies)."""
    from benchmarks.resp_client import RespClient

    with RespClient("127.0.0.1", port, timeout=5.0) as c:
        reply = c.call(*args)
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def start(kind: str, workdir: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind == "redis":
        argv = [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
                "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    else:
        argv = [sys.executable, "-m", "raftredis", "serve", "--id", "1", "--host", "127.0.0.1",
                "--port", str(port), "--data-dir", str(workdir / "raftredis")]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_until(lambda: _pings(port), 30, f"{kind} to answer PING")
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|error|errors|xfailed|xpassed|deselected)")


def run_suite(tests: Path, suite: str, port: int, protocol: int, kind: str,
              nodes: int = 1, report: Path | None = None) -> dict[str, int]:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
            "--timeout", "60", str(tests / suite),
            f"--redis-url=redis://127.0.0.1:{port}", f"--protocol={protocol}"]
    if kind != "redis":
        # INFO says cluster_enabled:1, so redis-py's suite runs in cluster mode
        # (RedisCluster) and waits for this many nodes (CLUSTER NODES lists them all).
        argv.append(f"--redis-cluster-nodes={nodes}")
        # As redis-py's own cluster CI selects: the onlynoncluster tests assume one
        # standalone server (cross-slot MGET, SELECT, ...), redismod needs modules.
        argv += ["-m", "not onlynoncluster and not redismod"]
    out = subprocess.run(argv, cwd=tests.parent, capture_output=True, text=True,
                         timeout=1800).stdout
    if report is not None:
        report.write_text(out)
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0, "deselected": 0}
    tail = out.strip().splitlines()[-1] if out.strip() else ""
    for n, what in _SUMMARY.findall(tail):
        key = {"error": "errors", "xfailed": "skipped", "xpassed": "passed"}.get(what, what)
        counts[key] += int(n)
    counts["failures"] = [line.split(" ", 1)[1].split(" - ")[0]  # type: ignore[assignment]
                          for line in out.splitlines() if line.startswith(("FAILED", "ERROR"))]
    if not any(counts[k] for k in ("passed", "failed", "skipped", "errors")):
        counts["failures"] = [f"(no pytest summary; output ends: {out[-300:]!r})"]  # type: ignore[assignment]
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suites", default=DEFAULT_SUITES)
    ap.add_argument("--protocols", default="2,3")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--nodes", type=int, default=1,
                    help="raftredis nodes (>1: a real cluster, the suites talk to its leader)")
    ap.add_argument("--cluster", action="store_true",
                    help="raftredis --nodes (default 3) against a real Redis Cluster of as "
                         "many masters, both through RedisCluster")
    ap.add_argument("--reports", help="keep each run's full pytest output in this directory")
    args = ap.parse_args()
    if args.cluster and args.nodes == 1:
        args.nodes = 3
    reports = Path(args.reports) if args.reports else None
    if reports is not None:
        reports.mkdir(parents=True, exist_ok=True)
    kinds = ("raftredis", "redis-cluster" if args.cluster else "redis")
    tests = redispy_tests()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as work:
        for kind in kinds:
            d = Path(work) / kind
            d.mkdir()
            if kind == "redis-cluster":
                from benchmarks.servers import Registry

                registry = Registry()
                halt = registry.stop_all
                try:
                    port = start_redis_cluster(registry, d, args.nodes)
                except BaseException:
                    halt()
                    raise
            elif kind == "raftredis" and args.nodes > 1:
                registry, port = start_cluster(d, args.nodes)
                halt = registry.stop_all
            else:
                proc, port = start(kind, d)
                halt = lambda p=proc: stop(p)  # noqa: E731
            try:
                for suite in args.suites.split(","):
                    for protocol in map(int, args.protocols.split(",")):
                        started = time.monotonic()
                        report = (reports / f"{kind}-{suite.removesuffix('.py')}-resp{protocol}.txt"
                                  if reports is not None else None)
                        counts = run_suite(tests, suite, port, protocol, kind, args.nodes,
                                           report)
                        counts["seconds"] = round(time.monotonic() - started, 1)
                        results[f"{kind} {suite} RESP{protocol}"] = counts
            finally:
                halt()
    print(f"redis-py {version('redis')} suites, passed/failed/skipped/errors")
    print(f"{'suite':<24}{'RESP':>5}  {'raftredis':>16}  {kinds[1]:>16}")
    for suite in args.suites.split(","):
        for protocol in map(int, args.protocols.split(",")):
            cells = []
            for kind in kinds:
                c = results[f"{kind} {suite} RESP{protocol}"]
                cells.append(f"{c['passed']}/{c['failed']}/{c['skipped']}/{c['errors']}")
            print(f"{suite:<24}{protocol:>5}  {cells[0]:>16}  {cells[1]:>16}")
    for key, c in results.items():
        if c["failures"]:
            print(f"\n{key} failures:")
            for name in c["failures"]:
                print(f"  {name}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
