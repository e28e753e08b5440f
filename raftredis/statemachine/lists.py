"""List commands: pushes and pops, ranges, LPOS, LMOVE, and the state machine side of
BLPOP/BRPOP/BLMOVE/BRPOPLPUSH.

A blocking command here is one non-blocking attempt: it pops and replies if it can,
and otherwise answers what Redis answers when the wait times out (NULL_ARRAY for
BLPOP/BRPOP, None for BLMOVE/BRPOPLPUSH). The node decides whether to wait and
retries the command when an applied entry touches one of its keys.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from raftredis.reply import NO_SUCH_KEY, NULL_ARRAY, OK, SYNTAX_ERR, Error, wrong_arity
from raftredis.statemachine.blocking import parse_timeout_ms
from raftredis.statemachine.containers import parse_positive_count
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import INT64_MIN, parse_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.values import ValueType, register_type

INDEX_OUT_OF_RANGE = Error("ERR index out of range")
RANK_ZERO = Error(
    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    "or use negative to start from the end of the list"
)
COUNT_NEGATIVE = Error("ERR COUNT can't be negative")
MAXLEN_NEGATIVE = Error("ERR MAXLEN can't be negative")
LISTPACK_BYTES = 8192  # list-max-listpack-size -2: one 8 KiB node

command = Family("list", "list").command


class ListValue(deque):
    __slots__ = ()


def _encode(v: object) -> object:
    assert isinstance(v, ListValue)
    return list(v)


def _decode(data: object) -> object:
    if not isinstance(data, list) or any(type(e) is not bytes for e in data):
        raise ValueError("list value is not an array of byte strings")
    return ListValue(data)


def _encoding(v: object) -> str:
    assert isinstance(v, ListValue)
    size = 6
    for e in v:
        size += len(e) + 2
        if size > LISTPACK_BYTES:
            return "quicklist"
    return "listpack"


LIST_TYPE = ValueType(
    name="list", code=2, pytype=ListValue, encode=_encode, decode=_decode,
    copy=lambda v: ListValue(v),  # type: ignore[arg-type]
    encoding=_encoding,
)
register_type(LIST_TYPE)


def _get(ctx: Ctx, key: bytes) -> ListValue | None:
    return ctx.db.get_typed(key, ctx.now, ListValue)  # type: ignore[return-value]


def _get_w(ctx: Ctx, key: bytes) -> ListValue | None:
    return ctx.db.get_typed(key, ctx.now, ListValue, write=True)  # type: ignore[return-value]


def _where(arg: bytes) -> bool:
    """LEFT -> True, RIGHT -> False."""
    w = arg.upper()
    if w == b"LEFT":
        return True
    if w == b"RIGHT":
        return False
    raise fail(SYNTAX_ERR)


def _range(start: int, end: int, n: int) -> tuple[int, int] | None:
    """Redis's index normalisation for LRANGE/LTRIM; None when the range is empty."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return None
    return start, min(end, n - 1)


def _drop_if_empty(ctx: Ctx, key: bytes, lst: ListValue) -> None:
    if not lst:
        ctx.db.delete(key)


# ---- pushes -------------------------------------------------------------------------------


def _push(ctx: Ctx, args: list[bytes], left: bool, only_existing: bool) -> object:
    key = args[1]
    lst = _get_w(ctx, key)
    if lst is None:
        if only_existing:
            return 0
        lst = ListValue()
        ctx.db.put(key, lst)
    if left:
        lst.extendleft(args[2:])
    else:
        lst.extend(args[2:])
    return len(lst)


@command("lpush", -3, "write denyoom fast",
         summary="Prepends one or more elements to a list. Creates the key if it doesn't exist.")
def cmd_lpush(ctx: Ctx, args: list[bytes]) -> object:
    return _push(ctx, args, True, False)


@command("rpush", -3, "write denyoom fast",
         summary="Appends one or more elements to a list. Creates the key if it doesn't exist.")
def cmd_rpush(ctx: Ctx, args: list[bytes]) -> object:
    return _push(ctx, args, False, False)


@command("lpushx", -3, "write denyoom fast", since="2.2.0",
         summary="Prepends one or more elements to a list only when the list exists.")
def cmd_lpushx(ctx: Ctx, args: list[bytes]) -> object:
    return _push(ctx, args, True, True)


@command("rpushx", -3, "write denyoom fast", since="2.2.0",
         summary="Appends an element to a list only when the list exists.")
def cmd_rpushx(ctx: Ctx, args: list[bytes]) -> object:
    return _push(ctx, args, False, True)


# ---- pops ---------------------------------------------------------------------------------


