"""GEO commands over sorted sets: GEOADD, GEODIST, GEOHASH, GEOPOS, GEORADIUS(_RO),
GEORADIUSBYMEMBER(_RO), GEOSEARCH, GEOSEARCHSTORE.

A member's score is its 52-bit geohash (see geohash.py), so ZRANGE and ZSCORE on a geo
key answer what Redis answers. Searches scan the cells Redis scans in its order, so
results without ASC/DESC come in Redis's order too. Coordinates are sent as Redis sends
them (17 decimals, trailing zeros cut) as bulk strings, which is RESP2's form; in RESP3
Redis sends the same text as a double, which our encoder cannot print with this text.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftredis.reply import NOT_FLOAT, NULL_ARRAY, SYNTAX_ERR, Error
from raftredis.statemachine import geohash as gh
from raftredis.statemachine.errors import fail
from raftredis.statemachine.keyfns import with_store
from raftredis.statemachine.parse import to_float, to_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.zsets import ZSet, cmd_zadd, get_zset, store_zset

BAD_UNIT = Error("ERR unsupported unit provided. please use M, KM, FT, MI")
BAD_MEMBER = Error("ERR could not decode requested zset member")
COUNT_POSITIVE = Error("ERR COUNT must be > 0")
ANY_NEEDS_COUNT = Error("ERR the ANY argument requires COUNT argument")
_UNITS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}

command = Family("geo", "geo", since="3.2.0").command


def _float(arg: bytes, error: Error = NOT_FLOAT) -> float:
    v = to_float(arg)
    if v is None:
        raise fail(error)
    return v


def _lonlat(lon_arg: bytes, lat_arg: bytes) -> tuple[float, float]:
    lon, lat = _float(lon_arg), _float(lat_arg)
    if lon < gh.LON_MIN or lon > gh.LON_MAX or lat < gh.LAT_MIN or lat > gh.LAT_MAX:
        raise fail(Error(f"ERR invalid longitude,latitude pair {lon:f},{lat:f}"))
    return lon, lat


def _unit(arg: bytes) -> float:
    conv = _UNITS.get(arg.lower())
    if conv is None:
        raise fail(BAD_UNIT)
    return conv


def _distance_text(meters: float) -> bytes:
    return b"%.4f" % meters


def _zset(ctx: Ctx, key: bytes) -> ZSet | None:
    return get_zset(ctx, key)


@command("geoadd", -5, "write denyoom", summary=(
    "Add one or more geospatial items in the geospatial index represented using a sorted set"))
def cmd_geoadd(ctx: Ctx, args: list[bytes]) -> object:
    i = 2
    flags = {b"NX": False, b"XX": False}
    while i < len(args) and args[i].upper() in (b"NX", b"XX", b"CH"):
        flags[args[i].upper()] = True
        i += 1
    rest = args[i:]
    if not rest or len(rest) % 3 or (flags[b"NX"] and flags[b"XX"]):
        raise fail(SYNTAX_ERR)
    zadd = [b"zadd", *args[1:i]]
    for j in range(0, len(rest), 3):
        lon, lat = _lonlat(rest[j], rest[j + 1])
        bits = gh.encode(lon, lat)
        zadd += [b"%d" % bits, rest[j + 2]]  # type: ignore[str-format]
    return cmd_zadd(ctx, zadd)


@command("geodist", -4, "readonly",
         summary="Returns the distance between two members of a geospatial index")
def cmd_geodist(ctx: Ctx, args: list[bytes]) -> object:
    if len(args) > 5:
        raise fail(SYNTAX_ERR)
    conv = _unit(args[4]) if len(args) == 5 else 1.0
    z = _zset(ctx, args[1])
    if z is None:
        return None
    s1, s2 = z.scores.get(args[2]), z.scores.get(args[3])
    if s1 is None or s2 is None:
        return None
    (lon1, lat1), (lon2, lat2) = gh.decode(s1), gh.decode(s2)
    return _distance_text(gh.distance(lon1, lat1, lon2, lat2) / conv)


@command("geohash", -2, "readonly",
         summary="Returns members of a geospatial index as standard geohash strings")
def cmd_geohash(ctx: Ctx, args: list[bytes]) -> object:
    z = _zset(ctx, args[1])
    out: list[object] = []
    for m in args[2:]:
        s = None if z is None else z.scores.get(m)
        out.append(None if s is None else gh.geohash_text(s))
    return out


@command("geopos", -2, "readonly",
         summary="Returns longitude and latitude of members of a geospatial index")
def cmd_geopos(ctx: Ctx, args: list[bytes]) -> object:
    z = _zset(ctx, args[1])
    out: list[object] = []
    for m in args[2:]:
        s = None if z is None else z.scores.get(m)
        if s is None:
            out.append(NULL_ARRAY)
        else:
            lon, lat = gh.decode(s)
            out.append([gh.human(lon), gh.human(lat)])
    return out


# ---- searches -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Search:
    shape: gh.Shape | None = None
    withdist: bool = False
    withhash: bool = False
    withcoord: bool = False
    sort: int = 0  # 0 none, 1 ascending, -1 descending
    count: int = 0
    any: bool = False
    store: bytes | None = None
    storedist: bool = False


def _member_lonlat(z: ZSet, member: bytes) -> tuple[float, float]:
    s = z.scores.get(member)
    if s is None:
        raise fail(BAD_MEMBER)
    return gh.decode(s)


def _radius(args: list[bytes], at: int) -> tuple[float, float]:
    r = _float(args[at], Error("ERR need numeric radius"))
    if r < 0:
        raise fail(Error("ERR radius cannot be negative"))
    return r, _unit(args[at + 1])


_GEOSEARCH, _STORE_OK = 1, 2


def _parse(args: list[bytes], base: int, z: ZSet | None, mode: int,
           center: tuple[float, float] | None, radius: tuple[float, float] | None) -> _Search:
    q = _Search()
    lonlat = center
    by: tuple[float, float, float, float, bool] | None = None  # radius/w, h, conv, box
    if radius is not None:
        by = (radius[0], 0.0, radius[1], 0.0, False)
    frommember = fromloc = byradius = bybox = False
    geosearch = bool(mode & _GEOSEARCH)
    i, rem = 0, len(args) - base
    while i < rem:
        a = args[base + i].upper()
        more = rem - i - 1
        if a == b"WITHDIST":
            q.withdist = True
        elif a == b"WITHHASH":
            q.withhash = True
        elif a == b"WITHCOORD":
            q.withcoord = True
        elif a == b"ANY":
            q.any = True
        elif a == b"ASC":
            q.sort = 1
        elif a == b"DESC":
            q.sort = -1
        elif a == b"COUNT" and more >= 1:
            n = to_int(args[base + i + 1])
            if n is None:
                raise fail(Error("ERR value is not an integer or out of range"))
            if n <= 0:
                raise fail(COUNT_POSITIVE)
            q.count = n
            i += 1
        elif a in (b"STORE", b"STOREDIST") and more >= 1 and mode & _STORE_OK and not geosearch:
            q.store, q.storedist = args[base + i + 1], a == b"STOREDIST"
            i += 1
        elif a == b"STOREDIST" and geosearch and mode & _STORE_OK:
            q.storedist = True
        elif a == b"FROMMEMBER" and more >= 1 and geosearch and not fromloc:
            if z is not None:
                lonlat = _member_lonlat(z, args[base + i + 1])
            frommember = True
            i += 1
        elif a == b"FROMLONLAT" and more >= 2 and geosearch and not frommember:
            lonlat = _lonlat(args[base + i + 1], args[base + i + 2])
            fromloc = True
            i += 2
        elif a == b"BYRADIUS" and more >= 2 and geosearch and not bybox:
            r, conv = _radius(args, base + i + 1)
            by = (r, 0.0, conv, 0.0, False)
            byradius = True
            i += 2
        elif a == b"BYBOX" and more >= 3 and geosearch and not byradius:
            w = _float(args[base + i + 1], Error("ERR need numeric width"))
            h = _float(args[base + i + 2], Error("ERR need numeric height"))
            if w < 0 or h < 0:
                raise fail(Error("ERR height or width cannot be negative"))
            by = (w, h, _unit(args[base + i + 3]), 0.0, True)
            bybox = True
            i += 3
        else:
            raise fail(SYNTAX_ERR)
        i += 1
    name = args[0].decode("utf-8", "replace")
    if (q.store is not None or (geosearch and mode & _STORE_OK)) and (
            q.withdist or q.withhash or q.withcoord):
        what = "GEOSEARCHSTORE" if geosearch else "STORE option in GEORADIUS"
        raise fail(Error(f"ERR {what} is not compatible with WITHDIST, WITHHASH and "
                         "WITHCOORD options"))
    if geosearch and not (frommember or fromloc):
        raise fail(Error(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for "
                         f"{name}"))
    if geosearch and not (byradius or bybox):
        raise fail(Error(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"))
    if q.any and not q.count:
        raise fail(ANY_NEEDS_COUNT)
    if lonlat is not None and by is not None:
        size, height, conv, _, box = by
        q.shape = gh.Shape(lonlat[0], lonlat[1], conv, radius=0.0 if box else size,
                           width=size if box else 0.0, height=height, box=box)
    return q


def _find(z: ZSet, q: _Search) -> list[tuple[float, float, float, float, bytes]]:
    """(distance, lon, lat, score, member) of the members inside the shape, found cell by
    cell in Redis's order."""
    assert q.shape is not None
    limit = q.count if q.any else 0
    found: list[tuple[float, float, float, float, bytes]] = []
    last: tuple[int, int] | None = None
    for n, (bits, step) in enumerate(gh.search_boxes(q.shape)):
        if bits == 0 and step == 0:
            continue
        if last is not None and (bits, step) == last:
            continue  # a huge radius makes neighbours repeat the cell just scanned
        if found and limit and len(found) >= limit:
            break
        lo, hi = gh.box_scores(bits, step)
        start = z.order.bisect_left((float(lo), b""))
        for s, m in z.order.islice(start):
            if s >= hi:
                break
            lon, lat = gh.decode(s)
            d = gh.within(q.shape, lon, lat)
            if d is not None:
                found.append((d, lon, lat, s, m))
                if limit and len(found) >= limit:
                    break
        if n:  # Redis compares with the last scanned cell, never with the centre's
            last = (bits, step)
    return found


