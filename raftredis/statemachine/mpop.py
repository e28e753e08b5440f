"""Pops from the first non-empty of several keys: LMPOP, BLMPOP, ZMPOP, BZMPOP,
BZPOPMIN, BZPOPMAX.

The blocking forms are one non-blocking attempt, as BLPOP is (see lists.py): they pop
if they can and otherwise answer the null array Redis sends when a wait times out; the
node layer retries them when an applied entry touches one of their keys.
"""

from __future__ import annotations

from raftredis.reply import NULL_ARRAY, SYNTAX_ERR, Double, Error
from raftredis.statemachine.blocking import parse_timeout_ms
from raftredis.statemachine.errors import fail
from raftredis.statemachine.keyfns import numkeys
from raftredis.statemachine.lists import ListValue
from raftredis.statemachine.parse import to_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.zsets import ZSet

NUMKEYS = Error("ERR numkeys should be greater than 0")
COUNT = Error("ERR count should be greater than 0")

list_command = Family("list", "list", since="7.0.0").command
zset_command = Family("sorted-set", "sortedset", since="7.0.0").command


def _positive(arg: bytes, error: Error) -> int:
    n = to_int(arg)
    if n is None or n < 1:
        raise fail(error)
    return n


def _parse(args: list[bytes], at: int, wheres: tuple[bytes, bytes]) -> tuple[list[bytes], bool, int]:
    """numkeys at `at`, the keys, LEFT|RIGHT or MIN|MAX, [COUNT n]:
    (keys, first of `wheres` chosen, count)."""
    n = _positive(args[at], NUMKEYS)
    where_at = at + n + 1
    if where_at >= len(args):
        raise fail(SYNTAX_ERR)
    where = args[where_at].upper()
    if where not in wheres:
        raise fail(SYNTAX_ERR)
    count = None
    i = where_at + 1
    while i < len(args):
        if count is None and args[i].upper() == b"COUNT" and i + 1 < len(args):
            count = _positive(args[i + 1], COUNT)
            i += 2
        else:
            raise fail(SYNTAX_ERR)
    return args[at + 1:where_at], where == wheres[0], count or 1


def _lmpop(ctx: Ctx, args: list[bytes], at: int) -> object:
    keys, left, count = _parse(args, at, (b"LEFT", b"RIGHT"))
    db = ctx.db
    for key in keys:
        lst = db.get_typed(key, ctx.now, ListValue, write=True)
        if lst is None:
            continue
        assert isinstance(lst, ListValue)
        pop = lst.popleft if left else lst.pop
        out = [pop() for _ in range(min(count, len(lst)))]
        if not lst:
            db.delete(key)
        return [key, out]
    return NULL_ARRAY


def _zpop(ctx: Ctx, key: bytes, z: ZSet, top: bool, count: int) -> list[list[object]]:
    out: list[list[object]] = []
    for _ in range(min(count, len(z))):
        s, m = z.order[-1] if top else z.order[0]
        z.remove(m)
        out.append([m, Double(s)])
    if not z.scores:
        ctx.db.delete(key)
    return out


def _first_zset(ctx: Ctx, keys: list[bytes]) -> tuple[bytes, ZSet] | None:
    for key in keys:
        z = ctx.db.get_typed(key, ctx.now, ZSet, write=True)
        if z is not None:
            assert isinstance(z, ZSet)
            return key, z
    return None


def _zmpop(ctx: Ctx, args: list[bytes], at: int) -> object:
    keys, low, count = _parse(args, at, (b"MIN", b"MAX"))
    found = _first_zset(ctx, keys)
    if found is None:
        return NULL_ARRAY
    key, z = found
    return [key, _zpop(ctx, key, z, not low, count)]


def _bzpop(ctx: Ctx, args: list[bytes], top: bool) -> object:
    parse_timeout_ms(args[-1])
    found = _first_zset(ctx, args[1:-1])
    if found is None:
        return NULL_ARRAY
    key, z = found
    return [key, *_zpop(ctx, key, z, top, 1)[0]]


@list_command("lmpop", -4, "write", 0, 0, 0, key_fn=numkeys(1),
              summary="Pop elements from a list")
def cmd_lmpop(ctx: Ctx, args: list[bytes]) -> object:
    return _lmpop(ctx, args, 1)


@list_command("blmpop", -5, "write blocking", 0, 0, 0, key_fn=numkeys(2),
              summary="Pop elements from a list, or block until one is available")
def cmd_blmpop(ctx: Ctx, args: list[bytes]) -> object:
    parse_timeout_ms(args[1])
    return _lmpop(ctx, args, 2)


@zset_command("zmpop", -4, "write", 0, 0, 0, key_fn=numkeys(1),
              summary="Remove and return members with scores in a sorted set")
def cmd_zmpop(ctx: Ctx, args: list[bytes]) -> object:
    return _zmpop(ctx, args, 1)


@zset_command("bzmpop", -5, "write blocking", 0, 0, 0, key_fn=numkeys(2), summary=(
    "Remove and return members with scores in a sorted set or block until one is available"))
def cmd_bzmpop(ctx: Ctx, args: list[bytes]) -> object:
    parse_timeout_ms(args[1])
    return _zmpop(ctx, args, 2)


@zset_command("bzpopmin", -3, "write noscript blocking fast", 1, -2, since="5.0.0", summary=(
    "Remove and return the member with the lowest score from one or more sorted sets, or "
    "block until one is available"))
def cmd_bzpopmin(ctx: Ctx, args: list[bytes]) -> object:
    return _bzpop(ctx, args, False)


@zset_command("bzpopmax", -3, "write noscript blocking fast", 1, -2, since="5.0.0", summary=(
    "Remove and return the member with the highest score from one or more sorted sets, or "
    "block until one is available"))
def cmd_bzpopmax(ctx: Ctx, args: list[bytes]) -> object:
    return _bzpop(ctx, args, True)
