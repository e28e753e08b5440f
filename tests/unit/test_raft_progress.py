from __future__ import annotations

import ast
import pathlib

import pytest

from raftredis.raft.progress import Inflights, Progress, ProgressState
from raftredis.raft.storage import BytesSnapshotReader, StorageError
from raftredis.raft.types import Snapshot, SnapshotMeta

FIELDS = ("match", "next", "state", "probe_sent", "recent_active", "heard_recently",
          "snap_index", "snap_offset", "snap_sent")


def test_fields_are_read_only() -> None:
    pr = Progress(5, 4)
    for name in FIELDS:
        with pytest.raises(AttributeError):
            setattr(pr, name, 1)


def test_nothing_outside_progress_writes_its_private_state() -> None:
    for path in pathlib.Path("raftredis/raft").glob("*.py"):
        if path.name == "progress.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                assert not (node.attr.startswith("_") and node.attr[1:] in FIELDS), (
                    path, node.lineno, node.attr)


def test_probe_then_replicate_then_reject() -> None:
    pr = Progress(11, 3)
    assert pr.state == ProgressState.PROBE and not pr.paused()
    pr.sent_append(12, 50)
    assert pr.paused()  # one probe at a time
    assert pr.maybe_update(12) and pr.match == 12 and not pr.paused()
    pr.become_replicate()
    assert pr.next == 13
    for last in (14, 16, 18):
        pr.sent_append(last, 10)
    assert pr.next == 19 and pr.paused() and pr.inflight_count == 3
    assert pr.inflight_bytes == 30
    assert pr.on_append_ack(16) and pr.match == 16
    assert pr.inflight_count == 1 and pr.inflight_bytes == 10 and not pr.paused()
    assert not pr.on_append_ack(14)  # old news
    assert not pr.maybe_decr_to(15, 1)  # stale: below match
    assert pr.maybe_decr_to(18, 17)
    assert pr.state == ProgressState.PROBE and pr.next == 17


def test_rejection_never_moves_next_below_match_plus_one() -> None:
    pr = Progress(11, 3)
    pr.maybe_update(10)
    pr.become_replicate()
    pr.sent_append(20, 1)
    assert pr.maybe_decr_to(20, 2)
    assert pr.next == 11


def test_probe_rejection_must_answer_the_current_probe() -> None:
    pr = Progress(11, 3)
    assert not pr.maybe_decr_to(7, 3)  # answer to an older probe
    assert pr.maybe_decr_to(10, 4) and pr.next == 4


def test_heartbeat_answer_unblocks() -> None:
    pr = Progress(11, 1)
    pr.sent_append(11, 1)
    assert pr.paused()
    pr.on_heartbeat_resp()
    assert not pr.paused()
    pr.maybe_update(11)
    pr.become_replicate()
    pr.sent_append(12, 1)
    assert pr.paused()
    pr.on_heartbeat_resp()  # window full: let one more out (an append may be lost)
    assert not pr.paused()


def reader(index: int = 50) -> BytesSnapshotReader:
    return BytesSnapshotReader(Snapshot(SnapshotMeta(index, 2), b"s" * 100))


def test_snapshot_transfer_pins_its_snapshot_until_it_ends() -> None:
    pr = Progress(3, 4)
    r = reader()
    pr.become_snapshot(r)
    assert pr.paused() and pr.snap_index == 50 and pr.snap_offset == 0
    assert pr.snapshot_reader is r
    pr.sent_snapshot_chunk()
    assert pr.snap_sent
    pr.snapshot_chunk_acked(64)
    assert not pr.snap_sent and pr.snap_offset == 64
    pr.snapshot_done(50)
    assert pr.state == ProgressState.PROBE and pr.match == 50 and pr.next == 51
    assert pr.snapshot_reader is None
    with pytest.raises(StorageError):
        r.read(0, 1)  # closed on leaving SNAPSHOT


