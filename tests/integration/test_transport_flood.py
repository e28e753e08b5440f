"""Issue 17, item 2, with real node processes: silent connections on the peer ports no
longer keep a restarted follower out of its cluster, nor fill the logs.

Before the fix, 64 pending handshakes with a 5 s timeout were the whole budget: 70 silent
connections kept a node out for as long as they stayed open, and each refusal was logged.
"""

from __future__ import annotations

import socket

from tests.integration.harness import Cluster, wait_for
from tests.integration.test_transport_mitm import write

FLOOD = 1000  # per node that the restarted follower must reach


def test_a_restarted_follower_rejoins_while_1000_silent_connections_are_held(tmp_path) -> None:
    c = Cluster(tmp_path).start()
    held: list[socket.socket] = []
    try:
        lead = c.wait_leader()
        write(c, "before", "1")
        follower = next(i for i in c.nodes if i != lead)
        others = [i for i in c.nodes if i != follower]
        c.kill(follower)
        log_sizes = {i: c.nodes[i].log_path.stat().st_size for i in others}
        # Hold silent connections to the peer ports of both nodes the follower dials.
        for i in others:
            for _ in range(FLOOD):
                s = socket.create_connection(("127.0.0.1", c.nodes[i].peer_port), timeout=5)
                held.append(s)
        for k in range(20):
            write(c, f"during{k}", str(k))
        c.start_node(follower)
        lead = c.wait_leader()
        target = c.commit_index(lead)
        c.wait_applied(follower, target, timeout=20)
        # The deadlines are hang guards, not speed goals: the old budget kept the follower
        # out for as long as the sockets stayed open, and this test holds them throughout.
        wait_for(lambda: c.info(follower)["raft_role"] == "follower", 10, "a follower again")
        # Each node wrote a few lines about the flood, not one per socket.
        for i in others:
            with open(c.nodes[i].log_path, "rb") as fp:
                fp.seek(log_sizes[i])
                new = fp.read().decode(errors="replace").splitlines()
            flood = [line for line in new if "handshake" in line]
            assert len(flood) <= 8, "\n".join(flood)
            assert len(new) <= 40, "\n".join(new)
    except BaseException:
        print(c.logs())
        raise
    finally:
        for s in held:
            s.close()
        c.stop()
