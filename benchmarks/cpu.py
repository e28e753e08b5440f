"""CPU time of a target's server processes, from the kernel's own counters (Linux /proc).

A target is a few root processes (the three nodes of a cluster) plus whatever they
fork (raftredis's keep-alive helper, a snapshot child, PySyncObj's dump child). One
sample sums, over every live process in those trees, utime + stime + cutime +
cstime: the last two hold the CPU of children already reaped, so a helper that
exits during a run is still counted, and counted once (it no longer appears in
the tree). Counters are in clock ticks (usually 10 ms), so a run should last a
second or more for the figure to mean much.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

TICK_SECONDS = 1.0 / os.sysconf("SC_CLK_TCK")


def parse_stat(text: str) -> tuple[int, int]:
    """(ppid, CPU ticks: utime+stime+cutime+cstime) from one /proc/<pid>/stat line.

    The command name (field 2) is in parentheses and may hold spaces or ')', so the
    fields are counted from the last ')'."""
    close = text.rfind(")")
    if close < 0:
        raise ValueError(f"not a /proc stat line: {text[:80]!r}")
    fields = text[close + 2:].split()  # fields[0] is field 3 (state)
    if len(fields) < 15:
        raise ValueError(f"short /proc stat line: {text[:80]!r}")
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return ppid, utime + stime + cutime + cstime


def descendants(roots: Iterable[int], parent_of: dict[int, int]) -> set[int]:
    """The roots that are alive in `parent_of` and every process below them."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parent_of.items():
        children.setdefault(ppid, []).append(pid)
    out: set[int] = set()
    todo = [r for r in roots if r in parent_of]
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        out.add(pid)
        todo.extend(children.get(pid, ()))
    return out


def _read_all() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, ticks) for every process we can read right now."""
    out: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                out[int(name)] = parse_stat(f.read())
        except (OSError, ValueError):  # gone between listdir and open
            continue
    return out


def tree_seconds(roots: Iterable[int]) -> float:
    """CPU seconds used so far by the process trees under `roots`."""
    table = _read_all()
    pids = descendants(roots, {pid: ppid for pid, (ppid, _) in table.items()})
    return sum(table[p][1] for p in pids) * TICK_SECONDS


def available() -> bool:
    return os.path.exists(f"/proc/{os.getpid()}/stat")
