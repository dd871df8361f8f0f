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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import anthropic
from anthropic.lib.streaming import AsyncMessageStream
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from conversations.asyncdb import database_sync_to_async
from conversations.llm.catalog import models_refresh_if_expired
from conversations.llm.client import get_client
from conversations.llm.errors import describe_api_error
from conversations.llm.models import estimate_text_tokens
from conversations.models import Message
from conversations.services.batching import DeltaBatcher
from conversations.services.budget import ContextFullError, Fitted, request_fit, request_shrink
from conversations.services.cancellation import (
    RunningGeneration,
    generation_register,
    generation_unregister,
    running_generation,
)
from conversations.services.context import BACKGROUND_COMPACT_AT
from conversations.services.events import event_publish_async, status_publish_async
from conversations.services.generation_store import (
    PreparedGeneration,
    generation_end_unstarted,
    generation_finish,
    generation_prepare,
    generation_save_partial,
    reply_fields,
    usage_fields,
)
from conversations.services.history import BuiltRequest
from conversations.services.summaries import (
    compaction_running,
    compaction_start_in_background,
    compaction_wait,
)
from conversations.services.titles import title_start_in_background, title_wait
from conversations.services.vision import attachment_blocks, is_missing_file_error

logger = logging.getLogger(__name__)

# Saving the end of a reply is retried: a database blip must not leave it `streaming`.
FINISH_ATTEMPTS = 3
THINKING_SEPARATOR = "\n\n"


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
        async_to_sync(_run_and_settle)(reply)


async def _run_and_settle(reply: Message) -> None:
    """The reply, then any summary it triggered: this short-lived loop ends with the call, and
    a background task left on it would be cancelled."""
    await generation_run(reply=reply)
    await compaction_wait(reply.conversation_id)
    await title_wait(reply.conversation_id)


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
        prepared = await _prepare_or_fail(reply, running)
        if prepared is not None:
            await _stream_reply(prepared, running)
    finally:
        await asyncio.shield(generation_unregister(running))


async def _end_unstarted(message_id: int, *, stopped: bool, error: tuple[str, str] | None) -> None:
    outcome = await database_sync_to_async(generation_end_unstarted)(
        message_id, stopped=stopped, error=error
    )
    if outcome is not None:
        await event_publish_async(group=outcome[0], frame=outcome[1])


async def _prepare_or_fail(reply: Message, running: RunningGeneration) -> PreparedGeneration | None:
    message_id = reply.pk
    try:
        # Registered first, so a Stop that arrives while a summary is being written or the
        # request is being built still finds the generation (and its heartbeat runs).
        await generation_register(running)
        await models_refresh_if_expired(reply.conversation.model)
        if compaction_running(reply.conversation_id):
            # A summary started after the previous reply: this request should stand on it.
            await status_publish_async(
                group=reply.conversation.group_name,
                message_uuid=str(reply.uuid),
                status="summarizing",
            )
            await compaction_wait(reply.conversation_id)
        prepared = await database_sync_to_async(generation_prepare)(message_id)
        if isinstance(prepared, PreparedGeneration) and prepared.attachment_plan.chosen:
            # Files API uploads or reads of the stored files: a Stop or a failure here ends
            # the reply like any other failure to prepare it.
            prepared = await _with_attachment_blocks(prepared, reupload=False)
    except Message.DoesNotExist:
        return None  # deleted with its conversation in the meantime
    except asyncio.CancelledError:
        await asyncio.shield(_end_unstarted(message_id, stopped=True, error=None))
        raise
    except Exception:
        # Left `pending`, the reply would keep its conversation busy for good.
        logger.exception("could not prepare the generation of message %s", message_id)
        await _end_unstarted(message_id, stopped=False, error=None)
        return None
    if isinstance(prepared, tuple):
        await _end_unstarted(message_id, stopped=False, error=prepared)
        return None
    if prepared is not None and prepared.announce is not None:
        frame = {"type": "message.updated", "message": prepared.announce}
        await event_publish_async(group=prepared.group, frame=frame)
    return prepared


async def _with_attachment_blocks(
    prepared: PreparedGeneration, *, reupload: bool
) -> PreparedGeneration:
    blocks = await attachment_blocks(prepared.attachment_plan, reupload=reupload)
    return replace(prepared, images=replace(prepared.images, blocks=blocks))


