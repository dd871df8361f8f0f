"""Edits and regenerations make siblings; the active branch is what the API receives."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from conversations.frames import active_path_data
from conversations.models import Conversation, Message
from conversations.services.history import conversation_path
from conversations.services.message_rules import ConversationBusyError, MessageValidationError
from conversations.services.messages import (
    branch_select,
    message_edit,
    message_regenerate,
)
from tests.conversations.sockets import TIMEOUT, communicator, receive, receive_until_done
from tests.factories import ConversationFactory, MessageFactory, chain
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


# --- choosing a branch ------------------------------------------------------------------------
def branched(conversation: Conversation) -> dict[str, Message]:
    """q1 -> a1 -> q2 -> a2, an edit q2' -> a2' beside q2, and a regeneration a2'' of a2'
    (newest of all, active)."""
    q1, a1, q2, a2 = chain(
        conversation, ("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")
    )
    q2b = MessageFactory(conversation=conversation, parent=a1, role="user", text="q2'")
    a2b = MessageFactory(conversation=conversation, parent=q2b, role="assistant", text="a2'")
    a2c = MessageFactory(conversation=conversation, parent=q2b, role="assistant", text="a2''")
    conversation.active_leaf = a2c
    conversation.save()
    return {"q1": q1, "a1": a1, "q2": q2, "a2": a2, "q2'": q2b, "a2'": a2b, "a2''": a2c}


def shown_texts(conversation: Conversation) -> list[str]:
    conversation.refresh_from_db()
    return [m.text for m in conversation_path(conversation=conversation)]


@pytest.mark.django_db
def test_selecting_a_version_shows_the_newest_branch_under_it(conversation):
    made = branched(conversation)
    leaf = branch_select(conversation=conversation, message_uuid=str(made["q2"].uuid))
    assert leaf.id == made["a2"].id
    assert conversation.active_leaf_id == made["a2"].id  # the instance follows
    assert shown_texts(conversation) == ["q1", "a1", "q2", "a2"]
    # Back to the edit: its newest reply (the regeneration), not its first.
    branch_select(conversation=conversation, message_uuid=made["q2'"].uuid)
    assert shown_texts(conversation) == ["q1", "a1", "q2'", "a2''"]
    # A reply without anything after it is its own leaf.
    branch_select(conversation=conversation, message_uuid=str(made["a2'"].uuid))
    assert shown_texts(conversation) == ["q1", "a1", "q2'", "a2'"]
    assert Message.objects.filter(conversation=conversation).count() == 7  # nothing deleted


@pytest.mark.django_db
def test_selecting_is_not_activity(conversation):
    made = branched(conversation)
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    before = Conversation.objects.get(pk=conversation.pk).updated_at
    branch_select(conversation=conversation, message_uuid=str(made["q2"].uuid))
    assert Conversation.objects.get(pk=conversation.pk).updated_at == before


@pytest.mark.django_db
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", None, 7])
def test_selecting_refuses_an_unknown_message(conversation, bad_id):
    made = branched(conversation)
    with pytest.raises(MessageValidationError, match="No such message"):
        branch_select(conversation=conversation, message_uuid=bad_id)
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == made["a2''"].id


@pytest.mark.django_db
def test_selecting_refuses_another_persons_message_like_a_missing_one(conversation, other_user):
    made = branched(conversation)
    theirs = ConversationFactory(owner=other_user)
    (their_question,) = chain(theirs, ("user", "private"))
    with pytest.raises(MessageValidationError, match="No such message"):
        branch_select(conversation=conversation, message_uuid=str(their_question.uuid))
    conversation.refresh_from_db()
    theirs.refresh_from_db()
    assert conversation.active_leaf_id == made["a2''"].id
    assert theirs.active_leaf_id == their_question.id


@pytest.mark.django_db
def test_selecting_is_refused_while_a_reply_is_generating(conversation):
    made = branched(conversation)
    chain(conversation, ("user", "q3"))
    (pending,) = chain(
        conversation, ("assistant", ""), status="pending", heartbeat_at=timezone.now()
    )
    with pytest.raises(ConversationBusyError):
        branch_select(conversation=conversation, message_uuid=str(made["q2"].uuid))
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == pending.id


@pytest.mark.django_db
def test_the_active_path_carries_each_messages_place_among_its_versions(conversation):
    made = branched(conversation)
    by_text = {m["text"]: m for m in active_path_data(conversation=conversation)}
    assert list(by_text) == ["q1", "a1", "q2'", "a2''"]
    places = {
        text: (
            m["sibling_index"],
            m["sibling_count"],
            m["previous_sibling_id"],
            m["next_sibling_id"],
        )
        for text, m in by_text.items()
    }
    assert places == {
        "q1": (0, 1, None, None),
        "a1": (0, 1, None, None),
        "q2'": (1, 2, str(made["q2"].uuid), None),
        "a2''": (1, 2, str(made["a2'"].uuid), None),
    }


@pytest.mark.django_db
def test_first_messages_are_versions_of_each_other(conversation):
    (q1, _a1) = chain(conversation, ("user", "hello"), ("assistant", "hi"))
    result = message_edit(conversation=conversation, message_uuid=str(q1.uuid), text="hey")
    conversation.refresh_from_db()
    first = active_path_data(conversation=conversation)[0]
    assert first["id"] == str(result.user_message.uuid)
    assert (first["sibling_index"], first["sibling_count"]) == (1, 2)
    assert first["previous_sibling_id"] == str(q1.uuid)


@pytest.mark.django_db
@pytest.mark.parametrize("versions", [1, 30])
def test_the_active_path_costs_two_queries_however_many_versions(
    conversation, versions, django_assert_num_queries
):
    _q1, _a1, q2, _a2 = chain(
        conversation, ("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")
    )
    for n in range(versions):
        MessageFactory(conversation=conversation, parent=q2, role="assistant", text=f"v{n}")
    # The conversation's messages (narrow columns), the path's attachments.
    with django_assert_num_queries(2):
        path = active_path_data(conversation=conversation)
    assert path[-1]["sibling_count"] == versions + 1


@pytest.mark.django_db
def test_an_empty_conversation_has_an_empty_path_without_a_query(
    conversation, django_assert_num_queries
):
    with django_assert_num_queries(0):
        assert active_path_data(conversation=conversation) == []


# --- over the socket ---------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_select_over_the_socket_moves_every_tab_to_the_branch(conversation, cookie):
    made = await database_sync_to_async(branched)(conversation)
    ws = communicator(conversation, cookie=cookie)
    other = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    await other.connect(timeout=TIMEOUT)
    await ws.send_to(text_data=json.dumps({"type": "select", "message_id": str(made["q2"].uuid)}))
    expected = {
        "type": "branch.selected",
        "message_id": str(made["q2"].uuid),
        "active_leaf_id": str(made["a2"].uuid),
    }
    assert await receive(ws) == expected
    assert await receive(other) == expected
    # What a tab then asks for: the new path, with the versions to move between.
    await other.send_to(text_data=json.dumps({"type": "resync"}))
    state = await receive(other)
    assert [m["text"] for m in state["messages"]] == ["q1", "a1", "q2", "a2"]
    third = state["messages"][2]
    assert (third["sibling_index"], third["sibling_count"]) == (0, 2)
    assert third["next_sibling_id"] == str(made["q2'"].uuid)
    await ws.disconnect()
    await other.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_select_over_the_socket_refuses_bad_ids_and_a_busy_conversation(
    conversation, cookie, other_user
):
    made = await database_sync_to_async(branched)(conversation)
    theirs = await database_sync_to_async(ConversationFactory)(owner=other_user)
    (their_message,) = await database_sync_to_async(chain)(theirs, ("user", "private"))
    ws = communicator(conversation, cookie=cookie)
    await ws.connect(timeout=TIMEOUT)
    for bad in [str(their_message.uuid), "nope", None]:
        await ws.send_to(text_data=json.dumps({"type": "select", "message_id": bad}))
        error = await receive(ws)
        assert (error["type"], error["code"]) == ("error", "invalid")

    await database_sync_to_async(chain)(
        conversation, ("assistant", ""), status="pending", heartbeat_at=timezone.now()
    )
    await ws.send_to(text_data=json.dumps({"type": "select", "message_id": str(made["q2"].uuid)}))
    error = await receive(ws)
    assert (error["type"], error["code"]) == ("error", "busy")
    assert await ws.receive_nothing(timeout=0.2)
    await ws.disconnect()
    stored = await database_sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert stored.active_leaf_id not in (made["a2"].id, made["q2"].id)


# --- over the REST API -------------------------------------------------------------------------
def select_url(conversation: Conversation, message_id: object) -> str:
    return f"/api/conversations/{conversation.uuid}/messages/{message_id}/select/"


@pytest.mark.django_db
def test_the_api_selects_a_version_and_answers_the_new_branch(api, conversation):
    made = branched(conversation)
    response = api.post(select_url(conversation, made["q2"].uuid))
    assert response.status_code == 200, response.content
    branch = response.json()
    assert [m["text"] for m in branch] == ["q1", "a1", "q2", "a2"]
    assert branch[2]["next_sibling_id"] == str(made["q2'"].uuid)
    # The same as the branch endpoint says from now on.
    assert api.get(f"/api/conversations/{conversation.uuid}/messages/").json() == branch


@pytest.mark.django_db
def test_the_api_answers_404_for_another_persons_or_a_missing_message(
    api, conversation, other_user
):
    made = branched(conversation)
    theirs = ConversationFactory(owner=other_user)
    (their_message,) = chain(theirs, ("user", "private"))
    for message_id in [their_message.uuid, "00000000-0000-0000-0000-000000000000"]:
        response = api.post(select_url(conversation, message_id))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    # Their conversation, with their own message: not ours to see.
    assert api.post(select_url(theirs, their_message.uuid)).status_code == 404
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == made["a2''"].id


@pytest.mark.django_db
def test_the_api_refuses_to_select_while_a_reply_is_generating(api, conversation):
    made = branched(conversation)
    chain(conversation, ("assistant", ""), status="pending", heartbeat_at=timezone.now())
    response = api.post(select_url(conversation, made["q2"].uuid))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "busy"


@pytest.mark.django_db
def test_the_tree_names_each_versions_neighbours_as_the_branch_does(api, conversation):
    made = branched(conversation)
    tree = {
        m["id"]: m for m in api.get(f"/api/conversations/{conversation.uuid}/messages/tree/").json()
    }
    q2, q2b = tree[str(made["q2"].uuid)], tree[str(made["q2'"].uuid)]
    assert (q2["previous_sibling_id"], q2["next_sibling_id"]) == (None, str(made["q2'"].uuid))
    assert (q2b["previous_sibling_id"], q2b["next_sibling_id"]) == (str(made["q2"].uuid), None)
    middle = tree[str(made["a2'"].uuid)]
    assert (middle["previous_sibling_id"], middle["next_sibling_id"]) == (
        None,
        str(made["a2''"].uuid),
    )
    for message in api.get(f"/api/conversations/{conversation.uuid}/messages/").json():
        assert {k: tree[message["id"]][k] for k in message} == message


@pytest.mark.django_db
@pytest.mark.parametrize("versions", [1, 20])
def test_selecting_through_the_api_costs_the_same_queries_however_many_versions(
    api, conversation, versions, django_assert_max_num_queries
):
    made = branched(conversation)
    for n in range(versions):
        MessageFactory(conversation=conversation, parent=made["q2"], role="assistant", text=f"{n}")
    # The conversation, the message (404 if not there), the service's own look-up of it, the
    # orphan sweep (its owner's stale replies); savepoint, the locked row, the busy check, the
    # rows under it, the new leaf, release; the answer's messages and their attachments.
    with django_assert_max_num_queries(12):
        response = api.post(select_url(conversation, made["q2"].uuid))
    assert response.json()[-1]["text"] == f"{versions - 1}"
