"""Batching a reply's text deltas into few frames, each with a sequence number and an offset."""

from __future__ import annotations

import asyncio
import time

from conversations.services.events import event_publish_async


class DeltaBatcher:
    """Collects text deltas and sends them as one frame at most every `interval` seconds.

    Frames carry a sequence number and the offset of their text, so a client can detect a gap
    (a channel layer may drop messages when full) and resync from the database.
    """

    def __init__(self, *, group: str, message_uuid: str, interval: float) -> None:
        self.group = group
        self.message_uuid = message_uuid
        self.interval = interval
        self.text = ""  # everything received so far
        self.frames_sent = 0
        self._sent_length = 0
        self._last_flush = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._scheduled: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def add(self, text: str) -> None:
        self.text += text
        elapsed = time.monotonic() - self._last_flush
        if elapsed >= self.interval:
            await self.flush()
        elif self._timer is None:
            # A quiet spell after this delta must not strand it in the buffer.
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.interval - elapsed, self._flush_later)

    def _flush_later(self) -> None:
        self._timer = None
        self._scheduled = asyncio.ensure_future(self.flush())

    async def flush(self) -> None:
        async with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if len(self.text) == self._sent_length:
                return
            chunk = self.text[self._sent_length :]
            frame = {
                "type": "chat.delta",
                "message_id": self.message_uuid,
                "seq": self.frames_sent + 1,
                "offset": self._sent_length,
                "text": chunk,
            }
            self._sent_length = len(self.text)
            self.frames_sent += 1
            self._last_flush = time.monotonic()
            # Best effort: a lost frame is a gap the client notices (by its offset) and
            # resyncs from the database; it must not end a healthy generation.
            await event_publish_async(group=self.group, frame=frame)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._scheduled is not None and not self._scheduled.done():
            await asyncio.shield(self._scheduled)
        await self.flush()
