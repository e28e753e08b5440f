"""Handlers of the connection commands: PING, ECHO, QUIT, HELLO, AUTH, SELECT, RESET,
READONLY/READWRITE/ASKING, CLIENT *, MULTI/EXEC/DISCARD/WATCH/UNWATCH, CLUSTER."""

from __future__ import annotations

import time

import raftredis.server.pubsub  # noqa: F401  (registers the pub/sub handlers)
import raftredis.server.tracking  # noqa: F401  (and CLIENT TRACKING's)
from raftredis.reply import (
    OK,
    PONG,
    SYNTAX_ERR,
    CommandError,
    Error,
    Map,
    Status,
    Verbatim,
    wrong_arity,
)
from raftredis.server.acl_guard import note as note_acl_event
from raftredis.server.client import ClientState
from raftredis.server.dispatch import EXECABORT, NO_REPLY, Dispatcher
from raftredis.server.registry import handler, help_lines
from raftredis.server.state import REDIS_VERSION, SERVER_NAME, ServerState

WRONGPASS = Error("WRONGPASS invalid username-password pair or user is disabled.")
_NAME_ERR = "ERR Client names cannot contain spaces, newlines or special characters."


def _valid_attr(value: bytes) -> bool:
    """Redis allows printable ASCII without spaces ('!' to '~') in names and lib info."""
    return all(33 <= b <= 126 for b in value)


def _authenticate(srv: ServerState, client: ClientState, verb: bytes, user: bytes,
                  password: bytes) -> bool:
    """AUTH / HELLO AUTH: on success the connection runs as that user; a failure goes
    to the ACL LOG (object: the command as sent, as Redis logs it)."""
    found = srv.acl.get(user)
    if found is None or not found.password_ok(password):
        note_acl_event(srv, client, "auth", verb, user)
        return False
    client.authenticated = True
    client.set_user(found)
    return True


