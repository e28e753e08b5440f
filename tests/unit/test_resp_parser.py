"""RequestParser: framing, inline splitting, Redis's limits and error texts."""

from __future__ import annotations

import random

import pytest

from raftredis.resp.parser import (
    Limits,
    ProtocolError,
    QueryBufferExceeded,
    RequestParser,
    split_args,
)


def mb(*args: bytes) -> bytes:
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


REQUESTS: list[tuple[bytes, list[bytes] | None]] = [
    (mb(b"SET", b"key", b"value"), [b"SET", b"key", b"value"]),
    (mb(b"GET", b""), [b"GET", b""]),
    (mb(b"ECHO", b"a\r\nb\x00\xff"), [b"ECHO", b"a\r\nb\x00\xff"]),
    (b"PING\r\n", [b"PING"]),
    (b"PING\n", [b"PING"]),
    (b'set "a b" \'c d\'\r\n', [b"set", b"a b", b"c d"]),
    (b"*0\r\n", None),  # empty requests are skipped
    (b"*-1\r\n", None),
    (b"\r\n", None),
    (mb(b"X" * 70000), [b"X" * 70000]),
]


def all_commands(p: RequestParser) -> list[list[bytes]]:
    return p.get_commands()


def test_each_request_whole() -> None:
    for raw, expected in REQUESTS:
        p = RequestParser()
        p.feed(raw)
        assert p.get_commands() == ([] if expected is None else [expected])
        assert p.buffered == 0


def test_byte_at_a_time_yields_nothing_before_the_last_byte() -> None:
    for raw, expected in REQUESTS:
        p = RequestParser()
        for i in range(len(raw) - 1):
            p.feed(raw[i : i + 1])
            assert p.get_command() is None, (raw[:40], i)
        p.feed(raw[-1:])
        got = p.get_command()
        assert got == expected


def test_byte_at_a_time_batch_api() -> None:
    stream = b"".join(r for r, _ in REQUESTS)
    expected = [e for _, e in REQUESTS if e is not None]
    p = RequestParser()
    got: list[list[bytes]] = []
    for i in range(len(stream)):
        p.feed(stream[i : i + 1])
        got.extend(p.get_commands())
    assert got == expected


@pytest.mark.parametrize("seed", range(30))
def test_random_splits(seed: int) -> None:
    rng = random.Random(seed)
    reqs = [rng.choice(REQUESTS) for _ in range(40)]
    stream = b"".join(r for r, _ in reqs)
    expected = [e for _, e in reqs if e is not None]
    p = RequestParser()
    got: list[list[bytes]] = []
    i = 0
    while i < len(stream):
        n = rng.randint(1, 300)
        p.feed(stream[i : i + n])
        i += n
        if rng.random() < 0.5:
            got.extend(p.get_commands())
        else:
            while (cmd := p.get_command()) is not None:
                got.append(cmd)
    got.extend(p.get_commands())
    assert got == expected
    assert p.buffered == 0


def error_of(data: bytes, auth_required: bool = False, limits: Limits | None = None) -> str:
    p = RequestParser(limits)
    p.auth_required = auth_required
    p.feed(data)
    with pytest.raises(ProtocolError) as ei:
        p.get_commands()
    return ei.value.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"*abc\r\n", "Protocol error: invalid multibulk length"),
        (b"*3000000000\r\n", "Protocol error: invalid multibulk length"),
        (b"*01\r\n", "Protocol error: invalid multibulk length"),
        (b"* 1\r\n", "Protocol error: invalid multibulk length"),
        (b"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
        (b"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"),
        (b"*1\r\n$+3\r\n", "Protocol error: invalid bulk length"),
        (b"*1\r\n$600000000\r\n", "Protocol error: invalid bulk length"),
        (b"*1\r\n+OK\r\n", "Protocol error: expected '$', got '+'"),
        (b"*1\r\n:1\r\n", "Protocol error: expected '$', got ':'"),
        (b"*2\r\n$3\r\nfoo\r\n*1\r\n", "Protocol error: expected '$', got '*'"),
        (b'set "a\r\n', "Protocol error: unbalanced quotes in request"),
        (b'set "a"b\r\n', "Protocol error: unbalanced quotes in request"),
        (b"set 'a\r\n", "Protocol error: unbalanced quotes in request"),
        (b"*" + b"1" * 70000, "Protocol error: too big mbulk count string"),
        (b"*1\r\n$" + b"1" * 70000, "Protocol error: too big bulk count string"),
        (b"x" * 70000, "Protocol error: too big inline request"),
        (b"x" * 90000 + b"\r\n", "Protocol error: too big inline request"),
    ],
)
def test_protocol_errors(data: bytes, message: str) -> None:
    assert error_of(data) == message


