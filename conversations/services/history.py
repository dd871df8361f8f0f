"""Stored tree -> Messages API request.

One query loads a conversation's messages; the active path is found by walking parent
pointers in memory, so the cost in queries is the same for 3 messages or 5,000. Everything
after the query is a pure function of its inputs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Any, Literal, NotRequired, TypedDict

from django.conf import settings

from conversations.models import Conversation, Message

# Only what the request builder and the page need: a 5,000-message history stays cheap.
PATH_FIELDS = (
    "id",
    "uuid",
    "parent_id",
    "role",
    "text",
    "status",
    "model",
    "stop_reason",
    "stop_sequence",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "error_type",
    "error_detail",
    "started_at",
    "first_token_at",
    "finished_at",
    "created_at",
)


class ApiMessage(TypedDict):
    role: Literal["user", "assistant"]
    content: str


class MessagesRequest(TypedDict):
    model: str
    max_tokens: int
    messages: list[ApiMessage]
    system: NotRequired[str]
    stop_sequences: NotRequired[list[str]]
    metadata: NotRequired[dict[str, str]]


def conversation_path(*, conversation: Conversation, leaf_id: int | None = None) -> list[Message]:
    """The messages from the root to `leaf_id` (default: the active leaf), oldest first.

    Queries: 1 (all the conversation's messages, a narrow column set).
    """
    leaf_id = leaf_id if leaf_id is not None else conversation.active_leaf_id
    if leaf_id is None:
        return []
    by_id = {m.id: m for m in Message.objects.filter(conversation=conversation).only(*PATH_FIELDS)}
    return path_to(by_id, leaf_id)


def path_to(by_id: dict[int, Message], leaf_id: int) -> list[Message]:
    """Walk parent pointers from a leaf to the root; a cycle or dangling pointer ends the walk."""
    path: list[Message] = []
    seen: set[int] = set()
    current = by_id.get(leaf_id)
    while current is not None and current.id not in seen:
        seen.add(current.id)
        path.append(current)
        current = by_id.get(current.parent_id) if current.parent_id else None
    path.reverse()
    return path


def api_messages(path: Iterable[Message]) -> list[ApiMessage]:
    """The turns the API accepts: non-empty, same-role turns merged, starting and ending with
    the person (a trailing assistant turn would be a prefill, which is the engine's decision)."""
    turns: list[ApiMessage] = []
    for message in path:
        text = message.text
        if not text.strip():
            # Empty replies (failed before the first token) carry nothing the model needs.
            continue
        role: Literal["user", "assistant"] = (
            "user" if message.role == Message.Role.USER else "assistant"
        )
        if turns and turns[-1]["role"] == role:
            turns[-1] = {"role": role, "content": turns[-1]["content"] + "\n\n" + text}
        else:
            turns.append({"role": role, "content": text})
    while turns and turns[0]["role"] != "user":
        turns.pop(0)
    while turns and turns[-1]["role"] != "user":
        turns.pop()
    # An assistant turn may not end in whitespace only when it is the last one, which is
    # excluded above; earlier turns are sent exactly as they were received.
    return turns


def opaque_user_id(user_id: int) -> str:
    """`metadata.user_id`: stable per person, meaningless outside this server (no PII)."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"chatsite-user:{user_id}".encode(), hashlib.sha256
    )
    return digest.hexdigest()[:32]


def request_build(
    *, conversation: Conversation, path: Sequence[Message], user_id: int
) -> MessagesRequest:
    """The body for `messages.stream(...)` that answers the last user turn of `path`."""
    parameters: dict[str, Any] = conversation.parameters or {}
    request: MessagesRequest = {
        "model": conversation.model,
        "max_tokens": int(parameters.get("max_tokens") or settings.CHATSITE_DEFAULT_MAX_TOKENS),
        "messages": api_messages(path),
        "metadata": {"user_id": opaque_user_id(user_id)},
    }
    if conversation.system_prompt.strip():
        request["system"] = conversation.system_prompt
    stop_sequences = [s for s in parameters.get("stop_sequences") or [] if s]
    if stop_sequences:
        request["stop_sequences"] = stop_sequences
    return request
