"""INFO commandstats and latencystats: calls, execution time, rejected and failed calls,
and latency percentiles per command, as Redis 7 shows them.

Execution time is what the command itself took: dispatch's synchronous part for a
command answered at once, and for a replicated write or a ReadIndex read the time its
execution took where it ran (raftredis.replica.slowwatch). The wait for the log is not
execution, as in Redis a blocked client's wait is not.

Each command's latencies go into a log-linear histogram (32 sub-buckets per power of
two of nanoseconds: 3% resolution, near HdrHistogram's two significant digits), so the
cost per call is a few integer operations and the memory a fixed list per command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from raftredis.commands.spec import find_subcommand, lookup
from raftredis.reply import Error

_SUB_BITS = 5  # 32 sub-buckets per power of two: 3% resolution
_SUB = 1 << _SUB_BITS
_SUB_MASK = _SUB - 1
COMMANDS_LIMIT = 1024  # names tracked; more (they cannot be: the table is fixed) are folded


def _bucket(ns: int) -> int:
    """The histogram slot of a duration: exact below 32 ns, then 32 per power of two."""
    if ns < _SUB:
        return max(0, ns)
    top = ns.bit_length() - 1  # >= _SUB_BITS
    shift = top - _SUB_BITS
    return ((shift + 1) << _SUB_BITS) + ((ns >> shift) & (_SUB - 1))


def _bucket_high(b: int) -> int:
    """The largest duration in ns that falls into slot b (what a percentile reports)."""
    if b < _SUB:
        return b
    shift = (b >> _SUB_BITS) - 1
    low = (_SUB | (b & (_SUB - 1))) << shift
    return low + (1 << shift) - 1


@dataclass(slots=True)
class CommandStat:
    calls: int = 0
    ns: int = 0
    rejected: int = 0
    failed: int = 0
    hist: dict[int, int] = field(default_factory=dict)  # slot -> count (sparse)

    def add(self, ns: int) -> None:
        """One call that ran `ns` nanoseconds (this runs for every command: _bucket is
        inlined)."""
        self.calls += 1
        self.ns += ns
        if ns < _SUB:
            b = ns if ns > 0 else 0
        else:
            shift = ns.bit_length() - 1 - _SUB_BITS
            b = ((shift + 1) << _SUB_BITS) + ((ns >> shift) & _SUB_MASK)
        hist = self.hist
        hist[b] = hist.get(b, 0) + 1

    def percentile(self, p: float) -> float:
        """The p-th percentile of the recorded durations, in microseconds."""
        total = sum(self.hist.values())
        if not total:
            return 0.0
        rank = max(1, -(-int(p * total * 1000) // 100_000))  # ceil(p% of total)
        seen = 0
        for b in sorted(self.hist):
            seen += self.hist[b]
            if seen >= rank:
                return _bucket_high(b) / 1000
        return _bucket_high(max(self.hist)) / 1000


class CommandStats:
    def __init__(self) -> None:
        self._by_name: dict[str, CommandStat] = {}

    def _stat(self, name: str) -> CommandStat:
        st = self._by_name.get(name)
        if st is None:
            st = self._by_name[name] = CommandStat()
        return st

    def executed(self, name: str, ns: int, failed: bool) -> None:
        """One call of `name` ran for `ns` nanoseconds (failed: it answered an error)."""
        st = self._by_name.get(name)
        if st is None:
            if len(self._by_name) >= COMMANDS_LIMIT:
                return
            st = self._by_name[name] = CommandStat()
        st.add(ns)
        if failed:
            st.failed += 1

    def rejected(self, name: str) -> None:
        """Refused before it ran (NOAUTH, wrong arity, OOM, a redirect, ...)."""
        if name in self._by_name or len(self._by_name) < COMMANDS_LIMIT:
            self._stat(name).rejected += 1

    def reset(self) -> None:
        self._by_name.clear()

    def get(self, name: str) -> CommandStat | None:
        return self._by_name.get(name)

    def results(self) -> dict[str, tuple[int, int, int]]:
        """Calls by name and result: (ok, failed, rejected), for the metrics port."""
        return {name: (st.calls - st.failed, st.failed, st.rejected)
                for name, st in self._by_name.items()}

    def commandstats(self) -> list[tuple[str, str]]:
        out = []
        for name, st in self._by_name.items():
            usec = st.ns // 1000
            per = usec / st.calls if st.calls else 0.0
            out.append((f"cmdstat_{name}",
                        f"calls={st.calls},usec={usec},usec_per_call={per:.2f},"
                        f"rejected_calls={st.rejected},failed_calls={st.failed}"))
        return out

    def latencystats(self, percentiles: list[float]) -> list[tuple[str, str]]:
        out = []
        for name, st in self._by_name.items():
            if not st.hist:
                continue
            shown = ",".join(f"p{_pname(p)}={st.percentile(p):.3f}" for p in percentiles)
            out.append((f"latency_percentiles_usec_{name}", shown))
        return out


def _pname(p: float) -> str:
    """Redis writes p50, p99, p99.9: no trailing zeros."""
    return f"{p:.6f}".rstrip("0").rstrip(".")


class ServerStateLike(Protocol):
    """The parts of raftredis.server.state.ServerState the recorder reads."""

    @property
    def stats(self) -> Any: ...  # .cmdstats: CommandStats (replaced by CONFIG RESETSTAT)

    @property
    def slowlog(self) -> Any: ...  # raftredis.server.slowlog.SlowLog


def parse_percentiles(text: str) -> list[float]:
    """latency-tracking-info-percentiles ("50 99 99.9"), already checked by its setting."""
    return [float(w) for w in text.split()]


# Error codes that mean the command was refused before it ran (Redis's rejected_calls);
# any other error reply is a failed call.
_REJECTED = frozenset({"MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "NOAUTH", "NOPERM",
                       "OOM", "READONLY", "MASTERDOWN", "BUSY", "LOADING", "NOSCRIPT"})


def note_outcome(stats: CommandStats, name: str, ns: int, reply: object) -> None:
    """One command's execution into the stats, classed by its reply."""
    if reply.__class__ is Error:
        code = reply.split(" ", 1)[0]  # type: ignore[attr-defined]
        if code in _REJECTED:
            stats.rejected(name)
        else:
            stats.executed(name, ns, True)
    else:
        stats.executed(name, ns, False)