def test_error_comes_after_the_commands_before_it_and_sticks() -> None:
    p = RequestParser()
    p.feed(mb(b"PING") + b"PING\r\n" + b"*1\r\n+x\r\n" + mb(b"PING"))
    assert p.get_commands() == [[b"PING"], [b"PING"]]
    for _ in range(2):
        with pytest.raises(ProtocolError, match="expected"):
            p.get_commands()
    with pytest.raises(ProtocolError):
        p.get_command()


def test_bulk_length_limit_is_configurable() -> None:
    limits = Limits(proto_max_bulk_len=10)
    assert error_of(b"*1\r\n$11\r\n", limits=limits) == "Protocol error: invalid bulk length"
    p = RequestParser(limits)
    p.feed(mb(b"x" * 10))
    assert p.get_commands() == [[b"x" * 10]]


def test_600mb_bulk_header_refused_at_once_with_nothing_buffered() -> None:
    p = RequestParser()
    p.feed(b"*2\r\n$3\r\nSET\r\n$600000000\r\n")
    with pytest.raises(ProtocolError, match="invalid bulk length"):
        p.get_commands()
    assert p.buffered < 100
    p.feed(b"x" * 1000)  # ignored once failed
    assert p.buffered < 100


def test_unauthenticated_limits() -> None:
    many = mb(*[b"a"] * 11)
    assert error_of(many, auth_required=True) == "Protocol error: unauthenticated multibulk length"
    big = b"*1\r\n$16385\r\n"
    assert error_of(big, auth_required=True) == "Protocol error: unauthenticated bulk length"
    p = RequestParser()
    p.auth_required = True
    p.feed(mb(*[b"a"] * 10) + mb(b"x" * 16384))
    assert len(p.get_commands()) == 2


def test_query_buffer_limit_closes_without_reply() -> None:
    p = RequestParser(Limits(client_query_buffer_limit=1000))
    p.feed(b"*1\r\n$900\r\n" + b"x" * 900)
    with pytest.raises(QueryBufferExceeded) as ei:
        p.feed(b"x" * 200)
    assert ei.value.send_reply is False
    p2 = RequestParser()
    p2.auth_required = True
    with pytest.raises(QueryBufferExceeded):
        p2.feed(b"PING " * 300_000)


def test_large_bulk_body_in_many_chunks_is_not_rescanned() -> None:
    body = b"y" * 1_000_000
    raw = mb(b"SET", b"k", body)
    p = RequestParser()
    for i in range(0, len(raw), 4096):
        p.feed(raw[i : i + 4096])
        cmds = p.get_commands()
        if i + 4096 < len(raw):
            assert cmds == []
    assert cmds == [[b"SET", b"k", body]]


def test_bulk_trailer_is_not_checked_like_redis() -> None:
    p = RequestParser()
    p.feed(b"*2\r\n$3\r\nfooXX$3\r\nbar\r\n")
    assert p.get_commands() == [[b"foo", b"bar"]]


@pytest.mark.parametrize(
    ("line", "args"),
    [
        (b"", []),
        (b"   ", []),
        (b"a b  c", [b"a", b"b", b"c"]),
        (b"\ta\tb", [b"a", b"b"]),
        (b'"a b" c', [b"a b", b"c"]),
        (b'"\\x41\\x4a" x', [b"AJ", b"x"]),
        (b'"\\xZZ"', [b"xZZ"]),
        (b'"a\\nb\\r\\t\\b\\a\\"q"', [b"a\nb\r\t\x08\x07\"q"]),
        (b"'it\\'s' x", [b"it's", b"x"]),
        (b"'a\\nb'", [b"a\\nb"]),
        (b'a"b c"', [b"ab c"]),
        (b'""', [b""]),
        (b"''", [b""]),
        (b'"abc', None),
        (b"'abc", None),
        (b'"abc"d', None),
        (b"'abc'd", None),
    ],
)
def test_split_args(line: bytes, args: list[bytes] | None) -> None:
    assert split_args(line) == args
