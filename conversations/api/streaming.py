"""Server-sent events for the REST send: the same frames as the WebSocket, for one reply."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from channels.layers import get_channel_layer

from conversations.frames import message_data
from conversations.models import Message
from conversations.services.generation import generation_start
from conversations.services.messages import SendResult

TERMINAL = ("chat.done", "chat.error")


def sse(frame: Mapping[str, Any]) -> bytes:
    """One event: the frame type as the SSE event name, the frame as JSON data."""
    return f"event: {frame['type']}\ndata: {json.dumps(frame)}\n\n".encode()


def _concerns(frame: Mapping[str, Any], reply_uuid: str) -> bool:
    message = frame.get("message")
    if isinstance(message, dict):
        return message.get("id") == reply_uuid
    return frame.get("message_id") == reply_uuid


async def reply_events(*, result: SendResult) -> AsyncIterator[bytes]:
    """Announce the turn, start the reply once subscribed, relay its frames until it ends.

    Closing the response early does not stop the reply: like a closed tab, it goes on and is
    saved.
    """
    user_message, reply = result.user_message, result.assistant_message
    reply_uuid = str(reply.uuid)
    parent_uuid = (
        user_message.parent.uuid if user_message.parent_id and user_message.parent else None
    )
    yield sse(
        {"type": "message.created", "message": message_data(user_message, parent_uuid=parent_uuid)}
    )
    yield sse(
        {"type": "message.created", "message": message_data(reply, parent_uuid=user_message.uuid)}
    )
    if not result.created:
        # A repeated client_id: the reply exists already, its current state is the answer.
        stored = await Message.objects.aget(pk=reply.pk)
        frame_type = "chat.error" if stored.status == Message.Status.ERROR else "chat.done"
        yield sse(
            {"type": frame_type, "message": message_data(stored, parent_uuid=user_message.uuid)}
        )
        return
    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()
    group = reply.conversation.group_name
    await layer.group_add(group, channel)
    try:
        generation_start(reply=reply)  # only now: nothing it sends can be missed
        while True:
            frame = await layer.receive(channel)
            if not _concerns(frame, reply_uuid):
                continue
            yield sse(frame)
            if frame.get("type") in TERMINAL:
                return
    finally:
        await layer.group_discard(group, channel)