def _pop(ctx: Ctx, args: list[bytes], left: bool) -> object:
    if len(args) > 3:
        raise fail(wrong_arity(args[0].decode("utf-8", "replace")))
    count = parse_positive_count(args[2]) if len(args) == 3 else None
    key = args[1]
    lst = _get_w(ctx, key)
    if lst is None:
        return None if count is None else NULL_ARRAY
    if count is None:
        v = lst.popleft() if left else lst.pop()
        _drop_if_empty(ctx, key, lst)
        return v
    pop = lst.popleft if left else lst.pop
    out = [pop() for _ in range(min(count, len(lst)))]
    _drop_if_empty(ctx, key, lst)
    return out


@command("lpop", -2, "write fast", summary=(
    "Returns the first elements in a list after removing it. Deletes the list if the last"
    " element was popped."))
def cmd_lpop(ctx: Ctx, args: list[bytes]) -> object:
    return _pop(ctx, args, True)


@command("rpop", -2, "write fast", summary=(
    "Returns and removes the last elements of a list. Deletes the list if the last "
    "element was popped."))
def cmd_rpop(ctx: Ctx, args: list[bytes]) -> object:
    return _pop(ctx, args, False)


def _move(ctx: Ctx, src: bytes, dst: bytes, from_left: bool, to_left: bool) -> object:
    slist = _get_w(ctx, src)
    if slist is None:
        return None
    dlist = _get_w(ctx, dst)  # WRONGTYPE before anything moves
    v = slist.popleft() if from_left else slist.pop()
    if dlist is None:
        if src == dst:
            dlist = slist
        else:
            dlist = ListValue()
            ctx.db.put(dst, dlist)
    if to_left:
        dlist.appendleft(v)
    else:
        dlist.append(v)
    _drop_if_empty(ctx, src, slist)
    return v


@command("lmove", 5, "write denyoom", 1, 2, since="6.2.0",
         summary="Returns an element after popping it from one list and pushing it to another.")
def cmd_lmove(ctx: Ctx, args: list[bytes]) -> object:
    return _move(ctx, args[1], args[2], _where(args[3]), _where(args[4]))


@command("rpoplpush", 3, "write denyoom", 1, 2, since="1.2.0", summary=(
    "Returns the last element of a list after removing and pushing it to another list."))
def cmd_rpoplpush(ctx: Ctx, args: list[bytes]) -> object:
    return _move(ctx, args[1], args[2], False, True)


# ---- blocking commands: one non-blocking attempt ------------------------------------------


def _bpop(ctx: Ctx, args: list[bytes], left: bool) -> object:
    parse_timeout_ms(args[-1])
    for key in args[1:-1]:
        lst = _get_w(ctx, key)
        if lst is not None:
            v = lst.popleft() if left else lst.pop()
            _drop_if_empty(ctx, key, lst)
            return [key, v]
    return NULL_ARRAY


@command("blpop", -3, "write noscript blocking", 1, -2, since="2.0.0", summary=(
    "Removes and returns the first element in a list. Blocks until an element is "
    "available otherwise."))
def cmd_blpop(ctx: Ctx, args: list[bytes]) -> object:
    return _bpop(ctx, args, True)


@command("brpop", -3, "write noscript blocking", 1, -2, since="2.0.0", summary=(
    "Removes and returns the last element in a list. Blocks until an element is available"
    " otherwise."))
def cmd_brpop(ctx: Ctx, args: list[bytes]) -> object:
    return _bpop(ctx, args, False)


@command("blmove", 6, "write denyoom noscript blocking", 1, 2, since="6.2.0", summary=(
    "Pops an element from a list, pushes it to another list and returns it. Blocks until "
    "an element is available otherwise."))
def cmd_blmove(ctx: Ctx, args: list[bytes]) -> object:
    from_left, to_left = _where(args[3]), _where(args[4])
    parse_timeout_ms(args[5])
    return _move(ctx, args[1], args[2], from_left, to_left)


@command("brpoplpush", 4, "write denyoom noscript blocking", 1, 2, since="2.2.0", summary=(
    "Pops an element from a list, pushes it to another list and returns it. Block until "
    "an element is available otherwise."))
def cmd_brpoplpush(ctx: Ctx, args: list[bytes]) -> object:
    parse_timeout_ms(args[3])
    return _move(ctx, args[1], args[2], False, True)


# ---- reads --------------------------------------------------------------------------------


@command("llen", 2, "readonly fast", summary="Returns the length of a list.")
def cmd_llen(ctx: Ctx, args: list[bytes]) -> object:
    lst = _get(ctx, args[1])
    return 0 if lst is None else len(lst)


@command("lrange", 4, "readonly", summary="Returns a range of elements from a list.")
def cmd_lrange(ctx: Ctx, args: list[bytes]) -> object:
    start, end = parse_int(args[2]), parse_int(args[3])
    lst = _get(ctx, args[1])
    if lst is None:
        return []
    r = _range(start, end, len(lst))
    if r is None:
        return []
    return list(islice(lst, r[0], r[1] + 1))


