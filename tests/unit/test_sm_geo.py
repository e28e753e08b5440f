"""GEO commands compared byte for byte with a real redis-server: scores (so ZRANGE on a
geo key matches), distances, hashes, coordinates, and search results in Redis's order,
sorted and unsorted, on fixed and on seeded random points."""

from __future__ import annotations

import random

import pytest

from tests.unit.sm_redis import Ref, cases, redis_ref

ref = redis_ref()

SICILY = ("GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669",
          "Catania", "12.758489", "38.788135", "edge1", "17.241510", "38.788135", "edge2")

BASIC = [
    [SICILY, ("ZRANGE", "Sicily", "0", "-1", "WITHSCORES"), ("GEODIST", "Sicily", "Palermo",
                                                               "Catania"),
     ("GEODIST", "Sicily", "Palermo", "Catania", "km"), ("GEODIST", "Sicily", "Palermo",
                                                          "Catania", "MI"),
     ("GEODIST", "Sicily", "Palermo", "Catania", "ft"), ("GEODIST", "Sicily", "Palermo", "x"),
     ("GEODIST", "nokey", "a", "b"), ("GEODIST", "Sicily", "Palermo", "Catania", "yd"),
     ("GEODIST", "Sicily", "Palermo", "Catania", "km", "x"), ("GEOHASH", "Sicily", "Palermo",
                                                               "x", "Catania"),
     ("GEOHASH", "nokey", "a"), ("GEOHASH", "Sicily")],
    [("GEOADD", "g", "NX", "1", "2", "a"), ("GEOADD", "g", "XX", "3", "4", "a", "5", "6", "b"),
     ("GEOADD", "g", "CH", "3", "4", "a", "7", "8", "c"), ("GEOADD", "g", "XX", "CH", "1", "1",
                                                          "a"),
     ("GEOADD", "g", "NX", "XX", "1", "1", "a"), ("GEOADD", "g", "1", "2"),
     ("GEOADD", "g", "x", "2", "a"), ("GEOADD", "g", "1", "y", "a"),
     ("GEOADD", "g", "181", "2", "a"), ("GEOADD", "g", "1", "85.06", "a"),
     ("GEOADD", "g", "-180", "-85.05112878", "sw", "180", "85.05112878", "ne"),
     ("GEOADD", "g", "1", "1", "ok", "500", "1", "bad"), ("ZSCORE", "g", "ok"),
     ("ZRANGE", "g", "0", "-1", "WITHSCORES"), ("GEOHASH", "g", "sw", "ne", "a"),
     ("SET", "s", "v"), ("GEOADD", "s", "1", "1", "a"), ("GEODIST", "s", "a", "b"),
     ("GEOHASH", "s", "a"), ("GEOPOS", "s", "a"), ("GEORADIUS", "s", "1", "1", "1", "km")],
]

# Coordinates are bulk strings in RESP2, and doubles in RESP3 (whose text we cannot set).
COORDS = [
    [SICILY, ("GEOPOS", "Sicily", "Palermo", "x", "Catania"), ("GEOPOS", "nokey", "a"),
     ("GEOADD", "z", "0", "0", "o", "-0.0000001", "0", "n"), ("GEOPOS", "z", "o", "n"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHCOORD", "WITHDIST", "WITHHASH",
      "ASC"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km",
      "WITHCOORD", "DESC")],
]

