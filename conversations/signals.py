"""Logging out ends that session's sockets in every tab, on every process; deleting an
attachment removes its files."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import HttpRequest

from conversations.models import Attachment
from conversations.services.attachments import attachment_files_delete_on_commit
from conversations.services.events import event_publish


def session_group(session_key: str) -> str:
    # The key itself is a credential: group names end up in Redis and logs, so hash it.
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


@receiver(user_logged_out)
def close_sockets_of_session(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    session_key = request.session.session_key if request is not None else None
    if session_key:
        event_publish(group=session_group(session_key), frame={"type": "session.ended"})


@receiver(post_delete, sender=Attachment)
def delete_files_of_attachment(sender: Any, instance: Attachment, **kwargs: Any) -> None:
    # Also on cascades (a conversation or a person deleted): no image outlives its rows.
    attachment_files_delete_on_commit([instance])
