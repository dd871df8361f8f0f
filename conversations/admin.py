"""Staff views of conversations: histories, the exact requests sent, what they cost.

Edits that have a service (a summary's text, which marks it edited) go through it.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from conversations.models import Attachment, Conversation, Message, Summary
from conversations.selectors import conversation_usage
from conversations.services.context import COST_QUANTUM
from conversations.services.conversations import summary_text_problem, summary_update
from conversations.services.generation import generation_run_blocking
from conversations.services.message_rules import ChatError
from conversations.services.messages import message_regenerate
from conversations.services.summaries import SummaryFailedError, conversation_resummarize
from conversations.services.transcripts import transcript_export_json, transcript_filename

EMPTY = "-"


def _admin_link(obj: Message | Summary | None) -> SafeString | str:
    if obj is None:
        return EMPTY
    url = reverse(f"admin:conversations_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, str(obj))


def _pre(text: str) -> SafeString | str:
    # format_html escapes: request bodies and thinking hold model and user text.
    if not text:
        return EMPTY
    return format_html('<pre class="chatsite-pre">{}</pre>', text)


def _thumbnails(attachments: Iterable[Attachment]) -> SafeString | str:
    """Thumbnails linking to the full images (served by the owner-or-staff view); links for
    images by URL, which the admin never loads."""
    items = []
    for attachment in attachments:
        if attachment.source_url:
            items.append(
                format_html(
                    '<a href="{}" rel="noopener noreferrer">{}</a>',
                    attachment.source_url,
                    attachment.source_url,
                )
            )
            continue
        full = reverse("attachment", args=[attachment.uuid])
        if not attachment.thumbnail:  # a PDF: its name, as a download link
            items.append(format_html('<a href="{}">{}</a>', full, attachment.original_name))
            continue
        thumbnail = reverse("attachment-thumbnail", args=[attachment.uuid])
        items.append(
            format_html(
                '<a href="{}" target="_blank" rel="noopener">'
                '<img src="{}" alt="{}" class="chatsite-thumbnail"></a>',
                full,
                thumbnail,
                attachment.original_name,
            )
        )
    return format_html_join("", "{}", ((item,) for item in items)) if items else EMPTY


def _requests_pre(message: Message) -> SafeString | str:
    requests: Any = message.api_requests
    if not requests:
        return EMPTY
    return _pre(json.dumps(requests, indent=2, ensure_ascii=False, sort_keys=False))


def _cost(value: object) -> str:
    return f"${value}" if value is not None else EMPTY


class SummaryTextForm(forms.ModelForm[Summary]):
    """Only the text of a summary is edited here, by the service's rules."""

    class Meta:
        model = Summary
        fields = ["text"]

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        problem = summary_text_problem(text)
        if problem:
            raise forms.ValidationError(problem)
        return text


# --- conversations ------------------------------------------------------------------------------
class TreeOrderFormSet(BaseInlineFormSet[Message, Conversation, forms.ModelForm[Message]]):
    """The messages depth-first from the root, each reply under its question and each branch
    after its sibling: the order a person reads the tree in (a formset indexes its queryset,
    so a list works)."""

    def get_queryset(self) -> Any:
        if not hasattr(self, "_tree_ordered"):
            self._tree_ordered = message_tree_order(list(super().get_queryset()))
        return self._tree_ordered


class MessageInline(admin.StackedInline[Message, Conversation]):
    model = Message
    formset = TreeOrderFormSet
    extra = 0
    fk_name = "conversation"
    fields = [
        ("branch", "role", "status", "stop_reason", "is_pinned"),
        "text",
        "images",
        ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"),
        ("cost_usd", "context_tokens"),
        ("error_type", "error_detail"),
        ("api_message_id", "api_request_id"),
        "request_inspector",
    ]
    readonly_fields = [
        "branch",
        "images",
        "api_message_id",
        "api_request_id",
        "cost_usd",
        "context_tokens",
        "request_inspector",
    ]
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        # Queries: the messages (with their recorded requests) and, prefetched, their images.
        return (
            super()
            .get_queryset(request)
            .order_by("created_at", "id")
            .defer(None)
            .prefetch_related("attachments")
        )

    @admin.display(description="place")
    def branch(self, obj: Message) -> str:
        depth = getattr(obj, "tree_depth", 0)
        return (
            f"{'· ' * depth}{'reply' if obj.role == Message.Role.ASSISTANT else 'turn'} {depth + 1}"
        )

    @admin.display(description="images")
    def images(self, obj: Message) -> SafeString | str:
        return _thumbnails(obj.attachments.all())

    @admin.display(description="requests sent")
    def request_inspector(self, obj: Message) -> SafeString | str:
        return _requests_pre(obj)


