"""Edits and regenerations make siblings; the active branch is what the API receives."""

from __future__ import annotations

import json

import pytest

from conversations.models import Message
from conversations.services.history import conversation_path
from conversations.services.message_rules import MessageValidationError
from conversations.services.messages import (
    message_edit,
    message_regenerate,
)
from tests.conversations.sockets import TIMEOUT, communicator, receive, receive_until_done
from tests.factories import chain
from tests.sent import sent_turns


@pytest.mark.django_db
def test_regenerate_makes_a_sibling_reply_and_activates_it(conversation):
    question, _first_reply = chain(conversation, ("user", "q"), ("assistant", "first"))
    again = message_regenerate(conversation=conversation)
    assert again.parent_id == question.id
    assert again.status == Message.Status.PENDING
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == again.id
    assert [m.id for m in conversation_path(conversation=conversation)] == [question.id, again.id]
    assert Message.objects.filter(parent=question).count() == 2  # nothing deleted


@pytest.mark.django_db
def test_edit_makes_a_sibling_turn_and_keeps_the_original_branch(conversation):
    _q1, a1, q2, a2 = chain(
        conversation, ("user", "one"), ("assistant", "r1"), ("user", "two"), ("assistant", "r2")
    )
    result = message_edit(conversation=conversation, message_uuid=str(q2.uuid), text="two, better")
    assert result.user_message.parent_id == a1.id
    assert result.assistant_message.parent_id == result.user_message.id
    conversation.refresh_from_db()
    path = conversation_path(conversation=conversation)
    assert [m.text for m in path] == ["one", "r1", "two, better", ""]
    old_branch = conversation_path(conversation=conversation, leaf_id=a2.id)
    assert [m.text for m in old_branch] == ["one", "r1", "two", "r2"]


@pytest.mark.django_db
def test_editing_the_first_message_starts_a_new_root(conversation):
    (q1, _a1) = chain(conversation, ("user", "hello"), ("assistant", "hi"))
    result = message_edit(conversation=conversation, message_uuid=str(q1.uuid), text="hey")
    assert result.user_message.parent_id is None


@pytest.mark.django_db
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", None])
def test_edit_refuses_an_unknown_message(conversation, bad_id):
    with pytest.raises(MessageValidationError, match="No such message"):
        message_edit(conversation=conversation, message_uuid=bad_id, text="x")


@pytest.mark.django_db
def test_edit_refuses_claudes_messages_and_another_conversations(conversation, other_user):
    from tests.factories import ConversationFactory

    _q, reply = chain(conversation, ("user", "q"), ("assistant", "a"))
    with pytest.raises(MessageValidationError, match="Only your own"):
        message_edit(conversation=conversation, message_uuid=str(reply.uuid), text="x")
    theirs = ConversationFactory(owner=other_user)
    (their_question,) = chain(theirs, ("user", "private"))
    with pytest.raises(MessageValidationError, match="No such message"):
        message_edit(conversation=conversation, message_uuid=str(their_question.uuid), text="x")


@pytest.mark.django_db
def test_regenerate_refuses_a_user_message_and_an_empty_conversation(conversation):
    with pytest.raises(MessageValidationError, match="no reply"):
        message_regenerate(conversation=conversation)
    (question,) = chain(conversation, ("user", "q"))
    with pytest.raises(MessageValidationError, match="Only a reply"):
        message_regenerate(conversation=conversation, message_uuid=str(question.uuid))


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_regenerate_over_the_socket_sends_the_history_without_the_old_reply(
    conversation, cookie, simulator
):
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "tell me"}))
    first = (await receive_until_done(ws))[-1]["message"]
    await ws.send_to(text_data=json.dumps({"type": "regenerate", "message_id": first["id"]}))
    created = await receive(ws)
    assert created["type"] == "message.created"
    assert created["message"]["parent_id"] == first["parent_id"]
    second = (await receive_until_done(ws))[-1]["message"]
    assert second["status"] == "complete"
    assert second["id"] != first["id"]
    assert sent_turns(simulator.requests[-1]) == [("user", "tell me")]
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_edit_over_the_socket_answers_the_new_text(conversation, cookie, simulator):
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await ws.send_to(text_data=json.dumps({"type": "send", "text": "typo hre"}))
    done = (await receive_until_done(ws))[-1]["message"]
    frame = {"type": "edit", "message_id": done["parent_id"], "text": "typo here"}
    await ws.send_to(text_data=json.dumps(frame))
    reply = (await receive_until_done(ws))[-1]["message"]
    assert "You said: “typo here”" in reply["text"]
    assert sent_turns(simulator.requests[-1]) == [("user", "typo here")]
    await ws.send_to(text_data=json.dumps({"type": "edit", "message_id": "nope", "text": "x"}))
    assert (await receive(ws))["code"] == "invalid"
    await ws.disconnect()
