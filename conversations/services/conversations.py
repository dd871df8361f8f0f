"""Create, rename, archive and delete conversations."""

from __future__ import annotations

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
) -> Conversation:
    """Rename, or change the model, system prompt and/or generation settings, all checked
    together against the model before anything is saved: on any error nothing is stored
    (ConversationValidationError names the field). `parameters` replaces the stored settings;
    keys set to null are cleared. One save, one announcement."""
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
    conversation.save(update_fields=["title", "model", "system_prompt", "parameters", "updated_at"])
    _announce_conversation(conversation)
    return conversation


def _announce_conversation(conversation: Conversation) -> None:
    """Every open tab shows the same title and model (after commit, like every event)."""
    frame = {
        "type": "conversation.updated",
        "conversation": {
            "id": str(conversation.uuid),
            "title": conversation.title,
            "model": conversation.model,
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


def conversation_title_from_text(text: str) -> str:
    """A provisional title from the first message, until a better one is generated."""
    first_line = " ".join(text.split())
    if len(first_line) <= 60:
        return first_line
    return first_line[:59].rsplit(" ", 1)[0] + "…"
