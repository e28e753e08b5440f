"""Value types held in the keyspace and how each is typed, copied and snapshotted.

Values are stored bare (a string is a plain `bytes`) to keep memory per key small;
the Python type of a value tells its Redis type. Family modules (hashes, lists,
sets, sorted sets) call `register_type` with their own container type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raftredis.reply import WRONGTYPE, CommandError


@dataclass(frozen=True, slots=True)
class ValueType:
    name: str  # what TYPE answers: "string", "hash", "list", "set", "zset"
    code: int  # tag in snapshots; never reuse a code
    pytype: type
    # Turns a value into msgpack-able plain data (bytes, ints, floats, lists).
    encode: Callable[[object], object]
    # The inverse; must validate and raise ValueError on bad input.
    decode: Callable[[object], object]
    # An independent copy (COPY); immutable values may return themselves.
    copy: Callable[[object], object]
    # What OBJECT ENCODING answers.
    encoding: Callable[[object], str]


TYPES_BY_PY: dict[type, ValueType] = {}
TYPES_BY_CODE: dict[int, ValueType] = {}
TYPES_BY_NAME: dict[str, ValueType] = {}


def register_type(vt: ValueType) -> None:
    if vt.pytype in TYPES_BY_PY or vt.code in TYPES_BY_CODE or vt.name in TYPES_BY_NAME:
        raise ValueError(f"value type {vt.name!r} registered twice")
    TYPES_BY_PY[vt.pytype] = vt
    TYPES_BY_CODE[vt.code] = vt
    TYPES_BY_NAME[vt.name] = vt


def type_of(value: object) -> ValueType:
    return TYPES_BY_PY[type(value)]


def wrongtype() -> CommandError:
    return CommandError(str(WRONGTYPE))


# ---- strings ---------------------------------------------------------------------------

EMBSTR_LIMIT = 44  # Redis stores strings up to 44 bytes as embstr


def _string_encoding(value: object) -> str:
    assert isinstance(value, bytes)
    from raftredis.statemachine.parse import to_int

    if len(value) <= 20 and to_int(value) is not None:
        return "int"
    return "embstr" if len(value) <= EMBSTR_LIMIT else "raw"


def _string_decode(data: object) -> object:
    if not isinstance(data, bytes):
        raise ValueError("string value is not bytes")
    return data


STRING = ValueType(
    name="string",
    code=0,
    pytype=bytes,
    encode=lambda v: v,
    decode=_string_decode,
    copy=lambda v: v,
    encoding=_string_encoding,
)
register_type(STRING)
