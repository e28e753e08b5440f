"""The linearizability checker on hand-made histories, and against brute force."""

from __future__ import annotations

import itertools
import random

import pytest

from tests.linearizability import (
    FAIL,
    IMPOSSIBLE,
    INF,
    LINEARIZABLE,
    NOT_LINEARIZABLE,
    OK,
    UNDECIDED,
    UNKNOWN,
    CounterModel,
    HistoryError,
    Op,
    RegisterModel,
    check,
    prepare,
)


def w(v, a, b=INF, outcome=OK, p=0, key="k"):
    return Op(p, "write", v, a, b, outcome, key)


def r(v, a, b, outcome=OK, p=1, key="k"):
    return Op(p, "read", v, a, b, outcome, key)


def inc(v, a, b=INF, outcome=OK, p=0, key="c"):
    return Op(p, "incr", v, a, b, outcome, key)


def verdict(history, model=None, **kw):
    return check(history, model, **kw).verdict


# ------------------------------------------------------------------ plain histories
def test_empty_history_is_linearizable():
    assert verdict([]) == LINEARIZABLE
    assert check([]).ok


def test_sequential_writes_and_reads():
    h = [r(None, 0, 1), w("a", 2, 3), r("a", 4, 5), w("b", 6, 7), r("b", 8, 9)]
    assert verdict(h) == LINEARIZABLE


def test_stale_read_is_caught_with_a_small_counterexample():
    h = [w("a", 0, 1), w("b", 2, 3), r("a", 4, 5)]
    report = check(h)
    assert report.verdict == NOT_LINEARIZABLE
    (bad,) = report.violations
    assert {o.value for o in bad.counterexample} == {"a", "b"}
    assert len(bad.counterexample) == 3
    assert "NOT linearizable" in report.explain()


def test_lost_write_is_caught():
    assert verdict([w("a", 0, 1), r(None, 2, 3)]) == NOT_LINEARIZABLE


def test_read_of_a_never_written_value_is_caught():
    assert verdict([w("a", 0, 1), r("zzz", 2, 3)]) == NOT_LINEARIZABLE
    assert verdict([r("zzz", 0, 1)]) == NOT_LINEARIZABLE


def test_value_seen_then_the_older_value_again_is_caught():
    # The write is still in flight, but once a read saw it, no later read may miss it.
    h = [w("a", 0, 10), r("a", 1, 2), r(None, 3, 4)]
    assert verdict(h) == NOT_LINEARIZABLE
    # The same reads in the other order are fine: the write lands between them.
    h = [w("a", 0, 10), r(None, 1, 2), r("a", 3, 4)]
    assert verdict(h) == LINEARIZABLE


@pytest.mark.parametrize("seen", ["a", "b"])
def test_concurrent_writes_may_land_in_either_order(seen):
    h = [w("a", 0, 5, p=1), w("b", 1, 6, p=2), r(seen, 7, 8)]
    assert verdict(h) == LINEARIZABLE


def test_concurrent_writes_cannot_land_in_both_orders():
    h = [w("a", 0, 5, p=1), w("b", 1, 6, p=2), r("b", 7, 8), r("a", 9, 10)]
    assert verdict(h) == NOT_LINEARIZABLE
    # While both writes are still running, readers may see a, then b.
    h = [w("a", 0, 9, p=1), w("b", 1, 9, p=2), r("a", 2, 3), r("b", 4, 5)]
    assert verdict(h) == LINEARIZABLE
    # ...but not a, b, a.
    h = [w("a", 0, 9, p=1), w("b", 1, 9, p=2), r("a", 2, 3), r("b", 4, 5), r("a", 6, 7)]
    assert verdict(h) == NOT_LINEARIZABLE


def test_read_overlapping_a_write_may_see_old_or_new():
    for seen in (None, "a"):
        assert verdict([w("a", 0, 4), r(seen, 1, 2)]) == LINEARIZABLE


def test_touching_intervals_count_as_concurrent():
    # Equal timestamps cannot order two ops: the checker never alarms on a tie.
    assert verdict([w("a", 0, 1), r(None, 1, 2)]) == LINEARIZABLE
    assert verdict([w("a", 0, 1), r(None, 1.0001, 2)]) == NOT_LINEARIZABLE


