"""The streaming lifecycle of one reply: start, relay, persist, stop.

A generation is an asyncio task owned by the server process (see cancellation.py), never by a
socket: closing a tab does not stop it. Deltas are batched before they reach the channel layer,
the partial text is saved about once a second, and no ORM call or transaction is held open while
waiting on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anthropic
from anthropic.lib.streaming import AsyncMessageStream
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from conversations.asyncdb import database_sync_to_async
from conversations.frames import message_data
from conversations.llm.client import get_client
from conversations.llm.errors import describe_api_error
from conversations.models import Message
from conversations.services.batching import DeltaBatcher
from conversations.services.cancellation import (
    RunningGeneration,
    generation_register,
    generation_unregister,
    running_generation,
)
from conversations.services.events import event_publish_async
from conversations.services.history import MessagesRequest, conversation_path, request_build

logger = logging.getLogger(__name__)

# Saving the end of a reply is retried: a database blip must not leave it `streaming`.
FINISH_ATTEMPTS = 3


@dataclass(frozen=True)
class PreparedGeneration:
    message_id: int
    message_uuid: str
    conversation_uuid: str
    group: str
    request: MessagesRequest


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
    started = Message.objects.filter(pk=message_id, status=Message.Status.PENDING).update(
        status=Message.Status.STREAMING, started_at=now, heartbeat_at=now
    )
    if not started:
        return None  # stopped or swept in the meantime
    return PreparedGeneration(
        message_id=message_id,
        message_uuid=str(message.uuid),
        conversation_uuid=str(conversation.uuid),
        group=conversation.group_name,
        request=request,
    )


def _save_partial(message_id: int, text: str, first_token_at: Any) -> bool:
    """Save the text so far; False if the reply is no longer streaming (swept, deleted)."""
    saved = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
        text=text, heartbeat_at=timezone.now(), first_token_at=first_token_at
    )
    return saved > 0


class _Superseded(Exception):
    """The reply was ended by someone else (a sweep, a deletion): stop quietly."""


async def _run_to_end(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run `coroutine` to its end even if this task is cancelled meanwhile (a Stop during the
    final save, twice if need be), then pass the cancellation on."""
    task = asyncio.ensure_future(coroutine)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError


def _finish(message_id: int, **fields: Any) -> dict[str, Any] | None:
    """Store the outcome; the frame data of the finished message, or None if it had ended
    already (a sweeper or an earlier outcome won) or was deleted with its conversation."""
    fields.setdefault("finished_at", timezone.now())
    fields["heartbeat_at"] = None
    fields["updated_at"] = fields["finished_at"]  # update() skips auto_now
    updated = Message.objects.filter(pk=message_id, status__in=Message.GENERATING_STATUSES).update(
        **fields
    )
    if not updated:
        return None
    message = Message.objects.select_related("parent").filter(pk=message_id).first()
    if message is None:
        return None
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
    # A fresh context: the task outlives the request or socket that started it, and must not
    # carry that request's asgiref thread executor along.
    loop = asyncio.get_running_loop()
    return loop.create_task(generation_run(reply=reply), context=contextvars.Context())


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
        loop=asyncio.get_running_loop(),
    )
    try:
        prepared = await _prepare_or_fail(reply.pk, running)
        if prepared is not None:
            await _stream_reply(prepared, running)
    finally:
        await asyncio.shield(generation_unregister(running))


async def _prepare_or_fail(
    message_id: int, running: RunningGeneration
) -> PreparedGeneration | None:
    try:
        # Registered first, so a Stop that arrives while the request is being built still
        # finds the generation.
        await generation_register(running)
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


@dataclass
class _StreamState:
    """What is known about a reply while it streams; enough to conclude it whatever happens."""

    batcher: DeltaBatcher
    first_token_at: datetime | None = None
    request_id: str = ""
    stream: AsyncMessageStream | None = None

    def usage_so_far(self) -> dict[str, Any]:
        """Input figures from `message_start`: known even when the reply is cut short."""
        if self.stream is None:
            return {}
        try:
            usage = self.stream.current_message_snapshot.usage
        except Exception:  # no message_start yet
            return {}
        return {
            "input_tokens": usage.input_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0,
        }