def message_tree_order(messages: list[Message]) -> list[Message]:
    """Depth-first from the roots, children in creation order; sets `tree_depth` on each."""
    children: dict[int | None, list[Message]] = {}
    for message in messages:  # already in creation order
        children.setdefault(message.parent_id, []).append(message)
    ordered: list[Message] = []
    stack = [(root, 0) for root in reversed(children.get(None, []))]
    while stack:
        message, depth = stack.pop()
        message.tree_depth = depth  # type: ignore[attr-defined]
        ordered.append(message)
        stack.extend((child, depth + 1) for child in reversed(children.get(message.id, [])))
    return ordered


class SummaryInlineFormSet(BaseInlineFormSet[Summary, Conversation, forms.ModelForm[Summary]]):
    def save_existing(
        self, form: forms.ModelForm[Summary], obj: Summary, commit: bool = True
    ) -> Summary:
        # Through the service: a rewritten summary is marked edited.
        return summary_update(summary=obj, text=form.cleaned_data["text"])


class SummaryColumns:
    """What the summary inline and the summary pages show beside the text."""

    @admin.display(description="covers up to")
    def covers_up_to_link(self, obj: Summary) -> SafeString | str:
        return _admin_link(obj.covers_up_to)

    @admin.display(description="cost")
    def cost(self, obj: Summary) -> str:
        return _cost(obj.cost_usd)


class SummaryInline(SummaryColumns, admin.StackedInline[Summary, Conversation]):
    """Read-only but for the text; summaries are written by compaction, never added here."""

    model = Summary
    form = SummaryTextForm
    formset = SummaryInlineFormSet
    extra = 0
    can_delete = False
    fields = [("covers_up_to_link", "model", "token_count", "cost"), "is_edited", "text"]
    readonly_fields = ["covers_up_to_link", "model", "token_count", "cost", "is_edited"]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Conversation | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Summary]:
        # The covered message is only linked to: not the prompt it recorded.
        return (
            super()
            .get_queryset(request)
            .select_related("covers_up_to")
            .defer("covers_up_to__api_requests", "covers_up_to__thinking")
        )


# Every token a conversation's messages were billed for.
PROMPT_AND_OUTPUT = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _of_messages(aggregate: Any) -> Subquery:
    """`aggregate` over the messages of the conversation in the outer query."""
    per_conversation = (
        Message.objects.filter(conversation=OuterRef("pk"))
        .order_by()
        .values("conversation")
        .annotate(value=aggregate)
        .values("value")
    )
    return Subquery(per_conversation)


