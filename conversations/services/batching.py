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

    def __init__(
        self,
        *,
        group: str,
        message_uuid: str,
        interval: float,
        frame_type: str = "chat.delta",
        start_offset: int = 0,
    ) -> None:
        self.group = group
        self.message_uuid = message_uuid
        self.interval = interval
        # "chat.delta" for the reply, "chat.thinking" for its thinking (each its own sequence).
        self.frame_type = frame_type
        # A continued reply (or a prefill) already holds this many characters.
        self.start_offset = start_offset
        self.frames_sent = 0
        # Lists, not one growing string: `+=` per delta would copy the whole reply every time.
        self._sent: list[str] = []
        self._pending: list[str] = []
        self._sent_length = 0
        self._pending_length = 0
        self._last_flush = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._scheduled: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def text(self) -> str:
        """Everything received so far, not counting what the reply held before (joined on
        demand: about once a second, and at the end)."""
        return "".join(self._sent) + "".join(self._pending)

    @property
    def length(self) -> int:
        return self._sent_length + self._pending_length

    async def add(self, text: str) -> None:
        self._pending.append(text)
        self._pending_length += len(text)
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
            if not self._pending_length:
                self._pending.clear()  # only empty deltas
                return
            chunk = "".join(self._pending)
            frame = {
                "type": self.frame_type,
                "message_id": self.message_uuid,
                "seq": self.frames_sent + 1,
                "offset": self.start_offset + self._sent_length,
                "text": chunk,
            }
            self._sent.append(chunk)
            self._pending.clear()
            self._sent_length += self._pending_length
            self._pending_length = 0
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
