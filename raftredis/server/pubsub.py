"""Pub/sub commands: SUBSCRIBE & co. change this connection's subscriptions (and the
node's index, EventHub.pubsub); PUBLISH/SPUBLISH go to the backend, which delivers
through the log to every node (see raftredis.replica.publish); PUBSUB reports this
node's subscriptions, as each Redis Cluster node does.

RESP2 subscribe mode: while subscribed, a RESP2 connection may only (un)subscribe,
PING, QUIT and RESET (dispatch enforces it with Redis's error); RESP3 may run anything.
"""

from __future__ import annotations

from raftredis.reply import Error, Push, Replies
from raftredis.server.client import ClientState
from raftredis.server.registry import handler, help_lines
from raftredis.server.state import ServerState

# What a RESP2 connection may run while subscribed (Redis's processCommand).
SUBSCRIBE_MODE_COMMANDS = frozenset({
    "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe",
    "ping", "quit", "reset",
})


def subscribe_mode_error(name: str) -> Error:
    return Error(f"ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / "
                 "PING / QUIT / RESET are allowed in this context")


def _conn(srv: ServerState, client: ClientState):
    conn = srv.clients.get(client.id)
    if conn is None:  # not a live connection (cannot happen for a dispatched command)
        raise LookupError("no connection for this client")
    return conn


def _changed(srv: ServerState, client: ClientState, conn, was_subscribed: bool) -> None:
    client.update_dispatch()
    if was_subscribed != client.in_pubsub():
        apply = getattr(conn, "apply_output_limits", None)
        if apply is not None:  # the pubsub class's output limit applies while subscribed
            apply()


@handler("subscribe")
def subscribe(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    conn, was, ps = _conn(srv, client), client.in_pubsub(), srv.events.pubsub
    out = Replies()
    for ch in args[1:]:
        if ch not in client.channels:
            client.channels.add(ch)
            ps.subscribe(conn, ch)
        out.append(Push([b"subscribe", ch, client.subscriptions()]))
    _changed(srv, client, conn, was)
    return out


@handler("psubscribe")
def psubscribe(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    conn, was, ps = _conn(srv, client), client.in_pubsub(), srv.events.pubsub
    out = Replies()
    for pat in args[1:]:
        if pat not in client.patterns:
            client.patterns.add(pat)
            ps.psubscribe(conn, pat)
        out.append(Push([b"psubscribe", pat, client.subscriptions()]))
    _changed(srv, client, conn, was)
    return out


@handler("ssubscribe")
def ssubscribe(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    conn, was, ps = _conn(srv, client), client.in_pubsub(), srv.events.pubsub
    out = Replies()
    for ch in args[1:]:
        if ch not in client.shard_channels:
            client.shard_channels.add(ch)
            ps.ssubscribe(conn, ch)
        out.append(Push([b"ssubscribe", ch, len(client.shard_channels)]))
    _changed(srv, client, conn, was)
    return out


def _unsub(srv: ServerState, client: ClientState, args: list[bytes], kind: bytes,
           mine: set[bytes], drop, count) -> object:
    conn, was = _conn(srv, client), client.in_pubsub()
    names = args[1:] or list(mine)
    out = Replies()
    for name in names:
        if name in mine:
            mine.discard(name)
            drop(conn, name)
        out.append(Push([kind, name, count()]))
    if not out:  # nothing to leave: one reply with a null name, as Redis
        out.append(Push([kind, None, count()]))
    _changed(srv, client, conn, was)
    return out


@handler("unsubscribe")
def unsubscribe(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return _unsub(srv, client, args, b"unsubscribe", client.channels,
                  srv.events.pubsub.unsubscribe, client.subscriptions)


@handler("punsubscribe")
def punsubscribe(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return _unsub(srv, client, args, b"punsubscribe", client.patterns,
                  srv.events.pubsub.punsubscribe, client.subscriptions)


@handler("sunsubscribe")
def sunsubscribe(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return _unsub(srv, client, args, b"sunsubscribe", client.shard_channels,
                  srv.events.pubsub.sunsubscribe, lambda: len(client.shard_channels))


def _publish(srv: ServerState, args: list[bytes], shard: bool) -> object:
    fn = getattr(srv.backend, "publish", None)
    if fn is None:  # a backend without a log (front-end tests): this node only
        return srv.events.publish(args[1], args[2], shard)
    return fn(args[1], args[2], shard)


@handler("publish")
def publish(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return _publish(srv, args, False)


@handler("spublish")
def spublish(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return _publish(srv, args, True)


@handler("pubsub|channels")
def pubsub_channels(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return srv.events.pubsub.channels(args[2] if len(args) > 2 else None)


@handler("pubsub|shardchannels")
def pubsub_shardchannels(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return srv.events.pubsub.shard_channels(args[2] if len(args) > 2 else None)


@handler("pubsub|numsub")
def pubsub_numsub(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return srv.events.pubsub.numsub(args[2:])


@handler("pubsub|shardnumsub")
def pubsub_shardnumsub(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return srv.events.pubsub.shard_numsub(args[2:])


@handler("pubsub|numpat")
def pubsub_numpat(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return srv.events.pubsub.numpat()


@handler("pubsub|help")
def pubsub_help(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return help_lines("PUBSUB", [
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT", "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> "
        "(default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
    ])
