"""Permission-checked reads. Every lookup of a conversation goes through its owner."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TypedDict

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet, Sum

from conversations.models import Attachment, Conversation, Message, Summary
from conversations.services.context import COST_QUANTUM
from conversations.services.history import conversation_path
from conversations.services.parameters import SettingsError, conversation_settings

# Costs are stored to the millionth of a dollar (Message.cost_usd, Summary.cost_usd).


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


def attachment_get_for_user(
    *, user: User | AnonymousUser, attachment_uuid: uuid.UUID | str
) -> Attachment:
    """An image its owner uploaded (or any, for staff allowed to view attachments in the admin);
    Attachment.DoesNotExist for anyone else, indistinguishable from a missing one."""
    if not user.is_authenticated:
        raise Attachment.DoesNotExist
    key = _uuid_or_missing(attachment_uuid, Attachment.DoesNotExist)
    # Staff who may view attachments in the admin: a permission, not just is_staff.
    may_see_all = user.is_staff and user.has_perm("conversations.view_attachment")
    attachments = Attachment.objects.all() if may_see_all else Attachment.objects.filter(owner=user)
    return attachments.get(uuid=key)


def message_get_for_conversation(
    *, conversation: Conversation, message_uuid: uuid.UUID | str
) -> Message:
    """A message of `conversation` (already permission-checked), with its parent.

    Message.DoesNotExist for a bad id or a message of another conversation.
    Queries: 1.
    """
    key = _uuid_or_missing(message_uuid, Message.DoesNotExist)
    return (
        Message.objects.select_related("parent")
        # The manager defers the message's recorded prompts; a join needs telling for the parent.
        .defer("parent__api_requests", "parent__thinking")
        .get(conversation=conversation, uuid=key)
    )


def summary_list_for_conversation(*, conversation: Conversation) -> QuerySet[Summary]:
    """Every summary of the conversation (all branches), oldest first."""
    return (
        Summary.objects.filter(conversation=conversation)
        .select_related("covers_up_to")
        # Only the covered message's id is needed, not the prompt it recorded.
        .defer("covers_up_to__api_requests", "covers_up_to__thinking")
        .order_by("created_at", "id")
    )


def summary_get_for_conversation(
    *, conversation: Conversation, summary_uuid: uuid.UUID | str
) -> Summary:
    """Summary.DoesNotExist for a bad id or a summary of another conversation. Queries: 1."""
    key = _uuid_or_missing(summary_uuid, Summary.DoesNotExist)
    return summary_list_for_conversation(conversation=conversation).get(uuid=key)


class ConversationUsage(TypedDict):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    # US dollars as a decimal string; None when nothing in the conversation had a price.
    cost_usd: str | None


def conversation_usage(*, conversation: Conversation) -> ConversationUsage:
    """What the conversation has cost: every message of every branch (each was paid for) and
    every summary written for it.

    Queries: 2 (one aggregate over the messages, one over the summaries).
    """
    messages = Message.objects.filter(conversation=conversation).aggregate(
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        cache_read_input_tokens=Sum("cache_read_input_tokens"),
        cache_creation_input_tokens=Sum("cache_creation_input_tokens"),
        cost_usd=Sum("cost_usd"),
    )
    summaries = Summary.objects.filter(conversation=conversation).aggregate(
        input_tokens=Sum("input_tokens"),
        output_tokens=Sum("output_tokens"),
        cost_usd=Sum("cost_usd"),
    )
    costs = [c for c in (messages["cost_usd"], summaries["cost_usd"]) if c is not None]
    # Quantized: SQLite sums decimals as floats, which would print as 0.003750000000000000.
    cost = sum(costs, Decimal(0)).quantize(COST_QUANTUM) if costs else None
    return {
        "input_tokens": (messages["input_tokens"] or 0) + (summaries["input_tokens"] or 0),
        "output_tokens": (messages["output_tokens"] or 0) + (summaries["output_tokens"] or 0),
        "cache_read_input_tokens": messages["cache_read_input_tokens"] or 0,
        "cache_creation_input_tokens": messages["cache_creation_input_tokens"] or 0,
        "cost_usd": str(cost) if cost is not None else None,
    }


class ConversationContext(TypedDict):
    # The exact prompt size of the newest call on the active branch; None before any.
    tokens: int | None
    # The budget the next request is fitted into; None while the stored settings are invalid.
    budget: int | None


def conversation_context(*, conversation: Conversation) -> ConversationContext:
    """How full the active branch's context is: the `context_tokens` of the active leaf or of
    its nearest ancestor that has them (a pending or failed reply has none), and the budget.

    Queries: 1 (the conversation's messages, narrow columns) when it has an active leaf.
    """
    path = conversation_path(conversation=conversation)
    # A pending or failed reply has no figure: the nearest earlier one holds.
    tokens = next((m.context_tokens for m in reversed(path) if m.context_tokens), None)
    try:
        budget: int | None = conversation_settings(conversation, fetch=False)[1].context_budget
    except SettingsError:
        budget = None
    return {"tokens": tokens, "budget": budget}


def _uuid_or_missing(value: uuid.UUID | str, missing: type[Exception]) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise missing from None
