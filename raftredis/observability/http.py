"""The metrics port: GET /metrics (Prometheus text format), /healthz, /readyz.

It runs on prometheus-client's threading WSGI server, in threads of its own rather than
as an asyncio handler on the node's loop: a scrape renders every family (a few ms of
CPU that would otherwise sit between heartbeats), and a node whose loop is stalled is
exactly the one whose metrics and failing /readyz an operator needs to see. The
threads read only the loop's latest frozen sample and the thread-safe histograms.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from raftredis.observability.metrics import NodeMetrics
from raftredis.observability.sample import readiness

log = logging.getLogger("raftredis.metrics")

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's name)
        pass  # a scrape every few seconds is not news


def _text(start: StartResponse, status: str, body: str,
          ctype: str = "text/plain; charset=utf-8") -> Iterable[bytes]:
    data = body.encode()
    start(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
    return [data]


def make_app(metrics: NodeMetrics) -> Callable[[dict, StartResponse], Iterable[bytes]]:
    prom = make_wsgi_app(metrics.registry)

    def app(environ: dict, start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            return _text(start, "200 OK", "ok\n")
        if path == "/readyz":
            r = readiness(metrics.sample)
            s = metrics.sample
            if "json" in environ.get("QUERY_STRING", ""):
                body = json.dumps({"ready": r.ready, "reasons": list(r.reasons),
                                   "node": metrics.node_id,
                                   "role": s.role.name.lower() if s else None,
                                   "term": s.term if s else None,
                                   "leader": s.leader if s else None}) + "\n"
                return _text(start, "200 OK" if r.ready else "503 Service Unavailable", body,
                             "application/json")
            if r.ready:
                return _text(start, "200 OK", "ready\n")
            return _text(start, "503 Service Unavailable",
                         "not ready: " + "; ".join(r.reasons) + "\n")
        if path in ("/metrics", "/"):
            return prom(environ, start)
        return _text(start, "404 Not Found", "try /metrics, /healthz or /readyz\n")

    return app


class _Threading6(ThreadingWSGIServer):
    address_family = socket.AF_INET6  # --metrics-host :: or another IPv6 address


class MetricsServer:
    """The HTTP server on its own daemon thread; stop() shuts it down."""

    def __init__(self, metrics: NodeMetrics, host: str, port: int) -> None:
        server_class = _Threading6 if ":" in host else ThreadingWSGIServer
        self._httpd = make_server(host, port, make_app(metrics), server_class,
                                  handler_class=_QuietHandler)
        self.port = self._httpd.server_port
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        name="raftredis-metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