# ------------------------------------------------------------------ outcomes
def test_unknown_write_that_happened():
    h = [w("a", 0, 1), w("b", 2, outcome=UNKNOWN), r("b", 5, 6), r("b", 7, 8)]
    assert verdict(h) == LINEARIZABLE


def test_unknown_write_that_did_not_happen():
    h = [w("a", 0, 1), w("b", 2, outcome=UNKNOWN), r("a", 5, 6), r("a", 7, 8)]
    assert verdict(h) == LINEARIZABLE


def test_unknown_write_may_happen_late_but_only_once():
    h = [w("a", 0, 1), w("b", 2, 3, outcome=UNKNOWN), r("a", 5, 6), r("b", 7, 8)]
    assert verdict(h) == LINEARIZABLE
    h.append(r("a", 9, 10))
    assert verdict(h) == NOT_LINEARIZABLE


def test_unknown_write_cannot_take_effect_before_it_is_invoked():
    h = [r("b", 0, 1), w("b", 2, outcome=UNKNOWN)]
    assert verdict(h) == NOT_LINEARIZABLE


def test_failed_write_is_dropped_so_seeing_it_is_a_violation():
    assert verdict([w("a", 0, 1, outcome=FAIL), r(None, 2, 3)]) == LINEARIZABLE
    assert verdict([w("a", 0, 1, outcome=FAIL), r("a", 2, 3)]) == NOT_LINEARIZABLE


def test_unknown_reads_are_dropped():
    h = [w("a", 0, 1), r("nonsense", 2, INF, outcome=UNKNOWN)]
    assert verdict(h) == LINEARIZABLE
    assert prepare(h) == [h[0]]


def test_unknown_write_gets_an_infinite_completion():
    (op,) = prepare([w("a", 0, 1, outcome=UNKNOWN)])
    assert op.complete == INF


# ------------------------------------------------------------------ keys, models, limits
def test_keys_are_checked_independently():
    h = [w("a", 0, 1, key="x"), r("a", 2, 3, key="y"), r("a", 2, 3, key="x")]
    report = check(h)
    assert report.verdict == NOT_LINEARIZABLE
    assert report.results["x"].verdict == LINEARIZABLE
    assert [v.key for v in report.violations] == ["y"]


def test_counter_model():
    m = CounterModel()
    assert verdict([inc(1, 0, 1), inc(2, 2, 3), r(2, 4, 5, key="c")], m) == LINEARIZABLE
    # Two increments cannot both return 1.
    assert verdict([inc(1, 0, 5, p=1), inc(1, 1, 6, p=2)], m) == NOT_LINEARIZABLE
    # Concurrent increments in either order.
    assert verdict([inc(2, 0, 5, p=1), inc(1, 1, 6, p=2)], m) == LINEARIZABLE
    # An unknown increment may explain a jump, but not a step back.
    h = [inc(1, 0, 1), inc(None, 2, outcome=UNKNOWN), inc(3, 4, 5)]
    assert verdict(h, m) == LINEARIZABLE
    assert verdict([inc(2, 0, 1), r(1, 2, 3, key="c")], m) == NOT_LINEARIZABLE
    assert verdict([inc(2, 0, 1)], m) == NOT_LINEARIZABLE


def test_budget_gives_undecided_not_a_hang():
    # Many concurrent writes and a read of a value nobody wrote: the search must try
    # orders before it can say no; a tiny budget stops it.
    h = [w(i, 0, 100, p=i) for i in range(12)] + [r("never", 101, 102)]
    report = check(h, budget=50)
    assert report.verdict == UNDECIDED
    assert not report.ok and not report.violations
    assert "budget" in report.explain()
    assert check(h).verdict == NOT_LINEARIZABLE


@pytest.mark.parametrize("bad", [
    Op(0, "write", 1, 5, 4),  # completes before it is invoked
    Op(0, "write", 1, 0, 1, "maybe"),
    Op(0, "delete", 1, 0, 1),
    Op(0, "read", 1, 0, INF, OK),  # ok ops must complete
    Op(0, "read", 1, float("nan"), 1),
])
def test_malformed_ops_are_refused(bad):
    with pytest.raises(HistoryError):
        check([bad])


