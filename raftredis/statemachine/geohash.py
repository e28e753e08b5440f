"""Geohash math as Redis does it: 52-bit interleaved scores, the boxes a radius or box
search visits, haversine distances.

Everything is computed with the same double operations in the same order as Redis, so
scores, distances, coordinates and the order of unsorted search results match it.
Latitude takes the even bits of a hash and longitude the odd ones; the latitude range is
Web Mercator's +-85.05112878 (GEOHASH re-encodes with the standard +-90 for its text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STEP_MAX = 26  # 26 bits per coordinate: a 52-bit score
LAT_MIN, LAT_MAX = -85.05112878, 85.05112878
LON_MIN, LON_MAX = -180.0, 180.0
EARTH_RADIUS = 6372797.560856  # meters
MERCATOR_MAX = 20037726.37
D_R = math.pi / 180.0
_M64 = (1 << 64) - 1
_EVEN = 0x5555555555555555
_ODD = 0xAAAAAAAAAAAAAAAA


def deg_rad(ang: float) -> float:
    return ang * D_R


def rad_deg(ang: float) -> float:
    return ang / D_R


def _spread(v: int) -> int:
    """The low 32 bits of v moved to the even bit positions of a 64-bit word."""
    v &= 0xFFFFFFFF
    v = (v | v << 16) & 0x0000FFFF0000FFFF
    v = (v | v << 8) & 0x00FF00FF00FF00FF
    v = (v | v << 4) & 0x0F0F0F0F0F0F0F0F
    v = (v | v << 2) & 0x3333333333333333
    return (v | v << 1) & _EVEN


def _squash(v: int) -> int:
    """The inverse of _spread: the even bits of v packed into 32 bits."""
    v &= _EVEN
    v = (v | v >> 1) & 0x3333333333333333
    v = (v | v >> 2) & 0x0F0F0F0F0F0F0F0F
    v = (v | v >> 4) & 0x00FF00FF00FF00FF
    v = (v | v >> 8) & 0x0000FFFF0000FFFF
    return (v | v >> 16) & 0xFFFFFFFF


def encode(lon: float, lat: float, step: int = STEP_MAX,
           lat_min: float = LAT_MIN, lat_max: float = LAT_MAX) -> int | None:
    """The `step`-bit-per-coordinate hash of a point, or None out of Redis's range."""
    if lon > 180 or lon < -180 or lat > 85.05112878 or lat < -85.05112878:
        return None
    lat_off = (lat - lat_min) / (lat_max - lat_min) * float(1 << step)
    lon_off = (lon - LON_MIN) / (LON_MAX - LON_MIN) * float(1 << step)
    return _spread(int(lat_off)) | _spread(int(lon_off)) << 1


@dataclass(frozen=True, slots=True)
class Area:
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float


def decode_area(bits: int, step: int) -> Area:
    ilat, ilon = _squash(bits), _squash(bits >> 1)
    lat_scale, lon_scale = LAT_MAX - LAT_MIN, LON_MAX - LON_MIN
    scale = float(1 << step)
    return Area(LAT_MIN + (ilat * 1.0 / scale) * lat_scale,
                LAT_MIN + ((ilat + 1) * 1.0 / scale) * lat_scale,
                LON_MIN + (ilon * 1.0 / scale) * lon_scale,
                LON_MIN + ((ilon + 1) * 1.0 / scale) * lon_scale)


def decode(score: float) -> tuple[float, float]:
    """(longitude, latitude) of a 52-bit score: the middle of its cell, clamped."""
    bits = int(score) & _M64 if 0 <= score < 2.0 ** 64 else 0
    a = decode_area(bits, STEP_MAX)
    lon = min(max((a.lon_min + a.lon_max) / 2, LON_MIN), LON_MAX)
    lat = min(max((a.lat_min + a.lat_max) / 2, LAT_MIN), LAT_MAX)
    return lon, lat


