"""Transcript export. JSON keeps the whole tree (every branch), the active leaf and summaries."""

from __future__ import annotations

import re
from typing import Any

from conversations.frames import message_data
from conversations.models import Conversation, Message

EXPORT_VERSION = 1


def transcript_export_json(*, conversation: Conversation) -> dict[str, Any]:
    """Queries: 2 (messages, summaries)."""
    messages = list(Message.objects.filter(conversation=conversation).order_by("created_at", "id"))
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
            message_data(m, parent_uuid=uuid_by_id.get(m.parent_id or 0)) for m in messages
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


def transcript_filename(*, conversation: Conversation, extension: str) -> str:
    """A download name safe in a Content-Disposition header whatever the title holds."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", conversation.title).strip("-._")[:60]
    return f"{stem or 'conversation'}-{str(conversation.uuid)[:8]}.{extension}"
