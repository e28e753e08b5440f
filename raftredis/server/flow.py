"""Flow control for one connection: stop reading while replies pile up or while the
transport's write buffer is above its high-water mark; resume when both clear."""

from __future__ import annotations

import asyncio


class FlowControl:
    __slots__ = ("_transport", "_pending_high", "_pending_low", "_too_many", "_write_paused",
                 "_reading_paused", "pauses")

    def __init__(self, transport: asyncio.Transport, pending_high: int = 1024,
                 pending_low: int = 256) -> None:
        self._transport = transport
        self._pending_high = pending_high
        self._pending_low = pending_low
        self._too_many = False  # too many replies not yet written
        self._write_paused = False  # the transport asked us to stop writing
        self._reading_paused = False
        self.pauses = 0  # how many times reading was paused (for tests and CLIENT LIST)

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    @property
    def write_paused(self) -> bool:
        return self._write_paused

    def pending_changed(self, pending: int) -> None:
        if pending >= self._pending_high:
            self._too_many = True
        elif pending <= self._pending_low:
            self._too_many = False
        self._update()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update()

    def _update(self) -> None:
        want_pause = self._too_many or self._write_paused
        if want_pause == self._reading_paused or self._transport.is_closing():
            return
        self._reading_paused = want_pause
        if want_pause:
            self.pauses += 1
            self._transport.pause_reading()
        else:
            self._transport.resume_reading()
