from __future__ import annotations

from typing import Any

from rest_framework import serializers

from conversations.models import Conversation


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


class ConversationCreateSerializer(serializers.Serializer[dict[str, Any]]):
    title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    system = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    model = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")


class MessageSendSerializer(serializers.Serializer[dict[str, Any]]):
    # Not trimmed, and may be blank here: the service owns the rules and their messages.
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)
    client_id = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")


class UsageSerializer(serializers.Serializer[dict[str, Any]]):
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    cache_read_input_tokens = serializers.IntegerField(allow_null=True)
    cache_creation_input_tokens = serializers.IntegerField(allow_null=True)


class MessageSerializer(serializers.Serializer[dict[str, Any]]):
    """Documents `conversations.frames.MessageData`, which the views return as it is."""

    id = serializers.UUIDField()
    parent_id = serializers.UUIDField(allow_null=True)
    role = serializers.ChoiceField(choices=["user", "assistant"])
    text = serializers.CharField()
    status = serializers.CharField()
    model = serializers.CharField()
    stop_reason = serializers.CharField()
    stop_sequence = serializers.CharField()
    usage = UsageSerializer()
    error_type = serializers.CharField()
    error_detail = serializers.CharField()
    time_to_first_token_ms = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.CharField()
