"""MEMORY and OBJECT FREQ/IDLETIME next to a real redis-server (noeviction, its default):
replies and error texts byte for byte, in RESP2 and RESP3. Sizes differ by design (ours
model a Python process), so MEMORY USAGE is compared only where it gives no number."""

from __future__ import annotations

import pytest

from tests.unit.sm_redis import Ref, redis_ref

ref = redis_ref()

CASES = [
    [("SET", "k", "v"), ("OBJECT", "FREQ", "k"), ("OBJECT", "IDLETIME", "k"),
     ("OBJECT", "FREQ", "nokey"), ("OBJECT", "IDLETIME", "nokey")],
    [("SET", "k", "v"), ("MEMORY", "USAGE", "nokey"), ("MEMORY", "USAGE"),
     ("MEMORY", "USAGE", "k", "SAMPLES"), ("MEMORY", "USAGE", "k", "SAMPLES", "x"),
     ("MEMORY", "USAGE", "k", "SAMPLES", "-1"), ("MEMORY", "USAGE", "k", "FOO", "1"),
     ("MEMORY", "USAGE", "nokey", "SAMPLES", "0")],
    [("MEMORY", "HELP"), ("MEMORY", "FOO"), ("MEMORY", "DOCTOR", "x"), ("MEMORY", "STATS", "x"),
     ("MEMORY", "PURGE"), ("MEMORY", "DOCTOR"), ("MEMORY",)],
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: " ".join(c[-1]))
def test_memory_commands_like_redis(ref: Ref, case: list) -> None:
    ref.check(case)
