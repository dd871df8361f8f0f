from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from conversations.models import Attachment, Conversation, Message, Summary


class MessageInline(admin.StackedInline[Message, Conversation]):
    model = Message
    extra = 0
    fk_name = "conversation"
    fields = [
        ("role", "status", "stop_reason"),
        "text",
        ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"),
        ("error_type", "error_detail"),
        ("api_message_id", "api_request_id"),
    ]
    readonly_fields = ["api_message_id", "api_request_id"]
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).order_by("created_at", "id")


class SummaryInline(admin.StackedInline[Summary, Conversation]):
    model = Summary
    extra = 0
    fields = ["covers_up_to", "text", "token_count", "model"]
    raw_id_fields = ["covers_up_to"]


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    list_display = ["__str__", "owner", "model", "message_count", "updated_at"]
    list_filter = ["model", "is_archived", "updated_at"]
    search_fields = ["title", "owner__username", "uuid"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner", "active_leaf"]
    readonly_fields = ["uuid", "created_at", "updated_at"]
    inlines = [MessageInline, SummaryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).annotate(message_total=Count("messages"))

    @admin.display(description="messages", ordering="message_total")
    def message_count(self, obj: Conversation) -> int:
        return getattr(obj, "message_total", 0)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    list_display = ["__str__", "conversation", "role", "status", "created_at"]
    list_filter = ["role", "status", "stop_reason"]
    search_fields = ["text", "uuid", "api_request_id"]
    list_select_related = ["conversation"]
    raw_id_fields = ["conversation", "parent"]
    readonly_fields = ["uuid", "created_at", "updated_at"]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin[Attachment]):
    list_display = ["__str__", "owner", "media_type", "width", "height", "byte_size"]
    raw_id_fields = ["owner", "message"]


@admin.register(Summary)
class SummaryAdmin(admin.ModelAdmin[Summary]):
    list_display = ["__str__", "conversation", "token_count", "created_at"]
    raw_id_fields = ["conversation", "covers_up_to"]
