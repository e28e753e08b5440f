"""redis-py's own test suites against a one-node raftredis and a real redis-server,
side by side (issue 18): pass / fail / skip counts per suite and protocol.

    python3 -m benchmarks.redispy_suites [--suites test_scripting.py,...] [--nodes 3]

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


_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|error|errors|xfailed|xpassed)")


def run_suite(tests: Path, suite: str, port: int, protocol: int, kind: str,
              nodes: int = 1) -> dict[str, int]:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
            "--timeout", "60", str(tests / suite),
            f"--redis-url=redis://127.0.0.1:{port}", f"--protocol={protocol}"]
    if kind.startswith("raftredis"):
        # INFO says cluster_enabled:1, so redis-py's suite runs in cluster mode
        # (RedisCluster) and waits for this many nodes (CLUSTER NODES lists them all).
        argv.append(f"--redis-cluster-nodes={nodes}")
    out = subprocess.run(argv, cwd=tests.parent, capture_output=True, text=True,
                         timeout=900).stdout
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
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
    args = ap.parse_args()
    tests = redispy_tests()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as work:
        for kind in ("raftredis", "redis"):
            d = Path(work) / kind
            d.mkdir()
            if kind == "raftredis" and args.nodes > 1:
                registry, port = start_cluster(d, args.nodes)
                halt = registry.stop_all
            else:
                proc, port = start(kind, d)
                halt = lambda p=proc: stop(p)  # noqa: E731
            try:
                for suite in args.suites.split(","):
                    for protocol in map(int, args.protocols.split(",")):
                        started = time.monotonic()
                        counts = run_suite(tests, suite, port, protocol, kind, args.nodes)
                        counts["seconds"] = round(time.monotonic() - started, 1)
                        results[f"{kind} {suite} RESP{protocol}"] = counts
            finally:
                halt()
    print(f"redis-py {version('redis')} suites, passed/failed/skipped/errors")
    print(f"{'suite':<24}{'RESP':>5}  {'raftredis':>16}  {'redis-server':>16}")
    for suite in args.suites.split(","):
        for protocol in map(int, args.protocols.split(",")):
            cells = []
            for kind in ("raftredis", "redis"):
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
