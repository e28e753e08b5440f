"""Lua scripting differential test: the same EVAL / FCALL / SCRIPT / FUNCTION commands go
to a throwaway redis-server and to a fresh StateMachine; the replies, encoded by our
RESP encoder, must equal redis-server's bytes in RESP2 and RESP3. Covers return-value
and redis.call reply conversions both ways, redis.setresp, errors raised and caught
(redis.pcall), error_reply/status_reply, runtime and sandbox errors, cjson / cmsgpack /
bit, numkeys errors, shebang flags, read-only scripts and the function API.

A command written ("~CMD", ...) has an unordered reply (compared as sorted elements).
"""

from __future__ import annotations

import hashlib

import pytest

from raftredis.commands import lookup
from raftredis.commands.spec import Route
from raftredis.resp.encoder import encode
from raftredis.statemachine import StateMachine
from tests.unit.sm_redis import NOW, Cmd, Ref, _arg, _show, redis_ref, split_items

ref = redis_ref()
_RESET = (("SCRIPT", "FLUSH"), ("FUNCTION", "FLUSH"))


def _ours(commands: list[Cmd], resp: int) -> list[bytes]:
    sm = StateMachine()
    out = []
    for seed, cmd in enumerate(commands):
        args = [_arg(a) for a in cmd]
        args[0] = args[0].lstrip(b"~")
        spec = lookup(args[0])
        if spec is not None and spec.subcommands and len(args) > 1:
            name = f"{spec.name}|{args[1].decode().lower()}"
            spec = next((s for s in spec.subcommands if s.name == name), spec)
        if spec is not None and sm.route(spec, args) is Route.READ:
            reply = sm.read(args, NOW)
        else:
            reply = sm.apply(args, NOW, seed)
        out.append(encode(reply, resp))
    return out


def check(ref: Ref, commands: list[Cmd]) -> None:
    for resp in (2, 3):
        want = ref.redis([*_RESET, *commands], resp)[len(_RESET):]
        got = _ours(commands, resp)
        for cmd, w, g in zip(commands, want, got, strict=True):
            if _arg(cmd[0]).startswith(b"~") and w[:1] in b"*~%":
                assert (g[:1], sorted(split_items(g))) == (w[:1], sorted(split_items(w))), \
                    _show(cmd, resp, g, w)
            else:
                assert g == w, _show(cmd, resp, g, w)


def ev(script: str, *rest: str | int) -> tuple:
    return ("EVAL", script, *(rest or (0,)))


RETURNS = [
    "return 1", "return -7", "return 3.99", "return -3.99", "return 1e20", "return -1e300",
    "return 0/0", "return 'hello'", "return ''", "return true", "return false", "return nil",
    "return {}", "return {1, 2, {3, 'x', {}}}", "return {1, 2, nil, 4}", "return {1.5, 'a'}",
    "return {true, false, 'z'}", "return {ok='fine'}", "return {err='hello'}",
    "return {ok='a', err='b'}", "return {err='My Error'}", "return {err=5}",
    "return redis.status_reply('S')", "return redis.error_reply('My Error')",
    "return redis.error_reply('-WRONG x')", "return redis.error_reply('Oops')",
    "return {double=1.5}", "return {double=3}", "return {big_number='123456789012345678901'}",
    "return {map={a=1}}", "return {set={x=true}}", "return {1, {ok='in'}, {err='e'}}",
    "return #KEYS + #ARGV * 10", "return _VERSION", "return tostring(math.huge)",
    "return string.format('%d %s %.3f', 2^31, 'x', 1/3)", "return table.concat({1, 'b', 3}, '-')",
    "return {unpack({1, 2, 3})}", "return type(loadstring)", "return select('#', 1, nil, 3)",
    "return redis.sha1hex('')", "return redis.sha1hex('abc')", "return redis.REDIS_VERSION ~= nil",
    "return tonumber('0x10')", "return string.rep('ab', 3)", "return ('x'):upper()",
    "return {pcall(error, 'x')}", "return {pcall(error, {err='tab'})}[2].err",
    "return math.floor(7.9)", "return redis.LOG_WARNING", "return coroutine.wrap(function() coroutine.yield(5) end)()",
    "return loadstring('return 5 * 2')()",
]


