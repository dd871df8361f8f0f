"""Create, rename, archive, pin and delete conversations; stop their replies."""

from __future__ import annotations

import time
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from conversations.llm.catalog import model_lookup, model_resolve
from conversations.llm.models import estimate_text_tokens
from conversations.models import Conversation, Message, Summary
from conversations.services.cancellation import generation_request_stop
from conversations.services.events import event_publish
from conversations.services.message_rules import text_problem
from conversations.services.parameters import FIELDS, SettingsError, settings_validate
from conversations.services.sweeper import generations_sweep_stale

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
    *,
    owner: User,
    title: str = "",
    system_prompt: str = "",
    model: str = "",
    parameters: object = None,
) -> Conversation:
    model = _model_validate(model or settings.CHATSITE_DEFAULT_MODEL)
    system_prompt = _system_prompt_validate(system_prompt)
    stored = _parameters_validate(model, system_prompt, parameters or {})
    return Conversation.objects.create(
        owner=owner,
        title=_clean_title(title),
        system_prompt=system_prompt,
        model=model,
        parameters=stored,
    )


def conversation_update(
    *,
    conversation: Conversation,
    title: object = None,
    model: object = None,
    system_prompt: object = None,
    parameters: object = None,
    is_archived: object = None,
    is_pinned: object = None,
) -> Conversation:
    """Rename, change the model, system prompt and/or generation settings, archive or pin,
    all checked together before anything is saved: on any error nothing is stored
    (ConversationValidationError names the field). `parameters` replaces the stored settings;
    keys set to null are cleared. One save, one announcement.

    Archiving and pinning alone neither re-check the stored settings (a conversation whose
    model was retired can still be archived) nor count as activity (`updated_at` stays).
    """
    flags = {"is_archived": is_archived, "is_pinned": is_pinned}
    for field, value in flags.items():
        if value is not None and not isinstance(value, bool):
            raise ConversationValidationError("Use true or false.", field=field)
    changed: list[str] = []
    if any(value is not None for value in (title, model, system_prompt, parameters)):
        _content_update(conversation, title, model, system_prompt, parameters)
        # Only what was given (the settings are re-stored when the model or prompt changes):
        # a concurrent change of another field, e.g. the automatic title, is not undone.
        given = {"title": title, "model": model, "system_prompt": system_prompt}
        changed += [field for field, value in given.items() if value is not None]
        if any(value is not None for value in (model, system_prompt, parameters)):
            changed.append("parameters")
        changed.append("updated_at")
    for field, value in flags.items():
        if value is not None:
            setattr(conversation, field, value)
            changed.append(field)
    if changed:
        conversation.save(update_fields=changed)
        _announce_conversation(conversation)
    return conversation


def _content_update(
    conversation: Conversation,
    title: object,
    model: object,
    system_prompt: object,
    parameters: object,
) -> None:
    """Check the new content against the model and set it on `conversation` (unsaved)."""
    if title is not None and not isinstance(title, str):
        raise ConversationValidationError("The title must be text.", field="title")
    new_model = _model_validate(model) if model is not None else conversation.model
    new_system = (
        _system_prompt_validate(system_prompt)
        if system_prompt is not None
        else conversation.system_prompt
    )
    new_parameters = conversation.parameters if parameters is None else parameters
    stored = _parameters_validate(new_model, new_system, new_parameters)
    if title is not None:
        conversation.title = _clean_title(title)
    conversation.model = new_model
    conversation.system_prompt = new_system
    conversation.parameters = stored


def _announce_conversation(conversation: Conversation) -> None:
    """Every open tab shows the same title, model and place in the list (after commit, like
    every event)."""
    frame = {
        "type": "conversation.updated",
        "conversation": {
            "id": str(conversation.uuid),
            "title": conversation.title,
            "model": conversation.model,
            "is_archived": conversation.is_archived,
            "is_pinned": conversation.is_pinned,
        },
    }
    transaction.on_commit(lambda: event_publish(group=conversation.group_name, frame=frame))


def _model_validate(model: object) -> str:
    if not isinstance(model, str) or not model.strip():
        raise ConversationValidationError("Pick a model.", field="model")
    model = model.strip()
    if len(model) > 100 or model_lookup(model) is None:
        raise ConversationValidationError(
            f"Unknown model “{model[:100]}”: pick one from the list.", field="model"
        )
    return model


def _system_prompt_validate(system_prompt: object) -> str:
    problem = text_problem(system_prompt, what="system prompt", blank=None)
    if problem:
        raise ConversationValidationError(problem, field="system")
    assert isinstance(system_prompt, str)
    return system_prompt


