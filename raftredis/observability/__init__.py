"""What an operator sees of a node without reading code: Prometheus metrics, the
/healthz and /readyz checks (one HTTP port, --metrics-port) and the log format.

The event loop publishes a NodeSample every SAMPLE_PERIOD_S (sample.py); the HTTP
server runs on its own thread and reads only that sample and the thread-safe
histograms, so a scrape never runs on (or waits for) the loop (metrics.py, http.py).
"""

from raftredis.observability.metrics import NodeMetrics
from raftredis.observability.sample import NodeSample, Readiness, readiness

__all__ = ["NodeMetrics", "NodeSample", "Readiness", "readiness"]