def test_return_value_conversions(ref: Ref) -> None:
    check(ref, [ev(s) for s in RETURNS])


def test_keys_and_argv(ref: Ref) -> None:
    check(ref, [
        ("EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", 2, "k1", "k2", "a1", "a2"),
        ("EVAL", "return ARGV", 0, "x", "y", "z"),
        ("EVAL", "return KEYS", 3, "a", "b", "c"),
        ("EVAL", "return 1", -1), ("EVAL", "return 1", 2, "a"), ("EVAL", "return 1", "x"),
        ("EVAL", "return 1", "1.5"), ("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", 0),
        ("EVALSHA", "abc", 0), ("EVAL", "return 1"),
    ])


def test_redis_call_errors(ref: Ref) -> None:
    check(ref, [
        ("SET", "str", "abc"), ("LPUSH", "list", "a"),
        ev("return redis.call('incr', 'str')"), ev("return redis.pcall('incr', 'str')"),
        ev("return redis.call('get', 'list')"), ev("return redis.pcall('get', 'list')"),
        ev("return redis.call('nosuch')"), ev("return redis.pcall('nosuch')"),
        ev("return redis.call('get')"), ev("return redis.pcall('get')"),
        ev("return redis.call()"), ev("return redis.call(1)"),
        ev("return redis.call('get', {})"), ev("return redis.pcall('get', nil)"),
        ev("return redis.call('eval', 'return 1', '0')"),
        ev("return redis.call('multi')"),
        ev("local t = redis.pcall('incr', 'str'); return t.err"),
        ev("local ok, e = pcall(redis.call, 'incr', 'str'); return ok"),
        ev("redis.call('set', 'x', 1); return redis.call('incr', 'str')"),
        ("GET", "x"),
        ev("return redis.pcall('incr', 'str')['err'] .. '!'"),
        ev("local r = redis.pcall('incr', 'str'); return {r}"),
        ev("error({err='tab'})"), ev("error('boom')"), ev("error('boom', 0)"),
        ev("\n\nerror('third line')"),
        ev("local function f() error('deep') end\nf()"),
        ev("return foo"), ev("x = 1"), ev("string.len = nil"), ev("redis.call = nil"),
        ev("return os.time()"), ev("return io"), ev("return print"), ev("return debug"),
        ev("return require"), ev("return loadfile"), ev("return dofile"), ev("return setfenv"),
        ev("return getfenv"), ev("return ("), ev("return redis.setresp(4)"),
        ev("loadstring('y = 1')()"),
    ])


