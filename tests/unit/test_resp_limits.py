"""Limits before allocation: no request header makes the parser (or hiredis under it)
allocate or work in proportion to a count that the data does not back.

Before the guard, `*2147483647\\r\\n` cost ~4.4 s (hiredis's 16 GB list, freed slot by
slot), `*500000000` ~1.2 s, and `*4294967295` a MemoryError that escaped the parser.
The bounds below are generous (the machine is shared); the point is the difference.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftredis.resp import guard
from raftredis.resp.parser import ProtocolError, RequestParser

PARSE_BOUND_S = 0.5  # per attack; the unguarded parser took up to 4.4 s
ALLOC_BOUND = 2 * 1024 * 1024  # bytes Python may allocate while parsing a few bytes


def mb(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


# header -> what Redis 7 does with it from an authenticated client (checked against a
# real redis-server by tests/integration/test_resp_differential.py): None = waits.
ATTACKS: dict[bytes, str | None] = {
    b"*2147483647\r\n": None,
    b"*1073741825\r\n": None,
    b"*500000000\r\n": None,
    b"*1000000\r\n": None,
    b"*2147483648\r\n": "Protocol error: invalid multibulk length",
    b"*4294967295\r\n": "Protocol error: invalid multibulk length",
    b"*99999999999999999999\r\n": "Protocol error: invalid multibulk length",
    b"*" + b"9" * 5000 + b"\r\n": "Protocol error: invalid multibulk length",
    b"*1\r\n$2147483647\r\n": "Protocol error: invalid bulk length",
    b"*1\r\n$536870913\r\n": "Protocol error: invalid bulk length",
    b"*1\r\n$536870912\r\n": None,
    b"*1\r\n$" + b"9" * 5000 + b"\r\n": "Protocol error: invalid bulk length",
    # Nested aggregates are protocol errors for Redis; hiredis would build them first.
    b"*1\r\n*2147483647\r\n": "Protocol error: expected '$', got '*'",
    b"*1\r\n~2147483647\r\n": "Protocol error: expected '$', got '~'",
    b"*1\r\n>2147483647\r\n": "Protocol error: expected '$', got '>'",
    b"*1\r\n|2147483647\r\n": "Protocol error: expected '$', got '|'",
    b"*2\r\n$1\r\naXX*2147483647\r\n": "Protocol error: expected '$', got '*'",
    b"*2\r\n$1\r\naXX>2147483647\r\n": "Protocol error: expected '$', got '>'",
}


def outcome(chunks: list[bytes], auth_required: bool = False) -> tuple[list, str | None]:
    """Feed the chunks one get_commands() call apart; the commands and the error."""
    p = RequestParser()
    p.auth_required = auth_required
    got: list[list[bytes]] = []
    try:
        for c in chunks:
            p.feed(c)
            got.extend(p.get_commands())
        got.extend(p.get_commands())  # an error after commands surfaces on the next call
    except ProtocolError as e:
        return got, e.message
    return got, None


def bounded(chunks: list[bytes]) -> tuple[list, str | None]:
    """outcome(), asserting it was quick and allocated nearly nothing."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = outcome(chunks)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = sum(map(len, chunks))
    assert elapsed < PARSE_BOUND_S, (chunks[0][:40], elapsed)
    assert peak < ALLOC_BOUND + 16 * size, (chunks[0][:40], peak)
    return result


@pytest.mark.parametrize("header", list(ATTACKS), ids=lambda h: repr(h[:24]))
def test_attack_header_is_refused_or_waited_on_cheaply(header: bytes) -> None:
    assert bounded([header]) == ([], ATTACKS[header])


@pytest.mark.parametrize("header", list(ATTACKS), ids=lambda h: repr(h[:24]))
def test_attack_header_split_at_every_byte(header: bytes) -> None:
    for i in range(1, len(header)):
        assert bounded([header[:i], header[i:]]) == ([], ATTACKS[header]), i


@pytest.mark.parametrize("header", list(ATTACKS), ids=lambda h: repr(h[:24]))
def test_attack_after_a_pipeline_keeps_the_commands_before_it(header: bytes) -> None:
    ping, get = mb(b"PING"), mb(b"GET", b"k")
    cmds, err = bounded([ping + get * 20 + header])
    assert cmds == [[b"PING"]] + [[b"GET", b"k"]] * 20
    assert err == ATTACKS[header]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(list(ATTACKS)),
    st.lists(st.sampled_from([mb(b"PING"), mb(b"SET", b"k", b"v" * 40), b"PING\r\n",
                              mb(b"MSET", *[b"k%d" % i for i in range(30)])]), max_size=6),
    st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=8),
)
def test_attack_anywhere_in_any_split(header: bytes, before: list[bytes],
                                      cuts: list[int]) -> None:
    stream = b"".join(before) + header
    chunks, i, k = [], 0, 0
    while i < len(stream):
        chunks.append(stream[i : i + cuts[k % len(cuts)]])
        i += cuts[k % len(cuts)]
        k += 1
    cmds, err = bounded(chunks)
    assert len(cmds) == len(before)
    assert err == ATTACKS[header]


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=11, max_value=2**32 + 5), st.sampled_from(b"*~>|"),
       st.integers(min_value=0, max_value=3))
