"""Bitmaps (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO): the state
machine's replies compared byte for byte with a real redis-server's, RESP2 and RESP3."""

from __future__ import annotations

import pytest

from tests.unit.sm_redis import Ref, cases, redis_ref

ref = redis_ref()

CASES = [
    # SETBIT / GETBIT
    [("SETBIT", "k", "7", "1"), ("GET", "k"), ("SETBIT", "k", "7", "0"), ("GET", "k"),
     ("SETBIT", "k", "100", "1"), ("STRLEN", "k"), ("GETBIT", "k", "100"),
     ("GETBIT", "k", "99"), ("GETBIT", "k", "100000"), ("GETBIT", "nokey", "0"),
     ("SETBIT", "k", "0", "1"), ("GET", "k")],
    [("SETBIT", "k", "-1", "1"), ("SETBIT", "k", "x", "1"), ("SETBIT", "k", "4294967296", "1"),
     ("SETBIT", "k", "1", "2"), ("SETBIT", "k", "1", "-1"), ("SETBIT", "k", "1", "x"),
     ("GETBIT", "k", "-1"), ("GETBIT", "k", "4294967296"), ("EXISTS", "k"),
     ("SETBIT", "k"), ("GETBIT", "k")],
    [("SET", "s", "abc"), ("EXPIRE", "s", "100"), ("SETBIT", "s", "1", "0"), ("TTL", "s"),
     ("GET", "s"), ("SET", "n", "12"), ("SETBIT", "n", "2", "1"), ("GET", "n"),
     ("LPUSH", "l", "a"), ("SETBIT", "l", "0", "1"), ("GETBIT", "l", "0"),
     ("BITCOUNT", "l"), ("BITPOS", "l", "1")],
    # BITCOUNT
    [("SET", "s", "foobar"), ("BITCOUNT", "s"), ("BITCOUNT", "s", "0", "0"),
     ("BITCOUNT", "s", "1", "1"), ("BITCOUNT", "s", "1", "-2"), ("BITCOUNT", "s", "-100", "100"),
     ("BITCOUNT", "s", "5", "1"), ("BITCOUNT", "s", "1", "1", "BYTE"),
     ("BITCOUNT", "s", "5", "30", "BIT"), ("BITCOUNT", "s", "5", "30", "bit"),
     ("BITCOUNT", "s", "-5", "-1", "BIT"), ("BITCOUNT", "s", "0", "0", "BITS"),
     ("BITCOUNT", "s", "0"), ("BITCOUNT", "s", "a", "1"), ("BITCOUNT", "s", "0", "1", "BIT", "x"),
     ("BITCOUNT", "nokey"), ("BITCOUNT", "nokey", "0"), ("BITCOUNT", "nokey", "0", "1", "BIT")],
    # BITPOS
    [("SET", "s", "\xff\xf0\x00"), ("BITPOS", "s", "0"), ("BITPOS", "s", "1"),
     ("SET", "z", "\x00\x00\x00"), ("BITPOS", "z", "1"), ("BITPOS", "z", "0"),
     ("SET", "f", "\xff\xff\xff"), ("BITPOS", "f", "0"), ("BITPOS", "f", "0", "1"),
     ("BITPOS", "f", "0", "0", "-1"), ("BITPOS", "f", "1", "2"), ("BITPOS", "f", "1", "3"),
     ("BITPOS", "s", "1", "1"), ("BITPOS", "s", "0", "1", "1"), ("BITPOS", "s", "0", "2", "-1"),
     ("BITPOS", "s", "1", "7", "15", "BIT"), ("BITPOS", "s", "0", "7", "15", "BIT"),
     ("BITPOS", "f", "0", "0", "23", "BIT"), ("BITPOS", "s", "1", "-3", "-1", "BIT"),
     ("BITPOS", "s", "1", "2", "1"), ("BITPOS", "s", "2"), ("BITPOS", "s", "x"),
     ("BITPOS", "s", "1", "a"), ("BITPOS", "s", "1", "0", "b"),
     ("BITPOS", "s", "1", "0", "1", "NOPE"), ("BITPOS", "s", "1", "0", "1", "BIT", "x"),
     ("BITPOS", "nokey", "1"), ("BITPOS", "nokey", "0"), ("BITPOS", "nokey", "0", "5", "9")],
    # BITOP
    [("SET", "a", "foobar"), ("SET", "b", "abcdef"), ("SET", "c", "xy"),
     ("BITOP", "AND", "d", "a", "b"), ("GET", "d"), ("BITOP", "or", "d", "a", "c"), ("GET", "d"),
     ("BITOP", "XOR", "d", "a", "b", "c"), ("GET", "d"), ("BITOP", "NOT", "d", "c"), ("GET", "d"),
     ("BITOP", "AND", "d", "a", "nokey"), ("GET", "d"), ("BITOP", "NOT", "d", "a", "b"),
     ("BITOP", "NAND", "d", "a"), ("BITOP", "AND", "d", "nokey", "nokey2"), ("EXISTS", "d"),
     ("LPUSH", "l", "x"), ("BITOP", "OR", "d", "a", "l"), ("SET", "e", "v"), ("EXPIRE", "e", "50"),
     ("BITOP", "OR", "e", "a"), ("TTL", "e"), ("BITOP", "NOT", "e", "nokey"), ("EXISTS", "e")],
    # BITFIELD
    [("BITFIELD", "k", "SET", "i8", "0", "100", "GET", "i8", "0", "GET", "u4", "0"),
     ("BITFIELD", "k", "INCRBY", "i8", "0", "100"), ("BITFIELD", "k", "GET", "i8", "0"),
     ("BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "100", "INCRBY", "i8", "0", "-500"),
     ("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "-1"),
     ("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u2", "100", "5", "GET", "u2", "100"),
     ("STRLEN", "k"), ("BITFIELD", "k", "SET", "u8", "#1", "255", "GET", "u8", "#1"),
     ("BITFIELD", "k", "SET", "u8", "3", "-1", "OVERFLOW", "SAT", "SET", "u8", "3", "-1",
      "SET", "u8", "3", "300", "OVERFLOW", "WRAP", "SET", "u8", "3", "300", "GET", "u8", "3"),
     ("GET", "k"), ("BITFIELD", "k", "SET", "i64", "0", "-9223372036854775808",
                    "INCRBY", "i64", "0", "-1", "GET", "i64", "0"),
     ("BITFIELD", "k", "SET", "u63", "1", "9223372036854775807", "GET", "u63", "1",
      "INCRBY", "u63", "1", "1")],
    [("BITFIELD", "k"), ("EXISTS", "k"), ("BITFIELD", "k", "GET", "u8", "0"), ("EXISTS", "k"),
     ("BITFIELD", "k", "GET", "u64", "0"), ("BITFIELD", "k", "GET", "i65", "0"),
     ("BITFIELD", "k", "GET", "x8", "0"), ("BITFIELD", "k", "GET", "i0", "0"),
     ("BITFIELD", "k", "GET", "I8", "0"), ("BITFIELD", "k", "GET", "U8", "0"),
     ("BITFIELD", "k", "GET", "u8", "-1"), ("BITFIELD", "k", "GET", "u8", "#-1"),
     ("BITFIELD", "k", "GET", "u8", "x"), ("BITFIELD", "k", "GET", "u8", "4294967296"),
     ("BITFIELD", "k", "SET", "u8", "0", "x"), ("BITFIELD", "k", "SET", "u8", "0"),
     ("BITFIELD", "k", "OVERFLOW", "NOPE", "GET", "u8", "0"), ("BITFIELD", "k", "OVERFLOW"),
     ("BITFIELD", "k", "FOO", "u8", "0"), ("BITFIELD", "k", "SET", "u8", "0", "1", "BAD"),
     ("EXISTS", "k"), ("BITFIELD", "k", "overflow", "fail", "set", "u2", "0", "7"),
     ("GET", "k"), ("LPUSH", "l", "x"), ("BITFIELD", "l", "GET", "u8", "0"),
     ("BITFIELD", "l", "SET", "u8", "0", "1")],
    [("SET", "k", "\x12\x34\x56"), ("BITFIELD_RO", "k", "GET", "u8", "0", "GET", "i12", "4"),
     ("BITFIELD_RO", "k", "GET", "u16", "#1"), ("BITFIELD_RO", "k", "SET", "u8", "0", "1"),
     ("BITFIELD_RO", "k", "INCRBY", "u8", "0", "1", "GET", "u8", "0"),
     ("BITFIELD_RO", "k", "SET", "u8", "0", "1", "BOGUS"), ("BITFIELD_RO", "k"),
     ("BITFIELD_RO", "nokey", "GET", "i8", "100"), ("GET", "k")],
]


@pytest.mark.parametrize("case", cases(CASES))
def test_bitmaps_like_redis(ref: Ref, case: list) -> None:
    ref.check(case)


def test_big_offsets_grow_the_string(ref: Ref) -> None:
    ref.check([("SETBIT", "k", "80000", "1"), ("STRLEN", "k"), ("BITCOUNT", "k"),
               ("BITPOS", "k", "1"), ("BITPOS", "k", "0", "1"),
               ("BITFIELD", "k", "SET", "u16", "79992", "65535"), ("BITCOUNT", "k"),
               ("BITOP", "NOT", "n", "k"), ("BITCOUNT", "n"), ("STRLEN", "n")])
