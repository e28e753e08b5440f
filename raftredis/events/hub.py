"""EventHub: one node's pub/sub index, tracking table and keyspace-notification
setting, fed with the ChangeSet of every applied entry (while anyone listens) and with
the PUBLISH operations the log delivers."""

from __future__ import annotations

from raftredis.events import notify
from raftredis.events.pubsub import PubSub
from raftredis.events.tracking import Lookup, Tracking
from raftredis.reply import Error
from raftredis.statemachine.changes import ChangeKind, ChangeSet


class EventHub:
    def __init__(self, settings, lookup: Lookup) -> None:
        self.pubsub = PubSub()
        self.tracking = Tracking(lookup)
        self.flags = 0  # notify-keyspace-events, parsed
        self._load(settings.get("notify-keyspace-events", ""))
        settings.on_change(self._on_setting)

    def _on_setting(self, name: str, value: object) -> None:
        if name == "notify-keyspace-events":
            self._load(value)

    def _load(self, text: object) -> None:
        try:
            self.flags = notify.parse_flags(str(text or ""))
        except ValueError:
            self.flags = 0

    # ------------------------------------------------------------------ publishing
    def publish(self, channel: bytes, message: bytes, shard: bool = False) -> int:
        """Deliver to this node's subscribers; the count is this node's receivers."""
        if shard:
            return self.pubsub.spublish(channel, message)
        return self.pubsub.publish(channel, message)

    # ------------------------------------------------------------------ applied changes
    def active(self) -> bool:
        """Whether the applier must record changes for us."""
        # (Any subscriber at all: a script's PUBLISH arrives as a change.)
        return self.pubsub.any() or self.pubsub.any_shard() or self.tracking.active()

    def on_changes(self, changes: ChangeSet) -> None:
        tracking = self.tracking.active()
        flags = self.flags if self.pubsub.any() else 0
        for change in changes.changes:
            if change.kind is ChangeKind.MESSAGE:  # PUBLISH / SPUBLISH from a script
                args = change.args
                self.publish(bytes(args[1]), bytes(args[2]), change.command == "spublish")
                continue
            if tracking:
                if change.kind is ChangeKind.FLUSH:
                    self.tracking.invalidate_all()
                elif change.keys and not isinstance(change.reply, Error):
                    self.tracking.invalidate(_touched(change))
            if flags:
                for channel, message in notify.messages(flags, notify.events(change)):
                    self.pubsub.publish(channel, message)

    def state_replaced(self) -> None:
        """A snapshot replaced the whole keyspace (a lagging node catching up): which keys
        changed is unknown, so every tracking client drops its whole cache. (Keyspace
        events of the entries folded into the snapshot are not emitted on this node.)"""
        if self.tracking.active():
            self.tracking.invalidate_all()

    # ------------------------------------------------------------------ connections
    def drop(self, conn) -> None:
        """A connection closed or RESET: out of every index."""
        client = conn.client
        ps = self.pubsub
        for ch in client.channels:
            ps.unsubscribe(conn, ch)
        for pat in client.patterns:
            ps.punsubscribe(conn, pat)
        for ch in client.shard_channels:
            ps.sunsubscribe(conn, ch)
        client.channels.clear()
        client.patterns.clear()
        client.shard_channels.clear()
        if client.tracking is not None:
            self.tracking.disable(client.id, client.tracking)
            client.tracking = None
        client.update_dispatch()


def _touched(change) -> list[bytes] | tuple[bytes, ...]:
    """The change's keys, less those missing both before and after it (DEL of a missing
    key changed nothing: Redis does not invalidate it either)."""
    keys, was, now = change.keys, change.existed, change.exists
    if len(was) != len(keys) or len(now) != len(keys):
        return keys
    return [k for k, a, b in zip(keys, was, now, strict=True) if a or b]