def test_refused_snapshot_waits_for_a_heartbeat() -> None:
    pr = Progress(3, 4)
    pr.become_snapshot(reader())
    pr.snapshot_refused()
    assert pr.state == ProgressState.PROBE and pr.paused() and pr.snapshot_reader is None
    pr.on_heartbeat_resp()
    assert not pr.paused()


def test_release_closes_the_reader() -> None:
    pr = Progress(3, 4)
    r = reader()
    pr.become_snapshot(r)
    pr.release()
    assert pr.snapshot_reader is None
    with pytest.raises(StorageError):
        r.read(0, 1)


def test_recent_active() -> None:
    pr = Progress(1, 1)
    assert pr.recent_active
    pr.reset_recent_active()
    assert not pr.recent_active
    pr.mark_active()
    assert pr.recent_active


def test_heard_recently_holds_across_one_reset_only() -> None:
    """What operators see (INFO's slaveN, follower_active): steady for a follower that
    answers each period, false once a whole period passed without a word."""
    pr = Progress(1, 1)
    for _ in range(3):  # a healthy follower: reset, then its next answer
        pr.reset_recent_active()
        assert pr.heard_recently  # between the reset and the answer
        pr.mark_active()
    pr.reset_recent_active()
    assert pr.heard_recently  # silent for part of a period: still counted
    pr.reset_recent_active()
    assert not pr.heard_recently  # silent for a whole period
    pr.mark_active()
    assert pr.heard_recently


def test_inflights_count_and_bytes() -> None:
    inf = Inflights(2)
    inf.add(5, 100)
    inf.add(9, 50)
    assert inf.full() and len(inf) == 2 and inf.bytes == 150
    inf.free_first_one()
    assert not inf.full() and inf.bytes == 50
    inf.free_le(9)
    assert len(inf) == 0 and inf.bytes == 0


def test_a_rejection_at_or_below_match_means_the_follower_lost_entries() -> None:
    pr = Progress(11, 8)
    pr.maybe_update(10)
    pr.become_replicate()
    assert pr.lost_acknowledged(10, 0)  # rejects an index it acknowledged
    assert pr.lost_acknowledged(14, 4)  # its log ends at 3, below match
    assert not pr.lost_acknowledged(14, 12)  # short, but not below what it acknowledged
    assert not pr.lost_acknowledged(14, 0)
    pr.regress(10, 4)
    assert (pr.match, pr.next, pr.state) == (0, 4, ProgressState.PROBE) and not pr.paused()


def test_nothing_is_lost_before_anything_was_acknowledged() -> None:
    pr = Progress(11, 8)
    assert not pr.lost_acknowledged(0, 1)
    pr.maybe_update(5)
    pr.become_snapshot(reader(20))
    assert not pr.lost_acknowledged(3, 2)  # appends are not ours to judge while snapshotting


def test_probe_answered_at_match_replicates_at_once() -> None:
    pr = Progress(11, 8)
    pr.maybe_update(10)
    pr.become_probe()
    pr.sent_append(0, 0)  # an empty probe: nothing after match to send
    assert pr.paused()
    assert pr.on_append_ack(10)
    assert pr.state == ProgressState.REPLICATE and pr.next == 11 and not pr.paused()


def test_stale_ack_in_probe_changes_nothing() -> None:
    pr = Progress(11, 8)
    pr.maybe_update(10)
    pr.become_probe()
    assert not pr.on_append_ack(7)
    assert pr.state == ProgressState.PROBE


def test_inflights_bounded_by_bytes() -> None:
    inf = Inflights(100, max_bytes=250)
    inf.add(1, 100)
    inf.add(2, 100)
    assert not inf.full()
    inf.add(3, 100)
    assert inf.full()  # 300 >= 250
    inf.free_le(1)
    assert not inf.full()
    big = Inflights(100, max_bytes=10)
    assert not big.full()  # empty: one message of any size may go
    big.add(1, 1000)
    assert big.full()
    assert not Inflights(2, max_bytes=0).full()  # 0: no byte limit
