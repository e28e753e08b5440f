"""Situations from the Raft paper, written as scripts with their expected outcome."""

from __future__ import annotations

from tests.sim.script import Script

# Figure 8 (Raft paper §5.4.2): a leader must not commit an entry of an earlier term by
# counting replicas, or a later leader may overwrite it.
FIGURE_8 = """
campaign 1
stabilize
expect 1 role leader
propose 1 a               # index 2, committed everywhere
stabilize
expect 1 commit 2
# (a) S1 (term 1) gets index 3 to S2 only, then crashes.
propose 1 b
drop from=1 to=3
drop from=1 to=4
drop from=1 to=5
deliver
crash 1
drop
expect-term 2 3 1
expect-term 3 3 none
# (b) S5 wins term 2 with S3 and S4 and appends its no-op 3@2, then crashes unheard.
restart 3 4               # restarts forget the old leader, so they will vote (§4.2.3)
cut 2
elect 5
expect 5 term 2
expect-term 5 3 2
drop from=5
crash 5
mend
# (c) S1 returns and wins term 3; it gets 3@1 onto S3, so a majority (S1 S2 S3) holds it.
restart 1 2
elect 1
expect 1 term 3
drop to=4
deliver                   # S2 accepts the no-op 4@3; S3 rejects the probe
drop to=4
deliver                   # S1 sends index 3 alone to S3
drop to=4
deliver                   # S3 takes 3@1
drop to=4
deliver                   # S1 hears S3 holds 3
expect-term 3 3 1
expect 1 commit 2         # 3@1 is on a majority but of an old term: NOT committed
# (d) S1 crashes; S5 wins with S3 and S4 and replaces 3@1 with its 3@2: this is only
# safe because 3@1 was never committed.
crash 1
drop
restart 3 4 5
elect 5
stabilize
expect 5 role leader
expect-term 3 3 2
expect-term 2 3 2
expect 5 commit 4
restart 1
campaign 5
stabilize
expect-term 1 3 2
expect 1 commit 4
"""


def test_figure_8() -> None:
    Script(5).run(FIGURE_8)


# §9.6 / §4.2.3: a node cut off from the cluster keeps timing out; with pre-vote its
# term does not grow, so when it returns it does not depose a healthy leader.
REJOIN_WITHOUT_DISRUPTION = """
campaign 1
stabilize
expect 1 role leader
expect 1 term 1
cut 3
tick 3 100                # many election timeouts alone: pre-votes go nowhere
expect 3 term 1
expect 3 role pre_candidate
mend
stabilize
tick 1
stabilize
expect 1 role leader
expect 1 term 1
expect 3 leader 1
"""


def test_rejoin_without_disruption() -> None:
    Script(3).run(REJOIN_WITHOUT_DISRUPTION)


# §3.10: leadership transfer: proposals stop, the target catches up, then TimeoutNow.
TRANSFER = """
campaign 1
stabilize
propose 1 a
cut 2
stabilize                 # 2 misses index 2
mend
"""


def test_leadership_transfer() -> None:
    s = Script(3)
    s.run(TRANSFER)
    s.core(1).transfer_leadership(2)
    s.run("""
    propose 1 b
    expect-error transfer in progress
    stabilize
    expect 2 role leader
    expect 2 term 2
    expect 1 leader 2
    expect 1 commit 3
    expect 2 commit 3
    """)


# §6.4: a new leader serves no read before an entry of its term is committed; many
# reads share one heartbeat round; a follower's read goes through the leader.
READS = """
campaign 1
stabilize
propose 1 a
stabilize
crash 1
restart 2 3
elect 2
read 2 r1
deliver                   # node 3 takes the no-op and learns its leader
read 3 r2                 # forwarded to the leader
expect-read 2 r1 none     # the no-op of term 2 is not committed yet: no read served
deliver
expect 2 commit 3
stabilize
expect-read 2 r1 3
expect-read 3 r2 3
read 2 r3                 # starts a heartbeat round at once
read 2 r4                 # a round is in flight: r4 and r5 share the next one
read 2 r5
expect-read 2 r3 none
stabilize
expect-read 2 r3 3
expect-read 2 r4 3
expect-read 2 r5 3
crash 2
read 3 r6                 # its leader is gone: the forwarded read times out
tick 3 9
expect-read 3 r6 none
tick 3 40
expect-read 3 r6 dropped
"""


def test_reads() -> None:
    Script(3).run(READS)


def test_single_voter_serves_reads_at_once() -> None:
    Script(1).run("""
    campaign 1
    expect 1 role leader
    expect 1 commit 1
    read 1 r
    expect-read 1 r 1
    propose 1 x
    expect 1 commit 2
    """)