@command("lindex", 3, "readonly", summary="Returns an element from a list by its index.")
def cmd_lindex(ctx: Ctx, args: list[bytes]) -> object:
    index = parse_int(args[2])
    lst = _get(ctx, args[1])
    if lst is None:
        return None
    if index < 0:
        index += len(lst)
    if not 0 <= index < len(lst):
        return None
    return lst[index]


@command("lpos", -3, "readonly", since="6.0.6",
         summary="Returns the index of matching elements in a list.")
def cmd_lpos(ctx: Ctx, args: list[bytes]) -> object:
    rank, count, maxlen = 1, None, 0
    i = 3
    while i < len(args):
        opt = args[i].upper()
        if i + 1 >= len(args):
            raise fail(SYNTAX_ERR)
        val = parse_int(args[i + 1])
        if opt == b"RANK":
            if val == 0:
                raise fail(RANK_ZERO)
            if val == INT64_MIN:
                raise fail(Error("ERR value is out of range"))
            rank = val
        elif opt == b"COUNT":
            if val < 0:
                raise fail(COUNT_NEGATIVE)
            count = val
        elif opt == b"MAXLEN":
            if val < 0:
                raise fail(MAXLEN_NEGATIVE)
            maxlen = val
        else:
            raise fail(SYNTAX_ERR)
        i += 2
    lst = _get(ctx, args[1])
    if lst is None:
        return None if count is None else []
    n = len(lst)
    want = args[2]
    out: list[int] = []
    skip = abs(rank) - 1
    it = enumerate(lst) if rank > 0 else ((n - 1 - j, e) for j, e in enumerate(reversed(lst)))
    for scanned, (idx, e) in enumerate(it):
        if maxlen and scanned >= maxlen:
            break
        if e != want:
            continue
        if skip:
            skip -= 1
            continue
        out.append(idx)
        if count is None or (count and len(out) >= count):
            break
    if count is None:
        return out[0] if out else None
    return out


# ---- in-place edits -----------------------------------------------------------------------


@command("lset", 4, "write denyoom", summary="Sets the value of an element in a list by its index.")
def cmd_lset(ctx: Ctx, args: list[bytes]) -> object:
    index = parse_int(args[2])
    lst = _get_w(ctx, args[1])
    if lst is None:
        raise fail(NO_SUCH_KEY)
    if index < 0:
        index += len(lst)
    if not 0 <= index < len(lst):
        raise fail(INDEX_OUT_OF_RANGE)
    lst[index] = args[3]
    return OK


@command("lrem", 4, "write",
         summary="Removes elements from a list. Deletes the list if the last element was removed.")
def cmd_lrem(ctx: Ctx, args: list[bytes]) -> object:
    count = parse_int(args[2])
    key, want = args[1], args[3]
    lst = _get_w(ctx, key)
    if lst is None:
        return 0
    limit = abs(count) if count else len(lst)
    removed = 0
    if count >= 0:
        kept: list[bytes] = []
        for e in lst:
            if removed < limit and e == want:
                removed += 1
            else:
                kept.append(e)
    else:
        kept = []
        for e in reversed(lst):
            if removed < limit and e == want:
                removed += 1
            else:
                kept.append(e)
        kept.reverse()
    if removed:
        lst.clear()
        lst.extend(kept)
        _drop_if_empty(ctx, key, lst)
    return removed


@command("ltrim", 4, "write", summary=(
    "Removes elements from both ends a list. Deletes the list if all elements were "
    "trimmed."))
def cmd_ltrim(ctx: Ctx, args: list[bytes]) -> object:
    start, end = parse_int(args[2]), parse_int(args[3])
    key = args[1]
    lst = _get_w(ctx, key)
    if lst is None:
        return OK
    r = _range(start, end, len(lst))
    if r is None:
        ctx.db.delete(key)
        return OK
    keep = r[1] - r[0] + 1
    for _ in range(r[0]):
        lst.popleft()
    while len(lst) > keep:
        lst.pop()
    return OK


@command("linsert", 5, "write denyoom", since="2.2.0",
         summary="Inserts an element before or after another element in a list.")
def cmd_linsert(ctx: Ctx, args: list[bytes]) -> object:
    where = args[2].upper()
    if where not in (b"BEFORE", b"AFTER"):
        raise fail(SYNTAX_ERR)
    lst = _get_w(ctx, args[1])
    if lst is None:
        return 0
    try:
        idx = lst.index(args[3])
    except ValueError:
        return -1
    lst.insert(idx if where == b"BEFORE" else idx + 1, args[4])
    return len(lst)
