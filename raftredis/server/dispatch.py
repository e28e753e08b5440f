"""From a parsed command to its reply: lookup, arity, authentication, MULTI queueing,
then either a local handler (connection/server commands) or the Backend."""

from __future__ import annotations

import asyncio
import logging
from time import perf_counter_ns

from raftredis.commands import COMMANDS, lookup
from raftredis.commands.spec import CommandSpec, Route, find_subcommand
from raftredis.reply import QUEUED, CommandError, Error, unknown_command, wrong_arity
from raftredis.server.acl_guard import denied as acl_denied
from raftredis.server.acl_guard import denied_at_exec as acl_changed
from raftredis.server.client import ClientState
from raftredis.server.cmdstats import note_outcome
from raftredis.server.pubsub import SUBSCRIBE_MODE_COMMANDS, subscribe_mode_error
from raftredis.server.registry import HANDLERS
from raftredis.server.replication import note_write
from raftredis.server.state import ServerState
from raftredis.server.tracking import note_command

log = logging.getLogger(__name__)



class _NoReply:
    """A command whose reply is suppressed (CLIENT REPLY OFF / SKIP)."""

    __slots__ = ()


NO_REPLY = _NoReply()
_UNRESOLVED = "\0unresolved"  # ClientState.last_cmd while a command is being resolved

NOAUTH = Error("NOAUTH Authentication required.")
NO_MULTI = Error("ERR Command not allowed inside a transaction")
EXECABORT = Error("EXECABORT Transaction discarded because of previous errors.")
# Not queued inside MULTI (Redis's processCommand).
_NOT_QUEUED = frozenset({"exec", "discard", "multi", "watch", "quit", "reset"})


def resolve(args: list[bytes]) -> CommandSpec | Error:
    """The spec for a command line (subcommand included), or Redis's error for it."""
    spec = lookup(args[0])
    if spec is None:
        return unknown_command(args[0].decode("utf-8", "replace"), args[1:])
    if spec.subcommands and len(args) >= 2:
        sub = find_subcommand(spec, args[1])
        if sub is None:
            name = args[1].decode("utf-8", "replace")[:128]
            parent = args[0].decode("utf-8", "replace").upper()
            return Error(f"ERR unknown subcommand '{name}'. Try {parent} HELP.")
        spec = sub
    if not spec.check_arity(len(args)):
        return wrong_arity(spec.name)
    if spec.route is not Route.LOCAL and not spec.subcommands and len(_DATA_BY_RAW) < 4096 \
            and "|" not in spec.name:
        _DATA_BY_RAW[args[0]] = spec
    return spec


# Data commands (routed to the backend) by their name exactly as clients send it.
_DATA_BY_RAW: dict[bytes, CommandSpec] = {}


