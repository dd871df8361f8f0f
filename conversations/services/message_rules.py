"""What a message, a prefill or a conversation's settings must be before anything is stored.

Errors carry a stable `code` for clients and a sentence for people; `field` names what to fix.
"""

from __future__ import annotations

from django.conf import settings

from conversations.llm.models import ModelSpec
from conversations.models import Conversation
from conversations.services.history import continues_from_prefill
from conversations.services.parameters import (
    GenerationSettings,
    SettingsError,
    conversation_settings,
)

CLIENT_ID_MAX_LENGTH = 64


class ChatError(Exception):
    """An error the person can act on; `code` is stable for clients, the text is for people."""

    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class MessageValidationError(ChatError):
    code = "invalid"


class ConversationBusyError(ChatError):
    code = "busy"


class TooManyGenerationsError(ChatError):
    code = "too_many_generations"


class RateLimitedError(ChatError):
    code = "rate_limited"


def text_problem(value: object, *, what: str, blank: str | None) -> str | None:
    """What is wrong with a text a person wrote (a message, a prefill, a system prompt, a
    summary), or None. `blank` is the complaint about a blank text; None allows it."""
    if not isinstance(value, str):
        return f"The {what} must be text."
    if blank is not None and not value.strip():
        return blank
    limit = settings.CHATSITE_MAX_MESSAGE_CHARS
    if len(value) > limit:
        return f"The {what} is too long: {len(value):,} characters, the limit is {limit:,}."
    if "\x00" in value:
        # PostgreSQL cannot store it, and no person types it.
        return f"The {what} contains a NUL character."
    return None


def message_text_validate(text: object, *, blank_allowed: bool = False) -> str:
    """The message's text; blank only when `blank_allowed` (a message of images alone)."""
    blank = None if blank_allowed else "Type a message first: it is empty."
    problem = text_problem(text, what="message", blank=blank)
    if problem:
        raise MessageValidationError(problem, field="text")
    assert isinstance(text, str)
    return text


def client_id_validate(client_id: object) -> str:
    if client_id is None:
        return ""
    if not isinstance(client_id, str) or len(client_id) > CLIENT_ID_MAX_LENGTH:
        raise MessageValidationError(
            f"client_id must be a string of at most {CLIENT_ID_MAX_LENGTH} characters.",
            field="client_id",
        )
    return client_id


def generation_settings_check(conversation: Conversation) -> tuple[ModelSpec, GenerationSettings]:
    """The conversation's model and settings, or a validation error naming the setting the
    model would reject: such a request is never sent."""
    try:
        return conversation_settings(conversation)
    except SettingsError as exc:
        raise MessageValidationError(
            f"Change the conversation's settings first: {exc.message}", field=exc.field
        ) from None


def prefill_validate(prefill: object, *, spec: ModelSpec, generation: GenerationSettings) -> str:
    """The person's beginning of the answer, as stored: without trailing whitespace (the API
    rejects a prefill that ends in it), empty when there is none."""
    if prefill is None or prefill == "":
        return ""
    problem = text_problem(prefill, what="prefill", blank=None)
    if problem:
        raise MessageValidationError(problem, field="prefill")
    assert isinstance(prefill, str)
    if not prefill.strip():
        return ""
    if not spec.accepts_prefill:
        raise MessageValidationError(
            f"{spec.display_name} does not accept the beginning of its answer (prefill). "
            "Remove it, or pick a model that does (the 4.5 family).",
            field="prefill",
        )
    if not continues_from_prefill(spec=spec, generation=generation):
        raise MessageValidationError(
            "A prefill cannot be combined with thinking. Turn thinking off, or remove the prefill.",
            field="prefill",
        )
    return prefill.rstrip()
