"""Socket frames added by the engine: prefill, continue, thinking and the summarizing status."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from conversations.models import Message, Summary
from tests.conversations.sockets import communicator, receive, receive_until_done
from tests.factories import ConversationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def connected(conversation, cookie):
    ws = communicator(conversation, cookie=cookie)
    assert (await ws.connect(timeout=10))[0]
    return ws


def joined(frames: list[dict], frame_type: str, start: str = "") -> str:
    text = start
    for frame in frames:
        if frame["type"] == frame_type:
            assert frame["offset"] == len(text)
            text += frame["text"]
    return text


async def test_a_prefill_sent_with_the_message_starts_the_reply(user, cookie):
    conversation = await database_sync_to_async(ConversationFactory)(
        owner=user, model="claude-opus-4-5"
    )
    ws = await connected(conversation, cookie)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "JSON please", "prefill": "{"}))
    created = [await receive(ws), await receive(ws)]
    reply = created[1]["message"]
    assert (reply["text"], reply["prefill_length"]) == ("{", 1)
    frames = await receive_until_done(ws)
    assert frames[0]["offset"] == 1  # the deltas follow the prefill
    done = frames[-1]["message"]
    assert done["text"] == joined(frames, "chat.delta", start="{")
    await ws.disconnect()


async def test_a_prefill_on_a_model_that_rejects_it_gets_an_error_frame(conversation, cookie):
    ws = await connected(conversation, cookie)
    frame = {"type": "send", "text": "JSON please", "prefill": "{", "client_id": "p1"}
    await ws.send_to(text_data=json.dumps(frame))
    error = await receive(ws)
    assert (error["type"], error["code"], error["client_id"]) == ("error", "invalid", "p1")
    assert "prefill" in error["message"]
    assert not await database_sync_to_async(Message.objects.exists)()
    await ws.disconnect()


async def test_continue_appends_to_the_cut_reply_in_every_tab(user, cookie):
    conversation = await database_sync_to_async(ConversationFactory)(
        owner=user, parameters={"max_tokens": 30}
    )
    ws = await connected(conversation, cookie)
    other_tab = await connected(conversation, cookie)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "Go [sim:words=80]"}))
    cut = (await receive_until_done(ws))[-1]["message"]
    await receive_until_done(other_tab)
    assert cut["stop_reason"] == "max_tokens"

    await ws.send_to(text_data=json.dumps({"type": "continue", "message_id": cut["id"]}))
    for tab in (ws, other_tab):
        updated = await receive(tab)
        assert updated["type"] == "message.updated"
        assert (updated["message"]["id"], updated["message"]["status"]) == (cut["id"], "pending")
        frames = await receive_until_done(tab)
        base = updated["message"]["text"]
        done = frames[-1]["message"]
        assert done["text"] == joined(frames, "chat.delta", start=base)
        assert done["text"].startswith(cut["text"].rstrip())
        assert done["continuations"] == 1
    await ws.disconnect()
    await other_tab.disconnect()


async def test_continue_on_a_complete_reply_is_refused(conversation, cookie):
    ws = await connected(conversation, cookie)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "hi"}))
    done = (await receive_until_done(ws))[-1]["message"]
    await ws.send_to(text_data=json.dumps({"type": "continue", "message_id": done["id"]}))
    error = await receive(ws)
    assert (error["type"], error["code"]) == ("error", "invalid")
    await ws.disconnect()


async def test_thinking_streams_in_its_own_frames(user, cookie):
    conversation = await database_sync_to_async(ConversationFactory)(
        owner=user, model="claude-opus-4-8", parameters={"max_tokens": 4000, "thinking": True}
    )
    ws = await connected(conversation, cookie)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "Think about it"}))
    await receive(ws), await receive(ws)
    frames = await receive_until_done(ws)
    done = frames[-1]["message"]
    assert done["thinking"] == joined(frames, "chat.thinking")
    assert done["thinking"]
    assert done["text"] == joined(frames, "chat.delta")
    await ws.disconnect()


async def test_a_turn_over_budget_announces_the_summary_first(user, cookie):
    conversation = await database_sync_to_async(ConversationFactory)(
        owner=user, parameters={"max_tokens": 500, "context_budget": 2100}
    )
    ws = await connected(conversation, cookie)
    for n in range(2):
        await ws.send_to(text_data=json.dumps({"type": "send", "text": f"Question {n}"}))
        await receive_until_done(ws)
    # One long message pushes the next request over the budget: it waits for a summary.
    long_text = "Now this: " + "words " * 1200
    await ws.send_to(text_data=json.dumps({"type": "send", "text": long_text}))
    frames = await receive_until_done(ws)
    statuses = [f for f in frames if f["type"] == "chat.status"]
    assert [s["status"] for s in statuses] == ["summarizing"]
    done = frames[-1]["message"]
    assert done["status"] == "complete", done["error_detail"]
    assert await database_sync_to_async(Summary.objects.count)() == 1
    await ws.disconnect()


async def test_pins_settings_and_summary_edits_reach_every_tab(conversation, cookie):
    from conversations.services.conversations import (
        conversation_update,
        message_pin,
        summary_update,
    )

    ws = await connected(conversation, cookie)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "hi"}))
    done = (await receive_until_done(ws))[-1]["message"]
    reply = await database_sync_to_async(Message.objects.get)(uuid=done["id"])

    await database_sync_to_async(message_pin)(message=reply, pinned=True)
    pinned = await receive(ws)
    assert pinned == {"type": "message.pinned", "message_id": done["id"], "is_pinned": True}

    await database_sync_to_async(conversation_update)(
        conversation=conversation, model="claude-opus-4-5"
    )
    updated = await receive(ws)
    assert (updated["type"], updated["conversation"]["model"]) == (
        "conversation.updated",
        "claude-opus-4-5",
    )

    summary = await database_sync_to_async(Summary.objects.create)(
        conversation=conversation, covers_up_to=reply, text="old"
    )
    await database_sync_to_async(summary_update)(summary=summary, text="new words")
    edited = await receive(ws)
    assert (edited["type"], edited["summary"]["text"]) == ("summary.updated", "new words")
    await ws.disconnect()


async def test_a_summary_written_in_the_background_is_announced(user, cookie):
    conversation = await database_sync_to_async(ConversationFactory)(
        owner=user, parameters={"max_tokens": 500, "context_budget": 2100}
    )
    ws = await connected(conversation, cookie)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "A short question"}))
    await receive_until_done(ws)
    long_text = "Now this: " + "words " * 950  # past 80% of the budget, not over it
    await ws.send_to(text_data=json.dumps({"type": "send", "text": long_text}))
    frames = await receive_until_done(ws)
    assert not [f for f in frames if f["type"] == "chat.status"]
    created = await receive(ws)
    assert created["type"] == "summary.created"
    summary = await database_sync_to_async(Summary.objects.get)()
    assert created["summary"]["id"] == str(summary.uuid)
    await ws.disconnect()
