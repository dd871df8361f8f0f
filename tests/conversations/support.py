"""Turns driven through the services and the real SDK, waiting for each reply (sync tests)."""

from __future__ import annotations

from typing import Any

from conversations.models import Conversation, Message
from conversations.services.generation import generation_run_blocking
from conversations.services.messages import message_continue, message_send


def ask(conversation: Conversation, text: str, **kwargs: Any) -> Message:
    """Send `text` and return the stored reply once it has ended."""
    result = message_send(conversation=conversation, text=text, **kwargs)
    generation_run_blocking(reply=result.assistant_message)
    return Message.objects.get(pk=result.assistant_message.pk)


def go_on(conversation: Conversation, reply: Message) -> Message:
    """Continue a cut-off reply and return it once it has ended."""
    pending = message_continue(conversation=conversation, message_uuid=reply.uuid)
    generation_run_blocking(reply=pending)
    return Message.objects.get(pk=reply.pk)
