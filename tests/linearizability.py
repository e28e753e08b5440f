"""A linearizability checker for client histories (Wing & Gong, with Lowe's memoization).

A history is a list of `Op`s: what a client asked (kind, key, value), when it asked
(`invoke`) and when it got the answer (`complete`), both from one monotonic clock, and what
the answer said about the outcome:

- ``ok``: the operation took effect at one instant between invoke and complete;
- ``fail``: it definitely did not take effect; it is dropped;
- ``unknown``: it may have taken effect at any instant after invoke, or never. Its
  completion is +infinity; an unknown read tells nothing and is dropped.

Keys are independent objects, so each key is checked on its own (P-compositionality).
The search is bounded by a step budget: a history too hard to decide is reported
``unknown``, never a hang. A history that is not linearizable comes with a small
counterexample: a sub-history, shrunk only in ways that keep it non-linearizable and
keep "this part is not linearizable, so the whole is not" true.

Pure Python, no I/O: import it from any test.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

OK = "ok"
FAIL = "fail"
UNKNOWN = "unknown"
OUTCOMES = (OK, FAIL, UNKNOWN)

LINEARIZABLE = "linearizable"
NOT_LINEARIZABLE = "not linearizable"
UNDECIDED = "unknown"

INF = math.inf
DEFAULT_BUDGET = 2_000_000  # search steps per key (about a few seconds of Python)
SHRINK_BUDGET = 1_000_000  # search steps spent, in all, shrinking one counterexample


class HistoryError(ValueError):
    """The history itself is malformed (bad times, kinds or outcomes)."""


@dataclass(frozen=True, slots=True)
class Op:
    process: object  # who issued it (client thread id), for reports only
    kind: str  # "read" | "write" | "incr"
    value: object  # write: value written; read: value seen (None: missing); incr: new value
    invoke: float
    complete: float = INF
    outcome: str = OK
    key: Hashable = None
    index: int = -1  # position in the original history, set by check()

    def describe(self, t0: float = 0.0) -> str:
        end = "inf" if self.complete == INF else f"{self.complete - t0:.4f}"
        return (f"#{self.index} p={self.process} {self.kind}({self.value!r}) "
                f"[{self.invoke - t0:.4f}, {end}] {self.outcome}")


IMPOSSIBLE = object()  # step() answer: the op cannot happen in this state


class Model(Protocol):
    """A sequential specification of one object (one key)."""

    kinds: frozenset[str]

    def init(self) -> Hashable: ...

    def step(self, state: Hashable, op: Op) -> object:
        """The state after `op`, or IMPOSSIBLE if `op` cannot return what it did."""

    def prune(self, ops: list[Op]) -> list[Op]:
        """Drop ops that cannot change the verdict (e.g. unknown writes nobody saw)."""

    def removable(self, chunk: Sequence[Op], rest: Sequence[Op]) -> bool:
        """True if removing `chunk` keeps 'rest not linearizable => all not linearizable'."""


class RegisterModel:
    """A register: write(v) stores v, read returns the stored value (None: never written)."""

    kinds = frozenset({"read", "write"})

    def __init__(self, initial: Hashable = None) -> None:
        self.initial = initial

    def init(self) -> Hashable:
        return self.initial

    def step(self, state: Hashable, op: Op) -> object:
        if op.kind == "write":
            return op.value
        return state if op.value == state else IMPOSSIBLE

    def prune(self, ops: list[Op]) -> list[Op]:
        # An unknown write whose value no read saw may be placed after everything else
        # (or never), where it changes nothing: dropping it keeps the verdict.
        seen = {o.value for o in ops if o.kind == "read"}
        return [o for o in ops if not (o.kind == "write" and o.outcome == UNKNOWN
                                       and o.value not in seen)]

    def removable(self, chunk: Sequence[Op], rest: Sequence[Op]) -> bool:
        # Dropping reads only removes constraints. A write whose value no remaining read
        # returns can be cut out of any linearization without changing a read's answer.
        seen = {o.value for o in rest if o.kind == "read"}
        return all(o.kind == "read" or o.value not in seen for o in chunk)


class CounterModel:
    """A counter: incr returns the new value (INCR), read returns it (None: never set)."""

    kinds = frozenset({"read", "incr"})

    def init(self) -> Hashable:
        return None

    def step(self, state: Hashable, op: Op) -> object:
        if op.kind == "incr":
            new = (state or 0) + 1
            if op.outcome == UNKNOWN or op.value == new:
                return new
            return IMPOSSIBLE
        return state if op.value == state else IMPOSSIBLE

    def prune(self, ops: list[Op]) -> list[Op]:
        return ops  # an unknown incr shifts every later value: nothing to drop

    def removable(self, chunk: Sequence[Op], rest: Sequence[Op]) -> bool:
        return all(o.kind == "read" for o in chunk)


@dataclass
class KeyResult:
    key: Hashable
    verdict: str
    ops: int  # ops searched after dropping failed/unknown-read ops
    steps: int
    failing_op: Op | None = None  # an op that could not be placed at the deepest point
    state: object = None  # the model state the failing op met there
    counterexample: list[Op] = field(default_factory=list)

    def explain(self) -> str:
        if self.verdict == LINEARIZABLE:
            return f"key {self.key!r}: linearizable ({self.ops} ops, {self.steps} steps)"
        if self.verdict == UNDECIDED:
            return (f"key {self.key!r}: undecided, search budget spent "
                    f"({self.ops} ops, {self.steps} steps)")
        lines = [f"key {self.key!r}: NOT linearizable ({self.ops} ops, {self.steps} steps)"]
        if self.failing_op is not None:
            lines.append(f"  stuck at: {self.failing_op.describe()} with state {self.state!r}")
        if self.counterexample:
            t0 = min(o.invoke for o in self.counterexample)
            lines.append(f"  counterexample ({len(self.counterexample)} ops, "
                         f"times relative to {t0:.4f}):")
            lines += ["    " + o.describe(t0) for o in self.counterexample]
        return "\n".join(lines)


@dataclass
class Report:
    results: dict[Hashable, KeyResult]

    @property
    def ok(self) -> bool:
        """True only if every key was proven linearizable."""
        return all(r.verdict == LINEARIZABLE for r in self.results.values())

    @property
    def violations(self) -> list[KeyResult]:
        return [r for r in self.results.values() if r.verdict == NOT_LINEARIZABLE]

    @property
    def verdict(self) -> str:
        if self.violations:
            return NOT_LINEARIZABLE
        return LINEARIZABLE if self.ok else UNDECIDED

    def explain(self) -> str:
        return "\n".join(r.explain() for r in self.results.values())


# --------------------------------------------------------------------------- checking
def check(history: Iterable[Op], model: Model | None = None,
          budget: int = DEFAULT_BUDGET, shrink: bool = True) -> Report:
    """Check a multi-key history; each key alone against a fresh `model`."""
    model = model or RegisterModel()
    by_key: dict[Hashable, list[Op]] = {}
    for i, op in enumerate(history):
        _validate(op, model)
        by_key.setdefault(op.key, []).append(op if op.index >= 0 else replace(op, index=i))
    return Report({key: check_key(ops, model, budget, shrink, key) for key, ops in by_key.items()})


def check_key(ops: Sequence[Op], model: Model, budget: int = DEFAULT_BUDGET,
              shrink: bool = True, key: Hashable = None) -> KeyResult:
    """Check the history of one object."""
    prepared = model.prune(prepare(ops))
    verdict, steps, failing, state = _search(prepared, model, budget)
    result = KeyResult(key, verdict, len(prepared), steps, failing, state)
    if verdict == NOT_LINEARIZABLE:
        result.counterexample = (_shrink(prepared, model, failing) if shrink
                                 else sorted(prepared, key=lambda o: o.invoke))
    return result


def prepare(ops: Iterable[Op]) -> list[Op]:
    """Drop failed ops and unknown reads; unknown writes never complete."""
    out = []
    for op in ops:
        if op.outcome == FAIL or (op.outcome == UNKNOWN and op.kind == "read"):
            continue
        out.append(replace(op, complete=INF) if op.outcome == UNKNOWN else op)
    return out


def _validate(op: Op, model: Model) -> None:
    if op.outcome not in OUTCOMES:
        raise HistoryError(f"op {op!r}: outcome must be one of {OUTCOMES}")
    if op.kind not in model.kinds:
        raise HistoryError(f"op {op!r}: kind must be one of {sorted(model.kinds)}")
    if not (isinstance(op.invoke, int | float) and isinstance(op.complete, int | float)):
        raise HistoryError(f"op {op!r}: invoke and complete must be numbers")
    if math.isnan(op.invoke) or math.isnan(op.complete) or op.invoke == INF:
        raise HistoryError(f"op {op!r}: times must be real numbers")
    if op.outcome != UNKNOWN and op.complete < op.invoke:
        raise HistoryError(f"op {op!r}: completes before it is invoked")
    if op.outcome == OK and op.complete == INF:
        raise HistoryError(f"op {op!r}: an ok op must have a completion time")


def _search(ops: Sequence[Op], model: Model, budget: int) -> tuple[str, int, Op | None, object]:
    """Lowe's WGL search; returns (verdict, steps, failing op, its state)."""
    n = len(ops)
    if n == 0:
        return LINEARIZABLE, 0, None, None
    # Entries 1..2n on a doubly linked list after the head 0; calls before returns at equal
    # times, so touching intervals count as concurrent (never a false alarm).
    events = []
    for i, op in enumerate(ops):
        events.append((op.invoke, 0, i))
        events.append((op.complete, 1, i))
    events.sort()
    size = 2 * n + 1
    nxt = list(range(1, size + 1))
    nxt[-1] = 0  # 0 terminates the list
    prv = list(range(-1, size - 1))
    is_call = [False] * size
    op_of = [0] * size
    ret_of = [0] * n  # op -> its return entry
    for pos, (_, kind, i) in enumerate(events, start=1):
        op_of[pos] = i
        if kind == 0:
            is_call[pos] = True
        else:
            ret_of[i] = pos

    def lift(e: int) -> None:
        for x in (e, ret_of[op_of[e]]):
            prv_x, nxt_x = prv[x], nxt[x]
            nxt[prv_x] = nxt_x
            if nxt_x:
                prv[nxt_x] = prv_x

    def unlift(e: int) -> None:
        for x in (ret_of[op_of[e]], e):
            prv_x, nxt_x = prv[x], nxt[x]
            nxt[prv_x] = x
            if nxt_x:
                prv[nxt_x] = x

    step_fn = model.step
    state = model.init()
    linearized = 0
    cache: set[tuple[int, object]] = set()
    stack: list[tuple[int, object]] = []
    best_depth, failing, failing_state = -1, None, None
    steps = 0
    entry = nxt[0]
    while nxt[0]:
        steps += 1
        if steps > budget:
            return UNDECIDED, steps, failing, failing_state
        if is_call[entry]:
            i = op_of[entry]
            new_state = step_fn(state, ops[i])
            if new_state is not IMPOSSIBLE:
                marked = linearized | (1 << i)
                if (marked, new_state) not in cache:
                    cache.add((marked, new_state))
                    stack.append((entry, state))
                    state, linearized = new_state, marked
                    lift(entry)
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
        else:
            # A return reached before its op was placed: undo the last choice.
            if len(stack) > best_depth:
                best_depth, failing, failing_state = len(stack), ops[op_of[entry]], state
            if not stack:
                return NOT_LINEARIZABLE, steps, failing, failing_state
            entry, state = stack.pop()
            linearized &= ~(1 << op_of[entry])
            unlift(entry)
            entry = nxt[entry]
    return LINEARIZABLE, steps, None, None


