"""Announce changes to every open tab of a conversation, on every server process."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def control_group(conversation_uuid: str) -> str:
    """The group a running generation listens on for Stop, whichever process owns it."""
    return f"conversation.{conversation_uuid}.control"


# Publishing is best effort everywhere: the database is the truth and clients resync from it,
# so a channel layer that is down (Redis) must never fail a write or end a generation.


def event_publish(*, group: str, frame: Mapping[str, Any]) -> None:
    """Send a frame to a group from sync code (call it from `transaction.on_commit`)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, dict(frame))
    except Exception:
        logger.warning("could not publish %s to %s", frame.get("type"), group, exc_info=True)


async def event_publish_async(*, group: str, frame: Mapping[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, dict(frame))
    except Exception:
        logger.warning("could not publish %s to %s", frame.get("type"), group, exc_info=True)


async def status_publish_async(*, group: str, message_uuid: str, status: str) -> None:
    """`chat.status`: a phase of a reply before its text (e.g. "summarizing")."""
    frame = {"type": "chat.status", "message_id": message_uuid, "status": status}
    await event_publish_async(group=group, frame=frame)
