"""Transcript export. JSON keeps the whole tree (every branch), the active leaf and summaries."""

from __future__ import annotations

import base64
import re
from typing import Any, Literal

from conversations.frames import message_data
from conversations.models import Attachment, Conversation, Message

EXPORT_VERSION = 1
# How images are exported: their bytes (base64, the largest stored size), a link to them on
# this server (owner only), or not at all.
ImageExport = Literal["base64", "link", "omit"]
IMAGE_EXPORTS: tuple[ImageExport, ...] = ("base64", "link", "omit")


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
            {**item, "data": _image_base64(by_id[item["id"]])} for item in data["attachments"]
        ]
    return data


def _image_base64(attachment: Attachment) -> str | None:
    if not attachment.file:
        return None  # an image by URL: the address is the export
    with attachment.file.open("rb") as stored:
        return base64.b64encode(stored.read()).decode("ascii")


def transcript_filename(*, conversation: Conversation, extension: str) -> str:
    """A download name safe in a Content-Disposition header whatever the title holds."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", conversation.title).strip("-._")[:60]
    return f"{stem or 'conversation'}-{str(conversation.uuid)[:8]}.{extension}"