def _shrink(ops: list[Op], model: Model, failing: Op | None) -> list[Op]:
    """Greedy delta debugging over removals the model says are safe, within a budget."""
    current = sorted(ops, key=lambda o: o.invoke)
    left = SHRINK_BUDGET

    def try_remove(chunk: list[Op]) -> bool:
        nonlocal current, left
        if not chunk or left <= 0:
            return False
        ids = {id(o) for o in chunk}
        rest = [o for o in current if id(o) not in ids]
        if not model.removable(chunk, rest):
            return False
        verdict, steps, _, _ = _search(rest, model, left)
        left -= steps
        if verdict == NOT_LINEARIZABLE:
            current = rest
            return True
        return False

    if failing is not None:
        # Cheap big cuts first: everything after the stuck op, then every other read.
        if failing.complete != INF:
            try_remove([o for o in current if o.invoke > failing.complete])
        try_remove([o for o in current if o.kind == "read" and o is not failing])
    chunk_size = max(1, len(current) // 2)
    while left > 0:
        start, progressed = 0, False
        while start < len(current) and left > 0:
            if try_remove(current[start:start + chunk_size]):
                progressed = True
            else:
                start += chunk_size
        if chunk_size == 1 and not progressed:
            break
        chunk_size = max(1, chunk_size // 2)
    return current
