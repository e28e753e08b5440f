"""LCS compared byte for byte with a real redis-server, RESP2 and RESP3, on fixed and on
seeded random strings (the walk back through the table must take Redis's steps)."""

from __future__ import annotations

import random

import pytest

from tests.unit.sm_redis import Ref, cases, redis_ref

ref = redis_ref()

CASES = [
    [("MSET", "a", "ohmytext", "b", "mynewtext"), ("LCS", "a", "b"), ("LCS", "a", "b", "LEN"),
     ("LCS", "a", "b", "IDX"), ("LCS", "a", "b", "IDX", "MINMATCHLEN", "4"),
     ("LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"),
     ("LCS", "a", "b", "idx", "withmatchlen"), ("LCS", "a", "b", "IDX", "MINMATCHLEN", "-3"),
     ("LCS", "b", "a", "IDX", "WITHMATCHLEN"), ("LCS", "a", "a", "IDX")],
    [("SET", "a", "abc"), ("LCS", "a", "nokey"), ("LCS", "nokey", "a", "LEN"),
     ("LCS", "nokey", "nokey2", "IDX"), ("LCS", "a", "b", "LEN", "IDX"),
     ("LCS", "a", "b", "BOGUS"), ("LCS", "a", "b", "MINMATCHLEN"),
     ("LCS", "a", "b", "MINMATCHLEN", "x"), ("LPUSH", "l", "x"), ("LCS", "a", "l"),
     ("LCS", "l", "a", "BOGUS"), ("SET", "e", ""), ("LCS", "e", "a", "IDX"),
     ("SET", "n", "12345"), ("SET", "m", "2x4"), ("LCS", "n", "m", "IDX", "WITHMATCHLEN")],
]


@pytest.mark.parametrize("case", cases(CASES))
def test_lcs_like_redis(ref: Ref, case: list) -> None:
    ref.check(case)


@pytest.mark.parametrize("seed", range(12))
def test_random_strings_like_redis(ref: Ref, seed: int) -> None:
    rnd = random.Random(seed)
    alphabet = "ab" if seed % 3 == 0 else "abcd" if seed % 3 == 1 else "abcdefghij"
    a = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 300)))
    b = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 300)))
    ref.check([("MSET", "a", a, "b", b), ("LCS", "a", "b"), ("LCS", "a", "b", "LEN"),
               ("LCS", "a", "b", "IDX", "WITHMATCHLEN"),
               ("LCS", "b", "a", "IDX", "MINMATCHLEN", "2")])


def test_short_against_long_like_redis(ref: Ref) -> None:
    long = "x" * 50_000 + "ab" + "y" * 50_000 + "c"
    ref.check([("MSET", "s", "zacb", "l", long), ("LCS", "s", "l", "IDX", "WITHMATCHLEN"),
               ("LCS", "l", "s"), ("LCS", "s", "l", "LEN")], resps=(2,))


def test_table_too_big_like_redis(ref: Ref) -> None:
    ref.check([("MSET", "a", "x" * 12_000, "b", "y" * 12_000), ("LCS", "a", "b", "LEN"),
               ("SET", "b", "y" * 11_000), ("LCS", "a", "b", "LEN")], resps=(2,))
