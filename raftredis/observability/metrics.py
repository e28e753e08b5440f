"""Prometheus metrics of one node, in its own CollectorRegistry (no process-wide
singleton: a process may host more than one group).

Two kinds of values:
- gauges and counters that the event loop already keeps (term, indexes, counts): the
  loop publishes a frozen NodeSample every SAMPLE_PERIOD_S and a custom collector turns
  the latest one into metric families at scrape time, on the HTTP thread;
- durations that need every observation (append, fsync, snapshot, loop lateness):
  prometheus-client Histograms, observed where they happen (the disk thread, the loop);
  their observe() takes a short lock and is safe from any thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from raftredis.observability.sample import ROLE_LABELS, NodeSample, readiness, take_sample

log = logging.getLogger("raftredis.metrics")

SAMPLE_PERIOD_S = 0.5  # how often the loop publishes a sample (cheap: ~60 reads)
SLOW_FSYNC_S = 0.2  # an fsync slower than this is logged (rate-limited)
SLOW_FSYNC_LOG_EVERY_S = 10.0
MAX_LABELS = 256  # bound on command / error-kind label values per family

# Disk latencies: a healthy SSD fsyncs in well under a millisecond, a loaded disk in tens.
_DISK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                 0.25, 0.5, 1.0, 2.5, 5.0)
_LOOP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SNAPSHOT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class NodeMetrics:
    """The registry, the histograms, and the latest sample of one node."""

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self.registry = CollectorRegistry(auto_describe=True)
        ns = "raftredis"
        self.append_seconds = Histogram(
            "storage_append_duration_seconds",
            "Time to write one batch of log entries and hard state to disk, fsync included "
            "when the policy syncs on write", namespace=ns, buckets=_DISK_BUCKETS,
            registry=self.registry)
        self.fsync_seconds = Histogram(
            "storage_fsync_duration_seconds", "Time of one fsync of the Raft log",
            namespace=ns, buckets=_DISK_BUCKETS, registry=self.registry)
        self.snapshot_seconds = Histogram(
            "snapshot_duration_seconds", "Time to take one snapshot (written and log compacted)",
            namespace=ns, buckets=_SNAPSHOT_BUCKETS, registry=self.registry)
        self.loop_lateness_seconds = Histogram(
            "event_loop_lateness_seconds",
            "How late a periodic event-loop callback ran (stalls of the node's event loop)",
            namespace=ns, buckets=_LOOP_BUCKETS, registry=self.registry)
        ProcessCollector(namespace="", registry=self.registry)  # process_resident_memory_bytes...
        self.registry.register(_SampleCollector(self))
        self.sample: NodeSample | None = None  # replaced whole by the loop; read by scrapes
        self._slow_fsync_logged = 0.0
        self._slow_fsyncs_unlogged = 0
        self._handle: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ hooks
    def on_disk_timing(self, what: str, seconds: float) -> None:
        """DiskStorage's timing hook (runs on the disk thread)."""
        if what == "fsync":
            self.fsync_seconds.observe(seconds)
            if seconds >= SLOW_FSYNC_S:
                self._slow_fsync(seconds)
        elif what == "append":
            self.append_seconds.observe(seconds)

    def _slow_fsync(self, seconds: float) -> None:
        now = time.monotonic()
        if now - self._slow_fsync_logged < SLOW_FSYNC_LOG_EVERY_S:
            self._slow_fsyncs_unlogged += 1
            return
        more = self._slow_fsyncs_unlogged
        self._slow_fsync_logged, self._slow_fsyncs_unlogged = now, 0
        log.warning("node %d: slow fsync: %.0f ms (threshold %.0f ms)%s", self.node_id,
                    seconds * 1000, SLOW_FSYNC_S * 1000,
                    f"; {more} more slow fsyncs since the last warning" if more else "")

    def on_loop_lateness(self, seconds: float) -> None:
        self.loop_lateness_seconds.observe(max(0.0, seconds))

    def on_snapshot(self, seconds: float) -> None:
        self.snapshot_seconds.observe(seconds)

    def attach(self, group: Any, srv: Any = None) -> None:
        """Install the hooks on a ReplicaGroup's parts (each is optional: an older part
        without the hook is simply not measured) and start publishing samples."""
        storage = getattr(group, "_storage", None)
        if storage is not None and hasattr(storage, "on_timing"):
            storage.on_timing = self.on_disk_timing
        if hasattr(group.loopwatch, "on_lateness"):
            group.loopwatch.on_lateness = self.on_loop_lateness
        if hasattr(group.snapshots, "on_taken"):
            group.snapshots.on_taken = self.on_snapshot
        self.start_publishing(lambda: take_sample(group, srv))

    def start_publishing(self, make: Callable[[], NodeSample],
                         period_s: float = SAMPLE_PERIOD_S) -> None:
        loop = asyncio.get_running_loop()

        def publish() -> None:
            try:
                self.sample = make()
            except Exception:  # a sample must never take the loop down
                log.exception("metrics sample failed")
            self._handle = loop.call_later(period_s, publish)

        publish()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class _SampleCollector(Collector):
    """Metric families from the latest NodeSample (runs on the scraping thread)."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self._m = metrics

    def describe(self) -> list[Metric]:
        return []  # families vary with the sample (peers, commands); nothing to pre-check

    def collect(self) -> Iterator[Metric]:
        s = self._m.sample
        ready = readiness(s)
        yield _gauge("raftredis_ready", "1 when /readyz would answer ready", int(ready.ready))
        if s is None:
            return
        p = "raftredis_raft_"
        role = GaugeMetricFamily(p + "role", "1 for the role this node has now",
                                 labels=["role"])
        for r, label in ROLE_LABELS.items():
            role.add_metric([label], int(s.role == r))
        yield role
        yield _gauge(p + "is_leader", "1 if this node is the leader", int(s.role.name == "LEADER"))
        yield _gauge(p + "term", "Current Raft term", s.term)
        yield _gauge(p + "leader_id", "Id of the leader heard from recently (0: none)", s.leader)
        yield _gauge(p + "member", "1 if this node is a voter or learner of the configuration",
                     int(s.member))
        yield _gauge(p + "voters", "Voters in the configuration", s.voters)
        yield _gauge(p + "learners", "Learners in the configuration", s.learners)
        yield _counter(p + "leader_changes", "New (leader, term) pairs this node learned",
                       s.leader_changes)
        yield _counter(p + "elections_started", "Campaigns this node started (pre-votes too)",
                       s.elections_started)
        yield _counter(p + "became_leader", "Times this node became the leader", s.became_leader)
        yield _counter(p + "stepped_down", "Times this node stopped being the leader",
                       s.stepped_down)
        yield _gauge(p + "commit_index", "Highest log index known committed", s.commit)
        yield _gauge(p + "applied_index", "Highest log index applied to the keyspace", s.applied)
        yield _gauge(p + "log_first_index", "First index held in the log", s.first_index)
        yield _gauge(p + "log_last_index", "Last index in the log", s.last_index)
        yield _counter(p + "proposals", "Operations proposed to the log by this node as leader",
                       s.proposals)
        yield _counter(p + "entries_proposed", "Log entries proposed (one holds a batch)",
                       s.entries_proposed)
        yield _counter(p + "proposals_committed", "Proposed client operations committed and "
                       "answered", s.proposals_committed)
        failed = CounterMetricFamily(
            p + "proposals_failed", "Proposed client operations answered with an error: "
            "not_applied (TRYAGAIN, never logged), overwritten (TRYAGAIN, replaced by a new "
            "leader's log), uncertain (UNCERTAIN)", labels=["reason"])
        for reason in ("not_applied", "overwritten", "uncertain"):
            failed.add_metric([reason], s.proposals_failed.get(reason, 0))
        yield failed
        yield _counter(p + "read_index_rounds", "ReadIndex rounds (leadership confirmations)",
                       s.read_rounds)
        yield _counter(p + "linearizable_reads", "Reads served through ReadIndex", s.reads)
        match = GaugeMetricFamily(p + "follower_match_index",
                                  "Leader only: highest index known replicated on the follower",
                                  labels=["peer"])
        lag = GaugeMetricFamily(p + "follower_lag_entries",
                                "Leader only: entries the follower is behind the leader's log",
                                labels=["peer"])
        active = GaugeMetricFamily(p + "follower_active",
                                   "Leader only: 1 if the follower was heard from recently",
                                   labels=["peer"])
        connected = GaugeMetricFamily("raftredis_peer_connected",
                                      "1 if the outgoing peer link is up", labels=["peer"])
        sent = CounterMetricFamily("raftredis_peer_messages_sent", "Raft messages sent",
                                   labels=["peer"])
        received = CounterMetricFamily("raftredis_peer_messages_received",
                                       "Raft messages received", labels=["peer"])
        reconnects = CounterMetricFamily("raftredis_peer_reconnects",
                                         "Outgoing peer link reconnections", labels=["peer"])
        net_in = CounterMetricFamily("raftredis_net_input_bytes",
                                     "Bytes received, by port (client, peer)", labels=["port"])
        net_out = CounterMetricFamily("raftredis_net_output_bytes",
                                      "Bytes sent, by port (client, peer)", labels=["port"])
        for peer in s.peers:
            lbl = [str(peer.id)]
            if peer.match is not None:
                match.add_metric(lbl, peer.match)
                lag.add_metric(lbl, peer.lag or 0)
                active.add_metric(lbl, int(bool(peer.active)))
            connected.add_metric(lbl, int(peer.connected))
            sent.add_metric(lbl, peer.messages_sent)
            received.add_metric(lbl, peer.messages_received)
            reconnects.add_metric(lbl, peer.reconnects)
        net_in.add_metric(["client"], s.net_in)
        net_out.add_metric(["client"], s.net_out)
        net_in.add_metric(["peer"], sum(x.bytes_received for x in s.peers))
        net_out.add_metric(["peer"], sum(x.bytes_sent for x in s.peers))
        yield from (match, lag, active, connected, sent, received, reconnects, net_in, net_out)

        yield _counter("raftredis_snapshots_taken", "Snapshots this node took",
                       s.snapshots_taken)
        yield _counter("raftredis_snapshots_installed", "Snapshots received from a leader and "
                       "installed", s.snapshots_installed)
        yield _gauge("raftredis_snapshot_index", "Log index of the latest snapshot",
                     s.snapshot_index)
        yield _gauge("raftredis_snapshot_size_bytes", "Size of the latest snapshot file",
                     s.snapshot_bytes)
        yield _gauge("raftredis_storage_log_bytes", "Bytes of log segments on disk", s.log_bytes)
        yield _counter("raftredis_storage_fsyncs", "fsync calls on the log and hard state",
                       s.fsyncs)
        yield _counter("raftredis_event_loop_stalls", "Times the event loop ran 100 ms or more "
                       "late", s.loop_stalls)
        yield _gauge("raftredis_event_loop_max_stall_seconds",
                     "Worst event-loop lateness of the last minute", s.loop_max_stall_ms / 1000)

        yield _gauge("raftredis_connected_clients", "Open client connections", s.clients)
        yield _counter("raftredis_connections_received", "Client connections accepted",
                       s.connections_received)
        yield _counter("raftredis_connections_rejected", "Client connections refused "
                       "(maxclients)", s.connections_rejected)
        yield _counter("raftredis_commands_processed", "Commands received from clients",
                       s.commands_processed)
        cmds = CounterMetricFamily("raftredis_commands", "Commands received, by command name",
                                   labels=["command"])
        for name, n in sorted(s.commands.items())[:MAX_LABELS]:
            cmds.add_metric([name], n)
        yield cmds
        results = CounterMetricFamily(
            "raftredis_command_calls", "Command calls by name and result: ok, failed (ran "
            "and answered an error) or rejected (refused before running: arity, NOAUTH, "
            "MOVED, OOM, ...), as INFO commandstats counts them", labels=["command", "result"])
        for name, counts in sorted(s.command_results.items())[:MAX_LABELS]:
            for result, n in zip(("ok", "failed", "rejected"), counts, strict=True):
                results.add_metric([name, result], n)
        yield results
        errs = CounterMetricFamily("raftredis_error_replies",
                                   "Error replies sent, by their first word (ERR, MOVED, "
                                   "TRYAGAIN, UNCERTAIN, ...)", labels=["kind"])
        for kind, n in sorted(s.errors.items())[:MAX_LABELS]:
            errs.add_metric([kind], n)
        yield errs
        yield _gauge("raftredis_keys", "Keys in the keyspace", s.keys)
        yield _gauge("raftredis_keys_with_expiry", "Keys with a time to live", s.expires)
        yield _counter("raftredis_keyspace_hits", "Key lookups of reads that found the key",
                       s.keyspace_hits)
        yield _counter("raftredis_keyspace_misses", "Key lookups of reads that did not find the "
                       "key", s.keyspace_misses)
        yield _counter("raftredis_evicted_keys", "Keys evicted at maxmemory (through the log)",
                       s.evicted_keys)
        yield _counter("raftredis_expired_keys", "Keys deleted because their TTL passed "
                       "(through the log)", s.expired_keys)
        yield _gauge("raftredis_used_memory_bytes", "Memory used by the dataset (the estimate "
                     "maxmemory is checked against)", s.used_memory)
        yield _gauge("raftredis_maxmemory_bytes", "The maxmemory bound (0: none)", s.maxmemory)
        yield _gauge("raftredis_sample_age_seconds", "Age of the sample these values come from",
                     max(0.0, s.age()))
