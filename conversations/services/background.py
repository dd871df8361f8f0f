"""Work that follows a reply in the background (a summary, a title): one task of each kind per
conversation in this process, awaitable by a blocking caller before its short-lived loop ends."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any


class ConversationTasks:
    def __init__(self) -> None:
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def start(self, conversation_id: int, coroutine: Coroutine[Any, Any, None]) -> None:
        """Start `coroutine` unless this kind of work already runs for the conversation."""
        running = self._tasks.get(conversation_id)
        if running is not None and not running.done():
            coroutine.close()
            return
        # A fresh context: the task outlives the request or socket that started it.
        task = asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())
        self._tasks[conversation_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            # Only this task: a newer one may already be registered under the same key.
            if self._tasks.get(conversation_id) is done:
                del self._tasks[conversation_id]

        task.add_done_callback(forget)

    def running(self, conversation_id: int) -> bool:
        """Such a task of this conversation runs on the current event loop."""
        task = self._tasks.get(conversation_id)
        if task is None or task.done():
            return False
        return task.get_loop() is asyncio.get_running_loop()

    async def wait(self, conversation_id: int) -> None:
        # A task of another loop (a blocking REST call's) cannot be awaited here; that call
        # waits for it itself.
        if self.running(conversation_id):
            await asyncio.shield(self._tasks[conversation_id])
