"""Generic keyspace commands and TTLs at the StateMachine level."""

from __future__ import annotations

import pytest

from raftredis.reply import OK, Error, Status
from tests.unit.test_sm_support import NOT_INT, NOW, SYNTAX, WRONGTYPE, M, err, make_wrongtype


@pytest.fixture
def m() -> M:
    return M()


def test_del_unlink_exists_touch(m: M) -> None:
    m("MSET", "a", "1", "b", "2", "c", "3")
    assert m("EXISTS", "a", "a", "x") == 2  # duplicates count, as in Redis
    assert m("TOUCH", "a", "b", "x") == 2
    assert m("DEL", "a", "x", "a") == 1
    assert m("UNLINK", "b", "c") == 2
    assert m("EXISTS", "a", "b", "c") == 0
    assert m.sm.dbsize() == 0


def test_type(m: M) -> None:
    m("SET", "s", "v")
    make_wrongtype(m)
    assert m("TYPE", "s") == Status("string")
    assert isinstance(m("TYPE", "s"), Status)
    assert m("TYPE", "nope") == Status("none")
    assert m("TYPE", "h") == Status("testfake")


def test_rename(m: M) -> None:
    assert m("RENAME", "a", "b") == err("ERR no such key")
    m("SET", "a", "1", "PX", "5000")
    m("SET", "b", "old")
    assert m("RENAME", "a", "b") == OK
    assert m("GET", "b") == b"1"
    assert m("PTTL", "b") == 5000  # the TTL moves with the value
    assert m("EXISTS", "a") == 0
    assert m("RENAME", "b", "b") == OK
    assert m("GET", "b") == b"1"
    make_wrongtype(m, "h")
    assert m("RENAME", "h", "h2") == OK
    assert m("TYPE", "h2") == "testfake"


def test_renamenx(m: M) -> None:
    assert m("RENAMENX", "a", "b") == err("ERR no such key")
    m("SET", "a", "1")
    m("SET", "b", "2")
    assert m("RENAMENX", "a", "b") == 0
    assert m("RENAMENX", "a", "a") == 0
    assert m("RENAMENX", "a", "c") == 1
    assert m("MGET", "a", "b", "c") == [None, b"2", b"1"]


def test_rename_onto_expired(m: M) -> None:
    m("SET", "a", "1")
    m("SET", "b", "2", "PX", "10")
    m.now += 10
    assert m("RENAMENX", "a", "b") == 1  # an expired destination counts as missing
    assert m("TTL", "b") == -1


def test_copy(m: M) -> None:
    m("SET", "a", "1", "EX", "100")
    assert m("COPY", "a", "b") == 1
    assert m("GET", "b") == b"1"
    assert m("TTL", "b") == 100
    m("SET", "a", "2")
    assert m("COPY", "a", "b") == 0
    assert m("COPY", "a", "b", "REPLACE") == 1
    assert m("GET", "b") == b"2"
    assert m("TTL", "b") == -1
    assert m("COPY", "none", "x") == 0
    assert m("COPY", "a", "a") == err("ERR source and destination objects are the same")
    assert m("COPY", "a", "c", "DB", "0") == 1
    assert m("COPY", "a", "d", "DB", "1") == err("ERR DB index is out of range")
    assert m("COPY", "a", "d", "DB", "x") == NOT_INT
    assert m("COPY", "a", "d", "FOO") == SYNTAX
    assert m("COPY", "a", "d", "DB") == SYNTAX


def test_copy_is_independent(m: M) -> None:
    make_wrongtype(m, "h")
    assert m("COPY", "h", "h2") == 1
    m.sm.db.data[b"h"][b"new"] = b"1"
    assert b"new" not in m.sm.db.data[b"h2"]


def test_keys(m: M) -> None:
    m("MSET", "hello", "1", "hallo", "2", "hxllo", "3", "world", "4", "h*llo", "5")
    assert sorted(m("KEYS", "*")) == sorted([b"hello", b"hallo", b"hxllo", b"world", b"h*llo"])
    assert sorted(m("KEYS", "h?llo")) == [b"h*llo", b"hallo", b"hello", b"hxllo"]
    assert sorted(m("KEYS", "h[ae]llo")) == [b"hallo", b"hello"]
    assert sorted(m("KEYS", "h[^e]llo")) == [b"h*llo", b"hallo", b"hxllo"]
    assert m("KEYS", "h\\*llo") == [b"h*llo"]
    assert m("KEYS", "nomatch*") == []
    m("PEXPIRE", "world", "1")
    m.now += 1
    assert b"world" not in m.read("KEYS", "*")