class Dispatcher:
    def __init__(self, srv: ServerState) -> None:
        self.srv = srv

    def dispatch(self, client: ClientState, args: list[bytes]) -> object:
        started = perf_counter_ns()
        srv = self.srv
        if srv.pause.engaged:
            held = self._held(client, args)
            if held is not None:
                return held
        elif client.multi is None and client.authenticated and client.reply_mode == "on" \
                and not client.full_dispatch:
            # Fast lane for the common case: a data command by its name as sent, no
            # subcommands, outside MULTI, authenticated, replies on. The same outcome as
            # the full path below, in one call (it runs for every command).
            spec = _DATA_BY_RAW.get(args[0])
            if spec is not None:
                a, n = spec.arity, len(args)
                if (n == a) if a >= 0 else (n >= -a):
                    stats = srv.stats
                    stats.total_commands_processed += 1
                    name = spec.name
                    client.last_cmd = name
                    calls = stats.commands
                    calls[name] = calls.get(name, 0) + 1
                    try:
                        reply = srv.backend.execute(client, spec, args)
                    except CommandError as e:
                        reply = e.reply()
                    except Exception:
                        log.exception("command %s failed", name)
                        stats.unexpected_error_replies += 1
                        reply = Error("ERR internal error while running the command")
                    if isinstance(reply, asyncio.Future):
                        if spec.route is Route.WRITE:  # timed where it runs (see below)
                            note_write(client, reply)
                        return reply
                    return self._answered(client, name, args, started, reply)
        before = client.last_cmd
        client.last_cmd = _UNRESOLVED  # a command that resolves sets its name
        try:
            reply = self._dispatch(client, args)
        finally:
            name = client.last_cmd
            if name is _UNRESOLVED:  # unknown, wrong arity, ...: not a call of any command
                client.last_cmd = before
        if name is _UNRESOLVED or reply is QUEUED:  # (a transaction counts as its EXEC)
            return reply
        if isinstance(reply, asyncio.Future):
            # Its execution is timed where it runs (the replica layer's applier and read
            # path, see raftredis.replica.slowwatch): the wait for the log is not
            # execution, as Redis does not count a blocked client's wait.
            spec = COMMANDS.get(name)
            if spec is not None and (spec.route is Route.WRITE or spec.name == "exec"):
                note_write(client, reply)
            return reply
        return self._answered(client, name, args, started, reply)

    def _answered(self, client: ClientState, name: str, args: list[bytes], started: int,
                  reply: object) -> object:
        """A command answered at once: its execution into commandstats and SLOWLOG."""
        elapsed = perf_counter_ns() - started
        srv = self.srv
        note_outcome(srv.stats.cmdstats, name, elapsed, reply)
        slow = srv.slowlog
        if slow.threshold_us >= 0 and elapsed >= slow.threshold_us * 1000:
            slow.consider(name, args, started, client.addr, client.name)
        return reply

    def _rejected_for_arity(self, args: list[bytes]) -> None:
        """A known command (or subcommand) called with the wrong number of arguments is a
        rejected call of it in INFO commandstats, as in Redis (calls=0,rejected_calls=1);
        an unknown name is no command's call."""
        spec = lookup(args[0])
        if spec is None:
            return
        if spec.subcommands and len(args) >= 2:
            spec = find_subcommand(spec, args[1]) or spec
        self.srv.stats.cmdstats.rejected(spec.name)

    def _held(self, client: ClientState, args: list[bytes]) -> object | None:
        """CLIENT PAUSE: the reply to come once the pause is over (see server.pause)."""
        found = resolve(args)
        spec: CommandSpec | None = None
        if isinstance(found, CommandSpec) and (client.multi is None or found.name == "exec"):
            spec = found  # (an error answers now; queueing in MULTI is not held)
        return self.srv.pause.gate(client, spec, lambda: self._dispatch(client, args),
                                   asyncio.get_running_loop())

    def _dispatch(self, client: ClientState, args: list[bytes]) -> object:
        self.srv.stats.total_commands_processed += 1
        # (last_interaction is stamped once per received batch by the protocol)
        mode = client.reply_mode
        reply = self._run(client, args)
        if mode != "on":
            if mode == "skip" and client.reply_mode == "skip":
                client.reply_mode = "on"
            if mode == "skip" or client.reply_mode == "off":
                return NO_REPLY
        return reply

    def _run(self, client: ClientState, args: list[bytes]) -> object:
        spec = resolve(args)
        if type(spec) is Error:
            if spec.startswith("ERR wrong number of arguments"):
                self._rejected_for_arity(args)
            if client.multi is not None:
                if args[0].lower() == b"exec":
                    # Redis: a rejected EXEC discards the transaction, saying why.
                    client.multi = None
                    client.multi_error = False
                    client.watched.clear()
                    return Error("EXECABORT Transaction discarded because of: "
                                 + spec.removeprefix("ERR "))
                client.multi_error = True
            return spec
        assert isinstance(spec, CommandSpec)
        client.last_cmd = spec.name
        calls = self.srv.stats.commands
        calls[spec.name] = calls.get(spec.name, 0) + 1
        if not client.authenticated and "no_auth" not in spec.flags:
            if client.multi is not None:
                client.multi_error = True
            return NOAUTH
        if client.acl_limited:  # the one ACL check (an unrestricted user costs this test)
            refused = acl_denied(self.srv, client, spec, args)
            if refused is not None:
                if spec.name == "exec":  # as Redis: a refused EXEC discards, saying why
                    client.multi = None
                    client.multi_error = False
                    client.watched.clear()
                    return Error("EXECABORT Transaction discarded because of: " + refused)
                if client.multi is not None:
                    client.multi_error = True
                return refused
        if client.multi is not None and "no_multi" in spec.flags:
            client.multi_error = True  # SAVE, SHUTDOWN: never queued, as in Redis
            return NO_MULTI
        if client.hooked:
            return self._run_hooked(client, spec, args)
        if client.multi is not None and spec.name.split("|", 1)[0] not in _NOT_QUEUED:
            if spec.route is not Route.LOCAL:
                # A data command this node cannot run (a follower): redirect now, before
                # anything is queued or applied; EXEC will then answer EXECABORT, as Redis.
                check = getattr(self.srv.backend, "check_route", None)
                err = check(client, spec, args) if check is not None else None
                if err is not None:
                    client.multi_error = True
                    return err
            client.multi.append((spec, args))
            return QUEUED
        return self.execute(client, spec, args)

    def _run_hooked(self, client: ClientState, spec: CommandSpec, args: list[bytes]) -> object:
        """A connection in RESP2 subscribe mode or tracking keys (see ClientState)."""
        if client.resp == 2 and client.in_pubsub() and spec.name not in SUBSCRIBE_MODE_COMMANDS:
            if client.multi is not None:
                client.multi_error = True
            return subscribe_mode_error(spec.name)
        if client.multi is not None and spec.name.split("|", 1)[0] not in _NOT_QUEUED:
            client.hooked = False  # queue it the common way
            try:
                return self._run(client, args)
            finally:
                client.update_dispatch()
        # EXEC of a tracking client: the reads it queued are remembered as they ran.
        queued = list(client.multi or ()) if spec.name == "exec" and client.tracking else ()
        reply = self.execute(client, spec, args)
        note_command(self.srv, client, spec, args, queued)
        return reply

    def execute(self, client: ClientState, spec: CommandSpec, args: list[bytes]) -> object:
        try:
            if spec.route is Route.LOCAL:
                fn = HANDLERS.get(spec.name)
                if fn is None:
                    return Error(f"ERR command '{spec.name}' is not available on this server")
                return fn(self.srv, client, args)
            return self.srv.backend.execute(client, spec, args)
        except CommandError as e:
            return e.reply()
        except Exception:  # a bug must cost one reply, not the connection
            log.exception("command %s failed", spec.name)
            self.srv.stats.unexpected_error_replies += 1
            return Error("ERR internal error while running the command")

    def exec_multi(self, client: ClientState) -> object:
        """EXEC: run the queued commands; local ones here, data ones as one backend unit."""
        queued = client.multi or []
        client.multi = None
        data: list[tuple[CommandSpec, list[bytes]]] = []
        replies: list[object] = []
        slots: list[int] = []
        for spec, args in queued:
            if client.acl_limited and (refused := acl_changed(self.srv, client, spec, args)):
                replies.append(refused)  # its rules changed since it was queued (Redis)
            elif spec.route is Route.LOCAL:
                replies.append(self.execute(client, spec, args))
            else:
                slots.append(len(replies))
                replies.append(None)
                data.append((spec, args))
        if not data and not client.watched:
            return replies
        # (with WATCH, even a transaction of local commands asks the backend, which
        # decides whether a watched key changed: Redis answers a null array then)

        def merge(result: object) -> object:
            if not isinstance(result, list):
                return result  # an Error for the whole transaction (e.g. MOVED)
            for i, r in zip(slots, result, strict=False):
                replies[i] = r
            return replies

        try:
            # The backend reads client.watched (WATCH marks) before it is cleared.
            result = self.srv.backend.execute_multi(client, data)
        except Exception:
            log.exception("EXEC failed")
            return Error("ERR internal error while running the transaction")
        finally:
            client.watched.clear()
        if isinstance(result, asyncio.Future):
            out = asyncio.get_running_loop().create_future()

            def done(f: asyncio.Future) -> None:
                if not out.cancelled():
                    out.set_result(merge(f.result()) if not f.cancelled() and f.exception() is None
                                   else Error("ERR transaction failed"))

            result.add_done_callback(done)
            return out
        return merge(result)
