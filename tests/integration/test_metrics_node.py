"""INFO errorstats counts error replies by code. The metrics port answers while the node's event loop is held (its HTTP server has
threads of its own): /healthz and /metrics stay up during a DEBUG SLEEP, /readyz says
the loop is not turning, and the stall lands in the loop-lateness histogram after."""

from __future__ import annotations

import threading

from raftredis.miniclient import call
from tests.integration.harness import Cluster, wait_for
from tests.integration.test_metrics_cluster import http_get, ready, scrape, with_metrics

SLEEP_S = 5  # longer than the 3 s a sample may age before /readyz turns false


def test_metrics_answer_while_the_loop_is_held(tmp_path):
    c = Cluster(tmp_path, n=1, extra=["--enable-debug-command", "yes"])
    port = with_metrics(c)[1]
    c.start()
    try:
        wait_for(lambda: ready(port), 20, "the node ready")
        node_port = c.nodes[1].port
        call("127.0.0.1", node_port, "NOSUCHCOMMAND", timeout=5)
        call("127.0.0.1", node_port, "GET", timeout=5)  # wrong arity: ERR too
        errors = call("127.0.0.1", node_port, "INFO", "errorstats", timeout=5)
        assert b"errorstat_ERR:count=2" in errors, errors
        call("127.0.0.1", node_port, "SET", "n", "x", timeout=5)
        call("127.0.0.1", node_port, "INCR", "n", timeout=5)  # not an integer: failed
        call("127.0.0.1", node_port, "INCR", "m", timeout=5)

        def results() -> dict[str, float] | None:  # commands by name and result
            m = scrape(port)
            key = 'raftredis_command_calls_total{{command="{}",result="{}"}}'
            got = {k: m.get(key.format(*k.split(":")), 0.0)
                   for k in ("get:rejected", "incr:failed", "incr:ok", "set:ok")}
            return got if all(got.values()) else None
        got = wait_for(results, 5, "commands by name and result on /metrics")
        assert got == {"get:rejected": 1, "incr:failed": 1, "incr:ok": 1, "set:ok": 1}, got
        big = 'raftredis_event_loop_lateness_seconds_bucket{le="2.5"}'
        count = "raftredis_event_loop_lateness_seconds_count"
        before = scrape(port)
        t = threading.Thread(target=call, args=("127.0.0.1", c.nodes[1].port, "DEBUG",
                                                "SLEEP", str(SLEEP_S)),
                             kwargs={"timeout": SLEEP_S + 10}, daemon=True)
        t.start()
        wait_for(lambda: "has not published" in http_get(port, "/readyz")[1], SLEEP_S + 5,
                 "/readyz to say the event loop is not turning")
        assert http_get(port, "/healthz") == (200, "ok\n")
        assert scrape(port)["raftredis_raft_term"] >= 1  # the last sample, still served
        t.join(timeout=SLEEP_S + 15)
        wait_for(lambda: ready(port), 10, "the node ready again after the sleep")
        after = scrape(port)
        # one lateness sample of seconds: above the 2.5 s bucket
        assert after[count] - after[big] >= before[count] - before[big] + 1
        assert after["raftredis_event_loop_stalls_total"] > before["raftredis_event_loop_stalls_total"]
    finally:
        c.stop()
