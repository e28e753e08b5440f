"""Deterministic memory accounting: an estimate of the bytes each key costs.

Every replica must compute the same `used_memory` for the same data, so the estimate
is a pure function of a key and its value (never sys.getsizeof or RSS, whose figures
depend on the interpreter and the allocator's history). The constants model CPython
3.11+ on 64-bit Linux: a bytes object is a 33-byte header plus its payload, rounded
to pymalloc's 16-byte classes; a dict slot costs about 40 bytes amortised over
resizes. They were fitted with tracemalloc and then checked against RSS
(benchmarks/memory_calibration.py; the ratio is in README's "Memory" section).

Small containers are summed element by element. A container with more than
EXACT_LIMIT elements is estimated from a fixed sample (its first and last elements
in their stored order), so re-estimating it after a write costs O(sample), not
O(size); the sample depends only on the container's content and order, which a
snapshot keeps, so a restore gives the same figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sized
from dataclasses import dataclass
from itertools import islice
from typing import Any

# ---- the size model ------------------------------------------------------------------------

DICT_SLOT = 40  # one entry of a dict: hash, key and value pointers, index, spare room
# The keyspace's slot and the access-statistics slot (measured against RSS: 40 each,
# between 35 and 52 depending on where the dicts are between resizes).
KEY_OVERHEAD = 2 * DICT_SLOT
EXPIRY_OVERHEAD = DICT_SLOT + 32 + 64  # expires slot, the deadline int, the sorted (d, k)
FLOAT = 24
EXACT_LIMIT = 64  # containers up to this many elements are summed exactly
SAMPLE = 16  # elements taken from each end of a bigger container

_HASH_BASE, _HASH_FIELD = 232, DICT_SLOT
_SET_BASE, _SET_MEMBER = 232, DICT_SLOT
_LIST_BASE, _LIST_ELEM = 632, 9  # a deque block holds 64 pointers
_ZSET_BASE, _ZSET_MEMBER = 700, DICT_SLOT + FLOAT + 64  # scores slot, float, (score, m)
_STREAM_BASE, _STREAM_ENTRY = 3600, 160  # the id, its sorted-dict slot, the field list
_OBJECT_BASE = 64  # any other value: a small object


def bytes_size(n: int) -> int:
    """What a bytes object of n bytes occupies: pymalloc's 16-byte classes up to 512
    bytes, malloc's 16-byte chunks with an 8-byte header beyond."""
    if n < _TABLE_LEN:
        return _TABLE[n]
    return (33 + n + 8 + 15) & ~15


def _bytes_size(n: int) -> int:
    need = 33 + n
    if need <= 512:
        return (need + 15) & ~15
    return (need + 8 + 15) & ~15


_TABLE_LEN = 2048  # bytes_size runs for every key written: a table for the common sizes
_TABLE = [_bytes_size(n) for n in range(_TABLE_LEN)]


def _sampled(items: Sized, elem_size, seq: Iterable, per_end: int = SAMPLE) -> int:
    """Sum of elem_size over items: exact when small (or per_end is 0), else the mean
    of a fixed sample (the first and last per_end elements of `seq`) times the count."""
    n = len(items)
    if per_end <= 0 or n <= max(EXACT_LIMIT, 2 * per_end):
        return sum(map(elem_size, seq))
    sample = list(islice(seq, per_end)) + list(islice(reversed(items), per_end))  # type: ignore[call-overload]
    return sum(map(elem_size, sample)) * n // len(sample)


def value_size(value: object, per_end: int = SAMPLE) -> int:
    """The estimated bytes of one value (without its key); per_end 0 sums everything."""
    if type(value) is bytes:
        return bytes_size(len(value))
    fn = _SIZERS.get(type(value).__name__)
    return fn(value, per_end) if fn is not None else _OBJECT_BASE


def _hash_size(h: Any, k: int) -> int:
    return _HASH_BASE + _sampled(
        h, lambda f: _HASH_FIELD + bytes_size(len(f)) + bytes_size(len(h[f])), h, k)


def _set_size(s: Any, k: int) -> int:
    return _SET_BASE + _sampled(s, lambda m: _SET_MEMBER + bytes_size(len(m)), s, k)


def _list_size(items: Any, k: int) -> int:
    return _LIST_BASE + _sampled(items, lambda e: _LIST_ELEM + bytes_size(len(e)), items, k)


def _zset_size(z: Any, k: int) -> int:
    scores = z.scores
    return _ZSET_BASE + _sampled(scores, lambda m: _ZSET_MEMBER + bytes_size(len(m)), scores, k)


def _stream_size(s: Any, k: int) -> int:
    entries = s.entries
    fields_of = entries.__getitem__

    def entry(sid: object) -> int:
        fields = fields_of(sid)
        return _STREAM_ENTRY + 8 * len(fields) + sum(bytes_size(len(f)) for f in fields)

    group_cost = 0
    for g in s.groups.values():  # groups are few
        group_cost += 256 + 128 * len(g.pel) + 128 * len(g.consumers)
    return _STREAM_BASE + _sampled(entries, entry, entries, k) + group_cost


# By type name: the family modules import the keyspace, which imports this module.
_SIZERS = {"Hash": _hash_size, "SetValue": _set_size, "ListValue": _list_size,
           "ZSet": _zset_size, "Stream": _stream_size}


def key_size(key: bytes, value: object, has_ttl: bool) -> int:
    """What one key costs the keyspace: its slots, the key bytes, the value, the TTL."""
    k = len(key)
    n = KEY_OVERHEAD + (_TABLE[k] if k < _TABLE_LEN else bytes_size(k))
    if type(value) is bytes:  # most keys: no call for the value
        v = len(value)
        n += _TABLE[v] if v < _TABLE_LEN else bytes_size(v)
    else:
        n += value_size(value)
    return n + EXPIRY_OVERHEAD if has_ttl else n


def key_size_sampled(key: bytes, value: object, has_ttl: bool, samples: int) -> int:
    """key_size with MEMORY USAGE's SAMPLES count (0: every element)."""
    per_end = 0 if samples == 0 else max(1, (samples + 1) // 2)
    n = KEY_OVERHEAD + bytes_size(len(key)) + value_size(value, per_end)
    return n + EXPIRY_OVERHEAD if has_ttl else n


# ---- the policy ---------------------------------------------------------------------------

POLICIES = ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
            "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction")  # Redis's order


@dataclass(slots=True)
class MemoryPolicy:
    """maxmemory and its companions, as CONFIG holds them (every node applies the same
    CONFIG SET entries, so every node holds the same values)."""

    maxmemory: int = 0
    policy: str = "noeviction"
    samples: int = 5
    tenacity: int = 10
    lfu_log_factor: int = 10
    lfu_decay_time: int = 1

    @property
    def lfu(self) -> bool:
        return self.policy.endswith("-lfu")

    @property
    def volatile(self) -> bool:
        return self.policy.startswith("volatile-")

    @property
    def evicts(self) -> bool:
        return self.policy != "noeviction"

    def set(self, name: str, value: object) -> bool:
        """Take one CONFIG parameter; False if it is not one of ours."""
        attr = _PARAMS.get(name)
        if attr is None:
            return False
        setattr(self, attr, value if attr == "policy" else int(value))  # type: ignore[call-overload]
        return True


_PARAMS = {"maxmemory": "maxmemory", "maxmemory-policy": "policy",
           "maxmemory-samples": "samples", "maxmemory-eviction-tenacity": "tenacity",
           "lfu-log-factor": "lfu_log_factor", "lfu-decay-time": "lfu_decay_time"}
MEMORY_PARAMS = frozenset(_PARAMS)