def _search(ctx: Ctx, args: list[bytes], base: int, mode: int, src: bytes,
            center: str) -> object:
    z = _zset(ctx, src)
    point = radius = None
    if center == "lonlat":
        point = _lonlat(args[2], args[3])
        radius = _radius(args, 4)
    elif center == "member" and z is not None:
        point = _member_lonlat(z, args[2])
        radius = _radius(args, 3)
    q = _parse(args, base, z, mode, point, radius)
    if mode & _GEOSEARCH and mode & _STORE_OK:
        q.store = args[1]
    if z is None:
        if q.store is not None:
            ctx.db.get_for_write(q.store, ctx.now)
            ctx.db.delete(q.store)
            return 0
        return []
    if q.count and not q.sort and not q.any:
        q.sort = 1  # COUNT means the closest ones
    found = _find(z, q)
    if q.sort:
        found.sort(key=lambda f: f[0], reverse=q.sort < 0)
    if q.count:
        found = found[:q.count]
    assert q.shape is not None
    conv = q.shape.conversion
    if q.store is not None:
        out = ZSet()
        for d, _lon, _lat, s, m in found:
            out.add(m, d / conv if q.storedist else s)
        store_zset(ctx, q.store, out)
        return len(out)
    if not (q.withdist or q.withhash or q.withcoord):
        return [f[4] for f in found]
    reply: list[object] = []
    for d, lon, lat, s, m in found:
        item: list[object] = [m]
        if q.withdist:
            item.append(_distance_text(d / conv))
        if q.withhash:
            item.append(int(s))
        if q.withcoord:
            item.append([gh.human(lon), gh.human(lat)])
        reply.append(item)
    return reply


