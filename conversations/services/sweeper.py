"""Replies orphaned by a process that died become `interrupted`, keeping their partial text.

Every process touches `heartbeat_at` of the generations it runs (see cancellation.py); a
`pending` or `streaming` row whose heartbeat is older than CHATSITE_GENERATION_STALE_SECONDS has
no owner any more. Sweeps run where they are cheap and needed: before a send checks for `busy`,
when a conversation page is opened, periodically in every process that generates, and at start-up
(`manage.py sweep_generations`).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations.frames import message_data
from conversations.models import Conversation, Message
from conversations.services.events import event_publish

INTERRUPTED_DETAIL = "The server stopped while Claude was replying. The text so far is kept."


def generations_touch(*, message_ids: list[int]) -> set[int]:
    """The heartbeat of this process's running generations; returns those still generating."""
    if not message_ids:
        return set()
    generating = Message.objects.filter(pk__in=message_ids, status__in=Message.GENERATING_STATUSES)
    with transaction.atomic():
        alive = set(generating.select_for_update().values_list("pk", flat=True))
        Message.objects.filter(pk__in=alive).update(heartbeat_at=timezone.now())
    return alive


def generations_sweep_stale(
    *, conversation: Conversation | None = None, owner_id: int | None = None
) -> int:
    """Mark orphaned replies `interrupted` and tell open tabs; returns how many there were."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.CHATSITE_GENERATION_STALE_SECONDS)
    stale = Message.objects.filter(status__in=Message.GENERATING_STATUSES).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    if conversation is not None:
        stale = stale.filter(conversation=conversation)
    if owner_id is not None:
        stale = stale.filter(conversation__owner_id=owner_id)
    ids = list(stale.values_list("pk", flat=True))
    if not ids:
        return 0  # the usual case: one indexed read, no transaction
    with transaction.atomic():
        # Re-check the condition in the UPDATE: a heartbeat may have landed since the read.
        Message.objects.filter(pk__in=ids).filter(
            Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff),
            status__in=Message.GENERATING_STATUSES,
        ).update(
            status=Message.Status.INTERRUPTED,
            error_type="interrupted",
            error_detail=INTERRUPTED_DETAIL,
            heartbeat_at=None,
            finished_at=now,
            updated_at=now,
        )
        swept = Message.objects.filter(
            pk__in=ids, status=Message.Status.INTERRUPTED
        ).select_related("conversation", "parent")
        for message in swept:
            parent_uuid = message.parent.uuid if message.parent else None
            frame = {"type": "chat.done", "message": message_data(message, parent_uuid=parent_uuid)}
            transaction.on_commit(
                partial(event_publish, group=message.conversation.group_name, frame=frame)
            )
    return len(ids)
