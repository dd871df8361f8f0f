"""The WebSocket protocol's frames, as TypedDicts (documented in docs/websocket.md).

Group events on the channel layer carry exactly the frame the browser receives, so consumers
relay them without reshaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NotRequired, TypedDict

from django.db.models import prefetch_related_objects
from django.urls import reverse

from conversations.llm.models import ModelSpec
from conversations.models import Attachment, Conversation, Message, Summary
from conversations.services.history import PATH_FIELDS, path_to


class Usage(TypedDict):
    input_tokens: int | None
    output_tokens: int | None
    cache_read_input_tokens: int | None
    cache_creation_input_tokens: int | None
    # Of the cache writes, those with the 1-hour TTL; of the output, the thinking.
    cache_creation_1h_input_tokens: int | None
    thinking_tokens: int | None
    # The whole prompt of the latest call: the conversation's exact context size at that turn.
    context_tokens: int | None


class AttachmentData(TypedDict):
    id: str
    name: str
    # image/jpeg, image/png, image/webp or application/pdf; empty for an image by URL (then
    # `url` is that address). PDFs and images by URL have no thumbnail.
    media_type: str
    width: int
    height: int
    token_estimate: int
    page_count: int  # PDFs; 0 for images
    url: str
    thumbnail_url: str | None


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
    # US dollars as a decimal string; null when the model has no known price.
    cost_usd: str | None
    thinking: str
    prefill_length: int
    continuations: int
    is_pinned: bool
    error_type: str
    error_detail: str
    time_to_first_token_ms: int | None
    duration_ms: int | None
    created_at: str
    # The person's images (user messages), in the order they were attached.
    attachments: list[AttachmentData]
    # Something the person should know about how the reply was made (e.g. images left out).
    notice: str
    # Its place among the versions under the same parent (edits, regenerations), oldest first
    # from 0, and its neighbours there: only where a whole path is sent (`active_path_data`:
    # `conversation.state`, GET .../messages/), which knows them without a query per message.
    sibling_index: NotRequired[int]
    sibling_count: NotRequired[int]
    previous_sibling_id: NotRequired[str | None]
    next_sibling_id: NotRequired[str | None]


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


class ChatThinkingFrame(TypedDict):
    """A batch of the reply's thinking; its own sequence, offsets into `message.thinking`."""

    type: Literal["chat.thinking"]
    message_id: str
    seq: int
    offset: int
    text: str


class ChatStatusFrame(TypedDict):
    """A phase of a reply before its text, e.g. "summarizing" older turns first."""

    type: Literal["chat.status"]
    message_id: str
    status: str


class MessageUpdatedFrame(TypedDict):
    """A stored message changed (a reply continued): replace it as a whole."""

    type: Literal["message.updated"]
    message: MessageData


class MessagePinnedFrame(TypedDict):
    """A message was pinned or unpinned (only that: it may race a reply's final frame)."""

    type: Literal["message.pinned"]
    message_id: str
    is_pinned: bool


class ChatDoneFrame(TypedDict):
    type: Literal["chat.done"]
    message: MessageData


class ChatErrorFrame(TypedDict):
    type: Literal["chat.error"]
    message: MessageData


class ConversationData(TypedDict):
    id: str
    title: str
    model: NotRequired[str]


class SummaryData(TypedDict):
    id: str
    text: str
    is_edited: bool
    # The message it covers up to (absent in `summary.updated`, which does not move it).
    covers_up_to: NotRequired[str]


class SummaryCreatedFrame(TypedDict):
    """Older turns were folded into a new summary (possibly in the background after a reply)."""

    type: Literal["summary.created"]
    summary: SummaryData


class SummaryUpdatedFrame(TypedDict):
    """A person rewrote a summary; the next requests send their text."""

    type: Literal["summary.updated"]
    summary: SummaryData


class ConversationUpdatedFrame(TypedDict):
    type: Literal["conversation.updated"]
    conversation: ConversationData


class BranchSelectedFrame(TypedDict):
    """Another version was chosen (`select`): the active path now ends at `active_leaf_id`."""

    type: Literal["branch.selected"]
    message_id: str
    active_leaf_id: str


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
    # May be blank when the message has attachments.
    text: str
    client_id: NotRequired[str]
    # Ids of the person's uploads in this conversation (POST .../attachments/), at most 20.
    attachments: NotRequired[list[str]]
    # The beginning of Claude's answer (models that accept a prefill).
    prefill: NotRequired[str]


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


class ContinueFrame(TypedDict):
    """Continue a reply that was cut short, in place (default: the active leaf)."""

    type: Literal["continue"]
    message_id: NotRequired[str]


class StopFrame(TypedDict):
    type: Literal["stop"]
    message_id: NotRequired[str]


class ResyncFrame(TypedDict):
    type: Literal["resync"]


