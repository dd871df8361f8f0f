"""Permission-checked reads. Every lookup of a conversation goes through its owner."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypedDict

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate

from conversations.models import Attachment, Conversation, Message, Summary
from conversations.services.context import COST_QUANTUM
from conversations.services.history import PATH_FIELDS, conversation_path, path_to
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
    # The id breaks ties, so a page boundary never shows a conversation twice or skips one.
    return conversations.order_by("-is_pinned", "-updated_at", "-id")


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


def attachment_get_owned(
    *, user: User | AnonymousUser, attachment_uuid: uuid.UUID | str
) -> Attachment:
    """An upload of `user` with its conversation and message (the API: owners only, no staff
    exception); Attachment.DoesNotExist otherwise. Queries: 1."""
    if not user.is_authenticated:
        raise Attachment.DoesNotExist
    key = _uuid_or_missing(attachment_uuid, Attachment.DoesNotExist)
    return (
        Attachment.objects.select_related("conversation", "message")
        # Only the message's id is needed, not the prompt it recorded.
        .defer("message__api_requests", "message__thinking")
        .get(uuid=key, owner=user)
    )


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


@dataclass(frozen=True)
class TreeMessage:
    """A message in its place in the conversation's tree."""

    message: Message
    parent_uuid: uuid.UUID | None
    depth: int  # 0 for a first message
    sibling_index: int  # its place among the versions under the same parent, oldest first
    sibling_count: int
    on_active_path: bool


def message_tree_for_conversation(*, conversation: Conversation) -> list[TreeMessage]:
    """Every message of every branch, depth-first from the root: each reply under its
    question, each later version (an edit, a regeneration) after the earlier one's subtree.

    Queries: 2 (the messages, narrow columns; their attachments).
    """
    messages = list(
        Message.objects.filter(conversation=conversation)
        .only(*PATH_FIELDS)
        .order_by("created_at", "id")
        .prefetch_related("attachments")
    )
    by_id = {m.id: m for m in messages}
    children: dict[int | None, list[Message]] = {}
    for message in messages:
        # A parent outside the conversation (never made by the services) counts as a root.
        parent_id = message.parent_id if message.parent_id in by_id else None
        children.setdefault(parent_id, []).append(message)
    active = conversation.active_leaf_id
    on_path = {m.id for m in path_to(by_id, active)} if active is not None else set()

    tree: list[TreeMessage] = []
    placed: set[int] = set()
    stack = [(root, 0, i) for i, root in reversed(list(enumerate(children.get(None, []))))]
    while stack:
        message, depth, index = stack.pop()
        if message.id in placed:
            continue
        placed.add(message.id)
        parent = by_id.get(message.parent_id) if message.parent_id else None
        siblings = children.get(parent.id if parent else None, [])
        tree.append(
            TreeMessage(
                message=message,
                parent_uuid=parent.uuid if parent else None,
                depth=depth,
                sibling_index=index,
                sibling_count=len(siblings),
                on_active_path=message.id in on_path,
            )
        )
        kids = children.get(message.id, [])
        stack.extend((kid, depth + 1, i) for i, kid in reversed(list(enumerate(kids))))
    return tree


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
    return {
        "input_tokens": (messages["input_tokens"] or 0) + (summaries["input_tokens"] or 0),
        "output_tokens": (messages["output_tokens"] or 0) + (summaries["output_tokens"] or 0),
        "cache_read_input_tokens": messages["cache_read_input_tokens"] or 0,
        "cache_creation_input_tokens": messages["cache_creation_input_tokens"] or 0,
        "cost_usd": _cost_total(messages["cost_usd"], summaries["cost_usd"]),
    }


class UsageTotals(TypedDict):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    # US dollars as a decimal string; None when nothing had a known price.
    cost_usd: str | None
    replies: int
    summaries: int


class DayUsage(UsageTotals):
    date: str  # YYYY-MM-DD, UTC


def usage_by_day_for_user(*, user: User | AnonymousUser, start: date, end: date) -> list[DayUsage]:
    """What the user's replies and summaries cost per UTC day from `start` to `end` (both
    included; every day listed, quiet ones as zeros). A reply counts on the day it was asked
    for (created), whatever branch it is on and however it ended.

    Queries: 2 (one aggregate over the replies, one over the summaries).
    """
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    if not user.is_authenticated or not days:
        return []
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    day = TruncDate("created_at", tzinfo=UTC)
    replies = (
        Message.objects.filter(
            conversation__owner=user,
            role=Message.Role.ASSISTANT,
            created_at__gte=since,
            created_at__lt=until,
        )
        .annotate(day=day)
        .values("day")  # with order_by below (not the model's ordering): one row per day
        .annotate(
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cache_read_input_tokens=Sum("cache_read_input_tokens"),
            cache_creation_input_tokens=Sum("cache_creation_input_tokens"),
            cost_usd=Sum("cost_usd"),
            count=Count("id"),
        )
        .order_by("day")
    )
    summaries = (
        Summary.objects.filter(
            conversation__owner=user, created_at__gte=since, created_at__lt=until
        )
        .annotate(day=day)
        .values("day")
        .annotate(
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost_usd=Sum("cost_usd"),
            count=Count("id"),
        )
        .order_by("day")
    )
    reply_rows = {_as_date(row["day"]): row for row in replies}
    summary_rows = {_as_date(row["day"]): row for row in summaries}
    return [_day_usage(d, reply_rows.get(d, {}), summary_rows.get(d, {})) for d in days]


def usage_totals(*, days: Sequence[UsageTotals]) -> UsageTotals:
    """The sums of a range of days (no query)."""
    return {
        "input_tokens": sum(day["input_tokens"] for day in days),
        "output_tokens": sum(day["output_tokens"] for day in days),
        "cache_read_input_tokens": sum(day["cache_read_input_tokens"] for day in days),
        "cache_creation_input_tokens": sum(day["cache_creation_input_tokens"] for day in days),
        "cost_usd": _cost_total(*(day["cost_usd"] for day in days)),
        "replies": sum(day["replies"] for day in days),
        "summaries": sum(day["summaries"] for day in days),
    }


def _as_date(value: date | datetime | str) -> date:
    # Backends differ in what a truncated date comes back as.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _day_usage(day: date, replies: Mapping[str, Any], summaries: Mapping[str, Any]) -> DayUsage:
    def total(name: str) -> int:
        return int(replies.get(name) or 0) + int(summaries.get(name) or 0)

    return {
        "date": day.isoformat(),
        "input_tokens": total("input_tokens"),
        "output_tokens": total("output_tokens"),
        "cache_read_input_tokens": int(replies.get("cache_read_input_tokens") or 0),
        "cache_creation_input_tokens": int(replies.get("cache_creation_input_tokens") or 0),
        "cost_usd": _cost_total(replies.get("cost_usd"), summaries.get("cost_usd")),
        "replies": int(replies.get("count") or 0),
        "summaries": int(summaries.get("count") or 0),
    }


def _cost_total(*amounts: object) -> str | None:
    known = [Decimal(str(a)) for a in amounts if a is not None]
    # Quantized: SQLite sums decimals as floats, which would print as 0.003750000000000000.
    return str(sum(known, Decimal(0)).quantize(COST_QUANTUM)) if known else None


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
