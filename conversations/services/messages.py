"""Sending a message: validate, store the turn and an empty reply, announce after commit.

The reply itself is produced by `generation.py`, outside any transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.frames import BranchSelectedFrame, message_data
from conversations.models import Conversation, Message
from conversations.services.attachments import (
    attachments_claim,
    attachments_copy,
    attachments_validate,
)
from conversations.services.conversations import conversation_title_from_text
from conversations.services.events import event_publish
from conversations.services.history import continues_from_prefill, reply_prefix
from conversations.services.limits import send_allowed
from conversations.services.message_rules import (
    ConversationBusyError,
    MessageValidationError,
    RateLimitedError,
    TooManyGenerationsError,
    client_id_validate,
    generation_settings_check,
    message_text_validate,
    prefill_validate,
)
from conversations.services.sweeper import generations_sweep_stale

# Stop reasons after which a reply can be continued where it was cut.
CONTINUABLE_STOP_REASONS = ("max_tokens", "pause_turn")
# A reply ended early by a Stop, a lost connection or an error can be continued too.
CONTINUABLE_STATUSES = (Message.Status.STOPPED, Message.Status.INTERRUPTED, Message.Status.ERROR)


@dataclass(frozen=True)
class SendResult:
    user_message: Message
    assistant_message: Message
    # False when `client_id` matched an earlier send: nothing new was stored or started.
    created: bool


def _busy() -> ConversationBusyError:
    return ConversationBusyError(
        "Claude is still replying in this conversation. Wait for it, or stop it first."
    )


def message_send(
    *,
    conversation: Conversation,
    text: object,
    client_id: object = "",
    prefill: object = "",
    attachments: object = None,
) -> SendResult:
    """Store the person's message and a pending reply on the active branch.

    `attachments` are ids of the person's unsent uploads in this conversation (then the text
    may be blank).
    `prefill` is the beginning of Claude's answer, on models that accept one: it is stored as
    the start of the reply. Raises MessageValidationError for bad input (naming the field or
    setting) and ConversationBusyError while a reply is being generated (enforced by a unique
    constraint, so it holds across processes).
    """
    return _send(
        conversation=conversation,
        text=text,
        client_id=client_id,
        edited=None,
        prefill=prefill,
        attachments=attachments,
    )


def message_edit(
    *,
    conversation: Conversation,
    message_uuid: object,
    text: object,
    client_id: object = "",
    prefill: object = "",
    attachments: object = None,
) -> SendResult:
    """Edit a message of the person: a new sibling with the new text (and the same images,
    plus any new uploads in `attachments`), and a new reply. The original stays in its own
    branch; the new one becomes active.
    """
    edited = _message_of(conversation, message_uuid, role=Message.Role.USER)
    return _send(
        conversation=conversation,
        text=text,
        client_id=client_id,
        edited=edited,
        prefill=prefill,
        attachments=attachments,
    )


def message_regenerate(*, conversation: Conversation, message_uuid: object = None) -> Message:
    """Ask again: a new pending reply beside an earlier one (default: the active leaf)."""
    if message_uuid is None:
        earlier = _message_of(conversation, _active_leaf_uuid(conversation), role=None)
    else:
        earlier = _message_of(conversation, message_uuid, role=None)
    if earlier.role != Message.Role.ASSISTANT or earlier.parent_id is None:
        raise MessageValidationError(
            "Only a reply of Claude can be regenerated.", field="message_id"
        )
    spec, generation = generation_settings_check(conversation)
    # The person's prefill is kept (the new reply starts the same way) where the model still
    # takes one; otherwise it would be sent as a cut-off reply to continue.
    prefill = earlier.text[: earlier.prefill_length]
    if not continues_from_prefill(spec=spec, generation=generation):
        prefill = ""
    _rate_limit(conversation)
    _sweep_orphans(conversation)
    try:
        with transaction.atomic():
            locked = _lock_for_generation(conversation)
            question = Message.objects.get(pk=earlier.parent_id)
            return _start_reply(locked, question, prefill=prefill)
    except IntegrityError:
        raise _busy() from None


def message_continue(*, conversation: Conversation, message_uuid: object = None) -> Message:
    """Continue a reply that was cut short (max_tokens, pause_turn, a Stop, a lost connection),
    in place: the new text is appended to it, so the person sees one reply.

    Models that accept a prefill continue from the partial reply itself; the others are asked
    to go on in a new turn. Only the last message of a branch can be continued.
    """
    if message_uuid is None:
        message_uuid = _active_leaf_uuid(conversation)
    reply = _message_of(conversation, message_uuid, role=None)
    _check_continuable(reply)
    spec, generation = generation_settings_check(conversation)
    _rate_limit(conversation)
    _sweep_orphans(conversation)
    try:
        with transaction.atomic():
            locked = _lock_for_generation(conversation)
            reply = Message.objects.select_for_update().get(pk=reply.pk)
            _check_continuable(reply)
            if reply.children.exists():
                raise MessageValidationError(
                    "Only the last reply of a branch can be continued.", field="message_id"
                )
            reply.text = reply_prefix(spec=spec, generation=generation, reply_text=reply.text)
            reply.status = Message.Status.PENDING
            reply.continuations += 1
            reply.stop_reason = reply.stop_sequence = ""
            reply.error_type = reply.error_detail = ""
            reply.finished_at = None
            reply.heartbeat_at = timezone.now()
            reply.save()
            locked.active_leaf = reply
            locked.save(update_fields=["active_leaf", "updated_at"])
            reply.conversation = locked
            parent_uuid = reply.parent.uuid if reply.parent is not None else None
            data = message_data(reply, parent_uuid=parent_uuid)
            frame = {"type": "message.updated", "message": data}
            transaction.on_commit(partial(event_publish, group=locked.group_name, frame=frame))
            return reply
    except IntegrityError:
        raise _busy() from None


def branch_select(*, conversation: Conversation, message_uuid: object) -> Message:
    """Show another version of a message (an edit, a regeneration): the newest message under
    it (itself when nothing follows) becomes the active leaf, so its branch is what every tab
    shows and what the next send continues. `conversation` follows; announced after commit
    with `branch.selected`. Selecting is looking, not a change: `updated_at` stays.

    Refused (busy) while a reply is generating: its frames would go to a branch no longer
    shown. An id that is not in this conversation is refused like a missing one.
    """
    chosen = _message_of(conversation, message_uuid, role=None)
    _sweep_orphans(conversation)
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        generating = Message.objects.filter(
            conversation=locked, status__in=Message.GENERATING_STATUSES
        )
        if generating.exists():
            raise _busy()
        rows = Message.objects.filter(conversation=locked).only("id", "uuid", "parent_id")
        leaf = _newest_under(chosen, list(rows.order_by("created_at", "id")))
        locked.active_leaf = leaf
        locked.save(update_fields=["active_leaf"])
        selected: BranchSelectedFrame = {
            "type": "branch.selected",
            "message_id": str(chosen.uuid),
            "active_leaf_id": str(leaf.uuid),
        }
        transaction.on_commit(partial(event_publish, group=locked.group_name, frame=selected))
    conversation.active_leaf = leaf
    return leaf


def _newest_under(chosen: Message, rows: list[Message]) -> Message:
    """The newest of `chosen` and everything under it (`rows` oldest first). A reply is always
    newer than what it answers, so the newest of a subtree is one of its leaves."""
    under = {chosen.id}
    newest = chosen
    for message in rows:
        if message.parent_id in under:
            under.add(message.id)
            newest = message
    return newest


def _check_continuable(reply: Message) -> None:
    if reply.role != Message.Role.ASSISTANT:
        raise MessageValidationError("Only a reply of Claude can be continued.", field="message_id")
    if reply.is_generating:
        raise _busy()
    cut = reply.stop_reason in CONTINUABLE_STOP_REASONS or reply.status in CONTINUABLE_STATUSES
    if not cut or not reply.text.strip():
        raise MessageValidationError(
            "This reply is complete: only a reply that was cut short can be continued.",
            field="message_id",
        )


def _active_leaf_uuid(conversation: Conversation) -> object:
    if conversation.active_leaf_id is None:
        raise MessageValidationError("There is no reply to regenerate yet.", field="message_id")
    return (
        Message.objects.filter(pk=conversation.active_leaf_id).values_list("uuid", flat=True).get()
    )


def _message_of(conversation: Conversation, message_uuid: object, *, role: str | None) -> Message:
    try:
        key = uuid.UUID(str(message_uuid))
        message = Message.objects.get(conversation=conversation, uuid=key)
    except (ValueError, Message.DoesNotExist):
        raise MessageValidationError(
            "No such message in this conversation.", field="message_id"
        ) from None
    if role is not None and message.role != role:
        raise MessageValidationError("Only your own messages can be edited.", field="message_id")
    return message


def _sweep_orphans(conversation: Conversation) -> None:
    """Replies orphaned by a dead process must not count as busy, here or in the person's cap.

    Committed on its own, before the checks: a refused send must not roll the sweep back.
    """
    generations_sweep_stale(owner_id=conversation.owner_id)


def _rate_limit(conversation: Conversation) -> None:
    if not send_allowed(user_id=conversation.owner_id):
        raise RateLimitedError(
            f"You are sending too fast (limit {settings.CHATSITE_SEND_RATE_LIMIT}). "
            "Wait a moment, then try again."
        )


def _send(
    *,
    conversation: Conversation,
    text: object,
    client_id: object,
    edited: Message | None,
    prefill: object,
    attachments: object,
) -> SendResult:
    attachment_ids = attachments_validate(attachments)
    keeps_images = edited is not None and edited.attachments.exists()
    text = message_text_validate(text, blank_allowed=bool(attachment_ids) or keeps_images)
    client_id = client_id_validate(client_id)
    if client_id:
        earlier = _send_with_client_id(conversation=conversation, client_id=client_id)
        if earlier is not None:
            return earlier
    spec, generation = generation_settings_check(conversation)
    prefill = prefill_validate(prefill, spec=spec, generation=generation)
    _rate_limit(conversation)
    _sweep_orphans(conversation)
    try:
        with transaction.atomic():
            result = _store_turn(
                conversation=conversation,
                text=text,
                client_id=client_id,
                edited=edited,
                prefill=prefill,
                attachment_ids=attachment_ids,
            )
    except IntegrityError:
        # Either a concurrent send with the same client_id won, or a generation is running.
        if client_id:
            earlier = _send_with_client_id(conversation=conversation, client_id=client_id)
            if earlier is not None:
                return earlier
        raise _busy() from None
    return result


def _lock_for_generation(conversation: Conversation) -> Conversation:
    """Lock the conversation row and check that a new reply may start (inside a transaction)."""
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    _check_can_generate(locked)
    return locked


def _check_can_generate(locked: Conversation) -> None:
    if Message.objects.filter(conversation=locked, status__in=Message.GENERATING_STATUSES).exists():
        raise _busy()
    # Approximate across conversations (no lock spans them): a cap on cost, not an invariant.
    running = Message.objects.filter(
        conversation__owner_id=locked.owner_id, status__in=Message.GENERATING_STATUSES
    ).count()
    if running >= settings.CHATSITE_MAX_CONCURRENT_GENERATIONS:
        raise TooManyGenerationsError(
            f"Claude is already replying in {running} of your conversations. "
            "Wait for one to finish, or stop one."
        )


def _store_turn(
    *,
    conversation: Conversation,
    text: str,
    client_id: str,
    edited: Message | None,
    prefill: str,
    attachment_ids: list[str],
) -> SendResult:
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if client_id:
        # A retry that waited for the lock while its first attempt committed.
        earlier = _send_with_client_id(conversation=locked, client_id=client_id)
        if earlier is not None:
            return earlier
    _check_can_generate(locked)
    # A new message follows the active leaf; an edit becomes a sibling of the edited one.
    # Passed as an object, so `user_message.parent` is at hand for every announcement.
    parent = edited.parent if edited is not None else locked.active_leaf
    user_message = Message.objects.create(
        conversation=locked,
        parent=parent,
        role=Message.Role.USER,
        text=text,
        client_id=client_id,
    )
    if edited is not None:
        attachments_copy(source=edited, target=user_message)
    attachments_claim(conversation=locked, ids=attachment_ids, message=user_message)
    _announce_created(locked, user_message, parent.uuid if parent else None)
    assistant_message = _start_reply(locked, user_message, prefill=prefill)
    if not locked.title:
        locked.title = conversation_title_from_text(text)
        locked.save(update_fields=["title"])
        updated = {
            "type": "conversation.updated",
            "conversation": {"id": str(locked.uuid), "title": locked.title},
        }
        transaction.on_commit(partial(event_publish, group=locked.group_name, frame=updated))
    return SendResult(user_message=user_message, assistant_message=assistant_message, created=True)


def _start_reply(locked: Conversation, question: Message, *, prefill: str = "") -> Message:
    """A pending reply to `question` (starting with `prefill`), made the active leaf,
    announced after commit."""
    reply = Message.objects.create(
        conversation=locked,
        parent=question,
        role=Message.Role.ASSISTANT,
        status=Message.Status.PENDING,
        model=locked.model,
        text=prefill,
        prefill_length=len(prefill),
        heartbeat_at=timezone.now(),
    )
    locked.active_leaf = reply
    locked.save(update_fields=["active_leaf", "updated_at"])
    _announce_created(locked, reply, question.uuid)
    return reply


def _announce_created(locked: Conversation, message: Message, parent_uuid: object) -> None:
    frame = {"type": "message.created", "message": message_data(message, parent_uuid=parent_uuid)}
    transaction.on_commit(partial(event_publish, group=locked.group_name, frame=frame))


def _send_with_client_id(*, conversation: Conversation, client_id: str) -> SendResult | None:
    user_message = (
        Message.objects.filter(conversation=conversation, client_id=client_id)
        .select_related("parent")
        .first()
    )
    if user_message is None:
        return None
    reply = (
        Message.objects.filter(parent=user_message, role=Message.Role.ASSISTANT)
        .select_related("parent")
        .order_by("created_at", "id")
        .first()
    )
    if reply is None:
        return None
    return SendResult(user_message=user_message, assistant_message=reply, created=False)
