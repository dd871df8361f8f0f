"""The database steps of a generation, each short and run in the sync thread.

`generation.py` calls these between network waits; none of them holds a transaction open
across one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from anthropic.types import Message as ApiReply
from anthropic.types import Usage
from django.utils import timezone

from conversations.frames import MessageData, message_data
from conversations.llm.models import ModelSpec, estimate_text_tokens
from conversations.models import Conversation, Message, Summary
from conversations.services.context import message_cost
from conversations.services.history import (
    GENERATION_PATH_FIELDS,
    BuiltRequest,
    PathImages,
    conversation_path,
    reply_prefix,
    request_build,
    split_at_summary,
    summary_for_path,
)
from conversations.services.parameters import (
    GenerationSettings,
    SettingsError,
    conversation_settings,
)
from conversations.services.vision import AttachmentPlan, attachments_plan

# Usage figures summed over the calls behind one reply (a continued reply is several calls);
# the context size is the latest call's, not a sum.
SUMMED_USAGE = tuple(name for name in Message.USAGE_FIELDS if name != "context_tokens")


@dataclass(frozen=True)
class EarlierCalls:
    """What earlier calls left on a reply that is being continued (zero for a new reply)."""

    usage: dict[str, int]
    cost_usd: Decimal | None
    api_requests: list[dict[str, Any]]
    thinking: str

    @classmethod
    def of(cls, message: Message) -> EarlierCalls:
        return cls(
            usage={name: getattr(message, name) or 0 for name in SUMMED_USAGE},
            cost_usd=message.cost_usd,
            api_requests=list(message.api_requests or []),
            thinking=message.thinking,
        )


@dataclass(frozen=True)
class PreparedGeneration:
    """Everything a generation needs after its row is marked streaming: no more queries."""

    message_id: int
    message_uuid: str
    conversation: Conversation
    spec: ModelSpec
    generation: GenerationSettings
    # Root .. the person's turn the reply answers.
    path: list[Message]
    summary: Summary | None
    # What the reply holds already: a prefill or a cut-off reply being continued.
    reply_text: str
    earlier: EarlierCalls
    started_at: datetime
    # The stored message, when preparing changed its text (tabs must replace theirs).
    announce: MessageData | None = None
    # The images of the turns sent verbatim: chosen while preparing, made into blocks (read
    # or uploaded once per reply) before the request is built.
    attachment_plan: AttachmentPlan = field(default_factory=AttachmentPlan)
    images: PathImages = field(default_factory=PathImages)

    @property
    def group(self) -> str:
        return self.conversation.group_name

    def build(self, summary: Summary | None) -> BuiltRequest:
        return request_build(
            conversation=self.conversation,
            spec=self.spec,
            generation=self.generation,
            path=self.path,
            summary=summary,
            reply_text=self.reply_text,
            user_id=self.conversation.owner_id,
            images=self.images.blocks,
        )


def generation_prepare(message_id: int) -> PreparedGeneration | tuple[str, str] | None:
    """Load what the reply needs and mark it streaming.

    Returns None if it is not pending any more, or (error type, detail) when its settings do
    not suit its model (the reply is not started then).
    """
    message = Message.objects.select_related("conversation").get(pk=message_id)
    if message.status != Message.Status.PENDING:
        return None
    conversation = message.conversation
    try:
        # No network wait in the shared sync thread: generation_run refreshed the model list.
        spec, generation = conversation_settings(conversation, fetch=False)
    except SettingsError as exc:
        return "invalid_settings", f"Not sent: {exc.message}"
    path = conversation_path(
        conversation=conversation, leaf_id=message.parent_id, fields=GENERATION_PATH_FIELDS
    )
    summary = summary_for_path(conversation=conversation, path=path)
    attachment_plan = attachments_plan(
        conversation=conversation, verbatim=split_at_summary(path, summary)[1], spec=spec
    )
    # The text the reply goes on from, as this model and these settings take it (a setting may
    # have changed since the reply was continued): stored exactly, so offsets agree.
    text = reply_prefix(spec=spec, generation=generation, reply_text=message.text)
    now = timezone.now()
    started = Message.objects.filter(pk=message_id, status=Message.Status.PENDING).update(
        status=Message.Status.STREAMING, started_at=now, heartbeat_at=now, text=text
    )
    if not started:
        return None  # stopped or swept in the meantime
    announce = None
    if text != message.text:
        message.text, message.status = text, Message.Status.STREAMING
        parent = message.parent  # one query, and only when the stored text changed
        parent_uuid = parent.uuid if parent is not None else None
        announce = message_data(message, parent_uuid=parent_uuid)
    return PreparedGeneration(
        message_id=message_id,
        message_uuid=str(message.uuid),
        conversation=conversation,
        spec=spec,
        generation=generation,
        path=path,
        summary=summary,
        reply_text=text,
        earlier=EarlierCalls.of(message),
        started_at=now,
        announce=announce,
        attachment_plan=attachment_plan,
        images=PathImages(tokens=attachment_plan.tokens),
    )


def generation_save_partial(message_id: int, text: str, thinking: str, first_token_at: Any) -> bool:
    """Save the text so far; False if the reply is no longer streaming (swept, deleted)."""
    saved = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
        text=text, thinking=thinking, heartbeat_at=timezone.now(), first_token_at=first_token_at
    )
    return saved > 0


def generation_finish(message_id: int, **fields: Any) -> MessageData | None:
    """Store the outcome; the frame data of the finished message, or None if it had ended
    already (a sweeper or an earlier outcome won) or was deleted with its conversation."""
    fields.setdefault("finished_at", timezone.now())
    fields["heartbeat_at"] = None
    fields["updated_at"] = fields["finished_at"]  # update() skips auto_now
    updated = Message.objects.filter(pk=message_id, status__in=Message.GENERATING_STATUSES).update(
        **fields
    )
    if not updated:
        return None
    message = (
        Message.objects.select_related("parent")
        .defer("parent__api_requests")
        .filter(pk=message_id)
        .first()
    )
    if message is None:
        return None
    parent_uuid = message.parent.uuid if message.parent else None
    return message_data(message, parent_uuid=parent_uuid)


def generation_end_unstarted(
    message_id: int, *, stopped: bool, error: tuple[str, str] | None = None
) -> tuple[str, dict[str, Any]] | None:
    """End a reply that never reached the API: stopped meanwhile, or failed before it.

    Returns the group and the frame to announce, or None if it had ended already.
    """
    now = timezone.now()
    if stopped:
        fields: dict[str, Any] = {"status": Message.Status.STOPPED}
    else:
        error_type, detail = error or (
            "internal",
            "Something went wrong on our side before the reply could start.",
        )
        fields = {"status": Message.Status.ERROR, "error_type": error_type, "error_detail": detail}
    updated = Message.objects.filter(pk=message_id, status__in=Message.GENERATING_STATUSES).update(
        finished_at=now, updated_at=now, heartbeat_at=None, **fields
    )
    if not updated:
        return None
    message = (
        Message.objects.select_related("conversation", "parent")
        .defer("parent__api_requests")
        .get(pk=message_id)
    )
    parent_uuid = message.parent.uuid if message.parent else None
    frame_type = "chat.done" if stopped else "chat.error"
    data = message_data(message, parent_uuid=parent_uuid)
    return message.conversation.group_name, {"type": frame_type, "message": data}


def usage_fields(
    prepared: PreparedGeneration, usage: Usage | None, *, thinking: str = ""
) -> dict[str, Any]:
    """This call's usage added to the earlier calls', its exact context size and the cost."""
    if usage is None:
        return {}
    cache_creation = usage.cache_creation
    details = usage.output_tokens_details
    call = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0,
        "cache_creation_1h_input_tokens": (
            cache_creation.ephemeral_1h_input_tokens if cache_creation else 0
        ),
        "thinking_tokens": (details.thinking_tokens if details else estimate_text_tokens(thinking)),
    }
    cost = message_cost(
        spec=prepared.spec,
        input_tokens=call["input_tokens"],
        output_tokens=call["output_tokens"],
        cache_read_tokens=call["cache_read_input_tokens"],
        cache_write_tokens=call["cache_creation_input_tokens"],
        cache_write_1h_tokens=call["cache_creation_1h_input_tokens"],
    )
    earlier = prepared.earlier
    fields: dict[str, Any] = {name: earlier.usage[name] + value for name, value in call.items()}
    fields["context_tokens"] = (
        call["input_tokens"] + call["cache_read_input_tokens"] + call["cache_creation_input_tokens"]
    )
    costs = [c for c in (earlier.cost_usd, cost) if c is not None]
    fields["cost_usd"] = sum(costs) if costs else None
    return fields


def reply_fields(final: ApiReply) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "status": Message.Status.COMPLETE,
        "stop_reason": final.stop_reason or "",
        "stop_sequence": final.stop_sequence or "",
        "api_message_id": final.id,
        "model": final.model or "",
    }
    if not final.stop_reason:
        # A stream that ends without message_stop leaves stop_reason unset: it was cut off.
        fields["status"] = Message.Status.INTERRUPTED
        fields["error_type"] = "interrupted"
        fields["error_detail"] = "The connection to Claude ended before the reply was complete."
    return fields