def test_flush(m: M) -> None:
    m("MSET", "a", "1", "b", "2")
    m("EXPIRE", "a", "10")
    assert m("FLUSHDB") == OK
    assert m.sm.dbsize() == 0 and m.sm.expires_count() == 0
    m("SET", "a", "1")
    assert m("FLUSHALL", "ASYNC") == OK
    assert m("FLUSHDB", "sync") == OK
    assert m("FLUSHDB", "foo") == SYNTAX
    assert m("FLUSHALL", "ASYNC", "SYNC") == SYNTAX
    assert m.sm.dbsize() == 0


def test_dbsize(m: M) -> None:
    assert m("DBSIZE") == 0
    m("MSET", "a", "1", "b", "2")
    assert m.read("DBSIZE") == 2
    assert m.sm.dbsize() == 2


def test_randomkey(m: M) -> None:
    assert m("RANDOMKEY") is None
    keys = [f"k{i}".encode() for i in range(50)]
    for k in keys:
        m("SET", k, "v")
    seen = {m.sm.apply([b"RANDOMKEY"], NOW, seed=s) for s in range(200)}
    assert seen <= set(keys) and len(seen) > 10
    # Deterministic: the same seed picks the same key.
    assert m.sm.apply([b"RANDOMKEY"], NOW, seed=7) == m.sm.apply([b"RANDOMKEY"], NOW, seed=7)
    assert m.read("RANDOMKEY") in keys


def test_randomkey_skips_expired(m: M) -> None:
    for i in range(20):
        m("SET", f"e{i}", "v", "PX", "5")
    m("SET", "live", "v")
    m.now += 5
    for s in range(20):
        assert m.sm.apply([b"RANDOMKEY"], m.now, seed=s) == b"live"
    m("DEL", "live")
    assert m("RANDOMKEY") is None


def test_object(m: M) -> None:
    m("SET", "i", "12345")
    m("SET", "e", "hello")
    m("SET", "r", "x" * 45)
    assert m("OBJECT", "ENCODING", "i") == b"int"
    assert m("OBJECT", "encoding", "e") == b"embstr"
    assert m("OBJECT", "ENCODING", "r") == b"raw"
    assert m("OBJECT", "ENCODING", "none") is None
    assert m("OBJECT", "REFCOUNT", "i") == 1
    assert m("OBJECT", "IDLETIME", "i") == 0
    assert str(m("OBJECT", "FREQ", "i")).startswith("ERR An LFU maxmemory policy is not selected")
    assert m("OBJECT", "FOO", "i") == err("ERR unknown subcommand 'FOO'. Try OBJECT HELP.")
    assert m("OBJECT", "ENCODING") == err(
        "ERR wrong number of arguments for 'object|encoding' command"
    )
    help_lines = m("OBJECT", "HELP")  # simple strings, as Redis sends help
    assert isinstance(help_lines, list) and help_lines[0].startswith("OBJECT <subcommand>")
    assert isinstance(help_lines[0], Status)
    assert m("OBJECT", "HELP", "x") == err(
        "ERR wrong number of arguments for 'object|help' command")


def test_unknown_command(m: M) -> None:
    assert m("FOO", "a", "b") == err(
        "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
    )
    assert m.sm.apply([], NOW) == Error("ERR empty command")


# ---- TTL commands -------------------------------------------------------------------------


def test_expire_ttl(m: M) -> None:
    assert m("EXPIRE", "k", "10") == 0
    m("SET", "k", "v")
    assert m("TTL", "k") == -1
    assert m("PTTL", "k") == -1
    assert m("EXPIRETIME", "k") == -1
    assert m("TTL", "none") == -2
    assert m("PTTL", "none") == -2
    assert m("PEXPIRETIME", "none") == -2
    assert m("EXPIRE", "k", "10") == 1
    assert m("TTL", "k") == 10
    assert m("PTTL", "k") == 10_000
    assert m("EXPIRETIME", "k") == (NOW + 10_000) // 1000
    assert m("PEXPIRETIME", "k") == NOW + 10_000
    m.now += 9_400
    assert m("TTL", "k") == 1  # rounded like Redis: (ms + 500) / 1000
    assert m("PTTL", "k") == 600
    m.now += 600
    assert m("TTL", "k") == -2
    assert m("GET", "k") is None