def test_reply_conversions_into_lua(ref: Ref) -> None:
    check(ref, [
        ("HSET", "h", "f1", "v1"), ("SADD", "s", "m1"), ("ZADD", "z", "1.5", "a"),
        ("RPUSH", "l", "a", "b"), ("SET", "n", "10"),
        ev("return redis.call('get', 'nokey')"), ev("return redis.call('get', 'nokey') == false"),
        ev("return redis.call('hgetall', 'h')"), ev("return redis.call('lrange', 'l', 0, -1)"),
        ev("return redis.call('set', 'k', 'v')"), ev("return redis.call('set', 'k', 'v').ok"),
        ev("return type(redis.call('incr', 'n'))"), ev("return redis.call('zscore', 'z', 'a')"),
        ev("return redis.call('incrbyfloat', 'f', 1.5)"), ev("return redis.call('incrby', 'n', 2.0)"),
        ev("return redis.call('set', 'num', 1.5)"), ("GET", "num"),
        ev("return redis.call('set', 'big', 12345678901234)"), ("GET", "big"),
        ev("return redis.call('set', 'tiny', 0.1)"), ("GET", "tiny"),
        ev("redis.setresp(3); return redis.call('hgetall', 'h')"),
        ev("redis.setresp(3); return redis.call('hgetall', 'h').map.f1"),
        ev("redis.setresp(3); return redis.call('smembers', 's')"),
        ev("redis.setresp(3); return redis.call('zscore', 'z', 'a')"),
        ev("redis.setresp(3); return redis.call('zscore', 'z', 'a').double"),
        ev("redis.setresp(3); return redis.call('get', 'nokey')"),
        ev("redis.setresp(3); return redis.call('get', 'nokey') == nil"),
        ev("redis.setresp(3); return redis.call('set', 'k', 'v')"),
        ev("redis.setresp(3); return true"), ev("redis.setresp(3); return false"),
        ev("redis.setresp(3); return {map={k='v'}}"),
        ev("redis.setresp(3); return redis.call('zrange', 'z', 0, -1, 'withscores')"),
        ev("redis.setresp(2); return redis.call('zrange', 'z', 0, -1, 'withscores')"),
        ev("return redis.call('type', 'h')"), ev("return redis.call('ping')"),
        ev("return redis.call('del', 'h', 's', 'nokey')"),
        ev("return redis.call('exists', 'z')"),
        ev("return redis.call('blpop', 'nolist', 0)"), ev("return redis.call('blpop', 'l', 0)"),
        ev("return redis.call('xadd', 'st', '1-1', 'f', 'v')"),
        ev("return redis.call('xrange', 'st', '-', '+')"),
        ev("return redis.call('hincrbyfloat', 'h2', 'f', '1.5')"),
        ev("return redis.call('object', 'encoding', 'n')"),
        ev("return redis.call('watch', 'n')"), ev("return redis.call('select', 0)"),
        ev("return redis.pcall('select', 'x')"),
        ev("return redis.call('sort', 'l', 'alpha')"),
        ev("return redis.call('spop', 'nosuchset')"),
        ev("redis.setresp(3); return redis.call('hrandfield', 'nokey', 1, 'withvalues')"),
        ev("return redis.call('ttl', 'n')"), ev("return redis.call('setex', 'ex', 100, 'v')"),
    ])


def test_cjson_cmsgpack_bit(ref: Ref) -> None:
    check(ref, [
        ev("return cjson.encode({1, 2, 3})"), ev("return cjson.encode({a=1})"),
        ev("return cjson.encode({})"), ev("return cjson.encode({1, nil, 3})"),
        ev("return cjson.encode('a/b\\n\\1\"')"), ev("return cjson.encode(0.1)"),
        ev("return cjson.encode(1e100)"), ev("return cjson.encode(-0.5)"),
        ev("return cjson.encode({a={b={}}, [1]=2})"), ev("return cjson.encode(true)"),
        ev("return cjson.encode(cjson.null)"), ev("return type(cjson.null)"),
        ev("return cjson.encode({[1]=1, [20]=2})"), ev("return cjson.encode(math.huge)"),
        ev("return cjson.encode(function() end)"),
        ev("return cjson.decode('[1,2,\"x\"]')"), ev("return cjson.decode('{\"a\":null}').a == cjson.null"),
        ev("return cjson.decode('{\"a\":[1,2,{\"b\":true}]}').a[3].b"),
        ev("return cjson.decode('1.5')"), ev("return cjson.decode('\"\\\\u00e9\"')"),
        ev("return cjson.encode(cjson.decode('{\"k\":[1,2.5,\"s\",true,false]}'))"),
        ev("return cjson.encode(cjson.decode(ARGV[1]))", 0, '[{"id":1},{"id":2,"tags":["a","b"]}]'),
        ev("return cmsgpack.pack({1, 2, 'a'})"),
        ev("return cmsgpack.pack(1.5, 0.1, -1, 300, 70000, -40000, 2^40)"),
        ev("return cmsgpack.pack({a=1})"), ev("return cmsgpack.pack(true, false)"),
        ev("return {cmsgpack.unpack(cmsgpack.pack(1, 'x', {1, 2}))}"),
        ev("return cmsgpack.unpack(cmsgpack.pack({k='v'})).k"),
        ev("return cmsgpack.pack(string.rep('x', 40))"),
        ev("return bit.band(7, 3)"), ev("return bit.bor(1, 2, 4)"), ev("return bit.bxor(5, 1)"),
        ev("return bit.tohex(255)"), ev("return bit.tohex(-1, -4)"), ev("return bit.tohex(65535, 2)"),
        ev("return bit.lshift(1, 31)"), ev("return bit.rshift(-1, 28)"), ev("return bit.arshift(-16, 2)"),
        ev("return bit.bnot(0)"), ev("return bit.tobit(2^32 + 5)"), ev("return bit.rol(1, 33)"),
        ev("return bit.ror(1, 1)"), ev("return bit.bswap(0x12345678)"),
    ])


