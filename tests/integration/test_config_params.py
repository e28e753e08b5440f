"""Every Redis 7.0 configuration parameter, checked against a real redis-server: the same
names in CONFIG GET *, the same defaults, and for a spread of valid and invalid values
the same CONFIG SET outcome (error text byte for byte, or the value CONFIG GET shows
afterwards). Runs ServerSettings in-process (the validation the node uses before
anything reaches the log), so it needs no cluster; the cluster path is in
test_families_txn_config.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from raftredis.server.settings import ConfigError, ServerSettings
from tests.integration.families_support import RedisServer, needs_redis, start_redis_server

pytestmark = needs_redis

# Not set on the reference: they would change how it runs (listeners, password, files,
# fd limits) or they depend on how it was built (TLS, defrag).
UNSAFE = {"bind", "port", "requirepass", "maxclients", "appendonly", "dir", "logfile",
          "activedefrag", "masterauth"}
# Values that really differ here, and why (asserted, so a change is noticed).
OURS = {"bind": "127.0.0.1", "cluster-enabled": "yes", "databases": "1", "port": "6379",
        "dir": "."}
VALUES = ["abc", "-1", "", "99999999999999999999", "1 2", "70000", "yes", "NO", "0", "1k",
          "1KB", "10%", "-5", "2147483648", "4294967296", "-2147483649", "007", "+1",
          "local1", "Warning", "save now", "3600 1 300 100", "1 2 3", "50 99.5", "a_b",
          "{title} {port}", "{bogus}", "allkeys-lru"]


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    srv: RedisServer = start_redis_server(tmp_path_factory.mktemp("config-ref"))
    try:
        r = redis.Redis(port=srv.port, decode_responses=True, socket_timeout=10)
        yield r
        r.close()
    finally:
        srv.stop()


def ours_set(settings: ServerSettings, pairs: list[tuple[str, str]]) -> str:
    try:
        parsed = settings.validate([(n.encode(), v.encode()) for n, v in pairs])
    except ConfigError as e:
        return str(e)
    for name, value in parsed:
        settings.adjust(name, value)
    return "OK"


def ref_set(ref: redis.Redis, pairs: list[tuple[str, str]]) -> str:
    try:
        ref.execute_command("CONFIG", "SET", *[x for p in pairs for x in p])
    except redis.ResponseError as e:
        return "ERR " + str(e) if not str(e).startswith("ERR") else str(e)
    return "OK"


def test_same_parameter_names_and_defaults(ref):
    want = ref.config_get("*")
    got = {n.decode(): v.decode() for n, v in ServerSettings().config_get([b"*"])}
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        if name in OURS:
            assert got[name] == OURS[name], name
        else:
            assert got[name] == value, name


def test_config_set_validates_as_redis(ref):
    diffs = []
    for name in sorted(ref.config_get("*")):
        if name in UNSAFE or name.startswith("tls-"):
            continue
        default = ref.config_get(name)[name]
        for value in VALUES:
            ours = ServerSettings()
            want = ref_set(ref, [(name, value)])
            if want == "OK":
                want += " " + ref.config_get(name)[name]
                ref_set(ref, [(name, default)])
            got = ours_set(ours, [(name, value)])
            if got == "OK":
                got += " " + ours.config_get([name.encode()])[0][1].decode()
            if got != want:
                diffs.append(f"{name} {value!r}: raftredis {got!r} != redis {want!r}")
    assert not diffs, "\n".join(diffs)


@pytest.mark.parametrize("pairs", [
    [("FooBar", "1")],
    [("HZ", "x")],
    [("maxclients", "abc"), ("daemonize", "yes")],
    [("maxclients", "abc"), ("foo", "1")],
    [("daemonize", "yes"), ("foo", "1")],
    [("hz", "1"), ("HZ", "2"), ("foo", "1")],
    [("hz", "x"), ("timeout", "y")],
    [("hz", "7"), ("timeout", "y")],  # all or nothing: hz stays
    [("hash-max-ziplist-entries", "1"), ("hash-max-listpack-entries", "2")],
    [("dbfilename", "x.rdb")],
])
def test_config_set_pairs_as_redis(ref, pairs):
    ours = ServerSettings()
    names = sorted({n.lower() for n, _ in pairs} | {"hz"})
    before = {n: ref.config_get(n).get(n) for n in names}
    try:
        assert ours_set(ours, pairs) == ref_set(ref, pairs)
        for n in names:
            got = ours.config_get([n.encode()])
            assert (got[0][1].decode() if got else None) == ref.config_get(n).get(n), n
    finally:
        for n, v in before.items():
            if v is not None and n not in ("dbfilename",):
                ref_set(ref, [(n, v)])


def test_alias_reaches_the_same_value():
    s = ServerSettings()
    seen = []
    s.on_change(lambda name, value: seen.append((name, value)))
    s.config_set([(b"hash-max-ziplist-entries", b"7")])
    assert s["hash-max-listpack-entries"] == 7
    assert seen == [("hash-max-listpack-entries", 7)]  # listeners see the real name
    assert s.config_get([b"hash-max-*-entries"]) == [
        (b"hash-max-listpack-entries", b"7"), (b"hash-max-ziplist-entries", b"7")]
