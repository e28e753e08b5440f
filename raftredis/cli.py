"""The `raftredis` command: serve one node, run a local cluster, show status, change the
membership (node add|remove|promote)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from raftredis import config as config_mod
from raftredis.admin import AdminError, member_command
from raftredis.miniclient import MiniClientError, call, parse_info

# ---------------------------------------------------------------------- serve
# Settings checked by CONFIG SET's own validation (server.settings) once the node runs;
# checked here first so a bad value is a clear start-up error, not a traceback.
_CLUSTER_FLAGS = ("maxmemory", "maxmemory_policy", "maxmemory_samples",
                  "maxmemory_eviction_tenacity", "lfu_log_factor", "lfu_decay_time")


def _check_cluster_flags(cfg: config_mod.NodeConfig) -> str | None:
    from raftredis.server.settings import ConfigError as SettingError
    from raftredis.server.settings import ServerSettings

    settings = ServerSettings()
    for name in _CLUSTER_FLAGS:
        value = getattr(cfg, name)
        try:
            settings.validate([(name.replace("_", "-").encode(), str(value).encode())])
        except SettingError as exc:
            why = str(exc).split(" - ", 1)[-1]
            return (f"setting {name} (--{name.replace('_', '-')}): {value!r} is not allowed; "
                    f"{why}")
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        cfg = config_mod.load(args)
    except config_mod.ConfigError as exc:
        print(f"raftredis serve: {exc}", file=sys.stderr)
        return 2
    problem = _check_cluster_flags(cfg)
    if problem:
        print(f"raftredis serve: {problem}", file=sys.stderr)
        return 2
    # Data files 0600 and directories 0700: they hold every value, and settings such as
    # requirepass in cluster-config.json.
    os.umask(0o077)
    from raftredis.observability.logs import setup_logging

    setup_logging(cfg.id, cfg.log_level, cfg.log_format)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is a dependency; this only guards odd platforms
        pass
    from raftredis.app import run_node

    try:
        return asyncio.run(run_node(cfg))
    except KeyboardInterrupt:
        return 0


# ---------------------------------------------------------------------- cluster
def _lead_from_node1(host: str, port: int, stopping: threading.Event) -> None:
    """Once the cluster has a leader, ask node 1 (CLUSTER FAILOVER) to take over, so a
    fresh local cluster answers writes on its first port. Bounded; best effort."""
    deadline = time.monotonic() + 20
    attempts = 0
    while not stopping.is_set() and time.monotonic() < deadline and attempts < 3:
        try:
            f = parse_info(call(host, port, "INFO", "raft", timeout=1.0))  # type: ignore[arg-type]
            if f.get("raft_role") == "leader":
                print(f"raftredis cluster: node1 ({host}:{port}) is the leader", flush=True)
                return
            caught_up = f.get("raft_applied_index") == f.get("raft_commit_index")
            if f.get("raft_leader_id", "0") != "0" and caught_up:
                attempts += 1
                call(host, port, "CLUSTER", "FAILOVER", timeout=1.0)
        except (OSError, MiniClientError, TypeError):
            pass  # not up yet
        stopping.wait(0.2)


def _pump(prefix: str, stream, out) -> None:
    for line in iter(stream.readline, b""):
        out.write(f"[{prefix}] {line.decode('utf-8', 'replace')}")
        out.flush()


def cmd_cluster(args: argparse.Namespace) -> int:
    n = args.nodes
    if not 1 <= n <= 9:
        print("raftredis cluster: --nodes must be between 1 and 9", file=sys.stderr)
        return 2
    base = Path(args.data_dir)
    base.mkdir(parents=True, exist_ok=True)
    secret = args.secret or os.environ.get("RAFTREDIS_SECRET", "")
    if not secret:
        # One secret per local cluster directory, made once, readable only by its owner.
        path = base / "cluster.secret"
        if not path.exists():
            path.write_text(secrets.token_hex(16))
            path.chmod(0o600)
        secret = path.read_text().strip()
    peers = ",".join(f"{i}={args.host}:{args.port + 10000 + i - 1}" for i in range(1, n + 1))
    procs: list[tuple[int, subprocess.Popen]] = []
    # The nodes run the very raftredis this command runs (the installed, compiled one),
    # not a source tree that happens to be the working directory: -P drops the cwd.
    root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    for i in range(1, n + 1):
        cmd = [
            sys.executable, "-P", "-m", "raftredis", "serve",
            "--id", str(i), "--host", args.host, "--port", str(args.port + i - 1),
            "--peer-port", str(args.port + 10000 + i - 1), "--peers", peers,
            "--data-dir", str(base / f"node{i}"), "--fsync", args.fsync,
        ]
        if args.snapshot_threshold:
            cmd += ["--snapshot-threshold", str(args.snapshot_threshold)]
        if args.metrics_port:
            cmd += ["--metrics-port", str(args.metrics_port + i - 1)]
        # The secret goes in the environment, readable only by this user (argv is not).
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True,
                                env={**os.environ, "RAFTREDIS_SECRET": secret,
                                     "PYTHONPATH": path})
        procs.append((i, proc))
        threading.Thread(target=_pump, args=(f"node{i}", proc.stdout, sys.stdout),
                         daemon=True).start()
    print(f"raftredis cluster: {n} nodes on {args.host}:{args.port}-{args.port + n - 1}, "
          f"data in {base}; Ctrl-C stops all", flush=True)
    stopping = threading.Event()
    if n > 1:
        threading.Thread(target=_lead_from_node1, args=(args.host, args.port, stopping),
                         daemon=True).start()

    def on_signal(signum, frame) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    reported: set[int] = set()
    while not stopping.is_set():
        for i, proc in procs:
            if proc.poll() is not None and i not in reported:
                reported.add(i)
                print(f"raftredis cluster: node{i} exited with code {proc.returncode}", flush=True)
        if len(reported) == len(procs):
            break
        stopping.wait(0.2)
    for _, proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 10
    for _, proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print("raftredis cluster: stopped", flush=True)
    return 0


# ---------------------------------------------------------------------- status
def _node_row(host: str, port: int, password: str | None) -> dict:
    try:
        info = call(host, port, "INFO", "raft", "memory", "persistence", timeout=1.0,
                    password=password)
    except (OSError, MiniClientError) as exc:
        return {"address": f"{host}:{port}", "healthy": "no", "error": str(exc)}
    if not isinstance(info, bytes | str):
        return {"address": f"{host}:{port}", "healthy": "no", "error": str(info)}
    f = parse_info(info)
    return {
        "id": f.get("raft_node_id", "?"), "address": f"{host}:{port}",
        "role": f.get("raft_role", "?"), "term": f.get("raft_term", "?"),
        "leader": f.get("raft_leader_id", "?"), "commit": f.get("raft_commit_index", "?"),
        "applied": f.get("raft_applied_index", "?"),
        "lag": str(max(0, int(f.get("raft_commit_index", 0)) - int(f.get("raft_applied_index", 0)))),
        "fsync_ms": f.get("raft_last_fsync_ms", "-"),
        "fsync_p99_ms": f.get("raft_fsync_p99_ms", "-"),
        "stall_ms": f.get("raft_loop_max_stall_ms", "-"),
        "memory": f.get("used_memory_human", "-"),
        "used_memory": f.get("used_memory", "-"),
        "healthy": "yes" if f.get("raft_leader_id", "0") != "0" else "no leader",
        "peers": f,
    }


def _status_rows(args: argparse.Namespace) -> tuple[list[dict], str, str]:
    ports = [int(p) for p in args.ports.split(",")] if args.ports else [args.port + i for i in range(args.nodes)]
    rows = [_node_row(args.host, p, args.password) for p in ports]
    # Membership as the leader (else any node) sees it: voter, learner or not a member.
    view = next((r for r in rows if r.get("role") == "leader"), None) or \
        next((r for r in rows if "peers" in r), None)
    voters = learners = ""
    if view is not None:
        voters = view["peers"].get("raft_voters", "")
        learners = view["peers"].get("raft_learners", "")
        for r in rows:
            nid = r.get("id", "?")
            r["member"] = ("voter" if nid in voters.split(",") else
                           "learner" if nid in learners.split(",") else "none")
    return rows, voters, learners


def _status_json(rows: list[dict], voters: str, learners: str) -> str:
    import json

    def peers_of(r: dict) -> dict:
        out = {}
        for key, value in r.get("peers", {}).items():
            if key.startswith("raft_peer") and key[len("raft_peer"):].isdigit():
                fields = dict(kv.split("=", 1) for kv in value.split(",") if "=" in kv)
                out[key[len("raft_peer"):]] = {
                    k: int(v) if v.isdigit() and k != "addr" else v for k, v in fields.items()}
        return out

    nodes = []
    for r in rows:
        node = {k: v for k, v in r.items() if k != "peers"}
        for key in ("id", "term", "leader", "commit", "applied", "lag", "stall_ms",
                    "used_memory"):
            if isinstance(node.get(key), str) and node[key].isdigit():
                node[key] = int(node[key])
        for key in ("fsync_ms", "fsync_p99_ms"):
            with contextlib.suppress(KeyError, TypeError, ValueError):
                node[key] = float(node[key])
        if r.get("role") == "leader":
            node["followers"] = peers_of(r)
        nodes.append(node)
    split = (lambda s: [int(x) for x in s.split(",") if x])  # noqa: E731
    leader = next((n["id"] for n in nodes if n.get("role") == "leader"), None)
    return json.dumps({"leader": leader, "voters": split(voters), "learners": split(learners),
                       "nodes": nodes}, indent=2)


def _status_table(rows: list[dict], voters: str, learners: str) -> str:
    cols = ["id", "address", "role", "member", "term", "leader", "commit", "applied", "lag",
            "fsync_p99_ms", "stall_ms", "memory", "healthy"]
    widths = {c: max(len(c), *(len(str(r.get(c, "-"))) for r in rows)) for c in cols}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in cols)]
    for r in rows:
        lines.append("  ".join(str(r.get(c, "-")).ljust(widths[c]) for c in cols))
        if "error" in r:
            lines.append(f"    ({r['error']})")
    if any("peers" in r for r in rows):
        lines.append(f"voters: {voters or '-'}  learners: {learners or '-'}")
    # The leader's view of each follower's replication lag.
    for r in rows:
        if r.get("role") == "leader":
            for key, value in sorted(r["peers"].items()):
                if key.startswith("raft_peer") and key[len("raft_peer"):].isdigit():
                    lines.append(f"leader sees {key[len('raft_'):]}: {value}")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    """A table (or --json) of every node; --watch N redraws it every N seconds like top."""
    while True:
        try:
            rows, voters, learners = _status_rows(args)
        except KeyboardInterrupt:
            return 0
        text = _status_json(rows, voters, learners) if args.json else \
            _status_table(rows, voters, learners)
        if args.watch:
            # Clear the screen and home the cursor, then draw (in one print below).
            text = ("\x1b[H\x1b[2J" + time.strftime("%H:%M:%S ") +
                    f"raftredis status (every {args.watch:g} s; Ctrl-C quits)\n" + text)
        try:
            print(text, flush=True)
        except BrokenPipeError:  # piped into head: the reader has seen enough
            return 0
        if not args.watch:
            return 0 if any(r.get("role") == "leader" for r in rows) else 1
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return 0


# ---------------------------------------------------------------------- node
def cmd_node(args: argparse.Namespace) -> int:
    """node add|remove|promote: one membership change, sent to any member (--cluster);
    followers redirect, busy leaders are retried. Prints the reply once committed."""
    if args.action == "add":
        if not args.peer or not args.client:
            print("raftredis node add: --peer and --client are required", file=sys.stderr)
            return 2
        verb = "ADDLEARNER" if args.learner else "JOIN"
        cmd: tuple = ("CLUSTER", verb, args.id, args.peer, args.client)
    elif args.action == "remove":
        cmd = ("CLUSTER", "FORGET", args.id)
    else:
        cmd = ("CLUSTER", "PROMOTE", args.id)
    try:
        reply = member_command(args.cluster, *cmd, password=args.password,
                               deadline_s=args.timeout)
    except AdminError as exc:
        print(f"raftredis node {args.action}: {exc}", file=sys.stderr)
        return 1
    if isinstance(reply, list):
        for row in reply:
            nid, role, peer, client = (x.decode() if isinstance(x, bytes) else x for x in row)
            print(f"{nid} {role} peer={peer} client={client}")
    else:
        print(reply.decode() if isinstance(reply, bytes) else reply)
    return 0


# ---------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raftredis", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one node (a one-node group when no peers are given)")
    config_mod.add_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    cl = sub.add_parser("cluster", help="run a local N-node cluster, one process per node")
    cl.add_argument("--nodes", type=int, default=3, metavar="N",
                    help="how many nodes (voters) to run, 1-9 (default: %(default)s)")
    cl.add_argument("--host", default="127.0.0.1",
                    help="address every node's client and peer ports bind to "
                         "(default: %(default)s)")
    cl.add_argument("--port", type=int, default=7000, metavar="N",
                    help="client port of node 1; node i: port+i-1, its peer port "
                         "port+10000+i-1 (default: %(default)s)")
    cl.add_argument("--data-dir", default="./raftredis-data", metavar="DIR",
                    help="directory holding one data directory per node and the cluster "
                         "secret (default: %(default)s)")
    cl.add_argument("--secret", default="",
                    help="cluster secret, >= 16 bytes (default: RAFTREDIS_SECRET, else one "
                         "made once per data dir)")
    cl.add_argument("--fsync", default="always", choices=config_mod.FSYNC_POLICIES,
                    help="when each node fsyncs its log, as serve --fsync "
                         "(default: %(default)s)")
    cl.add_argument("--snapshot-threshold", type=int, default=0, metavar="N",
                    help="log entries after the last snapshot that trigger a new one "
                         "(default: 0, the nodes' own default)")
    cl.add_argument("--metrics-port", type=int, default=0, metavar="N",
                    help="HTTP port of node 1's /metrics, /healthz and /readyz; node i: "
                         "N+i-1 (default: 0, off)")
    cl.set_defaults(func=cmd_cluster)

    st = sub.add_parser("status", help="print a table of the nodes of a cluster")
    st.add_argument("--host", default="127.0.0.1",
                    help="host of the nodes' client ports (default: %(default)s)")
    st.add_argument("--port", type=int, default=7000, metavar="N",
                    help="client port of node 1; node i: port+i-1 (default: %(default)s)")
    st.add_argument("--nodes", type=int, default=3, metavar="N",
                    help="how many nodes to ask, from --port on (default: %(default)s)")
    st.add_argument("--ports", default="",
                    help="comma-separated client ports, overriding --port/--nodes "
                         "(default: none)")
    st.add_argument("--password", default=None,
                    help="password to AUTH with (default: none)")
    st.add_argument("--json", action="store_true",
                    help="print one JSON document (leader, voters, learners, nodes) for scripts")
    st.add_argument("--watch", type=float, default=0.0, metavar="SECONDS",
                    help="redraw every SECONDS seconds, like top (default: 0, print once)")
    st.set_defaults(func=cmd_status)

    nd = sub.add_parser("node", help="change the membership: add, remove or promote a node")
    nd.add_argument("action", choices=("add", "remove", "promote"),
                    help="add a node (a learner, promoted once caught up), remove a member, "
                         "or promote a learner to voter")
    nd.add_argument("id", type=int, help="the node's Raft id (an integer >= 1)")
    nd.add_argument("--cluster", default="127.0.0.1:7000", metavar="HOST:PORT",
                    help="client address of any member (default: %(default)s)")
    nd.add_argument("--peer", default="", metavar="HOST:PORT",
                    help="add: the new node's peer address (default: none; required by add)")
    nd.add_argument("--client", default="", metavar="HOST:PORT",
                    help="add: the new node's client address (default: none; required by "
                         "add)")
    nd.add_argument("--learner", action="store_true",
                    help="add: keep it a learner (default: promoted once caught up)")
    nd.add_argument("--password", default=None,
                    help="password to AUTH with (default: none)")
    nd.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                    help="how long to keep retrying while the cluster is busy or has no "
                         "leader, in seconds (default: %(default)s)")
    nd.set_defaults(func=cmd_node)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
