"""String commands at the StateMachine level: behaviour, options and exact errors."""

from __future__ import annotations

import pytest

from raftredis.reply import OK
from tests.unit.test_sm_support import NOT_INT, NOW, SYNTAX, WRONGTYPE, M, b, err, make_wrongtype


@pytest.fixture
def m() -> M:
    return M()


# ---- GET / SET ----------------------------------------------------------------------------


def test_get_set_basic(m: M) -> None:
    assert m("GET", "k") is None
    assert m("SET", "k", "v") == OK
    assert m("get", "k") == b"v"
    assert m.read("GET", "k") == b"v"
    assert m("SET", "k", "") == OK
    assert m("GET", "k") == b""


def test_get_wrongtype(m: M) -> None:
    make_wrongtype(m)
    assert m("GET", "h") == WRONGTYPE
    assert m("SET", "h", "x") == OK  # SET overwrites any type
    assert m("GET", "h") == b"x"


def test_set_nx_xx(m: M) -> None:
    assert m("SET", "k", "1", "XX") is None
    assert m("GET", "k") is None
    assert m("SET", "k", "1", "NX") == OK
    assert m("SET", "k", "2", "NX") is None
    assert m("GET", "k") == b"1"
    assert m("SET", "k", "3", "xx") == OK
    assert m("GET", "k") == b"3"
    assert m("SET", "k", "4", "NX", "XX") == SYNTAX
    assert m("SET", "k", "4", "XX", "NX") == SYNTAX


def test_set_get_option(m: M) -> None:
    assert m("SET", "k", "1", "GET") is None
    assert m("SET", "k", "2", "GET") == b"1"
    assert m("SET", "k", "3", "NX", "GET") == b"2"  # not set, old value returned
    assert m("GET", "k") == b"2"
    assert m("SET", "n", "1", "XX", "GET") is None
    assert m("EXISTS", "n") == 0
    make_wrongtype(m)
    assert m("SET", "h", "x", "GET") == WRONGTYPE
    assert m("TYPE", "h") == "testfake"


