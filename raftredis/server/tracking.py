"""CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO (client-side caching). The
table and the invalidation messages are raftredis.events.tracking; the dispatcher
calls note_command after each command of a tracking client to remember the keys it
read."""

from __future__ import annotations

from raftredis.commands.spec import CommandSpec, Route
from raftredis.events.tracking import TrackingMode
from raftredis.reply import OK, SYNTAX_ERR, Error, Map, Set
from raftredis.server.client import ClientState
from raftredis.server.registry import handler
from raftredis.server.state import ServerState

_SWITCH = ("ERR You can't switch {} before disabling tracking for this client, and then "
           "re-enabling it with a different mode.")
_OVERLAP = ("ERR Prefix '{}' overlaps with {} prefix '{}'. Prefixes for a single client must "
            "not overlap.")


def _overlap(a: bytes, b: bytes) -> bool:
    return a.startswith(b) or b.startswith(a)


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


@handler("client|tracking")
def client_tracking(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    onoff = args[2].lower()
    if onoff not in (b"on", b"off"):
        return SYNTAX_ERR
    redirect = 0
    bcast = optin = optout = noloop = False
    prefixes: list[bytes] = []
    i = 3
    while i < len(args):
        opt = args[i].lower()
        more = i + 1 < len(args)
        if opt == b"redirect" and more:
            try:
                redirect = int(args[i + 1])
            except ValueError:
                return Error("ERR value is not an integer or out of range")
            if srv.clients.get(redirect) is None:
                return Error("ERR The client ID you want redirect to does not exist")
            i += 2
        elif opt == b"prefix" and more:
            prefixes.append(args[i + 1])
            i += 2
        elif opt == b"bcast":
            bcast, i = True, i + 1
        elif opt == b"optin":
            optin, i = True, i + 1
        elif opt == b"optout":
            optout, i = True, i + 1
        elif opt == b"noloop":
            noloop, i = True, i + 1
        else:
            return SYNTAX_ERR
    tracking = srv.events.tracking
    current = client.tracking
    if onoff == b"off":
        if current is not None:
            tracking.disable(client.id, current)
            client.tracking = None
            client.update_dispatch()
        return OK
    if current is not None and current.bcast != bcast:
        return Error(_SWITCH.format("BCAST mode on/off"))
    if prefixes and not bcast:
        return Error("ERR PREFIX option requires BCAST mode to be enabled")
    if bcast and (optin or optout):
        return Error("ERR OPTIN and OPTOUT are not compatible with BCAST")
    if optin and optout:
        return Error("ERR You can't specify both OPTIN mode and OPTOUT mode")
    if current is not None and ((optin and current.optout) or (optout and current.optin)):
        return Error(_SWITCH.format("OPTIN/OPTOUT mode"))
    existing = current.prefixes if current is not None else []
    for n, p in enumerate(prefixes):
        for e in existing:
            if _overlap(p, e) and p != e:
                return Error(_OVERLAP.format(_text(p), "an existing", _text(e)))
        for q in prefixes[n + 1:]:
            if _overlap(p, q):
                return Error(_OVERLAP.format(_text(p), "another provided", _text(q)))
    if current is not None:
        tracking.disable(client.id, current)  # re-registered below with the new prefixes
    mode = TrackingMode(redirect=redirect, bcast=bcast, optin=optin, optout=optout,
                        noloop=noloop,
                        prefixes=existing + [p for p in prefixes if p not in existing])
    client.tracking = mode
    tracking.enable(client.id, mode)
    client.update_dispatch()
    return OK


@handler("client|caching")
def client_caching(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    mode = client.tracking
    if mode is None or not (mode.optin or mode.optout):
        return Error("ERR CLIENT CACHING can be called only when the client is in tracking mode "
                     "with OPTIN or OPTOUT mode enabled")
    v = args[2].lower()
    if v == b"yes":
        if not mode.optin:
            return Error("ERR CLIENT CACHING YES is only valid when tracking is enabled in "
                         "OPTIN mode.")
        mode.caching = True
    elif v == b"no":
        if not mode.optout:
            return Error("ERR CLIENT CACHING NO is only valid when tracking is enabled in "
                         "OPTOUT mode.")
        mode.caching = False
    else:
        return SYNTAX_ERR
    return OK


@handler("client|getredir")
def client_getredir(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    return -1 if client.tracking is None else client.tracking.redirect


@handler("client|trackinginfo")
def client_trackinginfo(srv: ServerState, client: ClientState, args: list[bytes]) -> object:
    mode = client.tracking
    if mode is None:
        return Map({b"flags": Set([b"off"]), b"redirect": -1, b"prefixes": []})
    return Map({b"flags": Set(mode.flag_names()), b"redirect": mode.redirect,
                b"prefixes": list(mode.prefixes)})


def note_command(srv: ServerState, client: ClientState, spec: CommandSpec,
                 args: list[bytes], queued: list | tuple = ()) -> None:
    """After a command of a tracking client: remember the keys it read (default mode,
    OPTIN/OPTOUT as CLIENT CACHING said), and those of the reads an EXEC ran, then
    forget CLIENT CACHING's one-shot (which covers the next command, or the whole
    transaction it opens)."""
    mode = client.tracking
    if mode is None:
        return
    if mode.wants():
        for s, a in (*queued, (spec, args)):
            if s.route is Route.READ or "readonly" in s.flags:
                keys = s.keys(a)
                if keys:
                    srv.events.tracking.remember(client.id, keys)
    if spec.name not in ("client|caching", "multi"):
        mode.caching = None
