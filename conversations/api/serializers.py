"""Request parsing and the documented shapes of the API (for drf-spectacular).

Where a view returns a dict built elsewhere (frames, selectors), the serializer here only
documents it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from rest_framework import serializers

from conversations.models import Conversation, Message, Summary


class StrictSerializer(serializers.Serializer[dict[str, Any]]):
    """Refuses keys it does not know: a misspelt field must not be a silent no-op."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return attrs


# --- conversations ------------------------------------------------------------------------------
class ConversationSerializer(serializers.ModelSerializer[Conversation]):
    id = serializers.UUIDField(source="uuid", read_only=True)
    system = serializers.CharField(source="system_prompt", read_only=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "model",
            "system",
            "parameters",
            "is_archived",
            "is_pinned",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ConversationUsageSerializer(serializers.Serializer[dict[str, Any]]):
    """Documents `selectors.ConversationUsage`: every branch and summary, all paid for.
    `UsageTotalsSerializer` (a day, a range) adds to the same token and cost fields."""

    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cache_read_input_tokens = serializers.IntegerField()
    cache_creation_input_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(
        max_digits=14,
        decimal_places=6,
        allow_null=True,
        help_text="US dollars; null when nothing in the conversation had a known price.",
    )


class ConversationContextSerializer(serializers.Serializer[dict[str, Any]]):
    """Documents `selectors.ConversationContext`."""

    tokens = serializers.IntegerField(
        allow_null=True, help_text="The exact prompt size of the newest call on the branch."
    )
    budget = serializers.IntegerField(
        allow_null=True,
        help_text="The context budget requests are fitted into; null while settings are invalid.",
    )


class ConversationDetailSerializer(ConversationSerializer):
    """One conversation with what it cost and how full its context is (not in listings)."""

    usage = ConversationUsageSerializer(read_only=True)
    # DRF's metaclass takes declared fields out of the class, so this does not shadow
    # `Serializer.context`; mypy cannot know that.
    context = ConversationContextSerializer(read_only=True)  # type: ignore[assignment]

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "usage", "context"]
        read_only_fields = fields


class ConversationCreateSerializer(StrictSerializer):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    system = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    model = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    parameters = serializers.DictField(
        required=False,
        default=dict,
        help_text="Generation settings (max_tokens, stop_sequences, temperature, ...), "
        "checked against the model.",
    )


class ConversationUpdateSerializer(StrictSerializer):
    # Lengths, blank models and bad settings are the service's to refuse, with its messages.
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)
    model = serializers.CharField(required=False, allow_blank=True)
    system = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    parameters = serializers.DictField(
        required=False,
        help_text="Replaces the stored settings as a whole; a key set to null is cleared.",
    )
    is_archived = serializers.BooleanField(
        required=False, help_text="Archived conversations leave the default listing."
    )
    is_pinned = serializers.BooleanField(
        required=False, help_text="Pinned conversations come first in the default listing."
    )


# --- messages -----------------------------------------------------------------------------------
class MessageSendSerializer(StrictSerializer):
    # Not trimmed, and may be blank here: the service owns the rules and their messages.
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)
    client_id = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    prefill = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        default="",
        help_text="The beginning of Claude's answer (models that accept a prefill).",
    )
    attachments = serializers.ListField(
        child=serializers.UUIDField(format="hex_verbose"),
        required=False,
        default=list,
        max_length=20,
        help_text="Ids of images uploaded to this conversation (POST .../attachments/); "
        "with at least one, `content` may be blank.",
    )


class MessageEditSerializer(MessageSendSerializer):
    """A new version of one of the person's messages: a sibling with a new reply. The images
    of the edited message are kept; `attachments` adds new uploads."""


class StopSerializer(StrictSerializer):
    message_id = serializers.UUIDField(
        required=False, help_text="Only this reply (default: whatever is generating)."
    )