class ReplyStatusFilter(admin.SimpleListFilter):
    """Conversations with a reply in a given state (an interrupted one needs a retry)."""

    title = "a reply that is"
    parameter_name = "reply_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in Message.Status.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in Message.Status.values:
            return queryset
        with_status = Message.objects.filter(status=self.value()).values("conversation_id")
        return queryset.filter(pk__in=with_status)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    class Media:
        css = {"all": ["chat/admin.css"]}

    list_display = [
        "__str__",
        "owner",
        "model",
        "message_count",
        "tokens",
        "cost",
        "updated_at",
    ]
    list_filter = ["model", ReplyStatusFilter, "is_archived", "updated_at"]
    search_fields = ["title", "owner__username", "owner__email", "uuid", "messages__text"]
    search_help_text = "Title, owner, or any message's text."
    list_select_related = ["owner"]
    raw_id_fields = ["owner", "active_leaf"]
    readonly_fields = ["uuid", "total_cost", "created_at", "updated_at"]
    inlines = [MessageInline, SummaryInline]
    actions = ["export_json", "resummarize", "retry_interrupted"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        # One query for the whole list page: counts and sums per conversation as subqueries,
        # so the join a search by message text adds cannot multiply them.
        tokens = sum((Coalesce(Sum(name), 0) for name in PROMPT_AND_OUTPUT), Value(0))
        return (
            super()
            .get_queryset(request)
            .annotate(
                message_total=Coalesce(_of_messages(Count("pk")), 0),
                token_total=_of_messages(tokens),
                cost_total=_of_messages(Sum("cost_usd")),
            )
        )

    @admin.display(description="messages", ordering="message_total")
    def message_count(self, obj: Conversation) -> int:
        return getattr(obj, "message_total", 0)

    @admin.display(description="tokens", ordering="token_total")
    def tokens(self, obj: Conversation) -> str:
        total = getattr(obj, "token_total", None)
        return f"{total:,}" if total is not None else EMPTY

    @admin.display(description="cost", ordering="cost_total")
    def cost(self, obj: Conversation) -> str:
        total = getattr(obj, "cost_total", None)
        # SQLite sums decimals as floats: round to what is stored.
        return _cost(Decimal(total).quantize(COST_QUANTUM) if total is not None else None)

    @admin.display(description="total cost")
    def total_cost(self, obj: Conversation) -> str:
        """Every message of every branch, and the summaries: all were paid for."""
        if obj._state.adding:
            return EMPTY
        usage = conversation_usage(conversation=obj)
        return (
            f"{_cost(usage['cost_usd'])} ({usage['input_tokens']:,} input, "
            f"{usage['output_tokens']:,} output, {usage['cache_read_input_tokens']:,} "
            f"cache read, {usage['cache_creation_input_tokens']:,} cache write tokens)"
        )

    @admin.action(description="Export the selected conversations (JSON, zipped)")
    def export_json(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> HttpResponse:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for conversation in queryset.order_by("pk"):
                exported = transcript_export_json(conversation=conversation, images="omit")
                name = transcript_filename(conversation=conversation, extension="json")
                bundle.writestr(name, json.dumps(exported, indent=2, ensure_ascii=False))
        response = HttpResponse(archive.getvalue(), content_type="application/zip")
        response["Content-Disposition"] = 'attachment; filename="conversations.zip"'
        return response

    @admin.action(description="Summarize the older turns of the active branch again")
    def resummarize(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        done = 0
        for conversation in queryset:
            try:
                if conversation_resummarize(conversation=conversation):
                    done += 1
            except SummaryFailedError as exc:
                self.message_user(request, f"{conversation}: {exc}", messages.ERROR)
        self.message_user(request, f"Wrote {done} new summaries.", messages.SUCCESS)

    @admin.action(description="Retry the interrupted or failed reply at the end of the branch")
    def retry_interrupted(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        retried = 0
        for conversation in queryset.select_related("active_leaf"):
            leaf = conversation.active_leaf
            retryable = (Message.Status.INTERRUPTED, Message.Status.ERROR)
            if leaf is None or leaf.role != Message.Role.ASSISTANT or leaf.status not in retryable:
                continue
            try:
                reply = message_regenerate(conversation=conversation, message_uuid=leaf.uuid)
            except ChatError as exc:
                self.message_user(request, f"{conversation}: {exc.message}", messages.ERROR)
                continue
            generation_run_blocking(reply=reply)
            retried += 1
        self.message_user(request, f"Retried {retried} replies.", messages.SUCCESS)


# --- messages -----------------------------------------------------------------------------------
@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    class Media:
        css = {"all": ["chat/admin.css"]}  # no inline styles: the CSP covers the admin too

    list_display = [
        "__str__",
        "conversation",
        "role",
        "status",
        "stop_reason",
        "output_tokens",
        "cost_usd",
        "is_pinned",
        "created_at",
    ]
    list_filter = ["role", "status", "stop_reason", "is_pinned"]
    search_fields = ["text", "uuid", "api_request_id"]
    list_select_related = ["conversation"]
    raw_id_fields = ["conversation", "parent"]
    # What the API reported and what was sent is a record: shown, not edited.
    readonly_fields = [
        "uuid",
        "model",
        "stop_reason",
        "stop_sequence",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "cache_creation_1h_input_tokens",
        "thinking_tokens",
        "context_tokens",
        "cost",
        "prefill_length",
        "continuations",
        "summary_link",
        "thinking_text",
        "request_inspector",
        "api_message_id",
        "api_request_id",
        "error_type",
        "error_detail",
        "images",
        "notice",
        "started_at",
        "first_token_at",
        "finished_at",
        "heartbeat_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "uuid",
                    "conversation",
                    "parent",
                    "role",
                    "status",
                    "is_pinned",
                    "text",
                    "images",
                    "notice",
                ]
            },
        ),
        (
            "Reply",
            {
                "fields": [
                    ("model", "stop_reason", "stop_sequence"),
                    ("prefill_length", "continuations"),
                    ("error_type", "error_detail"),
                    "thinking_text",
                ]
            },
        ),
        (
            "Usage",
            {
                "fields": [
                    ("input_tokens", "output_tokens", "thinking_tokens"),
                    (
                        "cache_read_input_tokens",
                        "cache_creation_input_tokens",
                        "cache_creation_1h_input_tokens",
                    ),
                    ("context_tokens", "cost"),
                ]
            },
        ),
        (
            "Request inspector",
            {
                "description": "The exact bodies sent to the Messages API for this reply "
                "(images replaced by their hashes), and the summary they stood on.",
                "fields": [
                    "summary_link",
                    "request_inspector",
                    ("api_message_id", "api_request_id"),
                ],
            },
        ),
        (
            "Timings",
            {
                "classes": ["collapse"],
                "fields": [
                    ("started_at", "first_token_at", "finished_at"),
                    ("heartbeat_at", "created_at", "updated_at"),
                ],
            },
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).select_related("summary")

    @admin.display(description="images")
    def images(self, obj: Message) -> SafeString | str:
        return _thumbnails(obj.attachments.all())

    @admin.display(description="cost")
    def cost(self, obj: Message) -> str:
        return _cost(obj.cost_usd)

    @admin.display(description="summary")
    def summary_link(self, obj: Message) -> SafeString | str:
        return _admin_link(obj.summary)

    @admin.display(description="thinking")
    def thinking_text(self, obj: Message) -> SafeString | str:
        return _pre(obj.thinking)

    @admin.display(description="requests sent")
    def request_inspector(self, obj: Message) -> SafeString | str:
        return _requests_pre(obj)


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin[Attachment]):
    class Media:
        css = {"all": ["chat/admin.css"]}

    list_display = [
        "thumbnail_image",
        "__str__",
        "owner",
        "media_type",
        "width",
        "height",
        "byte_size",
    ]
    list_select_related = ["owner"]
    raw_id_fields = ["owner", "conversation", "message"]
    # The stored files and what was measured of them come from the checked pipeline only.
    exclude = [
        "file",
        "standard_file",
        "thumbnail",
        "files_api_id",
        "standard_files_api_id",
    ]
    readonly_fields = [
        "thumbnail_image",
        "media_type",
        "width",
        "height",
        "byte_size",
        "sha256",
        "token_estimate",
        "standard_media_type",
        "standard_width",
        "standard_height",
        "standard_byte_size",
        "page_count",
        "source_url",
    ]

    @admin.display(description="image")
    def thumbnail_image(self, obj: Attachment) -> SafeString | str:
        return _thumbnails([obj])


# --- summaries ----------------------------------------------------------------------------------
@admin.register(Summary)
class SummaryAdmin(SummaryColumns, admin.ModelAdmin[Summary]):
    form = SummaryTextForm
    list_display = [
        "__str__",
        "conversation",
        "covers_up_to_link",
        "token_count",
        "cost",
        "is_edited",
        "created_at",
    ]
    list_filter = ["is_edited", "model"]
    list_select_related = ["conversation", "covers_up_to"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Summary]:
        # The covered message is only linked to: not the prompt it recorded.
        return super().get_queryset(request).defer("covers_up_to__api_requests")

    search_fields = ["text", "uuid", "conversation__uuid"]
    fields = [
        "uuid",
        "conversation",
        "covers_up_to_link",
        ("model", "token_count"),
        ("input_tokens", "output_tokens", "cost"),
        "is_edited",
        "text",
        ("created_at", "updated_at"),
    ]
    readonly_fields = [
        "uuid",
        "conversation",
        "covers_up_to_link",
        "model",
        "token_count",
        "input_tokens",
        "output_tokens",
        "cost",
        "is_edited",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written by compaction

    def save_model(self, request: HttpRequest, obj: Summary, form: Any, change: bool) -> None:
        if "text" in form.changed_data:
            summary_update(summary=obj, text=form.cleaned_data["text"])
