"""Eviction, decided by the leader alone and carried to every replica by the log.

When the keyspace's deterministic estimate (StateMachine.used_memory) is above
maxmemory, the leader picks victims under maxmemory-policy and proposes their deletion
as one EVICT operation ahead of the write that needed the room; every replica deletes
the same keys in the same order when the entry applies, and none evicts on its own.

Victims are chosen as Redis does: `maxmemory-samples` random keys (keys with a TTL
under volatile-*) feed a pool of the 16 best candidates so far, by idle time (LRU) or
by lowest frequency counter (LFU), and the best live one goes; volatile-ttl takes the
soonest deadlines exactly (the keyspace keeps them sorted). The access statistics are
this node's own (statemachine/access.py): a new leader ranks with what it saw as a
follower, so right after a failover its choices are less informed, never unsafe.

Bytes proposed for eviction but not yet applied count as already freed, so a burst of
writes is not met by a burst of evictions each sized for the whole excess; used memory
can still pass maxmemory by the writes proposed before their entry applies (one batch).
The leader learns that an eviction applied from the entry's changes, in the same step
as used_memory drops, so the two never both count the same bytes.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable

from raftredis.replica import ops as logops
from raftredis.reply import Error
from raftredis.statemachine import StateMachine

OOM = Error("OOM command not allowed when used memory > 'maxmemory'.")
EXEC_OOM = Error("EXECABORT Transaction discarded because of: "
                 "OOM command not allowed when used memory > 'maxmemory'.")
EVICT_BATCH = 256  # keys per EVICT operation: bounds one entry's apply work
POOL_SIZE = 16  # Redis's EVPOOL_SIZE
PERIODIC_ROUNDS = 8  # eviction rounds per leader-duties tick (every active_expire_ms)
_MAX_SAMPLES = 64  # samples per pick, whatever maxmemory-samples says: bounds the work


def round_budget(tenacity: int) -> int:
    """Victims one eviction round may choose: maxmemory-eviction-tenacity's scale (Redis
    bounds a round by time, which would differ between runs; a count does not)."""
    if tenacity >= 100:
        return 1 << 30
    return 64 << (tenacity // 10)


class Evictor:
    def __init__(self, sm: StateMachine, now: Callable[[], int],
                 submit: Callable[[logops.Evict], object]) -> None:
        self._sm = sm
        self._now = now  # the entry clock, for idle times and LFU decay
        self._submit = submit  # returns the operation's future, or None if not logged
        self._pending: dict[bytes, int] = {}  # proposed, not applied: key -> its bytes
        self._pending_bytes = 0
        self._pool: list[tuple[int, bytes]] = []  # (score, key), ascending; best last
        self._rng = random.Random()  # the leader's own choice: the log carries it
        self.rounds = 0
        self.proposed_keys = 0

    # ---- what the leader asks ----------------------------------------------------------
    def excess(self) -> int:
        """Bytes above maxmemory, counting proposed evictions as done (<= 0: within)."""
        limit = self._sm.memory.maxmemory
        if not limit:
            return 0
        return self._sm.used_memory - self._pending_bytes - limit

    def admit(self) -> Error | None:
        """A denyoom write is about to be proposed: None lets it go (after proposing
        evictions if memory is over), else the OOM error Redis gives."""
        over = self.excess()
        if over <= 0:
            return None
        if not self._sm.memory.evicts or self.evict(self._chunk(over)) == 0:
            return OOM
        return None

    def _chunk(self, over: int) -> int:
        """Free a little more than the excess: one EVICT per write would cost an operation
        and a sampling round per key written; 1/256 of maxmemory amortises that."""
        return max(over, self._sm.memory.maxmemory >> 8)

    def run(self) -> None:
        """Periodic: bring memory back under the limit (CONFIG SET lowered it, ...), a few
        rounds at a time so a big drop is worked off in seconds, not minutes."""
        if not self._sm.memory.evicts:
            return
        for _ in range(PERIODIC_ROUNDS):
            over = self.excess()
            if over <= 0 or self.evict(self._chunk(over)) == 0:
                return

    @property
    def pending_keys(self) -> int:
        return len(self._pending)

    def reset(self) -> None:
        """Leadership changed: forget the pool and what was in flight."""
        self._pending.clear()
        self._pending_bytes = 0
        self._pool.clear()

    # ---- one round -----------------------------------------------------------------------
    def evict(self, need: int) -> int:
        """Propose victims worth at least `need` bytes (within the round's budget);
        returns the bytes proposed (0: nothing could be evicted)."""
        pol = self._sm.memory
        db = self._sm.db
        budget = round_budget(pol.tenacity)
        pick = self._picker()
        victims: list[bytes] = []
        freed = 0
        while freed < need and len(victims) < budget:
            key = pick()
            if key is None:
                break
            size = db.size_of(key)
            self._pending[key] = size
            self._pending_bytes += size
            victims.append(key)
            freed += size
        if victims:
            self.rounds += 1
            self.proposed_keys += len(victims)
            for i in range(0, len(victims), EVICT_BATCH):
                self._propose(victims[i:i + EVICT_BATCH], pol.volatile)
        return freed

    def _propose(self, keys: list[bytes], volatile: bool) -> None:
        fut = self._submit(logops.evict(keys, volatile))
        add = getattr(fut, "add_done_callback", None)
        if add is None:  # not logged (too big for one entry): the keys may be chosen again
            self._settled(keys)
        else:
            add(lambda _f: self._settled(keys))

    def applied(self, keys: list[bytes]) -> None:
        """These keys were evicted by an applied entry (told while it applies, so the
        bytes are never counted twice: gone from used_memory and still pending)."""
        self._settled(keys)

    def _settled(self, keys: list[bytes]) -> None:
        """The operation applied (or failed to be logged): its bytes are no longer pending.
        The future's callback catches the keys the entry did not remove (deleted since)."""
        pending = self._pending
        for key in keys:
            size = pending.pop(key, None)
            if size is not None:
                self._pending_bytes -= size

    # ---- picking victims -------------------------------------------------------------------
    def _picker(self) -> Callable[[], bytes | None]:
        policy = self._sm.memory.policy
        if policy == "volatile-ttl":
            return self._by_deadline()
        if policy.endswith("-random"):
            return self._random
        return self._from_pool

    def _eligible(self, key: bytes) -> bool:
        db = self._sm.db
        if key in self._pending or key not in db.data:
            return False
        return not self._sm.memory.volatile or key in db.expires

    def _by_deadline(self) -> Callable[[], bytes | None]:
        it = self._sm.db.keys_by_deadline()

        def pick() -> bytes | None:
            for key in it:
                if key not in self._pending:
                    return key
            return None

        return pick

    def _random(self) -> bytes | None:
        pol = self._sm.memory
        for key in self._sm.db.random_keys(self._rng, min(pol.samples, _MAX_SAMPLES) * 4,
                                           pol.volatile):
            if self._eligible(key):
                return key
        return None

    def _from_pool(self) -> bytes | None:
        """Redis's evictionPoolPopulate + pick: sample, keep the best 16, take the best."""
        pol = self._sm.memory
        db = self._sm.db
        clock, access, now = db.clock, db.access, self._now()
        pool = self._pool
        for _ in range(4):  # a few sampling rounds before giving up on a full miss
            for key in db.random_keys(self._rng, min(pol.samples, _MAX_SAMPLES), pol.volatile):
                if not self._eligible(key):
                    continue
                reading = access.get(key)
                score = (255 - clock.freq(reading, now)) if pol.lfu else \
                    clock.idle_ms(reading, now)
                if any(k == key for _, k in pool):
                    continue
                if len(pool) < POOL_SIZE:
                    bisect.insort(pool, (score, key))
                elif score > pool[0][0]:
                    pool.pop(0)
                    bisect.insort(pool, (score, key))
            while pool:
                _, key = pool.pop()
                if self._eligible(key):
                    return key
        return None


def human(n: int) -> str:
    """Redis's bytesToHuman."""
    for unit, size in (("P", 1024**5), ("T", 1024**4), ("G", 1024**3), ("M", 1024**2),
                       ("K", 1024)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n}B"


def info_sections(sm: StateMachine, evictor: Evictor) -> dict[str, list[tuple[str, object]]]:
    """INFO memory's accounting and INFO stats' keyspace counters (the server adds RSS
    and the fragmentation ratio, which are this process's own)."""
    pol = sm.memory
    used = sm.used_memory
    return {
        "memory": [
            ("used_memory", used), ("used_memory_human", human(used)),
            ("used_memory_dataset", used), ("used_memory_startup", 0),
            ("maxmemory", pol.maxmemory), ("maxmemory_human", human(pol.maxmemory)),
            ("maxmemory_policy", pol.policy),
            ("mem_not_counted_for_evict", 0),
            ("raft_eviction_pending_keys", evictor.pending_keys),
        ],
        "stats": [
            ("expired_keys", sm.expired_count()), ("evicted_keys", sm.evicted_keys),
            ("keyspace_hits", sm.keyspace_hits), ("keyspace_misses", sm.keyspace_misses),
        ],
    }