def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS * abs(deg_rad(lat2) - deg_rad(lat1))


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine great-circle distance in meters (Redis 7's, with its same-meridian
    shortcut)."""
    lon1r, lon2r = deg_rad(lon1), deg_rad(lon2)
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r, lat2r = deg_rad(lat1), deg_rad(lat2)
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS * math.asin(math.sqrt(a))


# ---- the boxes a search visits --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shape:
    lon: float
    lat: float
    conversion: float  # meters per unit
    radius: float = 0.0  # in units, for a circle
    width: float = 0.0  # in units, for a box (0 width and height: a circle)
    height: float = 0.0
    box: bool = False


def _bounds(s: Shape) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) around the shape."""
    height = s.conversion * (s.height / 2 if s.box else s.radius)
    width = s.conversion * (s.width / 2 if s.box else s.radius)
    lat_delta = rad_deg(height / EARTH_RADIUS)
    top = rad_deg(width / EARTH_RADIUS / math.cos(deg_rad(s.lat + lat_delta)))
    bottom = rad_deg(width / EARTH_RADIUS / math.cos(deg_rad(s.lat - lat_delta)))
    delta = bottom if s.lat < 0 else top  # the wider edge, away from the equator
    return s.lon - delta, s.lat - lat_delta, s.lon + delta, s.lat + lat_delta


def _estimate_steps(meters: float, lat: float) -> int:
    if meters == 0:
        return 26
    step = 1
    while meters < MERCATOR_MAX:
        meters *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return min(max(step, 1), 26)


def _move(bits: int, step: int, dx: int, dy: int) -> int:
    """The neighbouring cell dx (longitude, odd bits), dy (latitude, even bits) away."""
    for d, mine, other in ((dx, _ODD, _EVEN), (dy, _EVEN, _ODD)):
        if d == 0:
            continue
        v, rest = bits & mine, bits & other
        zz = (other >> (64 - step * 2)) & _M64
        v = (v + zz + 1) if d > 0 else ((v | zz) - (zz + 1))
        v &= (mine >> (64 - step * 2)) & _M64
        bits = (v | rest) & _M64
    return bits


# Redis's order of the boxes: the centre, then N, S, E, W, NE, NW, SE, SW.
_AROUND = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))


def search_boxes(s: Shape) -> list[tuple[int, int]]:
    """The (bits, step) cells to scan, in Redis's order; a dropped cell is (0, 0)."""
    min_lon, min_lat, max_lon, max_lat = _bounds(s)
    if s.box:
        meters = math.sqrt((s.width / 2) * (s.width / 2) + (s.height / 2) * (s.height / 2))
    else:
        meters = s.radius
    meters *= s.conversion
    step = _estimate_steps(meters, s.lat)

    def cells(step: int) -> tuple[int, list[int]]:
        h = encode(s.lon, s.lat, step)
        assert h is not None
        return h, [_move(h, step, dx, dy) for dx, dy in _AROUND]

    h, around = cells(step)
    north, south = decode_area(around[1], step), decode_area(around[2], step)
    east, west = decode_area(around[3], step), decode_area(around[4], step)
    if step > 1 and (north.lat_max < max_lat or south.lat_min > min_lat
                     or east.lon_max < max_lon or west.lon_min > min_lon):
        step -= 1
        h, around = cells(step)
    area = decode_area(h, step)
    keep = [True] * 9
    if step >= 2:
        for drop, idx in ((area.lat_min < min_lat, (2, 8, 7)), (area.lat_max > max_lat, (1, 5, 6)),
                          (area.lon_min < min_lon, (4, 8, 6)), (area.lon_max > max_lon, (3, 7, 5))):
            if drop:
                for i in idx:
                    keep[i] = False
    return [(bits, step) if k else (0, 0) for bits, k in zip(around, keep, strict=True)]


def box_scores(bits: int, step: int) -> tuple[int, int]:
    """The [min, max) scores of the members inside a cell."""
    shift = 52 - step * 2
    return bits << shift, (bits + 1) << shift


def within(s: Shape, lon: float, lat: float) -> float | None:
    """The distance (meters) from the shape's centre to the point if it lies inside."""
    if not s.box:
        d = distance(s.lon, s.lat, lon, lat)
        return None if d > s.radius * s.conversion else d
    if lat_distance(lat, s.lat) > s.height * s.conversion / 2:
        return None
    if distance(lon, lat, s.lon, lat) > s.width * s.conversion / 2:
        return None
    return distance(s.lon, s.lat, lon, lat)


_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def geohash_text(score: float) -> bytes:
    """The standard 11-character geohash of a member (re-encoded with latitude +-90)."""
    lon, lat = decode(score)
    bits = encode(lon, lat, STEP_MAX, -90.0, 90.0) or 0
    out = bytearray(_ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F] for i in range(10))
    out.append(_ALPHABET[0])  # 52 bits make 10.4 characters; the 11th is always 0
    return bytes(out)


def human(v: float) -> bytes:
    """Redis's "human" long double text for coordinates: 17 decimals, trailing zeros cut."""
    text = f"{v:.17f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return b"0" if text == "-0" else text.encode()
