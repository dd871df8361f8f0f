"""The REST API over the engine: settings, prefill, continue, summaries and usage, through the
real SDK and the offline simulator."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Conversation, Message, Summary
from tests.factories import ConversationFactory, MessageFactory, chain
from tests.sent import parse_sse, sent_system, sent_turns

pytestmark = pytest.mark.usefixtures("generous_send_limit")


def send(api: APIClient, conversation: Conversation, content: str, **fields) -> dict:
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/",
        {"content": content, **fields},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def settings_patch(api: APIClient, conversation: Conversation, parameters: dict) -> None:
    response = api.patch(
        f"/api/conversations/{conversation.uuid}/", {"parameters": parameters}, format="json"
    )
    assert response.status_code == 200, response.content


def continue_url(conversation: Conversation, message_id: str) -> str:
    return f"/api/conversations/{conversation.uuid}/messages/{message_id}/continue/"


# --- settings reach the API ---------------------------------------------------------------------
def test_settings_patched_through_the_api_reach_the_request(api, conversation, simulator):
    settings_patch(api, conversation, {"max_tokens": 700, "stop_sequences": ["STOP HERE"]})
    send(api, conversation, "hello")
    sent = simulator.requests[-1]
    assert sent["max_tokens"] == 700
    assert sent["stop_sequences"] == ["STOP HERE"]


def test_a_system_prompt_patched_through_the_api_reaches_the_request(api, conversation, simulator):
    response = api.patch(
        f"/api/conversations/{conversation.uuid}/", {"system": "Answer in French."}, format="json"
    )
    assert response.status_code == 200
    send(api, conversation, "hello")
    assert sent_system(simulator.requests[-1]) == "Answer in French."


# --- prefill ------------------------------------------------------------------------------------
def test_a_prefill_starts_the_reply_on_a_model_that_accepts_it(api, user, simulator):
    conversation = ConversationFactory(owner=user, model="claude-opus-4-5")
    reply = send(api, conversation, "Give me JSON", prefill='{"answer": ')
    assert reply["status"] == "complete"
    assert reply["text"].startswith('{"answer":')
    assert reply["prefill_length"] == len('{"answer":')
    assert sent_turns(simulator.requests[-1])[-1] == ("assistant", '{"answer":')


def test_a_prefill_on_a_model_that_rejects_it_is_a_400_and_nothing_is_stored(
    api, conversation, simulator
):
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/",
        {"content": "Give me JSON", "prefill": "{"},
        format="json",
    )
    assert response.status_code == 400
    assert "prefill" in response.json()["error"]["fields"]
    assert not Message.objects.exists()
    assert simulator.requests == []


@pytest.mark.parametrize("prefill", [["{"], {"a": 1}])
def test_a_prefill_must_be_text(api, user, prefill):
    conversation = ConversationFactory(owner=user, model="claude-opus-4-5")
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/",
        {"content": "hi", "prefill": prefill},
        format="json",
    )
    assert response.status_code == 400
    assert "prefill" in response.json()["error"]["fields"]
    assert not Message.objects.exists()


# --- continue -----------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["claude-sonnet-4-6", "claude-opus-4-5"])
def test_a_reply_cut_by_max_tokens_continues_into_one_joined_reply(api, user, simulator, model):
    conversation = ConversationFactory(owner=user, model=model)
    settings_patch(api, conversation, {"max_tokens": 40})
    cut = send(api, conversation, "Tell me everything [sim:words=200]")
    assert (cut["status"], cut["stop_reason"]) == ("complete", "max_tokens")
    settings_patch(api, conversation, {"max_tokens": 4000})

    response = api.post(continue_url(conversation, cut["id"]))

    assert response.status_code == 200, response.content
    joined = response.json()
    assert joined["id"] == cut["id"]
    assert joined["parent_id"] == cut["parent_id"]
    assert (joined["status"], joined["stop_reason"], joined["continuations"]) == (
        "complete",
        "end_turn",
        1,
    )
    assert joined["text"].startswith(cut["text"].rstrip())
    assert len(joined["text"].split()) == 200  # the whole answer, nothing repeated
    assert joined["usage"]["output_tokens"] > cut["usage"]["output_tokens"]
    stored = Message.objects.get(uuid=joined["id"])
    assert stored.text == joined["text"]
    assert len(stored.api_requests) == 2
    assert Message.objects.count() == 2  # in place: no new message


def test_a_complete_reply_cannot_be_continued(api, conversation, simulator):
    reply = send(api, conversation, "hello")
    response = api.post(continue_url(conversation, reply["id"]))
    assert response.status_code == 400
    assert "message_id" in response.json()["error"]["fields"]
    stored = Message.objects.get(uuid=reply["id"])
    assert (stored.text, stored.continuations) == (reply["text"], 0)
    assert len(simulator.requests) == 1


def test_a_persons_own_message_cannot_be_continued(api, conversation, simulator):
    reply = send(api, conversation, "hello")
    response = api.post(continue_url(conversation, reply["parent_id"]))
    assert response.status_code == 400
    assert "message_id" in response.json()["error"]["fields"]


def test_continuing_a_reply_of_another_conversation_is_a_404(api, user, other_user, simulator):
    mine = ConversationFactory(owner=user, parameters={"max_tokens": 20})
    theirs = ConversationFactory(owner=other_user)
    (their_cut,) = chain(theirs, ("assistant", "cut short"), stop_reason="max_tokens")
    cut = send(api, mine, "long [sim:words=100]")
    for conversation, message_id, message in (
        (theirs, cut["id"], "No such conversation."),
        (theirs, their_cut.uuid, "No such conversation."),
        (mine, their_cut.uuid, "No such message."),
        (ConversationFactory(owner=user), cut["id"], "No such message."),
    ):
        response = api.post(continue_url(conversation, message_id))
        assert response.status_code == 404
        assert response.json()["error"]["message"] == message
    assert not Message.objects.filter(continuations__gt=0).exists()
    assert len(simulator.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_continue_with_stream_true_answers_the_frames_of_the_continued_reply(
    api, conversation, settings
):
    settings.CHATSITE_STREAM_FLUSH_SECONDS = 0
    settings_patch(api, conversation, {"max_tokens": 30})
    cut = send(api, conversation, "Tell me everything [sim:words=150]")
    assert cut["stop_reason"] == "max_tokens"
    settings_patch(api, conversation, {"max_tokens": 4000})

    response = api.post(continue_url(conversation, cut["id"]) + "?stream=true")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = parse_sse(b"".join(response))
    names = [name for name, _ in events]
    assert names[0] == "message.updated"
    assert events[0][1]["message"]["id"] == cut["id"]
    assert events[0][1]["message"]["status"] == "pending"
    assert names[-1] == "chat.done"
    assert "chat.delta" in names
    assert set(names[1:-1]) <= {"chat.delta", "chat.status", "chat.thinking"}
    final = events[-1][1]["message"]
    assert final["id"] == cut["id"]
    assert final["parent_id"] == cut["parent_id"]
    assert (final["stop_reason"], final["continuations"]) == ("end_turn", 1)
    assert final["text"].startswith(cut["text"].rstrip())
    assert len(final["text"].split()) == 150
    assert Message.objects.get(uuid=cut["id"]).text == final["text"]


@pytest.mark.django_db(transaction=True)
def test_a_streamed_continue_still_validates_first(api, conversation):
    reply = send(api, conversation, "hello")
    response = api.post(continue_url(conversation, reply["id"]) + "?stream=true")
    assert response.status_code == 400


# --- usage, context and summaries from real replies ---------------------------------------------
def test_usage_and_context_follow_the_replies(api, conversation, simulator):
    first = send(api, conversation, "hello")
    # A regenerated branch would count too; here a second turn on the same branch.
    second = send(api, conversation, "and again")
    body = api.get(f"/api/conversations/{conversation.uuid}/").json()
    replies = Message.objects.filter(role="assistant")
    assert body["usage"]["input_tokens"] == sum(r.input_tokens for r in replies)
    assert body["usage"]["output_tokens"] == (
        first["usage"]["output_tokens"] + second["usage"]["output_tokens"]
    )
    assert Decimal(body["usage"]["cost_usd"]) == sum(r.cost_usd for r in replies)
    assert body["context"]["tokens"] == second["usage"]["context_tokens"]
    assert body["context"]["budget"] >= body["context"]["tokens"]


def test_summaries_written_by_compaction_are_listed_and_an_edit_reaches_the_next_request(
    api, user, simulator
):
    conversation = ConversationFactory(
        owner=user, parameters={"max_tokens": 500, "context_budget": 2500}
    )
    for n in range(8):
        send(api, conversation, f"Question {n}: " + "words " * 150)
    listed = api.get(f"/api/conversations/{conversation.uuid}/summaries/").json()
    stored = list(Summary.objects.filter(conversation=conversation).order_by("created_at", "id"))
    assert stored
    assert [s["id"] for s in listed] == [str(s.uuid) for s in stored]
    newest = listed[-1]
    assert newest["covers_up_to"] == str(stored[-1].covers_up_to.uuid)
    assert newest["token_count"] > 0
    assert newest["is_edited"] is False

    usage = api.get(f"/api/conversations/{conversation.uuid}/").json()["usage"]
    messages_input = sum(m.input_tokens or 0 for m in Message.objects.all())
    assert usage["input_tokens"] == messages_input + sum(s.input_tokens for s in stored)

    edited = "The person asked eight questions about WORDS-MARKER."
    response = api.patch(
        f"/api/conversations/{conversation.uuid}/summaries/{newest['id']}/",
        {"text": edited},
        format="json",
    )
    assert response.status_code == 200
    reply = send(api, conversation, "What did I ask?")
    sent = Message.objects.get(uuid=reply["id"]).api_requests[-1]
    assert edited in sent_system(sent)


def test_continuing_while_another_reply_is_being_written_is_a_409(api, conversation, simulator):
    settings_patch(api, conversation, {"max_tokens": 20})
    cut = send(api, conversation, "long [sim:words=100]")
    question = Message.objects.get(uuid=cut["parent_id"])
    # A regenerated sibling, still being written (its process alive: a fresh heartbeat).
    MessageFactory(
        conversation=conversation,
        parent=question,
        role="assistant",
        text="",
        status="pending",
        heartbeat_at=timezone.now(),
    )
    response = api.post(continue_url(conversation, cut["id"]))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "busy"
    assert Message.objects.get(uuid=cut["id"]).continuations == 0
    assert question.children.count() == 2


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", {"title": "x", "system_prompt": "misspelt"}, "system_prompt"),
        ("{id}/messages/", {"content": "hi", "prefil": "{"}, "prefil"),
    ],
)
@pytest.mark.django_db
def test_a_misspelt_field_is_refused_not_ignored(api, conversation, path, body, field):
    url = "/api/conversations/" + path.format(id=conversation.uuid)
    response = api.post(url, body, format="json")
    assert response.status_code == 400
    assert field in json.dumps(response.json())
    assert Conversation.objects.count() == 1  # only the fixture's: nothing created
    assert not Message.objects.exists()
