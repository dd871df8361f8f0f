"""The streaming lifecycle of one reply: start, relay, persist, stop.

A generation is an asyncio task owned by the server process (see cancellation.py), never by a
socket: closing a tab does not stop it. Deltas are batched before they reach the channel layer,
the partial text is saved about once a second, and no ORM call or transaction is held open while
waiting on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import anthropic
from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from conversations.asyncdb import database_sync_to_async
from conversations.frames import message_data
from conversations.llm.client import get_client
from conversations.llm.errors import describe_api_error
from conversations.models import Message
from conversations.services.cancellation import (
    RunningGeneration,
    generation_register,
    generation_unregister,
    running_generation,
)
from conversations.services.events import event_publish_async
from conversations.services.history import MessagesRequest, conversation_path, request_build

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedGeneration:
    message_id: int
    message_uuid: str
    conversation_uuid: str
    group: str
    request: MessagesRequest


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
            await event_publish_async(group=self.group, frame=frame)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._scheduled is not None and not self._scheduled.done():
            await asyncio.shield(self._scheduled)
        await self.flush()


# --- database steps (each one short, run in the sync thread) ---------------------------------
def _prepare(message_id: int) -> PreparedGeneration | None:
    """Mark the reply as streaming and build its request; None if it is not pending any more."""
    message = Message.objects.select_related("conversation").get(pk=message_id)
    if message.status != Message.Status.PENDING:
        return None
    conversation = message.conversation
    path = conversation_path(conversation=conversation, leaf_id=message.parent_id)
    request = request_build(conversation=conversation, path=path, user_id=conversation.owner_id)
    now = timezone.now()
    Message.objects.filter(pk=message_id).update(
        status=Message.Status.STREAMING, started_at=now, heartbeat_at=now
    )
    return PreparedGeneration(
        message_id=message_id,
        message_uuid=str(message.uuid),
        conversation_uuid=str(conversation.uuid),
        group=conversation.group_name,
        request=request,
    )


def _save_partial(message_id: int, text: str, first_token_at: Any) -> None:
    Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
        text=text, heartbeat_at=timezone.now(), first_token_at=first_token_at
    )


def _finish(message_id: int, **fields: Any) -> dict[str, Any]:
    """Store the outcome and return the frame data of the finished message."""
    fields.setdefault("finished_at", timezone.now())
    fields["heartbeat_at"] = None
    fields["updated_at"] = fields["finished_at"]  # update() skips auto_now
    Message.objects.filter(pk=message_id).update(**fields)
    message = Message.objects.select_related("parent").get(pk=message_id)
    parent_uuid = message.parent.uuid if message.parent else None
    return dict(message_data(message, parent_uuid=parent_uuid))


def _end_unstarted(message_id: int, *, stopped: bool) -> tuple[str, dict[str, Any]] | None:
    """End a reply that never reached the API: stopped meanwhile, or failed to build.

    Returns the group and the frame to announce, or None if it had ended already.
    """
    now = timezone.now()
    if stopped:
        fields: dict[str, Any] = {"status": Message.Status.STOPPED}
    else:
        fields = {
            "status": Message.Status.ERROR,
            "error_type": "internal",
            "error_detail": "Something went wrong on our side before the reply could start.",
        }
    updated = Message.objects.filter(pk=message_id, status__in=Message.GENERATING_STATUSES).update(
        finished_at=now, updated_at=now, heartbeat_at=None, **fields
    )
    if not updated:
        return None
    message = Message.objects.select_related("conversation", "parent").get(pk=message_id)
    parent_uuid = message.parent.uuid if message.parent else None
    frame_type = "chat.done" if stopped else "chat.error"
    data = message_data(message, parent_uuid=parent_uuid)
    return message.conversation.group_name, {"type": frame_type, "message": data}


# --- the task ----------------------------------------------------------------------------------
def generation_start(*, reply: Message) -> asyncio.Task[None]:
    """Start generating a pending reply in this process (call from the event loop).

    `reply` must carry its conversation (as `message_send` returns it): no query is made here.
    """
    running = running_generation(reply.pk)
    if running is not None:
        return running.task
    return asyncio.ensure_future(generation_run(reply=reply))


def generation_run_blocking(*, reply: Message) -> None:
    """Generate a reply and wait for it, from sync code (the blocking REST send)."""
    # Stopped from another tab: the partial reply is already saved with status `stopped`.
    with contextlib.suppress(asyncio.CancelledError):
        async_to_sync(generation_run)(reply=reply)


async def generation_run(*, reply: Message) -> None:
    task = asyncio.current_task()
    assert task is not None
    running = RunningGeneration(
        message_id=reply.pk,
        message_uuid=str(reply.uuid),
        conversation_uuid=str(reply.conversation.uuid),
        task=task,
    )
    # Registered before anything is awaited, so a Stop that arrives while the request is
    # being built still finds the generation.
    try:
        await generation_register(running)
    except Exception:
        # Without the channel layer, Stop still works from this process's own sockets.
        logger.warning("generation %s: not subscribed to stop requests", reply.pk, exc_info=True)
    try:
        prepared = await _prepare_or_fail(reply.pk)
        if prepared is not None:
            await _stream_reply(prepared, running.stop_requested)
    finally:
        await asyncio.shield(generation_unregister(running))


async def _prepare_or_fail(message_id: int) -> PreparedGeneration | None:
    try:
        return await database_sync_to_async(_prepare)(message_id)
    except Message.DoesNotExist:
        return None  # deleted with its conversation in the meantime
    except asyncio.CancelledError:
        outcome = await asyncio.shield(
            database_sync_to_async(_end_unstarted)(message_id, stopped=True)
        )
        if outcome is not None:
            await asyncio.shield(event_publish_async(group=outcome[0], frame=outcome[1]))
        raise
    except Exception:
        # Left `pending`, the reply would keep its conversation busy for good.
        logger.exception("could not prepare the generation of message %s", message_id)
        outcome = await database_sync_to_async(_end_unstarted)(message_id, stopped=False)
        if outcome is not None:
            await event_publish_async(group=outcome[0], frame=outcome[1])
        return None


async def _stream_reply(prepared: PreparedGeneration, stop_requested: asyncio.Event) -> None:
    batcher = DeltaBatcher(
        group=prepared.group,
        message_uuid=prepared.message_uuid,
        interval=settings.CHATSITE_STREAM_FLUSH_SECONDS,
    )
    started = time.monotonic()
    first_token_at = None
    last_save = started
    request_id = ""
    outcome = "complete"
    try:
        client = get_client()
        async with client.messages.stream(**prepared.request) as stream:  # type: ignore[arg-type]
            request_id = stream.request_id or ""
            async for text in stream.text_stream:
                if stop_requested.is_set():
                    break  # leaving the block closes the upstream request
                if first_token_at is None:
                    first_token_at = timezone.now()
                await batcher.add(text)
                if time.monotonic() - last_save >= settings.CHATSITE_STREAM_SAVE_SECONDS:
                    last_save = time.monotonic()
                    await database_sync_to_async(_save_partial)(
                        prepared.message_id, batcher.text, first_token_at
                    )
            if stop_requested.is_set():
                raise asyncio.CancelledError
            final = await stream.get_final_message()
        await batcher.close()
        # A stream that ends without message_stop leaves stop_reason unset: it was cut off.
        status = Message.Status.COMPLETE if final.stop_reason else Message.Status.INTERRUPTED
        outcome = status
        usage = final.usage
        data = await database_sync_to_async(_finish)(
            prepared.message_id,
            text=batcher.text,
            status=status,
            stop_reason=final.stop_reason or "",
            stop_sequence=final.stop_sequence or "",
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            api_message_id=final.id,
            api_request_id=request_id,
            first_token_at=first_token_at,
            error_detail=""
            if final.stop_reason
            else "The connection to Claude ended before the reply was complete.",
            error_type="" if final.stop_reason else "interrupted",
        )
        await event_publish_async(
            group=prepared.group, frame={"type": "chat.done", "message": data}
        )
    except asyncio.CancelledError:
        outcome = "stopped"
        # Keep what the person already saw; shield the save from the cancellation itself.
        await asyncio.shield(_finish_stopped(prepared, batcher, first_token_at))
        raise
    except anthropic.APIError as exc:
        outcome = "error"
        request_id = getattr(exc, "request_id", None) or ""
        error_type, detail = describe_api_error(exc)
        await _finish_with_error(prepared, batcher, first_token_at, error_type, detail, request_id)
    except Exception:
        outcome = "error"
        logger.exception("generation failed for message %s", prepared.message_uuid)
        await _finish_with_error(
            prepared,
            batcher,
            first_token_at,
            "internal",
            "Something went wrong on our side while generating the reply.",
            request_id,
        )
    finally:
        logger.info(
            "generation message=%s model=%s outcome=%s frames=%d chars=%d seconds=%.2f "
            "request_id=%s",
            prepared.message_uuid,
            prepared.request["model"],
            outcome,
            batcher.frames_sent,
            len(batcher.text),
            time.monotonic() - started,
            request_id,
        )


async def _finish_stopped(
    prepared: PreparedGeneration, batcher: DeltaBatcher, first_token_at: Any
) -> None:
    await batcher.close()
    data = await database_sync_to_async(_finish)(
        prepared.message_id,
        text=batcher.text,
        status=Message.Status.STOPPED,
        stop_reason="",
        first_token_at=first_token_at,
    )
    await event_publish_async(group=prepared.group, frame={"type": "chat.done", "message": data})


async def _finish_with_error(
    prepared: PreparedGeneration,
    batcher: DeltaBatcher,
    first_token_at: Any,
    error_type: str,
    detail: str,
    request_id: str,
) -> None:
    await batcher.close()
    data = await database_sync_to_async(_finish)(
        prepared.message_id,
        text=batcher.text,
        status=Message.Status.ERROR,
        error_type=error_type,
        error_detail=detail,
        api_request_id=request_id,
        first_token_at=first_token_at,
    )
    await event_publish_async(group=prepared.group, frame={"type": "chat.error", "message": data})