def test_struct(ref: Ref) -> None:
    check(ref, [ev(s) for s in [
        "return struct.pack('>I2', 258)", "return struct.pack('<i', -2)",
        "return {struct.unpack('>I2', struct.pack('>I2', 258))}",
        "return struct.pack('bBhH', -1, 255, -2, 65535)", "return struct.size('>iId')",
        "return struct.pack('s', 'ab')", "return struct.pack('c3', 'abcdef')",
        "return {struct.unpack('c0', 'xyz')}", "return {struct.unpack('Bc0', struct.pack('Bc0', 3, 'abc'))}",
        "return struct.pack('>d', 1.5)", "return struct.pack('f', 1.5)", "return struct.pack('l', 1)",
        "return struct.pack('q', 1)", "return {struct.unpack('>h', '\\255\\254')}",
        "return struct.pack('x>i', 1)", "return {struct.unpack('s', 'ab\\0cd')}",
        "return struct.pack('i9', 1)", "return struct.pack('i9', -1)",
        "return {struct.unpack('<i9', struct.pack('<i9', -5))}",
        "return struct.pack('!4bi', 1, 2)", "return struct.size('!8bd')",
        "return {struct.unpack('>Ii', struct.pack('>Ii', 7, -7), 1)}",
        "return {struct.unpack('>B', 'abc', 2)}",
        "return {struct.unpack('>d', struct.pack('>d', 0.1))}",
    ]])


def test_scripts_cache_and_read_only(ref: Ref) -> None:
    body = "return redis.call('get', KEYS[1])"
    sha = hashlib.sha1(body.encode()).hexdigest()
    check(ref, [
        ("SCRIPT", "LOAD", body), ("SCRIPT", "EXISTS", sha, "nope"),
        ("SET", "k", "v"), ("EVALSHA", sha, 1, "k"),
        ("EVAL", "return 'cached'", 0),
        ("EVALSHA", hashlib.sha1(b"return 'cached'").hexdigest(), 0),
        ("SCRIPT", "EXISTS", sha),
        ("EVALSHA", sha.upper(), 1, "k"),
        ("SCRIPT", "FLUSH"), ("EVALSHA", sha, 1, "k"),
        ("SCRIPT", "EXISTS", sha),
        ("SCRIPT", "FLUSH", "ASYNC"), ("SCRIPT", "FLUSH", "bad"), ("SCRIPT", "KILL"),
        ("SCRIPT", "LOAD", "return ("),
        ("EVAL_RO", "return redis.call('get', 'k')", 0),
        ("EVAL_RO", "return redis.call('set', 'k', 'v')", 0),
        ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set', 'k', 'v')", 0),
        ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', 'k')", 0),
        ("EVAL_RO", "#!lua\nreturn 1", 0), ("EVAL", "#!lua\nreturn redis.call('incr', 'c')", 0),
        ("EVAL", "#!lua flags=bogus\nreturn 1", 0), ("EVAL", "#!python\nreturn 1", 0),
        ("EVAL", "#!lua flags=no-writes,allow-stale\nreturn 2", 0),
        ("EVAL", "#!lua\n\nerror('on three')", 0),
        ("EVALSHA_RO", sha, 1, "k"),
        ("GET", "c"),
    ])


LIB = """#!lua name=mylib
local function setter(keys, args) return redis.call('set', keys[1], args[1]) end
redis.register_function('myset', setter)
redis.register_function{function_name='myget', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}
redis.register_function('boom', function() error('bang') end)
redis.register_function('callerr', function() return redis.call('incr', 'str') end)
"""


LIB7 = """#!lua name=lib7
redis.register_function{function_name='f7', callback=function(keys, args) return args end, flags={'no-writes', 'allow-stale'}, description='seven'}
"""