def test_any_count_behind_any_aggregate_marker(count: int, marker: int, depth: int) -> None:
    raw = b"*1\r\n" * depth + bytes([marker]) + b"%d\r\n" % count
    cmds, err = bounded([raw])
    if depth == 0 and marker == 42:
        assert cmds == []
        assert err == (None if count <= 2**31 - 1 else "Protocol error: invalid multibulk length")
    elif depth == 0:  # not '*': an inline command
        assert (cmds, err) == ([[raw[:-2]]], None)
    else:
        got = chr(marker) if depth == 1 else "*"
        assert (cmds, err) == ([], f"Protocol error: expected '$', got '{got}'")


def test_in_range_count_allocates_only_for_the_data_that_arrived() -> None:
    p = RequestParser()
    tracemalloc.start()
    try:
        p.feed(b"*1000000\r\n")
        assert p.get_commands() == []
        for i in range(2000):  # a trickle of arguments
            p.feed(b"$4\r\n%04d\r\n" % i)
            assert p.get_commands() == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024  # 1M slots would be 8 MB; 2000 arguments are ~20 KB
    # The rest arrives: one command with every argument.
    rest = b"".join(b"$4\r\n%04d\r\n" % (i % 10000) for i in range(2000, 1000000))
    p.feed(rest)
    (cmd,) = p.get_commands()
    assert len(cmd) == 1000000 and cmd[1999] == b"1999" and cmd[-1] == b"9999"


def test_long_digit_strings_are_a_protocol_error_not_a_crash() -> None:
    for raw in (b"*" + b"1" * 5000 + b"\r\n", b"*1\r\n$" + b"1" * 5000 + b"\r\n"):
        _, err = outcome([raw])
        assert err is not None and err.startswith("Protocol error: invalid")


def test_inline_line_limits_follow_redis() -> None:
    # Redis serves a line that arrives whole even past 64 KB (it reads 16 KB at a
    # time), and refuses one once more than 64 KB of it lack a newline.
    assert outcome([b"x" * 70000 + b"\r\n"]) == ([[b"x" * 70000]], None)
    assert outcome([b"x" * 100000 + b"\r\n"])[1] == "Protocol error: too big inline request"
    assert outcome([b"x" * 70000])[1] == "Protocol error: too big inline request"
    chunks = [b"x" * 10000] * 7 + [b"\r\n"]
    assert outcome(chunks)[1] == "Protocol error: too big inline request"


def test_a_line_trickling_in_is_not_rescanned() -> None:
    p = RequestParser()
    t0 = time.perf_counter()
    for _ in range(60000):
        p.feed(b"x")
        assert p.get_commands() == []
    p.feed(b"\n")
    assert p.get_commands() == [[b"x" * 60000]]
    assert time.perf_counter() - t0 < 10  # quadratic rescans would scan 1.8e9 bytes


# -- the guard itself -----------------------------------------------------------------


@pytest.mark.parametrize("avg", [0, guard.BIG_COMMAND])
def test_guard_passes_ordinary_pipelines_whole(avg: int) -> None:
    for buf in (mb(b"PING"), mb(b"SET", b"k" * 20, b"v" * 3000) * 40,
                mb(b"MSET", *[b"x"] * 200) * 3, mb(b"GET", b"a*9|1>b~c") * 50,
                mb(b"SET", b"*1", b"~|>*") * 20):
        assert guard.safe_prefix(buf, 0, len(buf), avg) == len(buf)


@pytest.mark.parametrize("avg", [0, guard.BIG_COMMAND])
def test_guard_cuts_before_a_count_the_bytes_do_not_back(avg: int) -> None:
    head = mb(b"SET", b"k", b"v") * 30
    for bomb in (b"*2147483647\r\n", b"~100000\r\n", b">5000\r\n", b"|70000\r\n"):
        buf = head + bomb + b"x" * 300
        assert guard.safe_prefix(buf, 0, len(buf), avg) == len(head)
        assert guard.safe_prefix(buf, len(head), len(buf), avg) == len(head)


def test_guard_budget_is_shared_by_all_headers() -> None:
    buf = b"*99\r\n" * 100  # each backed by 5 bytes; together 9900 slots for 500 bytes
    cut = guard.walk(buf, 0, len(buf))
    claimed = 99 * (cut // 5)  # the headers hiredis may see
    assert claimed <= len(buf) + guard.SLACK < claimed + 99
    assert guard.safe_prefix(buf, 0, len(buf)) == cut


def test_values_that_look_like_bombs_are_still_data() -> None:
    bombs = [b"*2147483647\r\n", b"~4294967295\r\n", b">99999\r\n", b"|12345678\r\n"]
    stream = b"".join(mb(b"SET", b"k%d" % i, bombs[i % 4]) for i in range(200))
    cmds, err = bounded([stream[:5000], stream[5000:]])
    assert err is None
    assert cmds == [[b"SET", b"k%d" % i, bombs[i % 4]] for i in range(200)]
