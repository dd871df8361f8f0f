"""The request-size guard in front of Django, driven through the real ASGI application."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chatsite.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def post(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int]:
    """(status, body chunks the app asked for) of a POST to the upload URL."""
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if not pending:
            await asyncio.Event().wait()  # the client stays connected until answered
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/conversations/00000000-0000-0000-0000-000000000000/attachments/",
        "raw_path": b"",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("localhost", 80),
    }
    await application(scope, receive, send)
    return sent[0]["status"], asked


async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(settings):
    settings.CHATSITE_UPLOAD_MAX_BYTES = 1000
    settings.CHATSITE_IMPORT_MAX_BYTES = 1000
    status, asked = await post([(b"content-length", str(50 * 2**20).encode())], [b"x"])
    assert status == 413
    assert asked == 0


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(settings):
    settings.CHATSITE_UPLOAD_MAX_BYTES = 1000
    settings.CHATSITE_IMPORT_MAX_BYTES = 1000
    chunk = b"x" * 2**19
    status, asked = await post([], [chunk] * 10)
    assert status == 413
    assert asked == 3  # 1.5 MB read: past the 1000 bytes + the 1 MB envelope, then stop


async def test_a_body_within_the_limit_reaches_django(settings):
    settings.CHATSITE_UPLOAD_MAX_BYTES = 1000
    settings.CHATSITE_IMPORT_MAX_BYTES = 1000
    status, _ = await post([(b"content-length", b"10")], [b"0123456789"])
    assert status == 401  # Django answered: no credentials