@dataclass
class _StreamState:
    """What is known about a reply while it streams; enough to conclude it whatever happens."""

    prepared: PreparedGeneration
    text: DeltaBatcher
    thinking: DeltaBatcher
    # The request to send and the summary it stands on (a new one if the turn was compacted).
    fitted: Fitted
    first_token_at: datetime | None = None
    request_id: str = ""
    stream: AsyncMessageStream | None = None
    # The bodies sent so far (a prompt-too-long retry sends a second one).
    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def request(self) -> BuiltRequest:
        return self.fitted.request

    @property
    def reply_text(self) -> str:
        return self.request.reply_prefix + self.text.text

    @property
    def thinking_text(self) -> str:
        return self.prepared.earlier.thinking + self.thinking.text

    async def add_thinking(self, text: str) -> None:
        if not self.thinking.length and self.prepared.earlier.thinking:
            # A continued reply's new thinking is set apart from the earlier thinking; the
            # separator travels in the frames like any text, so offsets stay exact.
            text = THINKING_SEPARATOR + text
        await self.thinking.add(text)

    def usage_so_far(self) -> dict[str, Any]:
        """The usage of a reply cut short: input figures from `message_start`, and an estimate
        of the output (the API only reports it at the end, but it was generated and billed)."""
        if self.stream is None:
            return {}
        try:
            usage = self.stream.current_message_snapshot.usage
        except Exception:  # no message_start yet
            return {}
        generated = estimate_text_tokens(self.text.text) + estimate_text_tokens(self.thinking.text)
        usage = usage.model_copy(update={"output_tokens": max(usage.output_tokens, generated)})
        return usage_fields(self.prepared, usage, thinking=self.thinking.text)

    def batchers(self) -> tuple[DeltaBatcher, DeltaBatcher]:
        return self.text, self.thinking


def _new_state(prepared: PreparedGeneration) -> _StreamState:
    request = prepared.build(prepared.summary)
    interval = settings.CHATSITE_STREAM_FLUSH_SECONDS
    earlier_thinking = prepared.earlier.thinking

    def batcher(frame_type: str, start: int) -> DeltaBatcher:
        return DeltaBatcher(
            group=prepared.group,
            message_uuid=prepared.message_uuid,
            interval=interval,
            frame_type=frame_type,
            start_offset=start,
        )

    return _StreamState(
        prepared=prepared,
        text=batcher("chat.delta", len(request.reply_prefix)),
        thinking=batcher("chat.thinking", len(earlier_thinking)),
        fitted=Fitted(request, prepared.summary),
    )


async def _stream_reply(prepared: PreparedGeneration, running: RunningGeneration) -> None:
    try:
        state = _new_state(prepared)
    except Exception:
        logger.exception("could not build the request of message %s", prepared.message_uuid)
        await _end_unstarted(prepared.message_id, stopped=False, error=None)
        return
    started = time.monotonic()
    outcome = "complete"
    try:
        state.fitted = await request_fit(prepared, state.fitted)
        fields = await _receive_with_retry(state, running.stop_requested)
        frame_type = "chat.done"
        outcome = fields["status"]
    except asyncio.CancelledError:
        outcome = "stopped"
        # Keep what the person already saw; the save runs to its end despite the cancellation.
        stopped = {"status": Message.Status.STOPPED, **state.usage_so_far()}
        running.concluding = True
        await _run_to_end(_conclude(state, stopped, "chat.done"))
        raise
    except _Superseded:
        outcome = "superseded"
        for batcher in state.batchers():
            await batcher.close()  # no timer may publish for a reply that ended elsewhere
        return
    except ContextFullError as exc:
        outcome = "context_full"
        fields = {
            "status": Message.Status.ERROR,
            "error_type": "context_full",
            "error_detail": exc.detail,
        }
        frame_type = "chat.error"
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
        _log_call(state, outcome, time.monotonic() - started)
    running.concluding = True
    await _run_to_end(_conclude(state, fields, frame_type))
    if outcome == Message.Status.COMPLETE:
        title_start_in_background(
            conversation_id=prepared.conversation.pk, reply_id=prepared.message_id
        )
    context_tokens = fields.get("context_tokens") or 0
    if context_tokens > prepared.generation.context_budget * BACKGROUND_COMPACT_AT:
        compaction_start_in_background(
            conversation_id=prepared.conversation.pk, leaf_id=prepared.message_id
        )


