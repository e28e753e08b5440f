"""Reply encoding for RESP2 and RESP3, checked byte for byte and by hiredis reading it back."""

from __future__ import annotations

import hiredis
import pytest

from raftredis.reply import (
    NULL_ARRAY,
    OK,
    BigNumber,
    CommandError,
    Double,
    Error,
    Map,
    Push,
    Set,
    Status,
    Verbatim,
)
from raftredis.resp.encoder import encode, encode_into, format_double

CASES = [
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (Status("PONG"), b"+PONG\r\n", b"+PONG\r\n"),
    (b"abc", b"$3\r\nabc\r\n", b"$3\r\nabc\r\n"),
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    (0, b":0\r\n", b":0\r\n"),
    (-1, b":-1\r\n", b":-1\r\n"),
    (1023, b":1023\r\n", b":1023\r\n"),
    (2**63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    (Error("ERR bad"), b"-ERR bad\r\n", b"-ERR bad\r\n"),
    (Error("ERR a\r\nb"), b"-ERR a  b\r\n", b"-ERR a  b\r\n"),
    ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
    ((), b"*0\r\n", b"*0\r\n"),
    (Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (Double(3.0), b"$1\r\n3\r\n", b",3\r\n"),
    (Double(float("inf")), b"$3\r\ninf\r\n", b",inf\r\n"),
    (Double(float("-inf")), b"$4\r\n-inf\r\n", b",-inf\r\n"),
    (Map({b"a": 1}), b"*2\r\n$1\r\na\r\n:1\r\n", b"%1\r\n$1\r\na\r\n:1\r\n"),
    (Set([b"x"]), b"*1\r\n$1\r\nx\r\n", b"~1\r\n$1\r\nx\r\n"),
    (Push([b"x"]), b"*1\r\n$1\r\nx\r\n", b">1\r\n$1\r\nx\r\n"),
    (Verbatim("hi"), b"$2\r\nhi\r\n", b"=6\r\ntxt:hi\r\n"),
    (BigNumber(10**30), b"$31\r\n" + b"1" + b"0" * 30 + b"\r\n", b"(" + b"1" + b"0" * 30 + b"\r\n"),
    (True, b":1\r\n", b"#t\r\n"),
    (False, b":0\r\n", b"#f\r\n"),
    (CommandError("ERR x"), b"-ERR x\r\n", b"-ERR x\r\n"),
    ("text", b"$4\r\ntext\r\n", b"$4\r\ntext\r\n"),
]


@pytest.mark.parametrize(("value", "resp2", "resp3"), CASES)
def test_encode(value: object, resp2: bytes, resp3: bytes) -> None:
    assert encode(value, 2) == resp2
    assert encode(value, 3) == resp3


def test_nested_round_trip_through_hiredis() -> None:
    value = [b"a", [1, [b"b", None]], Map({b"k": [b"v"]}), Set([]), Error("ERR e")]
    r = hiredis.Reader()
    r.feed(encode(value, 3))
    got = r.gets()
    assert got[0] == b"a" and got[1] == [1, [b"b", None]]
    assert got[2] == {b"k": [b"v"]}
    assert isinstance(got[4], hiredis.ReplyError) and str(got[4]) == "ERR e"


def test_batch_into_one_list() -> None:
    parts: list[bytes] = []
    for v in (OK, b"x", 5):
        encode_into(parts, v, 2)
    assert b"".join(parts) == b"+OK\r\n$1\r\nx\r\n:5\r\n"


def test_unknown_type_is_refused() -> None:
    with pytest.raises(TypeError):
        encode(object(), 2)


@pytest.mark.parametrize(("d", "text"), [(0.1, "0.1"), (1e20, "1e+20"), (-2.0, "-2"),
                                          (1.0e-5, "1e-05"), (float("nan"), "nan")])
def test_format_double(d: float, text: str) -> None:
    assert format_double(d) == text


def test_big_bulk_is_encoded_without_a_formatted_copy() -> None:
    value = b"v" * (64 * 1024)
    parts: list[bytes] = []
    encode_into(parts, value, 2)
    assert parts[1] is value  # the join of the batch is its only copy
    assert b"".join(parts) == b"$65536\r\n" + value + b"\r\n"
    assert encode([value, b"x"]) == b"*2\r\n$65536\r\n" + value + b"\r\n$1\r\nx\r\n"