def test_set_expire_options(m: M) -> None:
    assert m("SET", "k", "v", "EX", "10") == OK
    assert m("PTTL", "k") == 10_000
    assert m("SET", "k", "v", "PX", "1500") == OK
    assert m("PTTL", "k") == 1500
    assert m("SET", "k", "v", "EXAT", str(NOW // 1000 + 100)) == OK
    assert m("PEXPIRETIME", "k") == (NOW // 1000 + 100) * 1000
    assert m("SET", "k", "v", "PXAT", str(NOW + 777)) == OK
    assert m("PEXPIRETIME", "k") == NOW + 777
    assert m("SET", "k", "v") == OK
    assert m("TTL", "k") == -1  # plain SET drops the TTL


def test_set_keepttl(m: M) -> None:
    m("SET", "k", "v", "PX", "5000")
    assert m("SET", "k", "w", "KEEPTTL") == OK
    assert m("GET", "k") == b"w"
    assert m("PTTL", "k") == 5000
    assert m("SET", "k", "v", "KEEPTTL", "EX", "1") == SYNTAX
    assert m("SET", "k", "v", "EX", "1", "KEEPTTL") == SYNTAX
    assert m("SET", "new", "v", "KEEPTTL") == OK
    assert m("TTL", "new") == -1


@pytest.mark.parametrize(
    "opts",
    [["EX"], ["EX", "1", "PX", "1"], ["PX", "1", "EXAT", "1"], ["FOO"], ["EX", "1", "PXAT", "5"]],
)
def test_set_syntax_errors(m: M, opts: list[str]) -> None:
    assert m("SET", "k", "v", *opts) == SYNTAX
    assert m("EXISTS", "k") == 0


def test_set_expire_values(m: M) -> None:
    bad = err("ERR invalid expire time in 'set' command")
    assert m("SET", "k", "v", "EX", "0") == bad
    assert m("SET", "k", "v", "PX", "-5") == bad
    assert m("SET", "k", "v", "EX", "abc") == NOT_INT
    assert m("SET", "k", "v", "EX", "1.5") == NOT_INT
    assert m("SET", "k", "v", "EX", str(2**63 // 1000)) == bad
    assert m("SET", "k", "v", "PX", str(2**63 - 1)) == bad  # overflows when added to now
    assert m("EXISTS", "k") == 0
    # An absolute time in the past: accepted, and the key is gone at once.
    m("SET", "k", "old")
    assert m("SET", "k", "v", "EXAT", "1") == OK
    assert m("EXISTS", "k") == 0
    assert m.sm.dbsize() == 0


def test_setnx(m: M) -> None:
    assert m("SETNX", "k", "1") == 1
    assert m("SETNX", "k", "2") == 0
    assert m("GET", "k") == b"1"


def test_setex_psetex(m: M) -> None:
    assert m("SETEX", "k", "10", "v") == OK
    assert m("TTL", "k") == 10
    assert m("GET", "k") == b"v"
    assert m("PSETEX", "p", "1234", "v") == OK
    assert m("PTTL", "p") == 1234
    assert m("SETEX", "k", "0", "v") == err("ERR invalid expire time in 'setex' command")
    assert m("PSETEX", "k", "-1", "v") == err("ERR invalid expire time in 'psetex' command")
    assert m("SETEX", "k", "x", "v") == NOT_INT
    assert m("SETEX", "k", "10") == err("ERR wrong number of arguments for 'setex' command")


def test_getset_getdel(m: M) -> None:
    assert m("GETSET", "k", "1") is None
    m("EXPIRE", "k", "100")
    assert m("GETSET", "k", "2") == b"1"
    assert m("TTL", "k") == -1
    assert m("GETDEL", "k") == b"2"
    assert m("GETDEL", "k") is None
    assert m("EXISTS", "k") == 0
    make_wrongtype(m)
    assert m("GETSET", "h", "x") == WRONGTYPE
    assert m("GETDEL", "h") == WRONGTYPE
    assert m("TYPE", "h") == "testfake"


def test_getex(m: M) -> None:
    assert m("GETEX", "k") is None
    assert m("GETEX", "k", "EX", "10") is None
    assert m("EXISTS", "k") == 0
    m("SET", "k", "v")
    assert m("GETEX", "k", "EX", "10") == b"v"
    assert m("TTL", "k") == 10
    assert m("GETEX", "k", "PX", "500") == b"v"
    assert m("PTTL", "k") == 500
    assert m("GETEX", "k", "PXAT", str(NOW + 900)) == b"v"
    assert m("PTTL", "k") == 900
    assert m("GETEX", "k", "EXAT", str(NOW // 1000 + 50)) == b"v"
    assert m("PEXPIRETIME", "k") == (NOW // 1000 + 50) * 1000
    assert m("GETEX", "k", "PERSIST") == b"v"
    assert m("TTL", "k") == -1
    assert m("GETEX", "k") == b"v"
    assert m("GETEX", "k", "PERSIST", "EX", "1") == SYNTAX
    assert m("GETEX", "k", "EX", "1", "PERSIST") == SYNTAX
    assert m("GETEX", "k", "EX") == SYNTAX
    assert m("GETEX", "k", "EX", "0") == err("ERR invalid expire time in 'getex' command")
    assert m("GETEX", "k", "EX", "nope") == NOT_INT
    assert m("GETEX", "k", "PXAT", "1") == b"v"  # the past: returned, then gone
    assert m("EXISTS", "k") == 0
    make_wrongtype(m)
    assert m("GETEX", "h") == WRONGTYPE


# ---- multiple keys ------------------------------------------------------------------------


def test_mget_mset(m: M) -> None:
    assert m("MSET", "a", "1", "b", "2") == OK
    make_wrongtype(m)
    assert m("MGET", "a", "b", "c", "h") == [b"1", b"2", None, None]
    assert m("MSET", "a", "1", "b") == err("ERR wrong number of arguments for 'mset' command")
    m("EXPIRE", "a", "100")
    assert m("MSET", "a", "x", "a", "y") == OK  # last one wins, TTL dropped
    assert m("GET", "a") == b"y"
    assert m("TTL", "a") == -1


def test_msetnx(m: M) -> None:
    assert m("MSETNX", "a", "1", "b", "2") == 1
    assert m("MSETNX", "b", "3", "c", "4") == 0
    assert m("MGET", "a", "b", "c") == [b"1", b"2", None]
    assert m("MSETNX", "a") == err("ERR wrong number of arguments for 'msetnx' command")
    assert m("MSETNX", "a", "1", "c") == err("ERR wrong number of arguments for 'msetnx' command")


# ---- counters -----------------------------------------------------------------------------


def test_incr_decr(m: M) -> None:
    assert m("INCR", "n") == 1
    assert m("INCR", "n") == 2
    assert m("DECR", "n") == 1
    assert m("INCRBY", "n", "10") == 11
    assert m("DECRBY", "n", "20") == -9
    assert m("GET", "n") == b"-9"
    assert m("DECR", "m") == -1


def test_incr_keeps_ttl(m: M) -> None:
    m("SET", "n", "5", "EX", "100")
    assert m("INCR", "n") == 6
    assert m("TTL", "n") == 100


@pytest.mark.parametrize("value", ["abc", "1.5", " 1", "1 ", "+1", "01", "", "-0", "99999999999999999999"])
def test_incr_not_integer(m: M, value: str) -> None:
    m("SET", "n", value)
    assert m("INCR", "n") == NOT_INT
    assert m("GET", "n") == b(value)


@pytest.mark.parametrize("incr", ["abc", "1.0", "", "9223372036854775808", "1e3"])
def test_incrby_bad_increment(m: M, incr: str) -> None:
    assert m("INCRBY", "n", incr) == NOT_INT
    assert m("EXISTS", "n") == 0


def test_incr_overflow(m: M) -> None:
    overflow = err("ERR increment or decrement would overflow")
    m("SET", "n", str(2**63 - 1))
    assert m("INCR", "n") == overflow
    assert m("INCRBY", "n", "-1") == 2**63 - 2
    m("SET", "n", str(-(2**63)))
    assert m("DECR", "n") == overflow
    assert m("DECRBY", "n", str(-(2**63))) == err("ERR decrement would overflow")
    assert m("INCRBY", "n", str(2**63 - 1)) == -1


def test_incr_wrongtype(m: M) -> None:
    make_wrongtype(m)
    for cmd in (["INCR", "h"], ["DECRBY", "h", "1"], ["INCRBYFLOAT", "h", "1"], ["APPEND", "h", "x"]):
        assert m(*cmd) == WRONGTYPE


def test_incrbyfloat(m: M) -> None:
    assert m("INCRBYFLOAT", "f", "10.5") == b"10.5"
    assert m("INCRBYFLOAT", "f", "0.1") == b"10.6"
    assert m("INCRBYFLOAT", "f", "-5") == b"5.6"
    m("SET", "f", "5.0e3")
    assert m("INCRBYFLOAT", "f", "2.0e2") == b"5200"
    m("SET", "g", "3")
    assert m("INCRBYFLOAT", "g", "1e20") == b"100000000000000000000"
    assert m("INCRBYFLOAT", "f", "abc") == err("ERR value is not a valid float")
    assert m("INCRBYFLOAT", "f", "1_0") == err("ERR value is not a valid float")
    assert m("INCRBYFLOAT", "f", " 1") == err("ERR value is not a valid float")
    assert m("INCRBYFLOAT", "f", "nan") == err("ERR value is not a valid float")
    assert m("INCRBYFLOAT", "f", "inf") == err("ERR increment would produce NaN or Infinity")
    m("SET", "s", "hello")
    assert m("INCRBYFLOAT", "s", "1") == err("ERR value is not a valid float")
    assert m("GET", "f") == b"5200"


def test_incrbyfloat_keeps_ttl(m: M) -> None:
    m("SET", "f", "1", "PX", "9000")
    assert m("INCRBYFLOAT", "f", "0.5") == b"1.5"
    assert m("PTTL", "f") == 9000


# ---- append, ranges -----------------------------------------------------------------------


def test_append_strlen(m: M) -> None:
    assert m("APPEND", "k", "Hello") == 5
    assert m("APPEND", "k", " World") == 11
    assert m("GET", "k") == b"Hello World"
    assert m("STRLEN", "k") == 11
    assert m("STRLEN", "nokey") == 0
    make_wrongtype(m)
    assert m("STRLEN", "h") == WRONGTYPE


def test_append_limit(m: M) -> None:
    from raftredis.statemachine import strings

    old = strings.MAX_STRING
    strings.MAX_STRING = 10  # the real limit is 512 MB; the check is the same
    try:
        m("SET", "k", "12345")
        assert m("APPEND", "k", "678901") == err(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
        )
        assert m("GET", "k") == b"12345"
        assert m("SETRANGE", "k", "8", "abc") == err(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
        )
    finally:
        strings.MAX_STRING = old


def test_setrange_max_offset_error(m: M) -> None:
    assert m("SETRANGE", "k", str(512 * 1024 * 1024), "x") == err(
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    )
    assert m("EXISTS", "k") == 0


@pytest.mark.parametrize(
    "start,end,expected",
    [
        (0, 3, b"This"),
        (-3, -1, b"ing"),
        (0, -1, b"This is a string"),
        (10, 100, b"string"),
        (5, 3, b""),
        (-1, -5, b""),
        (-100, 3, b"This"),
        (100, 200, b""),
        (0, 0, b"T"),
        (-1, -1, b"g"),
    ],
)
def test_getrange(m: M, start: int, end: int, expected: bytes) -> None:
    m("SET", "k", "This is a string")
    assert m("GETRANGE", "k", start, end) == expected
    assert m("SUBSTR", "k", start, end) == expected


def test_getrange_edge(m: M) -> None:
    assert m("GETRANGE", "none", "0", "-1") == b""
    m("SET", "e", "")
    assert m("GETRANGE", "e", "0", "-1") == b""
    assert m("GETRANGE", "e", "x", "1") == NOT_INT


def test_setrange(m: M) -> None:
    m("SET", "k", "Hello World")
    assert m("SETRANGE", "k", "6", "Redis") == 11
    assert m("GET", "k") == b"Hello Redis"
    assert m("SETRANGE", "pad", "5", "x") == 6
    assert m("GET", "pad") == b"\x00\x00\x00\x00\x00x"
    assert m("SETRANGE", "none", "5", "") == 0
    assert m("EXISTS", "none") == 0
    assert m("SETRANGE", "k", "100", "") == 11
    assert m("SETRANGE", "k", "-1", "x") == err("ERR offset is out of range")
    assert m("SETRANGE", "k", "a", "x") == NOT_INT
    assert m("SETRANGE", "k", "11", "!") == 12
    assert m("GET", "k") == b"Hello Redis!"
    m("EXPIRE", "k", "50")
    m("SETRANGE", "k", "0", "J")
    assert m("TTL", "k") == 50


def test_arity_errors(m: M) -> None:
    assert m("GET") == err("ERR wrong number of arguments for 'get' command")
    assert m("GET", "a", "b") == err("ERR wrong number of arguments for 'get' command")
    assert m("SET", "a") == err("ERR wrong number of arguments for 'set' command")
    assert m("MGET") == err("ERR wrong number of arguments for 'mget' command")


def test_expired_string_is_missing(m: M) -> None:
    m("SET", "k", "v", "PX", "100")
    m.now += 100
    assert m("GET", "k") is None
    assert m.read("GET", "k") is None
    assert m("STRLEN", "k") == 0
    assert m("APPEND", "k", "x") == 1  # starts afresh, without the old TTL
    assert m("TTL", "k") == -1
    m("SET", "c", "5", "PX", "10")
    m.now += 10
    assert m("INCR", "c") == 1
    assert m("TTL", "c") == -1
