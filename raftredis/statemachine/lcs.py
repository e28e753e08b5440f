"""LCS: the longest common subsequence of two strings, with LEN, IDX, MINMATCHLEN and
WITHMATCHLEN, answering exactly what Redis answers.

Redis fills the (len(a)+1) x (len(b)+1) table of LCS lengths and walks it back from the
end. We keep each row of that table as one bit vector (bit-parallel LCS, Allison-Dix /
Hyyrö: bit j is 0 where the row's LCS grows at j), so a row costs one big-int addition
and LCS(i, j) is j minus a popcount. The walk takes the same steps as Redis's (ties move
left), and jumps over runs of columns where nothing can stop it, so a short string
against a long one does not take a Python step per byte. Redis's own memory bound for
the table (proto-max-bulk-len) bounds the rows kept here to 16 MiB.
"""

from __future__ import annotations

from raftredis.reply import SYNTAX_ERR, Error, Map
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_int
from raftredis.statemachine.registry import Ctx, Family

NOT_STRINGS = Error("ERR The specified keys must contain string values")
LEN_AND_IDX = Error("ERR If you want both the length and indexes, please just use IDX.")
TOO_BIG = Error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
MAX_TABLE_BYTES = 512 * 1024 * 1024  # proto-max-bulk-len

command = Family("string", "string", since="7.0.0").command


def _masks(a: bytes, b: bytes) -> dict[int, int]:
    """For each byte value in a: the bit set of the positions of b holding it."""
    out = {}
    for c in set(a):
        table = bytes(0x31 if x == c else 0x30 for x in range(256))  # "1" / "0"
        out[c] = int(b.translate(table)[::-1] or b"0", 2)
    return out


def _rows(a: bytes, b: bytes, masks: dict[int, int], keep: bool = True) -> list[int]:
    """The bit rows 0..len(a) (only the last one unless `keep`)."""
    full = (1 << len(b)) - 1
    v = full
    rows = [v]
    for c in a:
        u = v & masks[c]
        v = ((v + u) | (v - u)) & full
        if keep:
            rows.append(v)
    return rows if keep else [v]


class _Table:
    """LCS(i, j) from the bit rows."""

    def __init__(self, rows: list[int]) -> None:
        self.rows = rows

    def __call__(self, i: int, j: int) -> int:
        return j - (self.rows[i] & ((1 << j) - 1)).bit_count()


def _walk(a: bytes, b: bytes, rows: list[int], masks: dict[int, int], minlen: int,
          withlen: bool) -> tuple[bytes, list[list[object]]]:
    """Redis's walk back from (len(a), len(b)): the LCS itself and the match ranges."""
    lcs = _Table(rows)
    out = bytearray()
    ranges: list[list[object]] = []
    i, j = len(a), len(b)
    alen = len(a)
    ar_start = alen  # alen: no range open
    ar_end = br_start = br_end = 0

    def emit() -> None:
        n = ar_end - ar_start + 1
        if minlen == 0 or n >= minlen:
            rng: list[object] = [[ar_start, ar_end], [br_start, br_end]]
            if withlen:
                rng.append(n)
            ranges.append(rng)

    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            if ar_start == alen:
                ar_start = ar_end = i - 1
                br_start = br_end = j - 1
            else:  # a match right after a match always extends the range backward
                ar_start -= 1
                br_start -= 1
            i -= 1
            j -= 1
            if ar_start == 0 or br_start == 0:
                emit()
                ar_start = alen
            continue
        if ar_start != alen:
            emit()
            ar_start = alen
        if lcs(i - 1, j) > lcs(i, j - 1):
            i -= 1
            continue
        j -= 1
        # Left of here the walk next stops at a match with a[i-1] or where this row's
        # LCS grows (the only columns where it can go up): jump to the nearest one.
        cand = (masks[a[i - 1]] | ~rows[i]) & ((1 << j) - 1)
        j = cand.bit_length()
    return bytes(reversed(out)), ranges


@command("lcs", -3, "readonly", 1, 2, summary="Find longest common substring")
def cmd_lcs(ctx: Ctx, args: list[bytes]) -> object:
    va, vb = ctx.db.get(args[1], ctx.now), ctx.db.get(args[2], ctx.now)
    if (va is not None and type(va) is not bytes) or (vb is not None and type(vb) is not bytes):
        raise fail(NOT_STRINGS)
    a: bytes = va or b""  # type: ignore[assignment]
    b: bytes = vb or b""  # type: ignore[assignment]
    getlen = getidx = withlen = False
    minlen = 0
    i = 3
    while i < len(args):
        opt = args[i].upper()
        if opt == b"IDX":
            getidx = True
        elif opt == b"LEN":
            getlen = True
        elif opt == b"WITHMATCHLEN":
            withlen = True
        elif opt == b"MINMATCHLEN" and i + 1 < len(args):
            minlen = max(parse_int(args[i + 1]), 0)
            i += 1
        else:
            raise fail(SYNTAX_ERR)
        i += 1
    if getidx and getlen:
        raise fail(LEN_AND_IDX)
    if (len(a) + 1) * (len(b) + 1) * 4 > MAX_TABLE_BYTES:
        raise fail(TOO_BIG)
    masks = _masks(a, b)
    if getlen:
        return len(b) - _rows(a, b, masks, keep=False)[-1].bit_count()
    rows = _rows(a, b, masks)
    text, ranges = _walk(a, b, rows, masks, minlen, withlen)
    if not getidx:
        return text
    return Map({b"matches": ranges, b"len": len(text)})