def _parameters_validate(model: str, system_prompt: str, parameters: object) -> dict[str, object]:
    """The settings as stored: only those set, with their checked values."""
    if not isinstance(parameters, dict):
        raise ConversationValidationError("Settings must be an object.", field="parameters")
    spec = model_resolve(model)
    given = {k: v for k, v in parameters.items() if v is not None}
    try:
        checked = settings_validate(spec=spec, system_prompt=system_prompt, parameters=given)
    except SettingsError as exc:
        raise ConversationValidationError(exc.message, field=exc.field) from None
    values = checked.as_parameters()
    return {key: values[key] for key in FIELDS if key in given and key in values}


def summary_text_problem(text: object) -> str | None:
    return text_problem(text, what="summary", blank="A summary cannot be empty.")


def summary_update(*, summary: Summary, text: object) -> Summary:
    """A person's rewrite of a summary; the next requests send it as written."""
    problem = summary_text_problem(text)
    if problem:
        raise ConversationValidationError(problem, field="text")
    assert isinstance(text, str)
    summary.text = text
    summary.token_count = estimate_text_tokens(text)
    summary.is_edited = True
    summary.save(update_fields=["text", "token_count", "is_edited", "updated_at"])
    frame = {
        "type": "summary.updated",
        "summary": {"id": str(summary.uuid), "text": summary.text, "is_edited": True},
    }
    group = summary.conversation.group_name
    transaction.on_commit(lambda: event_publish(group=group, frame=frame))
    return summary


def message_pin(*, message: Message, pinned: bool) -> Message:
    """Pinned messages stay word for word when older turns are folded into a summary."""
    message.is_pinned = pinned
    message.save(update_fields=["is_pinned", "updated_at"])
    # Only the pin: a whole message read here may be older than a reply's own final frame.
    frame = {"type": "message.pinned", "message_id": str(message.uuid), "is_pinned": pinned}
    group = message.conversation.group_name
    transaction.on_commit(lambda: event_publish(group=group, frame=frame))
    return message


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


# How long a Stop waits for the reply to be saved as stopped, how often it looks, and how often
# it asks again: a Stop that lands before the generation has registered itself goes unheard.
STOP_WAIT_SECONDS = 5.0
STOP_POLL_SECONDS = 0.05
STOP_REPEAT_SECONDS = 0.5


@dataclass(frozen=True)
class StopResult:
    # The reply that was generating, as stored once it ended (or when the wait ran out);
    # None when nothing was generating.
    reply: Message | None
    # Whether the Stop ended it (False: it ended by itself meanwhile, or is still running).
    stopped: bool


# A blocking request that finds its reply already running (a retry with the same client_id)
# waits for it this long at most, then answers with the reply as it is.
WAIT_SECONDS = 600.0
WAIT_POLL_SECONDS = 0.25


def generation_wait(*, conversation: Conversation, reply_id: int) -> None:
    """Wait (sync, outside a transaction) until the reply is no longer generating; a reply
    whose process died meanwhile becomes `interrupted` by the sweep."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        status = Message.objects.filter(pk=reply_id).values_list("status", flat=True).first()
        if status is None or status not in Message.GENERATING_STATUSES:
            return
        generations_sweep_stale(conversation=conversation)
        time.sleep(WAIT_POLL_SECONDS)


def generation_stop(*, conversation: Conversation, message: Message | None = None) -> StopResult:
    """Stop the conversation's running reply (only `message`, if given) whichever process
    runs it, like the socket's Stop, and wait for its partial text to be saved.

    Call from sync code outside a transaction: it waits up to STOP_WAIT_SECONDS.
    """
    # A reply whose process died is not running: it becomes `interrupted` here.
    generations_sweep_stale(conversation=conversation)
    generating = Message.objects.filter(
        conversation=conversation, status__in=Message.GENERATING_STATUSES
    )
    if message is not None:
        generating = generating.filter(pk=message.pk)
    found = generating.values_list("pk", "uuid").first()
    if found is None:
        return StopResult(reply=None, stopped=False)
    reply_id, reply_uuid = found
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    asked_at: float | None = None
    while True:
        if asked_at is None or time.monotonic() - asked_at >= STOP_REPEAT_SECONDS:
            asked_at = time.monotonic()
            async_to_sync(generation_request_stop)(
                conversation_uuid=str(conversation.uuid), message_uuid=str(reply_uuid)
            )
        time.sleep(STOP_POLL_SECONDS)
        status = Message.objects.filter(pk=reply_id).values_list("status", flat=True).first()
        if status is None:  # deleted meanwhile, with its conversation
            return StopResult(reply=None, stopped=True)
        if status not in Message.GENERATING_STATUSES or time.monotonic() >= deadline:
            break
    reply = (
        Message.objects.select_related("parent")
        .defer("parent__api_requests", "parent__thinking")
        .get(pk=reply_id)
    )
    return StopResult(reply=reply, stopped=reply.status == Message.Status.STOPPED)


def conversation_title_from_text(text: str) -> str:
    """A provisional title from the first message, until a better one is generated."""
    first_line = " ".join(text.split())
    if len(first_line) <= 60:
        return first_line
    return first_line[:59].rsplit(" ", 1)[0] + "…"