def test_counterexample_is_shrunk_out_of_a_long_history():
    rng = random.Random(7)
    h, t, value = [], 0.0, None
    for i in range(300):  # a long, correct, sequential history with some overlap
        if rng.random() < 0.5:
            value = f"v{i}"
            h.append(w(value, t, t + 1.5, p=i % 4))
        else:
            h.append(r(value, t + 1.6, t + 1.7, p=i % 4))
        t += 2
    assert verdict(h) == LINEARIZABLE
    writes = [o for o in h if o.kind == "write"]
    stale = r(writes[50].value, writes[52].complete + 0.1, writes[52].complete + 0.2, p=9)
    report = check([*h, stale])
    (bad,) = report.violations
    assert stale.value in {o.value for o in bad.counterexample if o.kind == "read"}
    assert len(bad.counterexample) <= 4, report.explain()


# ------------------------------------------------------------------ random, vs brute force
def _brute_force(ops, model) -> bool:
    ops = model.prune(prepare(ops))
    unknown = [o for o in ops if o.complete == INF]
    known = [o for o in ops if o.complete != INF]
    for k in range(len(unknown) + 1):
        for extra in itertools.combinations(unknown, k):
            chosen = known + list(extra)
            for perm in itertools.permutations(chosen):
                # Real time: a before b whenever a completed before b was invoked.
                if any(perm[j].complete < perm[i].invoke
                       for i in range(len(perm)) for j in range(i + 1, len(perm))):
                    continue
                if _replays(perm, model):
                    return True
    return False


def _replays(order, model) -> bool:
    state = model.init()
    for op in order:
        state = model.step(state, op)
        if state is IMPOSSIBLE:
            return False
    return True


def _random_history(rng: random.Random, n: int) -> list[Op]:
    ops = []
    for i in range(n):
        a = rng.randint(0, 12)
        b = a + rng.randint(0, 6)
        roll = rng.random()
        if roll < 0.45:
            ops.append(w(rng.choice("xyz") + str(i), a, b, p=i))
        elif roll < 0.55:
            ops.append(w(rng.choice("xyz") + str(i), a, b, outcome=UNKNOWN, p=i))
        else:
            ops.append(r(None, a, b, p=i))
    # Reads see a random written value (or None), so both verdicts occur.
    values = [None] + [o.value for o in ops if o.kind == "write"]
    return [replace_value(o, rng.choice(values)) if o.kind == "read" else o for o in ops]


def replace_value(op: Op, value) -> Op:
    return Op(op.process, op.kind, value, op.invoke, op.complete, op.outcome, op.key)


def test_agrees_with_brute_force_on_random_small_histories():
    rng = random.Random(20240601)
    model = RegisterModel()
    seen = {True: 0, False: 0}
    for _ in range(400):
        h = _random_history(rng, rng.randint(1, 7))
        expected = _brute_force(h, model)
        got = check(h, model, shrink=False).verdict
        assert got == (LINEARIZABLE if expected else NOT_LINEARIZABLE), h
        seen[expected] += 1
    assert seen[True] > 40 and seen[False] > 40, seen


def test_random_linearizable_histories_pass_and_a_stale_final_read_fails():
    rng = random.Random(99)
    for _ in range(10):
        # Ops take effect at distinct instants inside their intervals.
        points = sorted(rng.sample(range(10_000), 200))
        value, h = None, []
        for i, t in enumerate(points):
            a, b = t - rng.randint(0, 300), t + rng.randint(0, 300)
            if rng.random() < 0.5:
                value = f"v{i}"
                outcome = UNKNOWN if rng.random() < 0.1 else OK
                h.append(w(value, a, b, outcome=outcome, p=i % 5))
            else:
                h.append(r(value, a, b, p=i % 5))
        assert verdict(h) == LINEARIZABLE
        # A final read of a write that another ok write strictly followed is stale.
        ok_writes = [o for o in h if o.kind == "write" and o.outcome == OK]
        early = next(x for x in ok_writes if any(y.invoke > x.complete for y in ok_writes))
        end = max(o.complete for o in h) + 1
        stale = r(early.value, end, end + 1)
        assert verdict([*h, stale], shrink=False) == NOT_LINEARIZABLE