def test_functions(ref: Ref) -> None:
    check(ref, [
        ("FUNCTION", "LOAD", LIB), ("FUNCTION", "LOAD", LIB),
        ("FCALL", "myset", 1, "k", "v"), ("FCALL", "myget", 1, "k"), ("FCALL_RO", "myget", 1, "k"),
        ("FCALL_RO", "myset", 1, "k", "w"), ("FCALL", "boom", 0), ("SET", "str", "x"),
        ("FCALL", "callerr", 0), ("FCALL", "nosuch", 0), ("FCALL", "myget", "x"),
        ("FCALL", "myget", -1), ("FCALL", "myget", 3, "a"),
        ("FUNCTION", "LOAD", "return 1"), ("FUNCTION", "LOAD", "#!lua name=lib2\nreturn 1"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nredis.call('ping')"),
        ("FUNCTION", "LOAD", "#!lua name=lib2\nx = 1"),
        ("FUNCTION", "LOAD", "#!lua name=lib-2\n"), ("FUNCTION", "LOAD", "#!lua name=lib3 foo=bar\n"),
        ("FUNCTION", "LOAD", "#!lua name=lib4\nredis.register_function('myset', function() return 1 end)"),
        ("FUNCTION", "LOAD", "#!lua name=lib5\nredis.register_function('f5', function() return 1 end"),
        ("FUNCTION", "LOAD", "#!lua name=lib6\nredis.register_function{function_name='f6', callback=function() end, flags={'bogus'}}"),
        ("FUNCTION", "LOAD", LIB7),
        # (Redis lists a library's functions in hash order: one function per library here)
        ("FUNCTION", "LIST", "LIBRARYNAME", "lib7"), ("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "lib7"),
        ("FUNCTION", "LIST", "LIBRARYNAME", "li?7"), ("FUNCTION", "LIST", "LIBRARYNAME", "zzz"),
        ("FUNCTION", "LIST", "BOGUS"), ("FUNCTION", "STATS"), ("FCALL_RO", "f7", 0, "arg"),
        ("FUNCTION", "LOAD", "REPLACE", "#!lua name=mylib\nredis.register_function('only', function() return 'only' end)"),
        ("FCALL", "only", 0), ("FCALL", "myset", 0), ("FUNCTION", "DELETE", "mylib"),
        ("FUNCTION", "DELETE", "mylib"), ("FCALL", "only", 0), ("FUNCTION", "STATS"),
        ("FUNCTION", "KILL"), ("FUNCTION", "DELETE", "lib7"), ("FUNCTION", "LIST"),
        ("FUNCTION", "FLUSH", "SYNC"), ("FUNCTION", "STATS"),
    ])


def test_function_dump_restore_round_trip(ref: Ref) -> None:
    """A dump of ours restores into redis-server and the other way round."""
    conn = ref.conn(2)
    for c in (*_RESET, ("FLUSHALL",)):
        conn.call(*c)
    assert conn.call("FUNCTION", "LOAD", LIB) == b"$5\r\nmylib\r\n"
    theirs = conn.call("FUNCTION", "DUMP")
    payload = theirs[theirs.index(b"\r\n") + 2:-2]
    sm = StateMachine()
    assert sm.apply([b"FUNCTION", b"RESTORE", payload], NOW) == "OK"
    assert sm.apply([b"FCALL", b"myset", b"1", b"k", b"v"], NOW) == "OK"
    ours = sm.read([b"FUNCTION", b"DUMP"], NOW)
    assert isinstance(ours, bytes)
    conn.call("FUNCTION", "FLUSH")
    assert conn.call("FUNCTION", "RESTORE", ours) == b"+OK\r\n"
    assert conn.call("FCALL", "myget", 1, "k") == b"$-1\r\n"
    assert sm.apply([b"FUNCTION", b"RESTORE", ours], NOW) == \
        "ERR Library 'mylib' already exists"
    assert sm.apply([b"FUNCTION", b"RESTORE", ours[:-1] + b"x"], NOW) == \
        "ERR payload version or checksum are wrong"


@pytest.mark.parametrize("script", [
    "return redis.call('incr', KEYS[1])",
    "local v = redis.call('get', KEYS[1]) if v == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
])
def test_lock_style_scripts(ref: Ref, script: str) -> None:
    check(ref, [("SET", "lock", "token"), ("EVAL", script, 1, "lock", "token"),
                ("EVAL", script, 1, "lock", "other"), ("GET", "lock")])
