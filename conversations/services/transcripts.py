"""Transcript export: JSON (the whole tree), a replayable Messages API request, zips of many.

Markdown and HTML are in services/transcript_formats.py, import in services/transcript_import.py.
"""

from __future__ import annotations

import base64
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from typing import Any, Literal

from django.conf import settings
from django.db.models import Sum

from conversations.frames import message_data
from conversations.llm.models import ModelSpec
from conversations.models import Attachment, Conversation, Message
from conversations.services.attachments import SendableFile
from conversations.services.history import (
    Block,
    conversation_path,
    request_build,
    split_at_summary,
    summary_for_path,
)
from conversations.services.parameters import (
    GenerationSettings,
    SettingsError,
    conversation_settings,
)
from conversations.services.vision import (
    MISSING_TEXT,
    OMITTED_TEXT,
    AttachmentPlan,
    attachments_plan,
)

EXPORT_VERSION = 1
# How images are exported: their bytes (base64, the largest stored size), a link to them on
# this server (owner only), or not at all.
ImageExport = Literal["base64", "link", "omit"]
IMAGE_EXPORTS: tuple[ImageExport, ...] = ("base64", "link", "omit")
# Longest file-name stem taken from a title (the uuid prefix keeps names apart).
FILENAME_STEM_CHARS = 60


class TranscriptExportError(ValueError):
    """An export that cannot be made; the message says why, `code` classifies it."""

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def transcript_export_json(
    *, conversation: Conversation, images: ImageExport = "link"
) -> dict[str, Any]:
    """Queries: 3 (messages, their attachments, summaries)."""
    messages = list(
        Message.objects.filter(conversation=conversation)
        .order_by("created_at", "id")
        .prefetch_related("attachments")
    )
    uuid_by_id = {m.id: m.uuid for m in messages}
    active_leaf_uuid = uuid_by_id.get(conversation.active_leaf_id or 0)
    summaries = conversation.summaries.order_by("created_at", "id")
    return {
        "chatsite_export_version": EXPORT_VERSION,
        "conversation": {
            "id": str(conversation.uuid),
            "title": conversation.title,
            "model": conversation.model,
            "system": conversation.system_prompt,
            "parameters": conversation.parameters,
            "active_leaf_id": str(active_leaf_uuid) if active_leaf_uuid else None,
            "is_pinned": conversation.is_pinned,
            "is_archived": conversation.is_archived,
            "created_at": conversation.created_at.isoformat(),
            "updated_at": conversation.updated_at.isoformat(),
        },
        "messages": [
            _exported_message(m, parent_uuid=uuid_by_id.get(m.parent_id or 0), images=images)
            for m in messages
        ],
        "summaries": [
            {
                "covers_up_to": str(uuid_by_id.get(s.covers_up_to_id, "")),
                "text": s.text,
                "token_count": s.token_count,
                "model": s.model,
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "cost_usd": str(s.cost_usd) if s.cost_usd is not None else None,
                "is_edited": s.is_edited,
                "created_at": s.created_at.isoformat(),
            }
            for s in summaries
        ],
    }


def _exported_message(message: Message, *, parent_uuid: object, images: ImageExport) -> Any:
    data: dict[str, Any] = dict(message_data(message, parent_uuid=parent_uuid))
    if images == "omit":
        data["attachments"] = []
    elif images == "base64":
        by_id = {str(a.uuid): a for a in message.attachments.all()}
        data["attachments"] = [
            {**item, "data": attachment_base64(by_id[item["id"]])} for item in data["attachments"]
        ]
    return data


def inline_images_check(*, conversation: Conversation) -> None:
    """Refuse (TranscriptExportError `too_large`) an export whose inline files would pass
    CHATSITE_EXPORT_MAX_BYTES, before any is read: edits share files, so every copy counts.
    Queries: 1."""
    stored = Attachment.objects.filter(message__conversation=conversation).aggregate(
        total=Sum("byte_size")
    )
    inline = (stored["total"] or 0) * 4 // 3
    limit = settings.CHATSITE_EXPORT_MAX_BYTES
    if inline > limit:
        raise TranscriptExportError(
            f"With its images inline this export would pass {limit // 2**20} MB; "
            "export it with images=link or images=omit.",
            code="too_large",
        )


def attachment_base64(attachment: Attachment) -> str | None:
    """The largest stored size, base64; None for an image by URL or a lost file."""
    if not attachment.file:
        return None  # an image by URL: the address is the export
    try:
        with attachment.file.open("rb") as stored:
            return base64.b64encode(stored.read()).decode("ascii")
    except OSError:
        return None