@handler("ping")
def ping(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if len(args) > 2:  # the spec says -1, as Redis's; its handler takes at most one
        return wrong_arity("ping")
    if client.resp == 2 and client.in_pubsub():  # subscribe mode: a message-shaped pong
        return [b"pong", args[1] if len(args) > 1 else b""]
    return PONG if len(args) == 1 else args[1]


@handler("echo")
def echo(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return args[1]


@handler("quit")
def quit_(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    client.close_after_reply = True
    return OK


@handler("auth")
def auth(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if len(args) > 3:
        return SYNTAX_ERR
    if len(args) == 2:
        if srv.acl.default.nopass:
            return Error(
                "ERR AUTH <password> called without any password configured for the default "
                "user. Are you sure your configuration is correct?"
            )
        user, password = b"default", args[1]
    else:
        user, password = args[1], args[2]
    if not _authenticate(srv, client, args[0], user, password):
        return WRONGPASS
    return OK


@handler("hello")
def hello(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    ver = 0
    i = 1
    if len(args) >= 2:
        try:
            ver = int(args[1])
        except ValueError:
            return Error("ERR Protocol version is not an integer or out of range")
        if ver < 2 or ver > 3:
            return Error("NOPROTO unsupported protocol version")
        i = 2
    user = password = name = None
    while i < len(args):
        opt = args[i].lower()
        more = len(args) - 1 - i
        if opt == b"auth" and more >= 2:
            user, password = args[i + 1], args[i + 2]
            i += 3
        elif opt == b"setname" and more >= 1:
            name = args[i + 1]
            if not _valid_attr(name):
                return Error(_NAME_ERR)
            i += 2
        else:
            return Error(f"ERR Syntax error in HELLO option '{args[i].decode('utf-8', 'replace')}'")
    if user is not None and password is not None \
            and not _authenticate(srv, client, args[0], user, password):
        return WRONGPASS
    if not client.authenticated:
        return Error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
            "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
            "select the RESP protocol version at the same time"
        )
    if name is not None:
        client.name = name.decode()
    if ver:
        _settle(srv, client)
        client.resp = ver
        client.update_dispatch()  # RESP2 subscribe mode starts or ends here
    return Map(
        {
            b"server": SERVER_NAME.encode(),
            b"version": REDIS_VERSION.encode(),
            b"proto": client.resp,
            b"id": client.id,
            b"mode": b"cluster",
            b"role": b"master",
            b"modules": [],
        }
    )


@handler("select")
def select(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    try:
        db = int(args[1])
    except ValueError:
        return Error("ERR value is not an integer or out of range")
    if db != 0:
        return Error("ERR DB index is out of range")
    return OK


@handler("reset")
def reset(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    _settle(srv, client)
    client.reset(srv.auth_required(), srv.acl.default)
    conn = srv.clients.get(client.id)
    if conn is not None:
        srv.events.drop(conn)  # subscriptions and tracking end with RESET
    return Status("RESET")


def _settle(srv: ServerState, client: ClientState) -> None:
    """Replies already due go out in the protocol they were made under."""
    settle = getattr(srv.clients.get(client.id), "settle_replies", None)
    if settle is not None:
        settle()


@handler("readonly")
def readonly(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    client.readonly = True
    return OK


@handler("readwrite")
def readwrite(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    client.readonly = False
    return OK


@handler("asking")
def asking(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return OK


# -- CLIENT -------------------------------------------------------------------------------------


@handler("client|id")
def client_id(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return client.id


@handler("client|setname")
def client_setname(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if not _valid_attr(args[2]):
        return Error(_NAME_ERR)
    client.name = args[2].decode()
    return OK


@handler("client|getname")
def client_getname(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return client.name.encode() if client.name else None


@handler("client|setinfo")
def client_setinfo(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    attr = args[2].lower()
    attr_text = args[2].decode("utf-8", "replace")
    if attr not in (b"lib-name", b"lib-ver"):
        return Error(f"ERR Unrecognized option '{attr_text}'")
    if not _valid_attr(args[3]):
        return Error(f"ERR {attr_text} cannot contain spaces, newlines or special characters.")
    if attr == b"lib-name":
        client.lib_name = args[3].decode()
    else:
        client.lib_ver = args[3].decode()
    return OK


def _line(srv: ServerState, client: ClientState, now: float) -> str:
    conn = srv.clients.get(client.id)
    if conn is None:
        return client.info_line(now)
    return client.info_line(now, conn.query_buffered(), conn.pending_replies())


@handler("client|list")
def client_list(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    ids: set[int] | None = None
    pubsub_only: bool | None = None  # TYPE pubsub / TYPE normal
    i = 2
    while i < len(args):
        opt = args[i].lower()
        if opt == b"type" and i + 1 < len(args):
            kind = args[i + 1].lower()
            if kind not in (b"normal", b"master", b"replica", b"slave", b"pubsub"):
                return Error(f"ERR Unknown client type '{args[i + 1].decode('utf-8', 'replace')}'")
            if kind == b"pubsub":
                pubsub_only = True
            elif kind != b"normal":
                ids = set()
            else:
                pubsub_only = False
            i += 2
        elif opt == b"id" and i + 1 < len(args):
            wanted: set[int] = set()
            for raw in args[i + 1 :]:
                try:
                    v = int(raw)
                except ValueError:
                    return Error("ERR Invalid client ID")
                if v <= 0:
                    return Error("ERR Invalid client ID")
                wanted.add(v)
            ids = wanted if ids is None else ids & wanted
            i = len(args)
        else:
            return SYNTAX_ERR
    now = time.monotonic()
    lines = [
        _line(srv, conn.client, now) + "\n"
        for cid, conn in sorted(srv.clients.items())
        if (ids is None or cid in ids)
        and (pubsub_only is None or conn.client.in_pubsub() == pubsub_only)
    ]
    return Verbatim("".join(lines))


@handler("client|info")
def client_info(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return Verbatim(_line(srv, client, time.monotonic()) + "\n")


@handler("client|kill")
def client_kill(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if len(args) == 3:  # the old form: CLIENT KILL addr:port
        addr = args[2].decode("utf-8", "replace")
        for conn in list(srv.clients.values()):
            if conn.client.addr == addr:
                _kill(client, conn)
                return OK
        return Error("ERR No such client")
    if len(args) % 2:
        return SYNTAX_ERR
    filters: list[tuple[bytes, bytes]] = []
    skipme = True
    for i in range(2, len(args), 2):
        opt, val = args[i].lower(), args[i + 1]
        if opt == b"skipme":
            if val.lower() not in (b"yes", b"no"):
                return SYNTAX_ERR
            skipme = val.lower() == b"yes"
        elif opt in (b"id", b"maxage"):
            try:
                if int(val) <= 0 and opt == b"id":
                    raise ValueError
            except ValueError:
                what = "client ID" if opt == b"id" else "maxage"
                return Error(f"ERR Invalid {what}" if opt == b"id" else "ERR syntax error")
            filters.append((opt, val))
        elif opt == b"user" and srv.acl.get(val) is None:
            return Error(f"ERR No such user '{val.decode('utf-8', 'replace')}'")
        elif opt in (b"addr", b"laddr", b"user", b"type"):
            filters.append((opt, val))
        else:
            return SYNTAX_ERR
    now = time.monotonic()
    killed = 0
    for conn in list(srv.clients.values()):
        c = conn.client
        if skipme and c is client:
            continue
        if all(_matches(c, opt, val, now) for opt, val in filters):
            _kill(client, conn)
            killed += 1
    return killed


def _matches(c: ClientState, opt: bytes, val: bytes, now: float) -> bool:
    text = val.decode("utf-8", "replace")
    if opt == b"id":
        return c.id == int(val)
    if opt == b"addr":
        return c.addr == text
    if opt == b"laddr":
        return c.laddr == text
    if opt == b"user":
        return c.username() == text
    if opt == b"type":
        return text.lower() == c.output_class()
    if opt == b"maxage":
        return now - c.created >= int(val)
    return False


def _kill(me: ClientState, conn: object) -> None:
    if conn.client is me:  # type: ignore[attr-defined]
        me.close_after_reply = True  # answer first, then close (as Redis does)
    else:
        conn.kill()  # type: ignore[attr-defined]


def _on_off(args: list[bytes]) -> bool:
    v = args[2].lower()
    if v not in (b"on", b"off"):
        raise CommandError("ERR syntax error")
    return v == b"on"


@handler("client|no-evict")
def client_no_evict(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    client.no_evict = _on_off(args)
    return OK


@handler("client|no-touch")
def client_no_touch(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    client.no_touch = _on_off(args)
    return OK


@handler("client|reply")
def client_reply(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    mode = args[2].lower()
    if mode == b"on":
        client.reply_mode = "on"
        return OK
    if mode in (b"off", b"skip"):
        client.reply_mode = mode.decode()
        return NO_REPLY
    return SYNTAX_ERR


@handler("client|help")
def client_help(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return help_lines("CLIENT", [
        "ID", "    Return the ID of the current connection.",
        "GETNAME", "    Return the name of the current connection.",
        "SETNAME <name>", "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>", "    Set client meta attr (LIB-NAME or LIB-VER).",
        "LIST [TYPE <type>] [ID <id> [<id> ...]]", "    Return information about connections.",
        "INFO", "    Return information about the current client connection.",
        "KILL <ip:port> | <option> <value> [...]", "    Kill connections.",
        "REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection.",
        "NO-EVICT (ON|OFF)", "    Protect the current client connection from eviction.",
        "NO-TOUCH (ON|OFF)", "    Do not touch the LRU/LFU of keys accessed by this client.",
    ])


# -- transactions ---------------------------------------------------------------------------------


@handler("multi")
def multi(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if client.multi is not None:
        return Error("ERR MULTI calls can not be nested")
    client.multi = []
    client.multi_error = False
    return OK


@handler("discard")
def discard(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if client.multi is None:
        return Error("ERR DISCARD without MULTI")
    client.multi = None
    client.multi_error = False
    client.watched.clear()
    return OK


@handler("exec")
def exec_(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if client.multi is None:
        return Error("ERR EXEC without MULTI")
    if client.multi_error:
        client.multi = None
        client.multi_error = False
        client.watched.clear()
        return EXECABORT
    return Dispatcher(srv).exec_multi(client)


@handler("watch")
def watch(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    if client.multi is not None:
        return Error("ERR WATCH inside MULTI is not allowed")
    if len(client.watched) + len(args) - 1 > 100_000:
        return Error("ERR too many watched keys")
    watch_fn = getattr(srv.backend, "watch", None)
    if watch_fn is None:
        client.watched.update(dict.fromkeys(args[1:]))
        return OK
    # The backend notes what it needs to tell at EXEC whether a key changed (or redirects).
    return watch_fn(client, args[1:])


@handler("unwatch")
def unwatch(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    client.watched.clear()
    return OK


# -- CLUSTER: the backend knows the group ---------------------------------------------------------


def _cluster(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return srv.backend.cluster_command(client, args)


for _sub in ("slots", "shards", "nodes", "info", "myid", "myshardid", "keyslot",
             "countkeysinslot", "getkeysinslot", "replicas", "links", "failover",
             "join", "addlearner", "promote", "forget"):
    handler(f"cluster|{_sub}")(_cluster)


@handler("cluster|help")
def cluster_help(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return help_lines("CLUSTER", [
        "SLOTS", "    Return the slots of the single shard (the Raft group).",
        "SHARDS", "    Return the shard: the leader as master, the followers as replicas.",
        "NODES", "    Return the cluster configuration seen by this node.",
        "INFO", "    Return information about the cluster.",
        "MYID", "    Return this node's id.",
        "KEYSLOT <key>", "    Return the hash slot for <key>.",
        "JOIN <raft-id> <peer-host:port> <client-host:port>",
        "    Add a node as a learner, promoted to voter once caught up.",
        "ADDLEARNER <raft-id> <peer-host:port> <client-host:port>",
        "    Add a node as a learner that stays one until CLUSTER PROMOTE.",
        "PROMOTE <raft-id>", "    Make a learner a voter.",
        "FORGET <node-id>", "    Remove a member (its Raft id or 40-character node id).",
    ])