async def _stream_reply(prepared: PreparedGeneration, running: RunningGeneration) -> None:
    state = _StreamState(
        batcher=DeltaBatcher(
            group=prepared.group,
            message_uuid=prepared.message_uuid,
            interval=settings.CHATSITE_STREAM_FLUSH_SECONDS,
        )
    )
    started = time.monotonic()
    outcome = "complete"
    try:
        fields = await _receive(prepared, running.stop_requested, state)
        frame_type = "chat.done"
        outcome = fields["status"]
    except asyncio.CancelledError:
        outcome = "stopped"
        # Keep what the person already saw; the save runs to its end despite the cancellation.
        stopped = {"status": Message.Status.STOPPED, **state.usage_so_far()}
        running.concluding = True
        await _run_to_end(_conclude(prepared, state, stopped, "chat.done"))
        raise
    except _Superseded:
        outcome = "superseded"
        return
    except anthropic.APIError as exc:
        outcome = "error"
        state.request_id = getattr(exc, "request_id", None) or state.request_id
        error_type, detail = describe_api_error(exc)
        fields = {"status": Message.Status.ERROR, "error_type": error_type, "error_detail": detail}
        fields.update(state.usage_so_far())
        frame_type = "chat.error"
    except Exception:
        outcome = "error"
        logger.exception("generation failed for message %s", prepared.message_uuid)
        fields = {
            "status": Message.Status.ERROR,
            "error_type": "internal",
            "error_detail": "Something went wrong on our side while generating the reply.",
        }
        frame_type = "chat.error"
    finally:
        logger.info(
            "generation message=%s model=%s outcome=%s frames=%d chars=%d seconds=%.2f "
            "request_id=%s",
            prepared.message_uuid,
            prepared.request["model"],
            outcome,
            state.batcher.frames_sent,
            state.batcher.length,
            time.monotonic() - started,
            state.request_id,
        )
    running.concluding = True
    await _run_to_end(_conclude(prepared, state, fields, frame_type))


async def _receive(
    prepared: PreparedGeneration, stop_requested: asyncio.Event, state: _StreamState
) -> dict[str, Any]:
    """Stream the reply to the group; return the fields that conclude it."""
    last_save = time.monotonic()
    client = get_client()
    async with client.messages.stream(**prepared.request) as stream:  # type: ignore[arg-type]
        state.stream = stream
        state.request_id = stream.request_id or ""
        async for text in stream.text_stream:
            if stop_requested.is_set():
                break  # leaving the block closes the upstream request
            if state.first_token_at is None:
                state.first_token_at = timezone.now()
            await state.batcher.add(text)
            if time.monotonic() - last_save >= settings.CHATSITE_STREAM_SAVE_SECONDS:
                last_save = time.monotonic()
                if not await database_sync_to_async(_save_partial)(
                    prepared.message_id, state.batcher.text, state.first_token_at
                ):
                    raise _Superseded
        if stop_requested.is_set():
            raise asyncio.CancelledError
        final = await stream.get_final_message()
    usage = final.usage
    fields: dict[str, Any] = {
        "status": Message.Status.COMPLETE,
        "stop_reason": final.stop_reason or "",
        "stop_sequence": final.stop_sequence or "",
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0,
        "api_message_id": final.id,
    }
    if not final.stop_reason:
        # A stream that ends without message_stop leaves stop_reason unset: it was cut off.
        fields["status"] = Message.Status.INTERRUPTED
        fields["error_type"] = "interrupted"
        fields["error_detail"] = "The connection to Claude ended before the reply was complete."
    return fields


async def _conclude(
    prepared: PreparedGeneration, state: _StreamState, fields: dict[str, Any], frame_type: str
) -> None:
    """Save the outcome with the text so far, then tell every tab."""
    await state.batcher.close()
    fields = {
        "text": state.batcher.text,
        "first_token_at": state.first_token_at,
        "api_request_id": state.request_id,
        **fields,
    }
    for attempt in range(FINISH_ATTEMPTS):
        try:
            data = await database_sync_to_async(_finish)(prepared.message_id, **fields)
            break
        except DatabaseError:
            if attempt == FINISH_ATTEMPTS - 1:
                # The heartbeat stops with this task: the sweeper will mark it interrupted.
                logger.exception("could not save the end of message %s", prepared.message_uuid)
                return
            await asyncio.sleep(0.5 * 2**attempt)
    if data is not None:
        await event_publish_async(group=prepared.group, frame={"type": frame_type, "message": data})