class AttachmentSerializer(serializers.Serializer[dict[str, Any]]):
    """Documents `conversations.frames.AttachmentData`."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    media_type = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    token_estimate = serializers.IntegerField()
    page_count = serializers.IntegerField()
    url = serializers.CharField()
    thumbnail_url = serializers.CharField(allow_null=True)


class MessageUpdateSerializer(StrictSerializer):
    is_pinned = serializers.BooleanField(
        help_text="A pinned message stays word for word when older turns are summarized."
    )


class UsageSerializer(serializers.Serializer[dict[str, Any]]):
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    cache_read_input_tokens = serializers.IntegerField(allow_null=True)
    cache_creation_input_tokens = serializers.IntegerField(allow_null=True)
    cache_creation_1h_input_tokens = serializers.IntegerField(allow_null=True)
    thinking_tokens = serializers.IntegerField(allow_null=True)
    context_tokens = serializers.IntegerField(allow_null=True)


class MessageSerializer(serializers.Serializer[dict[str, Any]]):
    """Documents `conversations.frames.MessageData`, which the views return as it is."""

    id = serializers.UUIDField()
    parent_id = serializers.UUIDField(allow_null=True)
    role = serializers.ChoiceField(choices=Message.Role.choices)
    text = serializers.CharField()
    status = serializers.CharField()
    model = serializers.CharField()
    stop_reason = serializers.CharField()
    stop_sequence = serializers.CharField()
    usage = UsageSerializer()
    cost_usd = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)
    thinking = serializers.CharField()
    prefill_length = serializers.IntegerField()
    continuations = serializers.IntegerField()
    is_pinned = serializers.BooleanField()
    attachments = AttachmentSerializer(many=True)
    notice = serializers.CharField()
    error_type = serializers.CharField()
    error_detail = serializers.CharField()
    time_to_first_token_ms = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.CharField()
    # Only where a list gives each message's place among its versions (the active branch, the
    # tree); a single message's answer leaves them out.
    sibling_index = serializers.IntegerField(
        required=False,
        help_text="Its place among the versions under the same parent (edits, regenerations), "
        "oldest first, from 0.",
    )
    sibling_count = serializers.IntegerField(required=False)
    previous_sibling_id = serializers.UUIDField(required=False, allow_null=True)
    next_sibling_id = serializers.UUIDField(required=False, allow_null=True)


class MessageTreeSerializer(MessageSerializer):
    """A message in its place in the tree (`.../messages/tree/`)."""

    depth = serializers.IntegerField(help_text="0 for a first message.")
    on_active_path = serializers.BooleanField(
        help_text="Whether it is on the branch shown (`GET .../messages/`)."
    )


class StopResultSerializer(serializers.Serializer[dict[str, Any]]):
    stopped = serializers.BooleanField(
        help_text="Whether the Stop ended a reply (false: nothing was generating, or the "
        "reply ended by itself first)."
    )
    message = MessageSerializer(
        allow_null=True,
        help_text="The reply that was generating, as saved; null when nothing was.",
    )


# --- attachments --------------------------------------------------------------------------------
class AttachmentUploadSerializer(AttachmentSerializer):
    """An upload as stored; `token_estimate` is for the conversation's model."""

    byte_size = serializers.IntegerField()


class AttachmentDetailSerializer(AttachmentUploadSerializer):
    conversation_id = serializers.UUIDField(allow_null=True)
    message_id = serializers.UUIDField(
        allow_null=True, help_text="The message it was sent with; null while unsent."
    )
    created_at = serializers.DateTimeField()


class AttachmentUploadRequestSerializer(serializers.Serializer[dict[str, Any]]):
    """Documents the multipart form of an upload: a file, or (where allowed) an image URL."""

    file = serializers.FileField(
        required=False, help_text="A PNG, JPEG, GIF or WebP image, or a PDF."
    )
    url = serializers.URLField(
        required=False,
        help_text="An https image link instead of a file (when CHATSITE_IMAGE_URLS is on).",
    )


# --- usage --------------------------------------------------------------------------------------
USAGE_MAX_DAYS = 366
USAGE_DEFAULT_DAYS = 30


