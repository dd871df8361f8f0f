"""The WebSocket protocol's frames, as TypedDicts (documented in docs/websocket.md).

Group events on the channel layer carry exactly the frame the browser receives, so consumers
relay them without reshaping.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from conversations.models import Message


class Usage(TypedDict):
    input_tokens: int | None
    output_tokens: int | None
    cache_read_input_tokens: int | None
    cache_creation_input_tokens: int | None


class MessageData(TypedDict):
    id: str
    parent_id: str | None
    role: str
    text: str
    status: str
    model: str
    stop_reason: str
    stop_sequence: str
    usage: Usage
    error_type: str
    error_detail: str
    time_to_first_token_ms: int | None
    duration_ms: int | None
    created_at: str


# --- server -> client --------------------------------------------------------------------------
class MessageCreatedFrame(TypedDict):
    type: Literal["message.created"]
    message: MessageData


class ChatDeltaFrame(TypedDict):
    type: Literal["chat.delta"]
    message_id: str
    seq: int
    # Where `text` starts in the reply: lets a client that loaded a partial reply from the
    # database skip what it has and notice what it missed.
    offset: int
    text: str


class ChatDoneFrame(TypedDict):
    type: Literal["chat.done"]
    message: MessageData


class ChatErrorFrame(TypedDict):
    type: Literal["chat.error"]
    message: MessageData


class ConversationData(TypedDict):
    id: str
    title: str


class ConversationUpdatedFrame(TypedDict):
    type: Literal["conversation.updated"]
    conversation: ConversationData


class ConversationStateFrame(TypedDict):
    """The active path as stored, sent in answer to `resync`."""

    type: Literal["conversation.state"]
    messages: list[MessageData]


class ErrorFrame(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    client_id: NotRequired[str]


# --- client -> server --------------------------------------------------------------------------
class SendFrame(TypedDict):
    type: Literal["send"]
    text: str
    client_id: NotRequired[str]


class EditFrame(TypedDict):
    """A new version of one of the person's messages: a sibling branch with a new reply."""

    type: Literal["edit"]
    message_id: str
    text: str
    client_id: NotRequired[str]


class RegenerateFrame(TypedDict):
    """A new reply beside an earlier one (default: the active leaf)."""

    type: Literal["regenerate"]
    message_id: NotRequired[str]


class StopFrame(TypedDict):
    type: Literal["stop"]
    message_id: NotRequired[str]


class ResyncFrame(TypedDict):
    type: Literal["resync"]


def message_data(message: Message, *, parent_uuid: object = None) -> MessageData:
    """The frame/API form of a message. Pass the parent's UUID when it is known: reading
    `message.parent` here would cost a query per message."""
    return {
        "id": str(message.uuid),
        "parent_id": str(parent_uuid) if parent_uuid else None,
        "role": message.role,
        "text": message.text,
        "status": message.status,
        "model": message.model,
        "stop_reason": message.stop_reason,
        "stop_sequence": message.stop_sequence,
        "usage": {
            "input_tokens": message.input_tokens,
            "output_tokens": message.output_tokens,
            "cache_read_input_tokens": message.cache_read_input_tokens,
            "cache_creation_input_tokens": message.cache_creation_input_tokens,
        },
        "error_type": message.error_type,
        "error_detail": message.error_detail,
        "time_to_first_token_ms": message.time_to_first_token_ms,
        "duration_ms": message.duration_ms,
        "created_at": message.created_at.isoformat() if message.created_at else "",
    }


def path_data(path: list[Message]) -> list[MessageData]:
    """Frame data for a path from `conversation_path`, parents resolved without queries."""
    uuid_by_id = {m.id: m.uuid for m in path}
    return [message_data(m, parent_uuid=uuid_by_id.get(m.parent_id or 0)) for m in path]
