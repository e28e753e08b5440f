"""Flow control for one connection.

Reading stops while any of these holds, and resumes when none does:
- too many replies are pending (>= pending_high, until <= pending_low): commands in
  flight through the log, or replies not yet encoded;
- the transport's write buffer is above its high-water mark (pause_writing): the
  client is not reading as fast as we answer;
- parsed commands wait in the connection's backlog because the output was full.

While writing is paused the connection also stops dispatching commands and stops
encoding replies (RespProtocol), so a client that pipelines and never reads makes the
server hold, per connection, at most: the transport's write buffer up to its
high-water mark (64 KiB by default) plus one write chunk and one reply; the replies
not yet encoded (or still in flight through the log) of the commands already read:
fewer than pending_high before the last read plus that read's commands (mostly
references to values already stored; a list reply such as KEYS is built by its
command); and the input of one read, parsed or not.
That is the bound for the normal class, whose client-output-buffer-limit is 0 0 0
(no limit) as in Redis. A class with a limit raises the high-water mark to the limit
(hard, else soft), so its output can reach the limit and the client is then closed,
as Redis closes it, instead of stalling.
"""

from __future__ import annotations

import asyncio


class FlowControl:
    __slots__ = ("_transport", "_pending_high", "_pending_low", "_too_many", "write_paused",
                 "_backlog", "_reading_paused", "pauses")

    def __init__(self, transport: asyncio.Transport, pending_high: int = 1024,
                 pending_low: int = 256) -> None:
        self._transport = transport
        self._pending_high = pending_high
        self._pending_low = pending_low
        self._too_many = False  # too many replies not yet written
        # The transport asked us to stop writing (read per command: a plain attribute).
        self.write_paused = False
        self._backlog = False  # parsed commands wait for room in the output
        self._reading_paused = False
        self.pauses = 0  # how many times reading was paused (for tests and CLIENT LIST)

    @property
    def reading_paused(self) -> bool:
        return self._reading_paused

    def pending_changed(self, pending: int) -> None:
        if pending >= self._pending_high:
            self._too_many = True
        elif pending <= self._pending_low:
            self._too_many = False
        self._update()

    def pause_writing(self) -> None:
        self.write_paused = True
        self._update()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._update()

    def set_backlog(self, waiting: bool) -> None:
        self._backlog = waiting
        self._update()

    def _update(self) -> None:
        want_pause = self._too_many or self.write_paused or self._backlog
        if want_pause == self._reading_paused or self._transport.is_closing():
            return
        self._reading_paused = want_pause
        if want_pause:
            self.pauses += 1
            self._transport.pause_reading()
        else:
            self._transport.resume_reading()
