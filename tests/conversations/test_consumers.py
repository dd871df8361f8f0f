"""The conversation socket, driven through the full ASGI stack (origin check, session auth)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from conversations.models import Message
from tests.conversations.sockets import (
    TIMEOUT,
    communicator,
    receive,
    receive_until_done,
)
from tests.factories import ConversationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def start_long_reply(conversation, cookie: str) -> WebsocketCommunicator:
    """A socket whose reply is streaming (about ten seconds of it): for Stop and its kin."""
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    long_and_slow = "[sim:words=500] [sim:delay=0.02] long"
    await ws.send_to(text_data=json.dumps({"type": "send", "text": long_and_slow}))
    await receive(ws), await receive(ws)
    assert (await receive(ws))["type"] == "chat.delta"
    return ws


async def test_an_anonymous_socket_is_refused(conversation):
    ws = communicator(conversation, cookie=None)
    connected, code = await ws.connect(timeout=TIMEOUT)
    assert not connected
    assert code == 4401
    await ws.disconnect()


async def test_a_foreign_origin_is_refused(conversation, cookie):
    ws = communicator(conversation, cookie=cookie, origin="https://evil.example")
    connected, _ = await ws.connect(timeout=TIMEOUT)
    assert not connected
    await ws.disconnect()


async def test_another_users_conversation_is_refused(other_user, cookie):
    theirs = await database_sync_to_async(ConversationFactory)(owner=other_user)
    ws = communicator(theirs, cookie=cookie)
    connected, code = await ws.connect(timeout=TIMEOUT)
    assert not connected
    assert code == 4404
    await ws.disconnect()


async def test_the_reply_streams_in_order_and_is_stored(conversation, cookie, settings):
    settings.CHATSITE_STREAM_FLUSH_SECONDS = 0  # a frame per delta: order is what is tested
    ws = communicator(conversation, cookie=cookie)
    assert (await ws.connect(timeout=TIMEOUT))[0]
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "Hello", "client_id": "c1"}))

    created = [await receive(ws), await receive(ws)]
    assert [f["type"] for f in created] == ["message.created", "message.created"]
    assert [f["message"]["role"] for f in created] == ["user", "assistant"]
    assert created[1]["message"]["status"] == "pending"
    reply_id = created[1]["message"]["id"]

    frames = await receive_until_done(ws)
    deltas, done = frames[:-1], frames[-1]
    assert len(deltas) > 3
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    streamed = ""
    for delta in deltas:
        assert delta["offset"] == len(streamed)  # each frame starts where the last one ended
        streamed += delta["text"]
    assert done["type"] == "chat.done"
    assert done["message"]["id"] == reply_id
    assert done["message"]["text"] == streamed
    assert done["message"]["status"] == "complete"

    stored = await database_sync_to_async(Message.objects.get)(uuid=reply_id)
    assert stored.text == streamed
    assert stored.status == Message.Status.COMPLETE
    assert stored.output_tokens
    assert stored.output_tokens > 0
    await ws.disconnect()


async def test_deltas_are_batched_into_few_frames(conversation, cookie, settings):
    settings.CHATSITE_STREAM_FLUSH_SECONDS = 10  # longer than the whole reply
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "[sim:words=200] go"}))
    await receive(ws), await receive(ws)
    frames = await receive_until_done(ws)
    deltas = [f for f in frames if f["type"] == "chat.delta"]
    # The first delta goes out at once, everything else waits for the flush at the end.
    assert len(deltas) <= 2
    assert "".join(d["text"] for d in deltas) == frames[-1]["message"]["text"]
    await ws.disconnect()


async def test_every_tab_sees_the_same_stream(conversation, cookie):
    first, second = (
        communicator(conversation, cookie=cookie),
        communicator(conversation, cookie=cookie),
    )
    await first.connect(timeout=TIMEOUT)
    await second.connect(timeout=TIMEOUT)
    await first.send_to(text_data=json.dumps({"type": "send", "text": "Both tabs"}))
    seen_by_first = await receive_until_done(first)
    seen_by_second = await receive_until_done(second)
    assert seen_by_first[-1]["message"]["text"] == seen_by_second[-1]["message"]["text"]
    assert "You said: “Both tabs”" in seen_by_second[-1]["message"]["text"]
    await first.disconnect()
    await second.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_frame"),
        ("[1, 2]", "invalid_frame"),
        ('{"no": "type"}', "invalid_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "send", "text": "   "}', "invalid"),
        ('{"type": "send", "text": 42}', "invalid"),
        ('{"type": "send", "text": "hi", "client_id": {"x": 1}}', "invalid"),
    ],
)
async def test_a_bad_frame_gets_an_error_frame_and_the_socket_keeps_working(
    conversation, cookie, raw, code
):
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await ws.send_to(text_data=raw)
    error = await receive(ws)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "still here?"}))
    frames = await receive_until_done(ws)
    assert frames[-1]["message"]["status"] == "complete"
    assert await database_sync_to_async(Message.objects.filter(role="user").count)() == 1
    await ws.disconnect()


async def test_a_binary_frame_gets_an_error_frame(conversation, cookie):
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await receive(ws))["code"] == "invalid_frame"
    await ws.disconnect()


async def test_an_oversize_frame_closes_the_socket(conversation, cookie, settings):
    settings.CHATSITE_MAX_FRAME_CHARS = 1000
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "x" * 2000}))
    assert (await ws.receive_output(timeout=TIMEOUT))["code"] == 1009
    assert not await database_sync_to_async(Message.objects.exists)()
    await ws.disconnect()


async def test_a_second_send_while_replying_is_busy(conversation, cookie, settings):
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await ws.send_to(
        text_data=json.dumps({"type": "send", "text": "[sim:words=40] [sim:delay=0.05] one"})
    )
    await receive(ws), await receive(ws)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "two", "client_id": "c2"}))
    frame = await receive(ws)
    while frame["type"] == "chat.delta":
        frame = await receive(ws)
    assert frame == {**frame, "type": "error", "code": "busy", "client_id": "c2"}
    await receive_until_done(ws)
    assert await database_sync_to_async(Message.objects.filter(role="user").count)() == 1
    await ws.disconnect()


async def test_stop_keeps_the_partial_reply(conversation, cookie, settings, simulator):
    settings.CHATSITE_STREAM_FLUSH_SECONDS = 0
    ws = await start_long_reply(conversation, cookie)
    await ws.send_to(text_data=json.dumps({"type": "stop"}))
    frames = await receive_until_done(ws)
    done = frames[-1]
    assert done["message"]["status"] == "stopped"
    assert 0 < len(done["message"]["text"].split()) < 500
    stored = await database_sync_to_async(Message.objects.get)(uuid=done["message"]["id"])
    assert (stored.status, stored.text) == ("stopped", done["message"]["text"])
    assert simulator.aborted_streams == 1
    await ws.disconnect()


async def test_resync_returns_the_stored_path(conversation, cookie):
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "remember me"}))
    done = (await receive_until_done(ws))[-1]
    await ws.send_to(text_data=json.dumps({"type": "resync"}))
    state = await receive(ws)
    assert state["type"] == "conversation.state"
    assert [m["text"] for m in state["messages"]] == ["remember me", done["message"]["text"]]
    assert state["messages"][1]["parent_id"] == state["messages"][0]["id"]
    await ws.disconnect()


async def test_a_deleted_conversation_closes_the_socket_on_the_next_frame(conversation, cookie):
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await database_sync_to_async(conversation.delete)()
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "hello?"}))
    assert (await receive(ws))["code"] == "not_found"
    assert (await ws.receive_output(timeout=TIMEOUT))["code"] == 4404
    await ws.disconnect()


async def test_stop_sent_through_the_control_group_reaches_the_owning_task(
    conversation, cookie, settings
):
    """What another server process does: it only has the group, not the task."""
    from conversations.services.events import control_group, event_publish_async

    ws = await start_long_reply(conversation, cookie)
    await event_publish_async(
        group=control_group(str(conversation.uuid)),
        frame={
            "type": "generation.stop",
            "conversation_id": str(conversation.uuid),
            "message_id": None,
        },
    )
    done = (await receive_until_done(ws))[-1]
    assert done["message"]["status"] == "stopped"
    await ws.disconnect()


async def test_a_repeated_client_id_shows_the_stored_turn_to_the_sender_only(conversation, cookie):
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    send = json.dumps({"type": "send", "text": "once", "client_id": "same"})
    await ws.send_to(text_data=send)
    done = (await receive_until_done(ws))[-1]
    await ws.send_to(text_data=send)
    echoed = [await receive(ws), await receive(ws)]
    assert [f["type"] for f in echoed] == ["message.created", "message.created"]
    assert echoed[1]["message"]["id"] == done["message"]["id"]
    assert echoed[1]["message"]["status"] == "complete"
    assert await ws.receive_nothing(timeout=0.3)
    assert await database_sync_to_async(Message.objects.count)() == 2
    await ws.disconnect()


async def test_stop_before_the_request_is_built_ends_the_reply_as_stopped(conversation):
    """A Stop that lands while the reply is still `pending` must not be lost."""
    from conversations.services.cancellation import generation_request_stop
    from conversations.services.generation import generation_start
    from conversations.services.messages import message_send

    result = await database_sync_to_async(message_send)(conversation=conversation, text="hi")
    task = generation_start(reply=result.assistant_message)
    await asyncio.sleep(0)  # the task registers itself, then waits for the database
    await generation_request_stop(
        conversation_uuid=str(conversation.uuid), message_uuid=str(result.assistant_message.uuid)
    )
    with contextlib.suppress(asyncio.CancelledError):
        await task
    reply = await database_sync_to_async(Message.objects.get)(pk=result.assistant_message.pk)
    assert reply.status == Message.Status.STOPPED


async def test_a_logged_out_session_loses_the_socket_on_its_next_frame(conversation, cookie):
    from django.contrib.sessions.models import Session

    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await database_sync_to_async(Session.objects.all().delete)()
    await ws.send_to(text_data=json.dumps({"type": "resync"}))
    assert (await receive(ws))["code"] == "unauthenticated"
    assert (await ws.receive_output(timeout=TIMEOUT))["code"] == 4401
    await ws.disconnect()


async def test_a_deactivated_account_loses_the_socket(conversation, cookie, user):
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    user.is_active = False
    await database_sync_to_async(user.save)()
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "still me?"}))
    assert (await receive(ws))["code"] == "unauthenticated"
    assert not await database_sync_to_async(Message.objects.exists)()
    await ws.disconnect()


async def test_deleting_the_conversation_stops_its_generation(
    conversation, cookie, settings, simulator
):
    from conversations.services.conversations import conversation_delete

    ws = await start_long_reply(conversation, cookie)
    await database_sync_to_async(conversation_delete)(conversation=conversation)
    for _ in range(50):
        if simulator.aborted_streams:
            break
        await asyncio.sleep(0.02)
    assert simulator.aborted_streams == 1
    await ws.disconnect()


async def test_logging_out_closes_the_sessions_sockets_in_every_tab(conversation, user):
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    tabs = [communicator(conversation, cookie=cookie), communicator(conversation, cookie=cookie)]
    for tab in tabs:
        assert (await tab.connect(timeout=TIMEOUT))[0]
    await database_sync_to_async(client.post)("/accounts/logout/")
    for tab in tabs:
        assert (await receive(tab))["code"] == "unauthenticated"
        assert (await tab.receive_output(timeout=TIMEOUT))["code"] == 4401
        await tab.disconnect()


async def test_too_many_replies_at_once_for_one_person(user, cookie, settings):
    settings.CHATSITE_MAX_CONCURRENT_GENERATIONS = 1
    first, second = await database_sync_to_async(ConversationFactory.create_batch)(2, owner=user)
    ws_first, ws_second = communicator(first, cookie=cookie), communicator(second, cookie=cookie)
    await ws_first.connect(timeout=TIMEOUT)
    await ws_second.connect(timeout=TIMEOUT)
    slow = "[sim:words=40] [sim:delay=0.05] one"
    await ws_first.send_to(text_data=json.dumps({"type": "send", "text": slow}))
    await receive(ws_first)
    await ws_second.send_to(text_data=json.dumps({"type": "send", "text": "two"}))
    error = await receive(ws_second)
    assert error["code"] == "too_many_generations"
    await receive_until_done(ws_first)
    await ws_second.send_to(text_data=json.dumps({"type": "send", "text": "now"}))
    assert (await receive_until_done(ws_second))[-1]["message"]["status"] == "complete"
    await ws_first.disconnect()
    await ws_second.disconnect()


async def test_sends_are_rate_limited_per_person(conversation, cookie, settings):
    settings.CHATSITE_SEND_RATE_LIMIT = "2/minute"
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    for text in ("one", "two"):
        await ws.send_to(text_data=json.dumps({"type": "send", "text": text}))
        await receive_until_done(ws)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "three", "client_id": "c3"}))
    error = await receive(ws)
    assert (error["code"], error["client_id"]) == ("rate_limited", "c3")
    assert "2/minute" in error["message"]
    assert await database_sync_to_async(Message.objects.filter(role="user").count)() == 2
    await ws.disconnect()
