"""Several real server processes sharing PostgreSQL and Redis, as in production."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client
from websockets.asyncio.client import ClientConnection, connect

from conversations.models import Message
from tests.server_processes import ServerProcess, require_postgres_and_redis

pytestmark = [pytest.mark.postgres_redis, pytest.mark.django_db(transaction=True)]

TIMEOUT = 20


@pytest.fixture
def two_servers():
    require_postgres_and_redis()
    servers = [ServerProcess(), ServerProcess()]
    yield servers
    for server in servers:
        server.stop()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def open_socket(server: ServerProcess, conversation, cookie: str) -> ClientConnection:
    return await connect(
        f"{server.ws_url}/ws/conversations/{conversation.uuid}/",
        additional_headers={"Cookie": cookie},
        origin=server.url,  # type: ignore[arg-type]
    )


async def next_frame(ws: ClientConnection, *types: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if frame["type"] in types:
            return frame


@pytest.mark.asyncio
async def test_a_reply_started_on_one_process_streams_to_another_and_stops_from_it(
    two_servers, user, conversation
):
    first, second = two_servers
    cookie = await database_sync_to_async(session_cookie)(user)
    on_first = await open_socket(first, conversation, cookie)
    on_second = await open_socket(second, conversation, cookie)
    try:
        slow = "[sim:words=2000] [sim:delay=0.02] a long one"
        await on_first.send(json.dumps({"type": "send", "text": slow}))

        # The generation runs in the first process; its stream reaches the second.
        created = await next_frame(on_second, "message.created")
        assert created["message"]["role"] == "user"
        delta = await next_frame(on_second, "chat.delta")
        reply_id = delta["message_id"]

        # Stop sent to the second process cancels the task in the first.
        await on_second.send(json.dumps({"type": "stop", "message_id": reply_id}))
        done_second = await next_frame(on_second, "chat.done", "chat.error")
        done_first = await next_frame(on_first, "chat.done", "chat.error")
    finally:
        await on_first.close()
        await on_second.close()

    assert done_second["message"]["status"] == done_first["message"]["status"] == "stopped"
    reply = await database_sync_to_async(Message.objects.get)(uuid=reply_id)
    assert reply.status == Message.Status.STOPPED
    assert 0 < len(reply.text.split()) < 2000
    assert reply.text == done_second["message"]["text"]


@pytest.mark.asyncio
async def test_a_killed_process_leaves_an_interrupted_reply_and_the_conversation_usable(
    user, conversation
):
    require_postgres_and_redis()
    fast_stale = {"CHATSITE_HEARTBEAT_SECONDS": "0.2", "CHATSITE_GENERATION_STALE_SECONDS": "1"}
    doomed = ServerProcess(extra_env={**fast_stale, "CHATSITE_STREAM_SAVE_SECONDS": "0.1"})
    cookie = await database_sync_to_async(session_cookie)(user)
    try:
        ws = await open_socket(doomed, conversation, cookie)
        slow = "[sim:words=2000] [sim:delay=0.02] a long one"
        await ws.send(json.dumps({"type": "send", "text": slow}))
        await next_frame(ws, "chat.delta")
        await asyncio.sleep(0.5)  # some text is saved
        doomed.kill()
    finally:
        doomed.stop()

    reply = await database_sync_to_async(Message.objects.get)(role="assistant")
    assert reply.status == Message.Status.STREAMING  # nobody is left to say otherwise

    survivor = ServerProcess(extra_env=fast_stale)
    try:
        await asyncio.sleep(1.2)  # the heartbeat is now stale
        ws = await open_socket(survivor, conversation, cookie)
        await ws.send(json.dumps({"type": "send", "text": "are you still there?"}))
        # First the sweep announces the orphan, then the new reply ends.
        swept = await next_frame(ws, "chat.done", "chat.error")
        done = await next_frame(ws, "chat.done", "chat.error")
        await ws.close()
    finally:
        survivor.stop()

    await database_sync_to_async(reply.refresh_from_db)()
    assert reply.status == Message.Status.INTERRUPTED
    assert reply.text  # the partial text survived the crash
    assert swept["message"]["id"] == str(reply.uuid)
    assert swept["message"]["status"] == "interrupted"
    assert done["message"]["status"] == "complete"
    assert "are you still there?" in done["message"]["text"]