class UsageQuerySerializer(StrictSerializer):
    """`start` and `end` (UTC dates, both included); by default the last 30 days."""

    start = serializers.DateField(required=False, input_formats=["iso-8601"])
    end = serializers.DateField(required=False, input_formats=["iso-8601"])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        end = attrs.get("end") or datetime.now(UTC).date()
        try:
            start = attrs.get("start") or end - timedelta(days=USAGE_DEFAULT_DAYS - 1)
        except OverflowError:  # an end in the first days of year 1
            raise serializers.ValidationError(
                {"end": ["The end is too far in the past."]}
            ) from None
        if end >= date.max:  # the day after it is where the range stops
            raise serializers.ValidationError({"end": ["The end is too far in the future."]})
        if start > end:
            raise serializers.ValidationError({"start": ["The start is after the end."]})
        if (end - start).days + 1 > USAGE_MAX_DAYS:
            raise serializers.ValidationError(
                {"end": [f"At most {USAGE_MAX_DAYS} days at a time."]}
            )
        return {"start": start, "end": end}


class UsageTotalsSerializer(ConversationUsageSerializer):
    cost_usd = serializers.DecimalField(
        max_digits=14,
        decimal_places=6,
        allow_null=True,
        help_text="US dollars; null when nothing had a known price.",
    )
    replies = serializers.IntegerField(help_text="Replies asked for (every branch, any outcome).")
    summaries = serializers.IntegerField(help_text="Summaries written to fit the context.")


class DayUsageSerializer(UsageTotalsSerializer):
    """Documents `selectors.DayUsage`."""

    date = serializers.DateField(help_text="A UTC day.")


class UsageReportSerializer(serializers.Serializer[dict[str, Any]]):
    start = serializers.DateField()
    end = serializers.DateField()
    days = DayUsageSerializer(many=True, help_text="Every day of the range, oldest first.")
    total = UsageTotalsSerializer()


# --- errors -------------------------------------------------------------------------------------
class ErrorDetailSerializer(serializers.Serializer[dict[str, Any]]):
    code = serializers.CharField(help_text="Stable, for programs: invalid, not_found, busy, ...")
    message = serializers.CharField(help_text="For people.")
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False,
        help_text="What to fix, by request field: a list of messages (nested for objects).",
    )


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """The one error body of the API."""

    error = ErrorDetailSerializer()


# --- summaries ----------------------------------------------------------------------------------
class SummarySerializer(serializers.ModelSerializer[Summary]):
    id = serializers.UUIDField(source="uuid", read_only=True)
    covers_up_to = serializers.UUIDField(
        source="covers_up_to.uuid",
        read_only=True,
        help_text="The last message the summary stands for (on every branch through it).",
    )

    class Meta:
        model = Summary
        fields = [
            "id",
            "covers_up_to",
            "text",
            "token_count",
            "model",
            "is_edited",
            "cost_usd",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SummaryUpdateSerializer(StrictSerializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)


# --- models -------------------------------------------------------------------------------------
class PricesSerializer(serializers.Serializer[dict[str, Any]]):
    """US dollars per million tokens, as decimal strings."""

    input = serializers.CharField()
    output = serializers.CharField()
    cache_write_5m = serializers.CharField()
    cache_write_1h = serializers.CharField()
    cache_read = serializers.CharField()


class ChatModelSerializer(serializers.Serializer[dict[str, Any]]):
    """Documents `views.model_data`: what a model accepts and costs."""

    id = serializers.CharField()
    display_name = serializers.CharField()
    context_window = serializers.IntegerField()
    max_output_tokens = serializers.IntegerField()
    accepts_prefill = serializers.BooleanField()
    sampling_parameters = serializers.ListField(child=serializers.CharField())
    thinking = serializers.BooleanField(help_text="Whether the model supports extended thinking.")
    effort_levels = serializers.ListField(child=serializers.CharField())
    image_long_edge = serializers.IntegerField()
    prices = PricesSerializer(allow_null=True, help_text="Null when the price is not known.")
    retires_on = serializers.DateField(allow_null=True)
