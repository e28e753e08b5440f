"""The Lua side of the scripting engine: sandbox, the `redis` table, the error handler
and the budget hook. Run once per Lua state as a function of the Python callbacks `P`;
it returns the internals the Python engine drives (`R`).

Everything a script can reach is protected: the global table and every library table
refuse writes ("Attempt to modify a readonly table", as Redis 7), and reading a missing
global fails with Redis's text. This matters beyond compatibility: a script that changed
a library would change how later scripts behave on replicas that replayed it, and not
on a replica that restored a snapshot taken after it.
"""

from __future__ import annotations

CHUNK = "=raftredis"  # this file's chunk name: error positions skip its frames

LUA = r"""
local P = ...
local G = _G
local type, error, tostring, pairs, ipairs, select = type, error, tostring, pairs, ipairs, select
local setmetatable, rawget, rawset, getmetatable = setmetatable, rawget, rawset, getmetatable
local sethook, getinfo = debug.sethook, debug.getinfo
local loadstring, setfenv = loadstring, setfenv
local INTERNAL = "=raftredis"
local R = {}

-- The scripts' globals: a table of their own (the state's real globals stay as lupa
-- needs them), holding what Redis 7.0's sandbox offers and nothing else (no os, io,
-- debug, require, loadfile, dofile, print, setfenv, getfenv).
local S = {}
for _, name in ipairs({"assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal",
                       "rawget", "select", "tonumber", "tostring", "type", "unpack",
                       "xpcall", "_VERSION", "setmetatable", "getmetatable"}) do
  S[name] = G[name]
end
local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end
local libs = {string = copy(string), table = copy(table), math = copy(math),
              coroutine = copy(coroutine)}

local tick = P.tick
local function hook()
  if tick() then
    sethook(hook, "", 1)  -- from now on every instruction fails: pcall cannot swallow it
    error("Script killed by the instruction budget")
  end
end

-- Lua 5.1 gives a new coroutine no hook of its own: set ours on each, or a loop inside
-- one would escape the budget.
local co_create, co_resume, HOOK_STEP = coroutine.create, coroutine.resume, P.hook_step
local function packn(...) return select("#", ...), {...} end
libs.coroutine.create = function(f)
  local co = co_create(f)
  sethook(co, hook, "", HOOK_STEP)
  return co
end
libs.coroutine.wrap = function(f)
  local co = libs.coroutine.create(f)
  return function(...)
    local n, res = packn(co_resume(co, ...))
    if not res[1] then error(res[2], 0) end
    return unpack(res, 2, n)
  end
end

-- Deterministic replacements: randomness from the entry's seed, no memory readings.
local py_random, py_seed = P.random, P.randomseed
local floor = math.floor
libs.math.random = function(m, n)
  local r = py_random()
  if m == nil then return r end
  if n == nil then m, n = 1, m end
  if m > n then error("bad argument #2 to 'random' (interval is empty)", 2) end
  return floor(r * (n - m + 1)) + m
end
libs.math.randomseed = function(s) py_seed(s) end
local real_collect = collectgarbage
S.collectgarbage = function(opt, arg)
  -- A memory reading differs between replicas: scripts get 0, whatever they ask; and
  -- they may run a collection but not stop or retune the shared state's collector.
  if opt == nil or opt == "collect" or opt == "step" then real_collect(opt, arg) end
  return 0
end
S.gcinfo = function() return 0 end

-- Chunks made at run time get the scripts' globals, and no bytecode (which can crash
-- Lua 5.1).
S.loadstring = function(s, name)
  if type(s) == "string" and s:byte(1) == 27 then
    return nil, "binary chunks are not allowed"
  end
  local fn, err = loadstring(s, name)
  if fn then setfenv(fn, S) end
  return fn, err
end
S.load = function(f, name)
  if type(f) ~= "function" then return nil, "bad argument to load" end
  local parts = {}
  while true do
    local piece = f()
    if piece == nil or piece == "" then break end
    parts[#parts + 1] = piece
  end
  return S.loadstring(table.concat(parts), name)
end

-- Read-only proxies.
local protected = setmetatable({}, {__mode = "k"})
local function readonly_error() error("Attempt to modify a readonly table", 2) end
local function proxy(t)
  local p = setmetatable({}, {__index = t, __newindex = readonly_error, __metatable = false})
  protected[p] = true
  return p
end
S.rawset = function(t, k, v)
  if protected[t] then readonly_error() end
  return rawset(t, k, v)
end

-- The `redis` table.
-- redis.call and redis.pcall are the Python callables themselves: called from C, they
-- leave the script's frame in place for error positions even in `return redis.call(...)`.
local py_log, py_sha1, setresp = P.log, P.sha1hex, P.setresp
local call, pcall_ = P.call, P.pcall
local function error_reply(e)
  if type(e) ~= "string" then error("wrong number or type of arguments", 2) end
  if e:sub(1, 1) == "-" then
    local sp = e:find(" ", 1, true)
    if sp then e = e:sub(2, sp - 1) .. " " .. e:sub(sp + 1) else e = "ERR " .. e:sub(2) end
  else
    local sp = e:find(" ", 1, true)
    if not sp then e = "ERR " .. e end
  end
  return {err = (e:gsub("[\r\n]+$", ""))}
end
local function status_reply(s)
  if type(s) ~= "string" then error("wrong number or type of arguments", 2) end
  return {ok = s}
end
local function log(level, ...)
  local n = select("#", ...)
  if n == 0 then error("redis.log() requires two arguments or more.", 2) end
  if type(level) ~= "number" then error("First argument must be a number (log level).", 2) end
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  py_log(level, table.concat(parts, " "))
end
local function sha1hex(s)
  if select("#", s) ~= 1 or (type(s) ~= "string" and type(s) ~= "number") then
    error("wrong number of arguments", 2)
  end
  return py_sha1(tostring(s))
end

local api = {
  call = call, pcall = pcall_, error_reply = error_reply, status_reply = status_reply,
  log = log, sha1hex = sha1hex, setresp = setresp,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = P.version, REDIS_VERSION_NUM = P.version_num,
  set_repl = function() end, replicate_commands = function() return true end,
  breakpoint = function() return false end, debug = function() end,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
}
-- What library code sees while FUNCTION LOAD runs it: no data access.
local registered = nil
local FUNCTION_FLAGS = {["no-writes"] = true, ["allow-oom"] = true, ["allow-stale"] = true,
                        ["no-cluster"] = true, ["allow-cross-slot-keys"] = true}
local load_api = {
  log = log, setresp = setresp,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = P.version, REDIS_VERSION_NUM = P.version_num,
  register_function = function(a, b)
    local name, fn, flags, desc
    if type(a) == "table" then
      name, fn, flags, desc = rawget(a, "function_name"), rawget(a, "callback"),
                              rawget(a, "flags"), rawget(a, "description")
      for k in pairs(a) do
        if k ~= "function_name" and k ~= "callback" and k ~= "flags" and k ~= "description" then
          error({err = "ERR unknown argument given to redis.register_function"})
        end
      end
    else
      name, fn = a, b
    end
    if type(name) ~= "string" then error({err = "ERR function_name argument given to redis.register_function must be a string"}) end
    if type(fn) ~= "function" then error({err = "ERR callback argument given to redis.register_function must be a function"}) end
    if desc ~= nil and type(desc) ~= "string" then error({err = "ERR description argument given to redis.register_function must be a string"}) end
    local fl = {}
    if flags ~= nil then
      if type(flags) ~= "table" then error({err = "ERR flags argument to redis.register_function must be a table representing function flags"}) end
      for _, f in ipairs(flags) do
        if type(f) ~= "string" or not FUNCTION_FLAGS[f] then error({err = "ERR unknown flag given"}) end
        fl[#fl + 1] = f
      end
    end
    registered[#registered + 1] = {name, fn, fl, desc}
  end,
}

-- Libraries every script sees, each behind a read-only proxy; the string metatable
-- points at the proxy so ("x"):len() still works and nothing can reach the original.
for name, lib in pairs(libs) do S[name] = proxy(lib) end
for name, lib in pairs(P.libs) do S[name] = proxy(lib) end
local smt = getmetatable("")
smt.__index = S.string
smt.__metatable = false
local redis_proxy = proxy(api)
-- (unlike the others, a missing field is an error here, as Redis's load-time `redis`)
local load_proxy = setmetatable({}, {
  __index = function(_, k)
    local v = load_api[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = readonly_error, __metatable = false})
protected[load_proxy] = true
S.redis = redis_proxy
S.KEYS = {}
S.ARGV = {}
S._G = proxy(S)

setmetatable(S, {
  __newindex = readonly_error,
  __index = function(_, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
  __metatable = false,
})
protected[S] = true

-- Errors: a table {err=..., source=..., line=...} naming the innermost user frame.
local classify = P.classify
local function on_error(e)
  local level, src, line = 2, nil, nil
  while true do
    local i = getinfo(level, "Sl")
    if not i then break end
    if i.what ~= "C" and i.what ~= "tail" and i.source ~= INTERNAL then
      src, line = i.source, i.currentline
      break
    end
    level = level + 1
  end
  local msg
  if type(e) == "table" then
    msg = rawget(e, "err")
    if type(msg) ~= "string" then msg = "ERR unknown error" end
  elseif type(e) == "userdata" then
    -- An exception from a Python callable: a redis.call error carries its reply; a
    -- library's gets the caller's position, as luaL_error gives the C libraries'.
    local kind, text = classify(e)
    if kind == 1 then
      msg = text
    elseif kind == 2 and src and line then
      msg = "ERR " .. src:gsub("^@", "") .. ":" .. line .. ": " .. text
    else
      msg = "ERR " .. text
    end
  else
    msg = "ERR " .. tostring(e)
  end
  return {err = msg, source = src, line = line}
end

R.sethook = sethook
R.hook = hook

function R.compile(body, chunkname)
  local fn, err = loadstring(body, chunkname)
  if not fn then return false, err end
  setfenv(fn, S)
  return true, fn
end

-- Run a script with KEYS and ARGV from the arguments (nkeys keys, then the args) and
-- the hook set every `step` instructions; (true, value) or (false, err). The hook is
-- cleared here; a stopped script never gets this far, and Python clears it then.
local function split(nkeys, ...)
  local all, keys, argv = {...}, {}, {}
  for i = 1, nkeys do keys[i] = all[i] end
  for i = nkeys + 1, select("#", ...) do argv[i - nkeys] = all[i] end
  return keys, argv
end

function R.run(fn, step, nkeys, ...)
  local keys, argv = split(nkeys, ...)
  rawset(S, "KEYS", keys)
  rawset(S, "ARGV", argv)
  sethook(hook, "", step)
  local ok, value = xpcall(fn, on_error)  -- only the first value is the reply
  sethook()
  return ok, value
end

function R.run_function(fn, step, nkeys, ...)
  local keys, argv = split(nkeys, ...)
  sethook(hook, "", step)
  local ok, value = xpcall(function() return fn(keys, argv) end, on_error)
  sethook()
  return ok, value
end

-- FUNCTION LOAD: run the library's code with only register_function reachable from
-- `redis`; returns (true, {{name, fn, flags, desc}, ...}) or (false, err).
function R.load_library(fn, step)
  registered = {}
  rawset(S, "redis", load_proxy)
  sethook(hook, "", step)
  local ok, err = xpcall(fn, on_error)
  rawset(S, "redis", redis_proxy)
  local out = registered
  registered = nil
  if not ok then return false, err end
  return true, out
end

function R.reset()
  rawset(S, "redis", redis_proxy)
  registered = nil
end

R.rawget = rawget
R.type = type
return R
"""
