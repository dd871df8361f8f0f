"""Create, rename, archive and delete conversations."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from conversations.models import Conversation
from conversations.services.cancellation import generation_request_stop

TITLE_MAX_LENGTH = Conversation._meta.get_field("title").max_length or 200


class ConversationValidationError(ValueError):
    """Bad input for a conversation; `field` names what to fix."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _clean_title(title: str) -> str:
    # Titles end up in headers (downloads) and one-line UI: no control characters.
    cleaned = " ".join(title.split())
    return cleaned[:TITLE_MAX_LENGTH]


def conversation_create(
    *, owner: User, title: str = "", system_prompt: str = "", model: str = ""
) -> Conversation:
    model = model.strip() or settings.CHATSITE_DEFAULT_MODEL
    if len(model) > 100:
        raise ConversationValidationError("Model names are at most 100 characters.", field="model")
    if len(system_prompt) > settings.CHATSITE_MAX_MESSAGE_CHARS:
        raise ConversationValidationError(
            f"The system prompt is longer than {settings.CHATSITE_MAX_MESSAGE_CHARS:,} characters.",
            field="system",
        )
    return Conversation.objects.create(
        owner=owner,
        title=_clean_title(title),
        system_prompt=system_prompt,
        model=model,
        parameters={"max_tokens": settings.CHATSITE_DEFAULT_MAX_TOKENS},
    )


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = _clean_title(title)
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation_uuid = str(conversation.uuid)
    with transaction.atomic():
        # Break the leaf pointer first: it points into the rows the cascade removes.
        Conversation.objects.filter(pk=conversation.pk).update(active_leaf=None)
        conversation.delete()
        # A reply still streaming would go on costing tokens for a conversation that is gone.
        transaction.on_commit(
            lambda: async_to_sync(generation_request_stop)(
                conversation_uuid=conversation_uuid, message_uuid=None
            )
        )


def conversation_title_from_text(text: str) -> str:
    """A provisional title from the first message, until a better one is generated."""
    first_line = " ".join(text.split())
    if len(first_line) <= 60:
        return first_line
    return first_line[:59].rsplit(" ", 1)[0] + "…"