class ExecRecorder:
    """The replica layer's ExecSink: SLOWLOG and commandstats of the commands that ran
    after dispatch returned (replicated writes at apply, ReadIndex reads at release)."""

    def __init__(self, srv: ServerStateLike) -> None:
        self._srv = srv
        self._names: dict[bytes, str] = {}  # plain commands by their name as sent

    def executed(self, args: list[bytes], started_ns: int, elapsed_ns: int,
                 reply: object) -> None:
        # (Runs for every command the leader applies for its clients: a success goes
        # straight to its CommandStat.)
        name = self._names.get(args[0]) if args else None
        if name is None:
            name = self._name(args)
            if name is None:
                return
        srv = self._srv
        stats = srv.stats.cmdstats
        st = stats.get(name) if reply.__class__ is not Error else None
        if st is None:
            note_outcome(stats, name, elapsed_ns, reply)
        else:
            st.add(elapsed_ns)
        slow = srv.slowlog
        if slow.threshold_us >= 0 and elapsed_ns >= slow.threshold_us * 1000:
            # (The connection is not known here: the entry shows no address or name.)
            slow.consider(name, args, started_ns, "", "")

    def _name(self, args: list[bytes]) -> str | None:
        if not args:
            return None
        name = self._names.get(args[0])
        if name is not None:
            return name
        spec = lookup(args[0])
        if spec is None:
            return None
        if spec.subcommands:
            sub = find_subcommand(spec, args[1]) if len(args) > 1 else None
            return (sub or spec).name
        if len(self._names) < 4096:
            self._names[args[0]] = spec.name
        return spec.name