# --- the Messages API request ------------------------------------------------------------------
def transcript_export_anthropic(*, conversation: Conversation) -> dict[str, Any]:
    """The Messages API body that (re)writes the active path's last reply — exactly what a
    regeneration would send, with images inline as base64 (never Files API ids, which belong
    to this server's key). Sampling parameters are in the body; they need the header
    `anthropic-version: 2023-06-01`.

    Queries: 3 (messages, the summary on the path, the attachments of the verbatim turns).
    Raises TranscriptExportError when there is nothing to send or the settings are invalid.
    """
    path = conversation_path(conversation=conversation)
    last_user = max((i for i, m in enumerate(path) if m.role == Message.Role.USER), default=-1)
    if last_user < 0:
        raise TranscriptExportError("The conversation has no message to send yet.", code="empty")
    reply = path[last_user + 1] if last_user + 1 < len(path) else None
    path = path[: last_user + 1]
    spec, generation = _settings(conversation)
    summary = summary_for_path(conversation=conversation, path=path)
    _, verbatim = split_at_summary(path, summary)
    built = request_build(
        conversation=conversation,
        spec=spec,
        generation=generation,
        path=path,
        summary=summary,
        reply_text=reply.text[: reply.prefill_length] if reply is not None else "",
        user_id=conversation.owner_id,
        images=_inline_images(
            attachments_plan(conversation=conversation, verbatim=verbatim, spec=spec)
        ),
    )
    return {**built.body, **built.extra_body}


def _settings(conversation: Conversation) -> tuple[ModelSpec, GenerationSettings]:
    try:
        # No fetch: a network wait has no place in a download.
        return conversation_settings(conversation, fetch=False)
    except SettingsError as exc:
        raise TranscriptExportError(f"The conversation's settings: {exc.message}") from None


def _inline_images(plan: AttachmentPlan) -> dict[int, list[Block]]:
    blocks: dict[int, list[Block]] = {}
    for message_id, images in plan.chosen.items():
        blocks[message_id] = [_inline_block(image) for image in images]
    for message_id, count in plan.omitted.items():
        blocks.setdefault(message_id, [])[:0] = [{"type": "text", "text": OMITTED_TEXT}] * count
    return blocks


def _inline_block(image: SendableFile | Attachment) -> Block:
    if isinstance(image, Attachment):
        return {"type": "image", "source": {"type": "url", "url": image.source_url}}
    try:
        with image.attachment.file.storage.open(image.file_name, "rb") as stored:
            data = base64.b64encode(stored.read()).decode("ascii")
    except OSError:
        return {"type": "text", "text": MISSING_TEXT}
    kind = "document" if image.is_document else "image"
    return {
        "type": kind,
        "source": {"type": "base64", "media_type": image.media_type, "data": data},
    }


# --- file names and zips -----------------------------------------------------------------------
def transcript_filename(*, conversation: Conversation, extension: str) -> str:
    """A download name safe in a header and on any file system whatever the title holds:
    letters and digits of any script are kept; controls, quotes, separators, bidirectional
    overrides and emoji become dashes."""
    title = unicodedata.normalize("NFC", conversation.title)
    stem = re.sub(r"[^\w.-]+", "-", title).strip("-._")[:FILENAME_STEM_CHARS].strip("-._")
    return f"{stem or 'conversation'}-{str(conversation.uuid)[:8]}.{extension}"


def transcript_export_zip(
    *, conversations: Iterable[Conversation], render: Any, extension: str
) -> bytes:
    """A zip of one file per conversation (`render(conversation) -> str`), with unique names.

    Built in memory, so refused (TranscriptExportError, code `too_large`) past
    CHATSITE_EXPORT_MAX_BYTES of uncompressed text.
    """
    limit = settings.CHATSITE_EXPORT_MAX_BYTES
    total = 0
    used: set[str] = set()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for conversation in conversations:
            data = render(conversation).encode("utf-8")
            total += len(data)
            if total > limit:
                raise TranscriptExportError(
                    f"The export is larger than {limit // 2**20} MB; export the conversations "
                    "one by one.",
                    code="too_large",
                )
            name = transcript_filename(conversation=conversation, extension=extension)
            archive.writestr(_unique(name, used), data)
    return buffer.getvalue()


def _unique(name: str, used: set[str]) -> str:
    stem, _, extension = name.rpartition(".")
    candidate, number = name, 1
    while candidate.lower() in used:  # case-insensitive file systems unpack the zip too
        number += 1
        candidate = f"{stem}-{number}.{extension}"
    used.add(candidate.lower())
    return candidate


def transcript_json_text(*, conversation: Conversation, images: ImageExport = "link") -> str:
    return json.dumps(
        transcript_export_json(conversation=conversation, images=images),
        indent=2,
        ensure_ascii=False,
    )
