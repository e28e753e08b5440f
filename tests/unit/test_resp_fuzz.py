"""Property tests: whatever bytes arrive, the parser returns commands or raises a
ProtocolError with one of Redis's texts, never anything else, never hangs, and never
holds more than the query buffer limit."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftredis.resp.parser import Limits, ProtocolError, RequestParser

KNOWN = {
    "Protocol error: invalid multibulk length",
    "Protocol error: invalid bulk length",
    "Protocol error: unbalanced quotes in request",
    "Protocol error: too big mbulk count string",
    "Protocol error: too big bulk count string",
    "Protocol error: too big inline request",
    "Protocol error: unauthenticated multibulk length",
    "Protocol error: unauthenticated bulk length",
}

# Fragments that make the interesting parser states likely.
FRAGMENTS = st.sampled_from(
    [b"*", b"$", b"\r\n", b"\r", b"\n", b"1", b"3", b"-1", b"0", b"99999999999", b"\"", b"'",
     b"\\x4", b"+", b":", b" ", b"abc", b"*2\r\n", b"$3\r\n", b"foo", b"*1\r\n$4\r\nPING\r\n"]
)
CHUNKS = st.lists(st.one_of(st.binary(max_size=40), FRAGMENTS), max_size=60)


def _check_error(e: ProtocolError) -> None:
    if e.message.startswith("Protocol error: expected '$', got '"):
        return
    assert e.message in KNOWN or not e.send_reply, e.message


def run(chunks: list[bytes], auth: bool, batch: bool) -> None:
    limits = Limits(client_query_buffer_limit=4096, inline_max=1024, proto_max_bulk_len=2048)
    p = RequestParser(limits)
    p.auth_required = auth
    for chunk in chunks:
        try:
            p.feed(chunk)
            if batch:
                cmds = p.get_commands()
            else:
                cmds = []
                for _ in range(10_000):
                    c = p.get_command()
                    if c is None:
                        break
                    cmds.append(c)
                else:
                    raise AssertionError("parser does not stop")
        except ProtocolError as e:
            _check_error(e)
            return
        for c in cmds:
            assert c and all(type(a) is bytes for a in c)
        assert p.buffered <= 4096


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CHUNKS, st.booleans(), st.booleans())
def test_random_bytes(chunks: list[bytes], auth: bool, batch: bool) -> None:
    run(chunks, auth, batch)


ARGS = st.lists(st.binary(max_size=30), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(ARGS, min_size=1, max_size=10), st.lists(st.integers(1, 50), min_size=1))
def test_valid_requests_survive_any_split(cmds: list[list[bytes]], cuts: list[int]) -> None:
    stream = b"".join(
        b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in c) for c in cmds
    )
    p = RequestParser()
    got: list[list[bytes]] = []
    i = k = 0
    while i < len(stream):
        n = cuts[k % len(cuts)]
        k += 1
        p.feed(stream[i : i + n])
        i += n
        got.extend(p.get_commands())
    assert got == cmds
