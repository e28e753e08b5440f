"""benchmarks/cpu.py against real processes: a tree's CPU includes live and reaped children."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest

from benchmarks import cpu

pytestmark = pytest.mark.skipif(not cpu.available(), reason="needs Linux /proc")

# Burns `s` seconds of its own CPU (not wall time, so a loaded machine only slows it).
BURN = "import time\nwhile time.process_time() < {s}: pass\n"

# The root: runs one child that burns and exits (reaped: the root's cutime), then
# starts one that burns and stays alive (a live descendant), then says so.
ROOT = f"""
import subprocess, sys, time
subprocess.run([sys.executable, "-c", {BURN.format(s=0.3)!r}], check=True)
live = subprocess.Popen([sys.executable, "-c", {BURN.format(s=0.3)!r} + "print('burnt', flush=True)\\ntime.sleep(120)"],
                        stdout=subprocess.PIPE, text=True)
live.stdout.readline()
print(live.pid, flush=True)
time.sleep(120)
"""


def test_tree_seconds_counts_a_live_grandchild_and_a_reaped_child():
    root = subprocess.Popen([sys.executable, "-c", ROOT], stdout=subprocess.PIPE, text=True)
    live_pid = None
    try:
        line = root.stdout.readline()  # the root prints once both children have burnt
        assert line.strip().isdigit(), line
        live_pid = int(line)
        total = cpu.tree_seconds([root.pid])
        assert total >= 0.55  # 0.3 + 0.3 burnt, less one tick of rounding on each
        assert cpu.tree_seconds([live_pid]) >= 0.29 - cpu.TICK_SECONDS
        assert cpu.tree_seconds([live_pid]) < total  # the child alone is part of it
    finally:
        for pid in (live_pid, root.pid):
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        root.wait(timeout=10)


def test_tree_seconds_of_no_live_process_is_zero():
    assert cpu.tree_seconds([]) == 0.0
    assert cpu.tree_seconds([2**22 + 12345]) == 0.0  # above any pid_max default
