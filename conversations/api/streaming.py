"""Answering a reply a service has started: wait for its end (JSON), or relay its WebSocket
frames as server-sent events (`?stream=true`). Send, edit, regenerate and continue share it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from channels.layers import get_channel_layer
from django.http import HttpResponseBase, StreamingHttpResponse
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from conversations.asyncdb import database_sync_to_async
from conversations.frames import message_data
from conversations.models import Conversation, Message
from conversations.services.conversations import generation_wait
from conversations.services.generation import generation_run_blocking, generation_start
from conversations.services.messages import SendResult

logger = logging.getLogger(__name__)

TERMINAL = ("chat.done", "chat.error")
# A comment line this often keeps proxies from closing a quiet stream (a slow first token).
KEEPALIVE_SECONDS = 15.0
GONE = "The conversation was deleted while Claude was replying."


def sse(frame: Mapping[str, Any]) -> bytes:
    """One event: the frame type as the SSE event name, the frame as JSON data."""
    return f"event: {frame['type']}\ndata: {json.dumps(frame)}\n\n".encode()


def _concerns(frame: Mapping[str, Any], reply_uuid: str) -> bool:
    message = frame.get("message")
    if isinstance(message, dict):
        return message.get("id") == reply_uuid
    return frame.get("message_id") == reply_uuid


@dataclass(frozen=True)
class StartedReply:
    """A reply as a message service returned it (its conversation at hand: no query), with
    what its answer needs, resolved in sync code."""

    reply: Message
    parent_uuid: object
    # The frames a streamed answer opens with: what the service announced to other tabs.
    opening: list[dict[str, Any]]
    # False for a repeated client_id: the reply exists, nothing is started.
    start: bool = True


def started_turn(result: SendResult) -> StartedReply:
    """A send or an edit: the person's message and the pending reply."""
    user_message, reply = result.user_message, result.assistant_message
    parent = user_message.parent  # cached by the service: no query
    opening: list[dict[str, Any]] = [
        {
            "type": "message.created",
            "message": message_data(user_message, parent_uuid=parent.uuid if parent else None),
        },
        {"type": "message.created", "message": message_data(reply, parent_uuid=user_message.uuid)},
    ]
    return StartedReply(
        reply=reply, parent_uuid=user_message.uuid, opening=opening, start=result.created
    )


def started_reply(reply: Message, *, frame_type: str) -> StartedReply:
    """A regenerated reply (`message.created`) or a continued one (`message.updated`), as the
    service returns it: pending, its parent at hand."""
    parent_uuid = reply.parent.uuid if reply.parent is not None else None
    frame = {"type": frame_type, "message": message_data(reply, parent_uuid=parent_uuid)}
    return StartedReply(reply=reply, parent_uuid=parent_uuid, opening=[frame])


def reply_answer(
    request: Request,
    conversation: Conversation,
    started: StartedReply,
    *,
    created: bool,
) -> HttpResponseBase:
    """The answer to a request that started a reply: with `?stream=true` its frames as
    server-sent events, otherwise the reply once it has ended (201 when `created` and it
    was started here, else 200). Closing either early does not stop the reply."""
    if request.query_params.get("stream") in ("1", "true"):
        return _event_response(
            reply_events(
                opening=started.opening,
                reply=started.reply,
                parent_uuid=started.parent_uuid,
                start=started.start,
                group=conversation.group_name,
            )
        )
    if started.start:
        generation_run_blocking(reply=started.reply)
    else:
        # A repeated send (same client_id) whose reply may still be running elsewhere: the
        # answer is the finished reply, as for the first request.
        generation_wait(conversation=conversation, reply_id=started.reply.pk)
    reply = Message.objects.filter(pk=started.reply.pk).first()
    if reply is None:
        raise NotFound(GONE)
    code = status.HTTP_201_CREATED if created and started.start else status.HTTP_200_OK
    return Response(message_data(reply, parent_uuid=started.parent_uuid), status=code)


def _event_response(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not hold the events back
    return response


def _terminal_frame(reply_id: int, parent_uuid: object) -> dict[str, Any] | None:
    """The closing frame as stored, or None while the reply is still generating."""
    stored = Message.objects.filter(pk=reply_id).first()
    if stored is None:
        # The socket's frame for a conversation that is gone.
        return {"type": "error", "code": "not_found", "message": GONE}
    if stored.is_generating:
        return None
    frame_type = "chat.error" if stored.status == Message.Status.ERROR else "chat.done"
    return {"type": frame_type, "message": message_data(stored, parent_uuid=parent_uuid)}


async def reply_events(
    *,
    opening: list[dict[str, Any]],
    reply: Message,
    parent_uuid: object,
    start: bool,
    group: str,
) -> AsyncIterator[bytes]:
    """Send the `opening` frames, start the reply once subscribed (if `start`), relay its
    frames until it ends.

    `parent_uuid` (the reply's parent) and `group` (the conversation's) are resolved by the
    sync caller: nothing here may query the database outside a thread. Closing the response
    early does not stop the reply: like a closed tab, it goes on and is saved.
    """
    reply_uuid = str(reply.uuid)
    for frame in opening:
        yield sse(frame)

    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    receiving: asyncio.Future[Any] | None = None
    try:
        # Only now, subscribed, can nothing the generation sends be missed.
        task = generation_start(reply=reply) if start else None
        if task is None:
            closing = await database_sync_to_async(_terminal_frame)(reply.pk, parent_uuid)
            if closing is not None:
                yield sse(closing)
                return
        receiving = asyncio.ensure_future(layer.receive(channel))
        while True:
            waits: set[asyncio.Future[Any]] = {receiving}
            if task is not None and not task.done():
                waits.add(task)
            done, _ = await asyncio.wait(
                waits, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if receiving in done:
                try:
                    frame = receiving.result()
                except Exception:
                    # The channel layer failed (Redis): fall back on the database below.
                    logger.warning("event stream: receive failed", exc_info=True)
                    frame = {}
                    await asyncio.sleep(1)
                receiving = asyncio.ensure_future(layer.receive(channel))
                if frame and _concerns(frame, reply_uuid):
                    yield sse(frame)
                    if frame.get("type") in TERMINAL:
                        return
                if frame:
                    continue
            # The task ended, or all is quiet: a frame may have been lost, the database knows.
            closing = await database_sync_to_async(_terminal_frame)(reply.pk, parent_uuid)
            if closing is not None:
                yield sse(closing)
                return
            yield b": keepalive\n\n"
    finally:
        if receiving is not None:
            receiving.cancel()
        await layer.group_discard(group, channel)
