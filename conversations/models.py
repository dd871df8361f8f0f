"""Conversations are trees of messages: edits and regenerations make siblings under one parent.

The public identity of every row is its UUID; integer primary keys never leave the server.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Conversation(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=100)
    system_prompt = models.TextField(blank=True)
    # Request parameters that vary by model (max_tokens, stop_sequences, ...); gated per model.
    parameters = models.JSONField(default=dict, blank=True)
    # The newest message of the branch the person is looking at; the history is its ancestors.
    active_leaf = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_archived = models.BooleanField(default=False)
    is_pinned = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="conversation_owner_recent")]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.uuid}"

    @property
    def display_title(self) -> str:
        return self.title or "New conversation"

    @property
    def group_name(self) -> str:
        """The channel-layer group every open tab of this conversation listens on."""
        return f"conversation.{self.uuid}"


class MessageManager(models.Manager["Message"]):
    def get_queryset(self) -> models.QuerySet[Message]:
        # The recorded request bodies hold whole prompts: loaded only where they are read
        # (the inspector, a continued reply), never for a list, a join or a frame.
        return super().get_queryset().defer("api_requests")


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        PENDING = "pending"
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        INTERRUPTED = "interrupted"
        ERROR = "error"

    GENERATING_STATUSES = (Status.PENDING, Status.STREAMING)
    # The token figures the API reported for a reply (`usage` in frames and exports).
    USAGE_FIELDS = (
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "cache_creation_1h_input_tokens",
        "thinking_tokens",
        "context_tokens",
    )

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    # Set by the client so a retried send cannot create the same message twice.
    client_id = models.CharField(max_length=64, blank=True)

    # What the API reported for an assistant message.
    model = models.CharField(max_length=100, blank=True)
    stop_reason = models.CharField(max_length=40, blank=True)
    stop_sequence = models.CharField(max_length=200, blank=True)
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_read_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_creation_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    api_message_id = models.CharField(max_length=100, blank=True)
    api_request_id = models.CharField(max_length=100, blank=True)
    # Thinking, kept apart from the reply (shown collapsed); its tokens are part of output_tokens.
    thinking = models.TextField(blank=True)
    thinking_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Of cache_creation_input_tokens, how many were written with the 1-hour TTL (priced 2x).
    cache_creation_1h_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    # The whole prompt of the latest call (input + cache figures): the exact context size.
    context_tokens = models.PositiveIntegerField(null=True, blank=True)
    # What the calls behind this reply cost in US dollars; null when the model has no price.
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # The person's own beginning of the answer (the first `prefill_length` characters of text).
    prefill_length = models.PositiveIntegerField(default=0)
    # How many times a cut-off reply was continued in place.
    continuations = models.PositiveSmallIntegerField(default=0)
    # A pinned message stays verbatim when older turns are folded into a summary.
    is_pinned = models.BooleanField(default=False)
    # The summary the request stood on, and the exact bodies sent (images replaced by hashes):
    # staff read them in the admin to see precisely what Claude received.
    summary = models.ForeignKey(
        "Summary", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_requests = models.JSONField(default=list, blank=True)
    error_type = models.CharField(max_length=60, blank=True)
    error_detail = models.TextField(blank=True)
    # Something the person should know about how this reply was made (e.g. images left out).
    notice = models.CharField(max_length=500, blank=True)

    # Timings of the generation, for the details line and the logs.
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched while streaming; a stale heartbeat means the process that owned it died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MessageManager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="message_conversation_time"),
            models.Index(fields=["status", "heartbeat_at"], name="message_status_heartbeat"),
        ]
        constraints = [
            # The database, not process memory, guarantees one generation per conversation:
            # it holds across server processes.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["pending", "streaming"]),
                name="one_generation_per_conversation",
            ),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~Q(client_id=""),
                name="message_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"

    @property
    def is_generating(self) -> bool:
        return self.status in self.GENERATING_STATUSES

    @property
    def time_to_first_token_ms(self) -> int | None:
        if self.started_at and self.first_token_at:
            return round((self.first_token_at - self.started_at).total_seconds() * 1000)
        return None

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


def attachment_path(instance: Attachment, filename: str) -> str:
    # A random name: the uploaded file name never reaches the file system.
    return f"attachments/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """An image a person attached, stored only as our own re-encode (never the uploaded bytes),
    or a PDF (stored as uploaded once checked; see services/documents.py).

    Two sizes, because models differ in the largest image they use: `file` has a long edge of
    at most 2576 px (high-res models), `standard_file` at most 1568 px and is empty when `file`
    already fits. Each size has its own Files API id once uploaded there.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments"
    )
    # The conversation it was uploaded into (null only for rows older than that field).
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    # Null until the message it was uploaded for is sent.
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path, blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    media_type = models.CharField(max_length=50)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    byte_size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    token_estimate = models.PositiveIntegerField(default=0)
    files_api_id = models.CharField(max_length=100, blank=True)
    standard_file = models.FileField(upload_to=attachment_path, blank=True)
    standard_media_type = models.CharField(max_length=50, blank=True)
    standard_width = models.PositiveIntegerField(default=0)
    standard_height = models.PositiveIntegerField(default=0)
    standard_byte_size = models.PositiveIntegerField(default=0)
    standard_files_api_id = models.CharField(max_length=100, blank=True)
    thumbnail = models.FileField(upload_to=attachment_path, blank=True)
    # PDFs (media type application/pdf) are stored as uploaded, with their page count.
    page_count = models.PositiveIntegerField(default=0)
    # An image by https URL instead of a file (only when CHATSITE_IMAGE_URLS allows it).
    source_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name or str(self.uuid)


class Summary(models.Model):
    """A summary of a branch up to `covers_up_to`, sent in place of those turns.

    It belongs to every branch that passes through `covers_up_to`; the messages it covers stay
    stored (and exported) unchanged.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="summaries"
    )
    covers_up_to = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="summaries")
    text = models.TextField()
    token_count = models.PositiveIntegerField(default=0)
    model = models.CharField(max_length=100, blank=True)
    # The call that wrote it: summaries cost tokens too.
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # True once a person has rewritten it; the next compaction starts from their text.
    is_edited = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "summaries"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Summary up to {self.covers_up_to_id}"