SEARCH = [
    [SICILY, ("GEORADIUS", "Sicily", "15", "37", "200", "km"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "ASC"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "DESC", "WITHDIST"),
     ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHHASH", "COUNT", "1"),
     ("GEORADIUS", "Sicily", "15", "37", "500", "km", "COUNT", "2", "ANY"),
     ("GEORADIUS", "Sicily", "15", "37", "0", "km"), ("GEORADIUS_RO", "Sicily", "15", "37",
                                                      "200", "km", "WITHDIST"),
     ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "WITHDIST"),
     ("GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "300", "km", "DESC"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "200", "km", "WITHDIST"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC",
      "WITHDIST", "WITHHASH"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "100", "300", "mi"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "300", "km", "COUNT", "3",
      "DESC")],
    [SICILY, ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst"),
     ("ZRANGE", "dst", "0", "-1", "WITHSCORES"), ("GEORADIUS", "Sicily", "15", "37", "200",
                                                 "km", "STOREDIST", "dst"),
     ("=ZRANGE", "dst", "0", "-1", "WITHSCORES"),
     ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "10", "km", "COUNT", "1", "STORE", "d2"),
     ("ZRANGE", "d2", "0", "-1"), ("GEOSEARCHSTORE", "d3", "Sicily", "FROMLONLAT", "15", "37",
                                   "BYBOX", "400", "400", "km", "STOREDIST"),
     ("=ZRANGE", "d3", "0", "-1", "WITHSCORES"), ("GEOSEARCHSTORE", "d3", "Sicily",
                                                 "FROMLONLAT", "0", "0", "BYRADIUS", "1", "m"),
     ("EXISTS", "d3"), ("GEOSEARCHSTORE", "d4", "nokey", "FROMMEMBER", "x", "BYRADIUS", "1",
                        "m"),
     ("SET", "d5", "x"), ("GEORADIUS", "nokey", "1", "1", "1", "km", "STORE", "d5"),
     ("EXISTS", "d5"), ("GEORADIUS", "nokey", "1", "1", "1", "km"),
     ("GEORADIUSBYMEMBER", "nokey", "x", "1", "km")],
    # errors
    [SICILY, ("GEORADIUS", "Sicily", "15", "37", "-1", "km"),
     ("GEORADIUS", "Sicily", "15", "37", "x", "km"), ("GEORADIUS", "Sicily", "15", "37", "1",
                                                      "yd"),
     ("GEORADIUS", "Sicily", "200", "37", "1", "km"), ("GEORADIUS", "Sicily", "x", "37", "1",
                                                       "km"),
     ("GEORADIUS", "Sicily", "15", "37", "1", "km", "COUNT", "0"),
     ("GEORADIUS", "Sicily", "15", "37", "1", "km", "COUNT", "x"),
     ("GEORADIUS", "Sicily", "15", "37", "1", "km", "ANY"),
     ("GEORADIUS", "Sicily", "15", "37", "1", "km", "BOGUS"),
     ("GEORADIUS", "Sicily", "15", "37", "1", "km", "STORE", "d", "WITHDIST"),
     ("GEORADIUS_RO", "Sicily", "15", "37", "1", "km", "STORE", "d"),
     ("GEORADIUSBYMEMBER", "Sicily", "nobody", "1", "km"),
     ("GEOSEARCH", "Sicily", "BYRADIUS", "1", "km", "ASC"),
     ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "1", "ASC", "WITHDIST"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "FROMLONLAT", "1", "1", "BYRADIUS", "1",
      "km"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "x", "BYRADIUS", "1", "km"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "BYBOX", "1",
      "1", "km"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "-1", "1", "km"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "a", "1", "km"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYBOX", "1", "b", "km"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STORE", "d"),
     ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km", "STOREDIST"),
     ("GEOSEARCHSTORE", "d", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km",
      "WITHDIST"),
     ("GEOSEARCH", "nokey", "FROMMEMBER", "x", "BYRADIUS", "1", "km"),
     ("GEOSEARCH", "nokey", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "WITHCOORD")],
]


@pytest.mark.parametrize("case", cases(BASIC + SEARCH))
def test_geo_like_redis(ref: Ref, case: list) -> None:
    ref.check(case)


@pytest.mark.parametrize("case", cases(COORDS))
def test_coordinates_like_redis_resp2(ref: Ref, case: list) -> None:
    ref.check(case, resps=(2,))


def _points(rnd: random.Random, n: int, lon: float, lat: float, spread: float) -> list[str]:
    out = []
    for i in range(n):
        x = min(max(lon + rnd.uniform(-spread, spread), -180), 180)
        y = min(max(lat + rnd.uniform(-spread, spread), -85), 85)
        out += [f"{x:.6f}", f"{y:.6f}", f"p{i}"]
    return out


@pytest.mark.parametrize("seed", range(16))
def test_random_searches_like_redis(ref: Ref, seed: int) -> None:
    """Unsorted results come in the order of the cells scanned: any difference in the
    choice of cells or their order shows here."""
    rnd = random.Random(seed)
    lon, lat = rnd.uniform(-179, 179), rnd.choice([rnd.uniform(-60, 60), rnd.uniform(-84, 84)])
    spread = rnd.choice([0.01, 0.5, 5, 40])
    pts = _points(rnd, 150, lon, lat, spread)
    km = rnd.choice([1, 10, 100, 1000, 5000])
    cx, cy = f"{lon + rnd.uniform(-spread, spread) / 2:.5f}", f"{lat:.5f}"
    cmds: list[tuple] = [("GEOADD", "g", *pts)]
    cmds += [("GEORADIUS", "g", cx, cy, str(km), "km"),
             ("GEORADIUS", "g", cx, cy, str(km * 2), "km", "WITHDIST", "WITHHASH"),
             ("GEORADIUS", "g", cx, cy, str(km), "km", "COUNT", "7", "ANY"),
             ("GEORADIUS", "g", cx, cy, str(km), "km", "COUNT", "5", "WITHDIST"),
             ("GEORADIUSBYMEMBER", "g", "p3", str(km), "km", "DESC"),
             ("GEOSEARCH", "g", "FROMLONLAT", cx, cy, "BYBOX", str(km), str(km * 2), "km"),
             ("GEOSEARCH", "g", "FROMMEMBER", "p7", "BYBOX", str(km * 3), str(km), "km",
              "WITHDIST", "ASC"),
             ("GEOSEARCHSTORE", "d", "g", "FROMLONLAT", cx, cy, "BYRADIUS", str(km), "km",
              "STOREDIST"), ("=ZRANGE", "d", "0", "-1", "WITHSCORES")]
    ref.check(cmds, resps=(2,))
