"""Driving the conversation socket through the full ASGI stack (origin check, session auth)."""

from __future__ import annotations

import json
from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from chatsite.asgi import application

TIMEOUT = 10


def session_cookie(user) -> str:
    """The session key of a fresh login of `user` (the value of the session cookie)."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def communicator(
    conversation, *, cookie: str | None, origin: str | None = "http://localhost"
) -> WebsocketCommunicator:
    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.uuid}/", headers=headers
    )


async def receive(ws: WebsocketCommunicator) -> dict[str, Any]:
    return json.loads(await ws.receive_from(timeout=TIMEOUT))


async def receive_until_done(ws: WebsocketCommunicator) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await receive(ws)
        frames.append(frame)
        if frame["type"] in ("chat.done", "chat.error"):
            return frames
