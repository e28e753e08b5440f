"""DUMP and RESTORE in Redis's payload format (rdbcodec), so a value DUMPed from a real
Redis RESTOREs here and back. RESTORE goes through the log like any write: every replica
decodes the same bytes and the TTL is made absolute from the entry's time."""

from __future__ import annotations

from raftredis.reply import OK, SYNTAX_ERR, Error
from raftredis.statemachine import rdbcodec, rdbstream
from raftredis.statemachine.errors import fail
from raftredis.statemachine.parse import parse_int
from raftredis.statemachine.registry import Ctx, Family
from raftredis.statemachine.values import TYPES_BY_NAME, type_of

BAD_PAYLOAD = Error("ERR DUMP payload version or checksum are wrong")
BAD_FORMAT = Error("ERR Bad data format")
BUSYKEY = Error("BUSYKEY Target key name already exists.")
BAD_TTL = Error("ERR Invalid TTL value, must be >= 0")
BAD_IDLE = Error("ERR Invalid IDLETIME value, must be >= 0")
BAD_FREQ = Error("ERR Invalid FREQ value, must be >= 0 and <= 255")

command = Family("generic", "keyspace").command


@command("dump", 2, "readonly", 1, 1, 1, since="2.6.0",
         summary="Returns a serialized representation of the value stored at a key.")
def cmd_dump(ctx: Ctx, args: list[bytes]) -> object:
    value = ctx.db.get(args[1], ctx.now)
    if value is None:
        return None
    vt = type_of(value)
    try:
        if vt.name == "stream":
            return rdbstream.encode(vt.encode(value))
        return rdbcodec.encode(vt.name, vt.encode(value))
    except rdbcodec.BadPayload as e:
        return Error(f"ERR {e}")


@command("restore", -4, "write denyoom", 1, 1, 1, acl="dangerous", since="2.6.0",
         summary="Creates a key from the serialized representation of a value.")
def cmd_restore(ctx: Ctx, args: list[bytes]) -> object:
    key, payload = args[1], args[3]
    replace = absttl = False
    i = 4
    while i < len(args):
        opt = args[i].upper()
        if opt == b"REPLACE":
            replace = True
        elif opt == b"ABSTTL":
            absttl = True
        elif opt in (b"IDLETIME", b"FREQ") and i + 1 < len(args):
            # Accepted as Redis checks them; the access clock here is the log's own.
            n = parse_int(args[i + 1])
            if opt == b"IDLETIME" and n < 0:
                raise fail(BAD_IDLE)
            if opt == b"FREQ" and not 0 <= n <= 255:
                raise fail(BAD_FREQ)
            i += 1
        else:
            raise fail(SYNTAX_ERR)
        i += 1
    db, now = ctx.db, ctx.now
    exists = db.get_for_write(key, now) is not None
    if exists and not replace:
        raise fail(BUSYKEY)  # (before the TTL is even parsed, as in Redis)
    ttl = parse_int(args[2])
    if ttl < 0:
        raise fail(BAD_TTL)
    if not rdbcodec.verify(payload):
        raise fail(BAD_PAYLOAD)
    try:
        if payload[0] in rdbstream.STREAM_TYPES:
            kind, plain = "stream", rdbstream.decode(payload)
        else:
            kind, plain = rdbcodec.decode(payload)
        value = TYPES_BY_NAME[kind].decode(plain)
    except (rdbcodec.BadPayload, ValueError, TypeError, KeyError):
        raise fail(BAD_FORMAT) from None
    deadline = (ttl if absttl else now + ttl) if ttl else None
    if exists:
        db.delete(key)
    if deadline is not None and deadline <= now:
        return OK  # already expired: Redis answers OK and keeps nothing
    db.set(key, value)
    if deadline is not None:
        db.set_deadline(key, deadline)
    return OK
