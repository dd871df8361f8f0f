"""Permission-checked reads. Every lookup of a conversation goes through its owner."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from conversations.models import Conversation


def conversation_list_for_user(
    *, user: User | AnonymousUser, include_archived: bool = False
) -> QuerySet[Conversation]:
    if not user.is_authenticated:
        return Conversation.objects.none()
    conversations = Conversation.objects.filter(owner=user)
    if not include_archived:
        conversations = conversations.filter(is_archived=False)
    return conversations.order_by("-is_pinned", "-updated_at")


def conversation_get_for_user(
    *, user: User | AnonymousUser, conversation_uuid: uuid.UUID | str
) -> Conversation:
    """The user's conversation; Conversation.DoesNotExist for anyone else's, or a bad id.

    Someone else's conversation and a missing one are indistinguishable on purpose.
    """
    if not user.is_authenticated:
        raise Conversation.DoesNotExist
    try:
        key = (
            conversation_uuid
            if isinstance(conversation_uuid, uuid.UUID)
            else uuid.UUID(str(conversation_uuid))
        )
    except ValueError:
        raise Conversation.DoesNotExist from None
    return Conversation.objects.select_related("owner").get(uuid=key, owner=user)
