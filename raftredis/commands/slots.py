"""Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its {hash tag}, mod 16384."""

from __future__ import annotations

SLOTS = 16384


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
        table.append(crc)
    return table


_TABLE = _make_table()


def crc16(data: bytes) -> int:
    crc = 0
    table = _TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ b) & 0xFF]
    return crc


def key_slot(key: bytes) -> int:
    """The slot of a key; only the part between the first { and the next } counts,
    when that part is non-empty (Redis Cluster specification)."""
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end != -1 and end != start + 1:
            key = key[start + 1 : end]
    return crc16(key) % SLOTS