def test_pexpire_expireat_pexpireat(m: M) -> None:
    m("SET", "k", "v")
    assert m("PEXPIRE", "k", "1500") == 1
    assert m("PTTL", "k") == 1500
    assert m("EXPIREAT", "k", str(NOW // 1000 + 20)) == 1
    assert m("PEXPIRETIME", "k") == (NOW // 1000 + 20) * 1000
    assert m("PEXPIREAT", "k", str(NOW + 42)) == 1
    assert m("PTTL", "k") == 42


def test_expire_in_past_deletes(m: M) -> None:
    for cmd, arg in (("EXPIRE", "-1"), ("PEXPIRE", "0"), ("EXPIREAT", "1"), ("PEXPIREAT", str(NOW))):
        m("SET", "k", "v")
        assert m(cmd, "k", arg) == 1
        assert m("EXISTS", "k") == 0
        assert m.sm.dbsize() == 0


def test_expire_errors(m: M) -> None:
    m("SET", "k", "v")
    assert m("EXPIRE", "k", "abc") == NOT_INT
    assert m("EXPIRE", "k", str(2**63 // 1000 + 1)) == err(
        "ERR invalid expire time in 'expire' command"
    )
    assert m("PEXPIRE", "k", str(2**63 - 1)) == err(
        "ERR invalid expire time in 'pexpire' command"
    )
    assert m("EXPIREAT", "k", str(-(2**63) // 1000 - 1)) == err(
        "ERR invalid expire time in 'expireat' command"
    )
    assert m("EXPIRE", "k", "10", "FOO") == err("ERR Unsupported option FOO")
    assert m("EXPIRE", "k", "10", "NX", "XX") == err(
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    )
    assert m("EXPIRE", "k", "10", "GT", "LT") == err(
        "ERR GT and LT options at the same time are not compatible"
    )
    assert m("TTL", "k") == -1


def test_expire_flags(m: M) -> None:
    m("SET", "k", "v")
    assert m("EXPIRE", "k", "100", "XX") == 0  # no TTL yet
    assert m("EXPIRE", "k", "100", "GT") == 0  # no TTL counts as infinite
    assert m("EXPIRE", "k", "100", "NX") == 1
    assert m("EXPIRE", "k", "200", "NX") == 0
    assert m("EXPIRE", "k", "50", "GT") == 0
    assert m("EXPIRE", "k", "200", "GT") == 1
    assert m("TTL", "k") == 200
    assert m("EXPIRE", "k", "300", "LT") == 0
    assert m("EXPIRE", "k", "100", "lt") == 1
    assert m("EXPIRE", "k", "150", "XX") == 1
    assert m("TTL", "k") == 150
    assert m("EXPIRE", "k", "150", "XX", "GT") == 0
    m("PERSIST", "k")
    assert m("EXPIRE", "k", "5", "LT") == 1  # any TTL is less than none
    assert m("TTL", "k") == 5


def test_persist(m: M) -> None:
    assert m("PERSIST", "k") == 0
    m("SET", "k", "v")
    assert m("PERSIST", "k") == 0
    m("EXPIRE", "k", "10")
    assert m.sm.expires_count() == 1
    assert m("PERSIST", "k") == 1
    assert m("TTL", "k") == -1
    assert m.sm.expires_count() == 0


def test_ttl_of_wrong_type_key(m: M) -> None:
    make_wrongtype(m)
    assert m("EXPIRE", "h", "10") == 1
    assert m("TTL", "h") == 10
    assert m("GET", "h") == WRONGTYPE


# ---- deterministic expiry -----------------------------------------------------------------


def test_reads_do_not_delete_expired(m: M) -> None:
    m("SET", "k", "v", "PX", "10")
    m.now += 10
    assert m.read("GET", "k") is None
    assert m.read("EXISTS", "k") == 0
    assert m.read("TTL", "k") == -2
    assert m.sm.dbsize() == 1  # still there until a write or apply_expire removes it
    assert m.sm.expires_count() == 1


def test_read_refuses_writes(m: M) -> None:
    assert m.read("SET", "k", "v") == err("ERR command is not read-only")
    assert m.sm.dbsize() == 0


def test_expired_keys_and_apply_expire(m: M) -> None:
    for i in range(10):
        m("SET", f"k{i}", "v", "PX", str(10 + i))
    m("SET", "forever", "v")
    assert m.sm.expired_keys(NOW + 9, 100) == []
    assert m.sm.expired_keys(NOW + 12, 100) == [b"k0", b"k1", b"k2"]
    assert m.sm.expired_keys(NOW + 100, 4) == [b"k0", b"k1", b"k2", b"k3"]
    proposal = m.sm.expired_keys(NOW + 12, 100)
    # Meanwhile k1 is set again: the stale proposal must not delete it.
    m.now = NOW + 11
    m("SET", "k1", "new")
    assert m.sm.apply_expire(proposal + [b"forever", b"missing"], NOW + 12) == 2
    assert m.read("GET", "k1") == b"new"
    assert m.sm.dbsize() == 9
    assert m.sm.expires_count() == 7
    assert m.sm.expired_keys(NOW + 1000, 100) == [f"k{i}".encode() for i in range(3, 10)]


def test_expiry_index_follows_overwrites(m: M) -> None:
    m("SET", "k", "v", "PX", "10")
    m("PEXPIRE", "k", "50")
    assert m.sm.expired_keys(NOW + 20, 10) == []
    assert m.sm.expired_keys(NOW + 50, 10) == [b"k"]
    m("SET", "k", "v")
    assert m.sm.expired_keys(NOW + 10**9, 10) == []
    m("SET", "k", "v", "PX", "5")
    m("DEL", "k")
    assert m.sm.expired_keys(NOW + 10**9, 10) == []
    assert m.sm.expires_count() == 0


# ---- SCAN ---------------------------------------------------------------------------------


def full_scan(m: M, *opts: object) -> list[bytes]:
    cursor: bytes = b"0"
    out: list[bytes] = []
    for _ in range(100_000):
        reply = m.read("SCAN", cursor, *opts)
        assert isinstance(reply, list) and len(reply) == 2
        cursor, keys = reply
        out.extend(keys)
        if cursor == b"0":
            return out
    raise AssertionError("scan did not finish")


def test_scan_returns_every_key_once(m: M) -> None:
    for i in range(1000):
        m("SET", f"key:{i}", "v")
    keys = full_scan(m, "COUNT", "37")
    assert len(keys) == 1000 and len(set(keys)) == 1000


def test_scan_match_type_count(m: M) -> None:
    for i in range(100):
        m("SET", f"a:{i}", "v")
        m("SET", f"b:{i}", "v")
    make_wrongtype(m, "a:h")
    assert sorted(full_scan(m, "MATCH", "a:1?")) == sorted(f"a:{i}".encode() for i in range(10, 20))
    assert full_scan(m, "TYPE", "testfake") == [b"a:h"]
    assert len(full_scan(m, "TYPE", "string", "MATCH", "b:*", "COUNT", "1000")) == 100
    assert full_scan(m, "TYPE", "nosuchtype") == []
    reply = m.read("SCAN", "0", "COUNT", "1000")
    assert reply[0] == b"0" and len(reply[1]) == 201


def test_scan_errors(m: M) -> None:
    assert m.read("SCAN", "abc") == err("ERR invalid cursor")
    assert m.read("SCAN", "-1") == err("ERR invalid cursor")
    assert m.read("SCAN", str(2**64)) == err("ERR invalid cursor")
    assert m.read("SCAN", "0", "COUNT", "0") == SYNTAX
    assert m.read("SCAN", "0", "COUNT", "x") == NOT_INT
    assert m.read("SCAN", "0", "COUNT") == SYNTAX
    assert m.read("SCAN", "0", "FOO", "bar") == SYNTAX
    assert m.read("SCAN", str(2**64 - 1)) == [b"0", []]


def test_scan_stable_under_changes(m: M) -> None:
    stable = {f"stable:{i}".encode() for i in range(500)}
    for k in stable:
        m("SET", k, "v")
    for i in range(500):
        m("SET", f"churn:{i}", "v")
    cursor = b"0"
    seen: list[bytes] = []
    step = 0
    while True:
        cursor, keys = m.read("SCAN", cursor, "COUNT", "20")
        seen.extend(keys)
        # Between calls: delete some churn keys, add new ones, expire some.
        for j in range(5):
            m("DEL", f"churn:{step * 5 + j}")
            m("SET", f"new:{step}:{j}", "v")
        step += 1
        if cursor == b"0":
            break
    assert stable <= set(seen)
    assert len([k for k in seen if k in stable]) == len(stable)  # and each only once


def test_scan_cursor_same_on_other_replica(m: M) -> None:
    other = M()
    for i in range(300):
        m("SET", f"k{i}", "v")
        other("SET", f"k{i}", "v")
    c1, k1 = m.read("SCAN", "0", "COUNT", "50")
    c2, k2 = other.read("SCAN", "0", "COUNT", "50")
    assert (c1, k1) == (c2, k2)
    assert m.read("SCAN", c1, "COUNT", "50") == other.read("SCAN", c1, "COUNT", "50")
