"""Runs one node process: the Raft node plus its client-port server, until a signal."""

from __future__ import annotations

import asyncio
import logging
import signal

from raftredis.config import NodeConfig
from raftredis.replica import ReplicaGroup

log = logging.getLogger("raftredis.app")


async def run_node(cfg: NodeConfig) -> int:
    from raftredis.server.resp_server import RespServer
    from raftredis.server.settings import ServerSettings

    node = ReplicaGroup(cfg)
    await node.start()
    settings = ServerSettings(requirepass=cfg.requirepass, maxclients=cfg.maxclients,
                              timeout=cfg.timeout, enable_debug_command=cfg.enable_debug_command)
    node.attach_settings(settings)
    server = RespServer(node, settings, cfg.host, cfg.port)
    await server.start()
    log.info("node %d serving clients on %s:%d, peers on %s:%d, data in %s (fsync %s)",
             cfg.id, cfg.host, server.port, cfg.peer_host, cfg.peer_port, cfg.data_dir, cfg.fsync)
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
    await stop.wait()
    log.info("node %d shutting down", cfg.id)
    await server.stop()
    await node.stop()
    return exit_code
