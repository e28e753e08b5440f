"""Runs one node process: the Raft node plus its client-port server, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from raftredis.config import NodeConfig
from raftredis.replica import ReplicaGroup
from raftredis.startup_gc import freeze_startup_heap

log = logging.getLogger("raftredis.app")


async def join_cluster(node: ReplicaGroup, cfg: NodeConfig) -> None:
    """--join: ask the cluster (any member's client port) to add us as a learner to be
    promoted once caught up; the reply lists the members' peer addresses, so we can
    answer the leader, which starts replicating to us at once."""
    from raftredis.admin import AdminError, member_command

    peer = f"{cfg.peer_host}:{cfg.peer_port}"
    client = f"{cfg.announce_host}:{cfg.announce_port}"
    log.info("node %d joining the cluster at %s (peer %s, client %s)", cfg.id, cfg.join,
             peer, client)
    while True:
        try:
            rows = await asyncio.to_thread(
                member_command, cfg.join, "CLUSTER", "JOIN", cfg.id, peer, client,
                password=cfg.requirepass or None, deadline_s=60.0,
                log=lambda m: log.info("join: %s", m))
            break
        except AdminError as exc:
            log.warning("node %d could not join yet: %s", cfg.id, exc)
            await asyncio.sleep(1.0)
    for row in rows if isinstance(rows, list) else []:
        try:
            nid, peer_addr = int(row[0]), bytes(row[2]).decode()
        except (TypeError, ValueError, IndexError):
            continue
        node.membership.learn_peer(nid, peer_addr)
    log.info("node %d joined as a learner; catching up", cfg.id)


def start_metrics(node: ReplicaGroup, server, cfg: NodeConfig):
    """Histograms and samples always (the slow-fsync warning comes from them); the HTTP
    endpoint only with --metrics-port. A port that cannot be bound is a startup error:
    an operator who asked for probes must not get a node that silently has none."""
    from raftredis.observability.http import MetricsServer
    from raftredis.observability.metrics import NodeMetrics

    metrics = NodeMetrics(cfg.id)
    metrics.attach(node, server.state)
    if not cfg.metrics_port:
        return metrics, None
    http = MetricsServer(metrics, cfg.metrics_host, cfg.metrics_port).start()
    log.info("node %d metrics on http://%s:%d/metrics (health: /healthz, /readyz)", cfg.id,
             cfg.metrics_host, http.port)
    return metrics, http


def client_tls(cfg: NodeConfig):
    """The TLS port's accept settings (None without --tls-port); TlsError if a file is
    unusable. The peer link's contexts are checked here too, so a bad file stops the node
    before it opens any port."""
    from raftredis.server.tls_listener import TlsAccept
    from raftredis.tls import client_port_context, peer_contexts

    files = cfg.tls_files
    if files is None:
        return None
    if cfg.tls_cluster == "yes":
        peer_contexts(files)
    if not cfg.tls_port:
        return None
    return TlsAccept(client_port_context(files, cfg.tls_auth_clients),
                     cfg.tls_handshake_timeout_ms / 1000)


async def run_node(cfg: NodeConfig) -> int:
    from raftredis.server.resp_server import RespServer
    from raftredis.server.settings import ServerSettings
    from raftredis.server.tls_listener import TlsParams, define_params
    from raftredis.tls import TlsError

    if not cfg.port and not cfg.tls_port:
        log.error("setting port (--port): 0 turns the plain client port off, and there is "
                  "no --tls-port: configured to not listen anywhere")
        return 2
    try:
        tls = client_tls(cfg)
    except TlsError as exc:
        log.error("%s", exc)
        return 2
    node = ReplicaGroup(cfg)
    with contextlib.suppress(OSError):  # made by an older version, or by hand
        os.chmod(cfg.data_dir, 0o700)
    await node.start()
    settings = ServerSettings(requirepass=cfg.requirepass, maxclients=cfg.maxclients,
                              timeout=cfg.timeout, enable_debug_command=cfg.enable_debug_command)
    # Before the cluster's settings attach: these are this node's, never the log's.
    define_params(settings, TlsParams(cfg.tls_port, cfg.tls_cert_file, cfg.tls_key_file,
                                      cfg.tls_ca_cert_file, cfg.tls_auth_clients,
                                      cfg.tls_cluster == "yes"))
    node.attach_settings(settings)
    server = RespServer(node, settings, cfg.host, cfg.port or None, tls, cfg.tls_port)
    await server.start()
    try:
        metrics, metrics_server = start_metrics(node, server, cfg)
    except OSError as exc:
        log.error("setting metrics_port (--metrics-port): cannot listen on %s:%d: %s",
                  cfg.metrics_host, cfg.metrics_port, exc)
        await server.stop()
        await node.stop()
        return 2
    frozen, took_ms = freeze_startup_heap()  # before serving: see startup_gc
    log.debug("startup heap frozen: %d objects (the collection before took %.0f ms)",
              frozen, took_ms)
    tls_note = f", TLS clients on port {server.tls_port}" if tls is not None else ""
    log.info("node %d serving clients on %s:%d%s, peers on %s:%d%s, data in %s (fsync %s)",
             cfg.id, cfg.host, server.port, tls_note, cfg.peer_host, cfg.peer_port,
             " over TLS" if cfg.tls_cluster == "yes" else "", cfg.data_dir, cfg.fsync)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    exit_code = 0

    def fatal() -> None:
        nonlocal exit_code
        exit_code = 1
        stop.set()

    node.on_fatal = fatal
    joining = None
    if cfg.join and not node.membership.is_member():
        joining = asyncio.create_task(join_cluster(node, cfg))
    await stop.wait()
    if joining is not None:
        joining.cancel()
    log.info("node %d shutting down", cfg.id)
    if metrics_server is not None:
        metrics_server.stop()
    metrics.stop()
    await server.stop()
    await node.stop()
    return exit_code