class SelectFrame(TypedDict):
    """Show another version of a message: the newest message under it becomes the active leaf."""

    type: Literal["select"]
    message_id: str


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
            "cache_creation_1h_input_tokens": message.cache_creation_1h_input_tokens,
            "thinking_tokens": message.thinking_tokens,
            "context_tokens": message.context_tokens,
        },
        "cost_usd": str(message.cost_usd) if message.cost_usd is not None else None,
        "thinking": message.thinking,
        "prefill_length": message.prefill_length,
        "continuations": message.continuations,
        "is_pinned": message.is_pinned,
        "error_type": message.error_type,
        "error_detail": message.error_detail,
        "time_to_first_token_ms": message.time_to_first_token_ms,
        "duration_ms": message.duration_ms,
        "created_at": message.created_at.isoformat() if message.created_at else "",
        "attachments": _attachments_of(message),
        "notice": message.notice,
    }


def _attachments_of(message: Message) -> list[AttachmentData]:
    # Only the person's messages carry images; `.all()` is free when prefetched (path_data).
    if message.role != Message.Role.USER or message.pk is None:
        return []
    return [attachment_data(a) for a in message.attachments.all()]


def attachment_data(attachment: Attachment) -> AttachmentData:
    key = str(attachment.uuid)
    url = attachment.source_url or reverse("attachment", args=[key])
    thumbnail_url = reverse("attachment-thumbnail", args=[key]) if attachment.thumbnail else None
    return {
        "id": key,
        "name": attachment.original_name,
        "media_type": attachment.media_type,
        "width": attachment.width,
        "height": attachment.height,
        "token_estimate": attachment.token_estimate,
        "page_count": attachment.page_count,
        "url": url,
        "thumbnail_url": thumbnail_url,
    }


def path_data(path: Sequence[Message]) -> list[MessageData]:
    """Frame data for a path from `conversation_path`: parents resolved without queries, the
    attachments of all its messages in one."""
    prefetch_related_objects(list(path), "attachments")
    uuid_by_id = {m.id: m.uuid for m in path}
    return [message_data(m, parent_uuid=uuid_by_id.get(m.parent_id or 0)) for m in path]


def active_path_data(*, conversation: Conversation) -> list[MessageData]:
    """`path_data` of the active path, each message with its place among its versions (for
    the page's version switcher, "2/3"). The versions come from the rows the path is walked in.

    Queries: 2 (all the conversation's messages, narrow columns; the path's attachments), as
    many as `path_data(conversation_path(...))`; none without an active leaf.
    """
    if conversation.active_leaf_id is None:
        return []
    rows = list(
        Message.objects.filter(conversation=conversation)
        .only(*PATH_FIELDS)
        .order_by("created_at", "id")
    )
    by_id = {m.id: m for m in rows}
    versions: dict[int | None, list[Message]] = {}
    place: dict[int, int] = {}
    for message in rows:
        # A parent outside the conversation (never made by the services) counts as a root.
        siblings = versions.setdefault(
            message.parent_id if message.parent_id in by_id else None, []
        )
        place[message.id] = len(siblings)
        siblings.append(message)
    path = path_to(by_id, conversation.active_leaf_id)
    data = path_data(path)
    for item, message in zip(data, path, strict=True):
        siblings = versions[message.parent_id if message.parent_id in by_id else None]
        index = place[message.id]
        item["sibling_index"] = index
        item["sibling_count"] = len(siblings)
        item["previous_sibling_id"] = str(siblings[index - 1].uuid) if index > 0 else None
        item["next_sibling_id"] = (
            str(siblings[index + 1].uuid) if index + 1 < len(siblings) else None
        )
    return data


def model_data(spec: ModelSpec) -> dict[str, Any]:
    """What a model accepts and costs, for the picker (documented by the API's
    `ChatModelSerializer`)."""
    prices = spec.prices
    return {
        "id": spec.id,
        "display_name": spec.display_name,
        "context_window": spec.context_window,
        "max_output_tokens": spec.max_output_tokens,
        "accepts_prefill": spec.accepts_prefill,
        "sampling_parameters": list(spec.sampling_parameters),
        "thinking": spec.supports_thinking,
        "effort_levels": list(spec.effort_levels),
        "image_long_edge": spec.image_long_edge,
        "prices": None
        if prices is None
        else {
            "input": str(prices.input),
            "output": str(prices.output),
            "cache_write_5m": str(prices.cache_write_5m),
            "cache_write_1h": str(prices.cache_write_1h),
            "cache_read": str(prices.cache_read),
        },
        "retires_on": spec.retires_on.isoformat() if spec.retires_on else None,
    }


def summary_data(summary: Summary, *, covers_up_to_uuid: object) -> SummaryData:
    return {
        "id": str(summary.uuid),
        "text": summary.text,
        "is_edited": summary.is_edited,
        "covers_up_to": str(covers_up_to_uuid),
    }