def _log_call(state: _StreamState, outcome: str, seconds: float) -> None:
    """One line per generation: enough to follow cost and latency, never the text or the key."""
    usage: Any = None
    if state.stream is not None:
        with contextlib.suppress(Exception):
            usage = state.stream.current_message_snapshot.usage
    first_token = (
        f"{(state.first_token_at - state.prepared.started_at).total_seconds():.2f}"
        if state.first_token_at is not None
        else "-"
    )
    logger.info(
        "generation message=%s model=%s outcome=%s first_token_s=%s total_s=%.2f "
        "input_tokens=%s output_tokens=%s cache_read=%s cache_write=%s frames=%d chars=%d "
        "request_id=%s",
        state.prepared.message_uuid,
        state.prepared.spec.id,
        outcome,
        first_token,
        seconds,
        getattr(usage, "input_tokens", "-"),
        getattr(usage, "output_tokens", "-"),
        getattr(usage, "cache_read_input_tokens", "-"),
        getattr(usage, "cache_creation_input_tokens", "-"),
        state.text.frames_sent,
        state.text.length,
        state.request_id or "-",
    )


def _is_prompt_too_long(exc: anthropic.BadRequestError) -> bool:
    # The API has no distinct error type for it; its message is the only signal.
    return "prompt is too long" in str(exc.message).lower()


async def _receive_with_retry(state: _StreamState, stop_requested: asyncio.Event) -> dict[str, Any]:
    """Stream the reply; a prompt-too-long answer (our estimate was off) folds the history
    down to the person's last turn and tries once more."""
    try:
        return await _receive(state, stop_requested)
    except anthropic.APIStatusError as exc:
        if state.first_token_at is not None:
            raise
        if is_missing_file_error(exc) and settings.CHATSITE_FILES_API:
            # An uploaded image expired or was deleted: upload the images again, once.
            logger.info(
                "a file of message %s is gone: uploading again", state.prepared.message_uuid
            )
            state.prepared = await _with_attachment_blocks(state.prepared, reupload=True)
            summary = state.fitted.summary
            state.fitted = Fitted(state.prepared.build(summary), summary)
            return await _receive(state, stop_requested)
        if not isinstance(exc, anthropic.BadRequestError) or not _is_prompt_too_long(exc):
            raise
        logger.info("prompt too long for message %s: compacting", state.prepared.message_uuid)
        fitted = await request_shrink(state.prepared, state.fitted, tokens=None, target=0)
        state.fitted = fitted
        return await _receive(state, stop_requested)


async def _receive(state: _StreamState, stop_requested: asyncio.Event) -> dict[str, Any]:
    """Stream the reply to the group; return the fields that conclude it."""
    prepared = state.prepared
    last_save = time.monotonic()
    state.sent.append(state.request.recorded())
    client = get_client()
    async with client.messages.stream(**state.request.stream_arguments()) as stream:
        state.stream = stream
        state.request_id = stream.request_id or ""
        async for event in stream:
            if stop_requested.is_set():
                break  # leaving the block closes the upstream request
            if event.type == "text":
                await state.text.add(event.text)
            elif event.type == "thinking":
                await state.add_thinking(event.thinking)
            else:
                continue
            if state.first_token_at is None:
                state.first_token_at = timezone.now()
            if time.monotonic() - last_save >= settings.CHATSITE_STREAM_SAVE_SECONDS:
                last_save = time.monotonic()
                saved = await database_sync_to_async(generation_save_partial)(
                    prepared.message_id, state.reply_text, state.thinking_text, state.first_token_at
                )
                if not saved:
                    raise _Superseded
        if stop_requested.is_set():
            raise asyncio.CancelledError
        final = await stream.get_final_message()
    usage = usage_fields(prepared, final.usage, thinking=state.thinking.text)
    return {**reply_fields(final), **usage}


async def _conclude(state: _StreamState, fields: dict[str, Any], frame_type: str) -> None:
    """Save the outcome with the text so far, then tell every tab."""
    prepared = state.prepared
    for batcher in state.batchers():
        await batcher.close()
    fields = {
        "text": state.reply_text,
        "thinking": state.thinking_text,
        "first_token_at": state.first_token_at,
        "api_request_id": state.request_id,
        "summary_id": state.request.summary_id,
        "api_requests": [*prepared.earlier.api_requests, *state.sent],
        "notice": state.prepared.attachment_plan.notice,
        **fields,
    }
    for attempt in range(FINISH_ATTEMPTS):
        try:
            data = await database_sync_to_async(generation_finish)(prepared.message_id, **fields)
            break
        except DatabaseError:
            if attempt == FINISH_ATTEMPTS - 1:
                # The heartbeat stops with this task: the sweeper will mark it interrupted.
                logger.exception("could not save the end of message %s", prepared.message_uuid)
                return
            await asyncio.sleep(0.5 * 2**attempt)
    if data is not None:
        await event_publish_async(group=prepared.group, frame={"type": frame_type, "message": data})
