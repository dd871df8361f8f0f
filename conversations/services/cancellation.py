"""Which generations run in this process, how Stop reaches them from any process, and their
heartbeat.

Each event loop keeps one long-lived listener on a channel of its own; a running generation
adds that channel to its conversation's control group, so `generation.stop` sent to the group
from any process lands here. The listener is never cancelled while the loop runs: cancelling a
channels-redis `receive()` can drop a message that was meant for another socket of the process.

While a loop runs generations, a heartbeat task touches them all every CHATSITE_HEARTBEAT_SECONDS
(one query), so a slow first token is never mistaken for a dead process; it also sweeps orphans
now and then, and ends when the loop has nothing running.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings

from conversations.asyncdb import database_sync_to_async
from conversations.services.events import control_group, event_publish_async
from conversations.services.sweeper import generations_sweep_stale, generations_touch

logger = logging.getLogger(__name__)


@dataclass
class RunningGeneration:
    message_id: int
    message_uuid: str
    conversation_uuid: str
    task: asyncio.Task[Any]
    loop: asyncio.AbstractEventLoop
    # Checked between deltas as well as cancelling the task: a library awaited inside the
    # task (redis-py, for one) may swallow a cancellation, and Stop must not depend on it.
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)
    # Set while the outcome is being saved: the row is final already, the task is not done.
    concluding: bool = False


_running: dict[int, RunningGeneration] = {}
_listeners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[str, asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)
_heartbeats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)


def running_generation(message_id: int) -> RunningGeneration | None:
    running = _running.get(message_id)
    return running if running is not None and not running.task.done() else None


async def generation_register(running: RunningGeneration) -> None:
    _running[running.message_id] = running
    _ensure_heartbeat()
    await _listen_to_stop(running, listen=True)


async def generation_unregister(running: RunningGeneration) -> None:
    _running.pop(running.message_id, None)
    await _listen_to_stop(running, listen=False)


async def _listen_to_stop(running: RunningGeneration, *, listen: bool) -> None:
    """Add this loop's listener to (or drop it from) the conversation's control group."""
    try:
        layer, channel = get_channel_layer(), await _listener_channel()
        if layer is None or channel is None:
            return
        group = control_group(running.conversation_uuid)
        if listen:
            await layer.group_add(group, channel)
        else:
            await layer.group_discard(group, channel)
    except Exception:
        # Without the channel layer, Stop still works from this process's own sockets.
        logger.warning(
            "generation %s: control group unavailable", running.message_uuid, exc_info=True
        )


def generation_cancel_local(*, conversation_uuid: str, message_uuid: str | None) -> int:
    """Cancel matching generations owned by this process; how many were cancelled."""
    cancelled = 0
    for running in list(_running.values()):
        if running.conversation_uuid != conversation_uuid:
            continue
        if message_uuid is not None and running.message_uuid != message_uuid:
            continue
        # The task may live on another loop and thread (a blocking REST send runs its own).
        try:
            running.loop.call_soon_threadsafe(running.stop_requested.set)
            running.loop.call_soon_threadsafe(running.task.cancel)
        except RuntimeError:
            continue  # that loop has closed: the generation ended with it
        cancelled += 1
    return cancelled


async def generation_request_stop(*, conversation_uuid: str, message_uuid: str | None) -> None:
    """Stop the conversation's running generation, whichever process owns it."""
    if generation_cancel_local(conversation_uuid=conversation_uuid, message_uuid=message_uuid):
        return
    await event_publish_async(
        group=control_group(conversation_uuid),
        frame={
            "type": "generation.stop",
            "conversation_id": conversation_uuid,
            "message_id": message_uuid,
        },
    )


def _ensure_heartbeat() -> None:
    loop = asyncio.get_running_loop()
    task = _heartbeats.get(loop)
    if task is None or task.done():
        _heartbeats[loop] = loop.create_task(_heartbeat(loop), context=contextvars.Context())


async def _heartbeat(loop: asyncio.AbstractEventLoop) -> None:
    last_sweep = time.monotonic()
    while True:
        await asyncio.sleep(settings.CHATSITE_HEARTBEAT_SECONDS)
        ids = [
            r.message_id
            for r in list(_running.values())
            if not r.task.done() and r.task.get_loop() is loop
        ]
        if not ids:
            return  # the next registration starts a new heartbeat
        try:
            alive = await database_sync_to_async(generations_touch)(message_ids=ids)
            # A reply swept or deleted under a live task: end the task quietly.
            for message_id in set(ids) - alive:
                running = _running.get(message_id)
                if running is not None and not running.concluding:
                    running.stop_requested.set()
                    running.task.cancel()
            if time.monotonic() - last_sweep >= settings.CHATSITE_GENERATION_STALE_SECONDS:
                last_sweep = time.monotonic()
                await database_sync_to_async(generations_sweep_stale)()
        except Exception:
            logger.warning("heartbeat of running generations failed", exc_info=True)


async def _listener_channel() -> str | None:
    layer = get_channel_layer()
    if layer is None:
        return None
    loop = asyncio.get_running_loop()
    entry = _listeners.get(loop)
    if entry is None or entry[1].done():
        # The default prefix: channels-redis serves all of a process's channels with one
        # blocking read, which only sees channels under that prefix.
        channel = await layer.new_channel()
        # A fresh context: the listener lives as long as the loop, not as the request that
        # happened to start it.
        entry = (channel, loop.create_task(_listen(layer, channel), context=contextvars.Context()))
        _listeners[loop] = entry
    return entry[0]


async def _listen(layer: BaseChannelLayer, channel: str) -> None:
    while True:
        try:
            event = await layer.receive(channel)
        except Exception:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # redis-py can turn a cancellation into a read error: the loop is closing.
                raise asyncio.CancelledError from None
            # A lost connection to Redis must not end Stop for the rest of the process.
            logger.exception("stop listener: receive failed; retrying")
            await asyncio.sleep(1)
            continue
        if event.get("type") == "generation.stop" and isinstance(event.get("conversation_id"), str):
            message_id = event.get("message_id")
            generation_cancel_local(
                conversation_uuid=event["conversation_id"],
                message_uuid=message_id if isinstance(message_id, str) else None,
            )