_RADIUS_KEYS = with_store(5)


@command("georadius", -6, "write denyoom", key_fn=_RADIUS_KEYS, summary=(
    "Query a sorted set representing a geospatial index to fetch members matching a given "
    "maximum distance from a point"))
def cmd_georadius(ctx: Ctx, args: list[bytes]) -> object:
    return _search(ctx, args, 6, _STORE_OK, args[1], "lonlat")


@command("georadius_ro", -6, "readonly", since="3.2.10",
         summary="A read-only variant for GEORADIUS")
def cmd_georadius_ro(ctx: Ctx, args: list[bytes]) -> object:
    return _search(ctx, args, 6, 0, args[1], "lonlat")


@command("georadiusbymember", -5, "write denyoom", key_fn=_RADIUS_KEYS, summary=(
    "Query a sorted set representing a geospatial index to fetch members matching a given "
    "maximum distance from a member"))
def cmd_georadiusbymember(ctx: Ctx, args: list[bytes]) -> object:
    return _search(ctx, args, 5, _STORE_OK, args[1], "member")


@command("georadiusbymember_ro", -5, "readonly", since="3.2.10",
         summary="A read-only variant for GEORADIUSBYMEMBER")
def cmd_georadiusbymember_ro(ctx: Ctx, args: list[bytes]) -> object:
    return _search(ctx, args, 5, 0, args[1], "member")


@command("geosearch", -7, "readonly", since="6.2.0", summary=(
    "Query a sorted set representing a geospatial index to fetch members inside an area of "
    "a box or a circle."))
def cmd_geosearch(ctx: Ctx, args: list[bytes]) -> object:
    return _search(ctx, args, 2, _GEOSEARCH, args[1], "")


@command("geosearchstore", -8, "write denyoom", 1, 2, since="6.2.0", summary=(
    "Query a sorted set representing a geospatial index to fetch members inside an area of "
    "a box or a circle, and store the result in another key."))
def cmd_geosearchstore(ctx: Ctx, args: list[bytes]) -> object:
    return _search(ctx, args, 3, _GEOSEARCH | _STORE_OK, args[2], "")
