"""A pytest plugin for running redis-py's own tests against one raftredis node as a
standalone server: raftredis says cluster_enabled:1 in INFO (it is a Redis Cluster of
one shard), which makes redis-py's conftest switch its clients to cluster mode. Loaded
with `-p redispy_standalone` (tools/ on PYTHONPATH) next to `--redis-cluster-nodes=1`."""

from __future__ import annotations

import sys

import pytest


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    for name, module in list(sys.modules.items()):
        info = getattr(module, "REDIS_INFO", None)
        if name.endswith("conftest") and isinstance(info, dict):
            info["cluster_enabled"] = False
            info["tls_cert_subdir"] = "standalone"
    cfg_info = getattr(session.config, "REDIS_INFO", None)
    if isinstance(cfg_info, dict):
        cfg_info["cluster_enabled"] = False
