from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from conversations.llm.catalog import models_available
from conversations.models import Conversation, Message, Summary
from conversations.services.generation import generation_run_blocking
from conversations.services.messages import message_send
from tests.factories import ConversationFactory, MessageFactory, chain
from tests.sent import parse_sse, sent_system, sent_turns


def test_it_requires_authentication(db):
    response = APIClient().get("/api/conversations/")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_it_creates_a_conversation(api, user, settings):
    response = api.post(
        "/api/conversations/", {"title": "Trip", "system": "Be brief."}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    conversation = Conversation.objects.get(uuid=body["id"])
    assert conversation.owner == user
    assert (conversation.title, conversation.system_prompt) == ("Trip", "Be brief.")
    assert body["model"] == settings.CHATSITE_DEFAULT_MODEL


def test_it_lists_only_the_callers_conversations_paginated(api, user, other_user):
    mine = ConversationFactory.create_batch(3, owner=user)
    ConversationFactory.create_batch(2, owner=other_user)
    body = api.get("/api/conversations/").json()
    assert body["count"] == 3
    assert {c["id"] for c in body["results"]} == {str(c.uuid) for c in mine}


def test_send_waits_for_the_reply_from_the_simulator_through_the_sdk(api, conversation, simulator):
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/",
        {"content": "Hello there"},
        format="json",
    )
    assert response.status_code == 201, response.content
    reply = response.json()
    assert reply["role"] == "assistant"
    assert reply["status"] == "complete"
    assert reply["stop_reason"] == "end_turn"
    assert reply["usage"]["output_tokens"] > 0
    assert "You said: “Hello there”" in reply["text"]
    stored = Message.objects.get(uuid=reply["id"])
    assert stored.text == reply["text"]
    assert stored.api_message_id.startswith("msg_")
    assert stored.api_request_id.startswith("req_")
    assert sent_turns(simulator.requests[-1]) == [("user", "Hello there")]


def test_the_second_turn_carries_the_whole_history(api, conversation, simulator):
    url = f"/api/conversations/{conversation.uuid}/messages/"
    api.post(url, {"content": "first"}, format="json")
    reply = api.post(url, {"content": "second"}, format="json").json()
    assert re.search(r"I received 3 messages \(2 from you\)", reply["text"])
    sent = sent_turns(simulator.requests[-1])
    assert [role for role, _ in sent] == ["user", "assistant", "user"]
    assert (sent[0][1], sent[2][1]) == ("first", "second")


def test_the_system_prompt_reaches_the_api(api, user, simulator):
    conversation = ConversationFactory(owner=user, system_prompt="You are terse.")
    reply = api.post(
        f"/api/conversations/{conversation.uuid}/messages/", {"content": "hi"}, format="json"
    ).json()
    assert "a system prompt" in reply["text"]
    assert sent_system(simulator.requests[-1]) == "You are terse."


@pytest.mark.parametrize("content", ["", "   \n\t "])
def test_an_empty_message_is_refused_and_nothing_is_stored(api, conversation, content):
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/", {"content": content}, format="json"
    )
    assert response.status_code == 400
    assert "empty" in response.json()["error"]["message"]
    assert not Message.objects.exists()


def test_a_message_over_the_limit_is_refused(api, conversation, settings):
    settings.CHATSITE_MAX_MESSAGE_CHARS = 50
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/", {"content": "x" * 51}, format="json"
    )
    assert response.status_code == 400
    assert "too long" in response.json()["error"]["message"]
    assert not Message.objects.exists()


def test_another_users_conversation_is_a_404_without_its_data(api, other_user):
    theirs = ConversationFactory(owner=other_user, title="secret plans")
    chain(theirs, ("user", "the secret"), ("assistant", "kept"))
    for response in (
        api.get(f"/api/conversations/{theirs.uuid}/"),
        api.get(f"/api/conversations/{theirs.uuid}/messages/"),
        api.post(f"/api/conversations/{theirs.uuid}/messages/", {"content": "hi"}, format="json"),
        api.get(f"/api/conversations/{theirs.uuid}/export/?format=json"),
    ):
        assert response.status_code == 404
        assert b"secret" not in response.content
    assert theirs.messages.count() == 2


def test_an_unknown_conversation_is_a_404(api):
    response = api.get("/api/conversations/00000000-0000-0000-0000-000000000000/messages/")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No such conversation."


def test_an_api_failure_keeps_the_message_and_marks_the_reply(api, conversation):
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/",
        {"content": "break please [sim:error=overloaded]"},
        format="json",
    )
    assert response.status_code == 201
    reply = response.json()
    assert reply["status"] == "error"
    assert reply["error_type"] == "overloaded"
    assert "overloaded" in reply["error_detail"].lower()
    user_message = Message.objects.get(role="user")
    assert user_message.text == "break please [sim:error=overloaded]"


def test_a_failed_reply_does_not_block_the_next_send(api, conversation, simulator):
    url = f"/api/conversations/{conversation.uuid}/messages/"
    api.post(url, {"content": "x [sim:error=api]"}, format="json")
    response = api.post(url, {"content": "again"}, format="json")
    assert response.status_code == 201
    # The failed reply had no text, so the two user turns reach the API merged into one.
    assert sent_turns(simulator.requests[-1]) == [("user", "x [sim:error=api]\n\nagain")]


def test_the_same_client_id_twice_makes_one_message(api, conversation, simulator):
    url = f"/api/conversations/{conversation.uuid}/messages/"
    first = api.post(url, {"content": "once", "client_id": "abc"}, format="json")
    second = api.post(url, {"content": "once", "client_id": "abc"}, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert Message.objects.filter(role="user").count() == 1
    assert len(simulator.requests) == 1


def test_export_json_has_the_tree_and_a_safe_file_name(api, user):
    conversation = ConversationFactory(owner=user, title='a";\r\nSet-Cookie:x')
    chain(conversation, ("user", "q"), ("assistant", "a"))
    response = api.get(f"/api/conversations/{conversation.uuid}/export/?format=json")
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert not any(bad in disposition for bad in ("\r", "\n", '";'))
    body = json.loads(response.content)
    assert [m["text"] for m in body["messages"]] == ["q", "a"]
    assert body["messages"][1]["parent_id"] == body["messages"][0]["id"]
    assert body["conversation"]["active_leaf_id"] == body["messages"][1]["id"]


def test_export_rejects_an_unknown_format(api, conversation):
    response = api.get(f"/api/conversations/{conversation.uuid}/export/?format=docx")
    assert response.status_code == 400
    assert "format" in response.json()["error"]["fields"]


def test_token_authentication_with_the_management_command(user, conversation, capsys):
    call_command("create_api_token", user.username)
    token = capsys.readouterr().out.strip()
    client = APIClient()
    assert token.startswith("chs_")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/conversations/").json()["count"] == 1
    client.credentials(HTTP_AUTHORIZATION="Bearer wrong")
    assert client.get("/api/conversations/").status_code == 401


def test_session_auth_writes_need_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/conversations/", {"title": "x"}, format="json")
    assert response.status_code == 403
    assert not Conversation.objects.exists()


def test_settings_the_model_rejects_refuse_the_send_naming_the_setting(api, conversation):
    conversation.parameters = {"max_tokens": "not a number"}
    conversation.save()
    url = f"/api/conversations/{conversation.uuid}/messages/"
    response = api.post(url, {"content": "hello"}, format="json")
    assert response.status_code == 400
    assert "max_tokens" in response.json()["error"]["message"]
    assert not Message.objects.exists()


def test_a_failure_before_streaming_leaves_the_conversation_usable(api, conversation):
    """Settings that broke between the send and the start end the reply, not the conversation."""
    result = message_send(conversation=conversation, text="hello")
    Conversation.objects.filter(pk=conversation.pk).update(parameters={"max_tokens": 10**9})
    generation_run_blocking(reply=result.assistant_message)
    reply = Message.objects.get(pk=result.assistant_message.pk)
    assert reply.status == "error"
    assert reply.error_type == "invalid_settings"
    assert "max_tokens" in reply.error_detail
    Conversation.objects.filter(pk=conversation.pk).update(parameters={"max_tokens": 100})
    url = f"/api/conversations/{conversation.uuid}/messages/"
    assert api.post(url, {"content": "again"}, format="json").json()["status"] == "complete"


def test_anthropic_base_url_reaches_a_compatible_server_over_http(api, conversation, settings):
    """The path a real deployment takes: the SDK over loopback HTTP, here to our simulator."""
    from conversations.llm import client as llm_client
    from conversations.llm.simulator import Simulator, simulator_asgi_app
    from tests.asgi_server import AsgiTestServer

    remote = Simulator()
    server = AsgiTestServer(simulator_asgi_app(remote)).start()
    try:
        settings.ANTHROPIC_BASE_URL = server.url
        settings.ANTHROPIC_API_KEY = "sk-test-key"
        llm_client.reset_clients()
        reply = api.post(
            f"/api/conversations/{conversation.uuid}/messages/",
            {"content": "over HTTP"},
            format="json",
        ).json()
    finally:
        server.stop()
    assert reply["status"] == "complete"
    assert "You said: “over HTTP”" in reply["text"]
    assert sent_turns(remote.requests[-1]) == [("user", "over HTTP")]
    assert llm_client._simulator is None  # the in-process simulator was never used


def test_a_channel_layer_that_is_down_does_not_fail_a_send(api, conversation, settings):
    """Announcing is best effort; the database is the truth."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens there
        }
    }
    channel_layers.backends.clear()
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/", {"content": "hello"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["status"] == "complete"


def test_sending_too_fast_is_a_429(api, conversation, settings):
    settings.CHATSITE_SEND_RATE_LIMIT = "1/minute"
    url = f"/api/conversations/{conversation.uuid}/messages/"
    assert api.post(url, {"content": "one"}, format="json").status_code == 201
    response = api.post(url, {"content": "two"}, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"


@pytest.mark.django_db(transaction=True)
def test_send_with_stream_true_answers_server_sent_events(api, conversation, settings):
    settings.CHATSITE_STREAM_FLUSH_SECONDS = 0
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/?stream=true",
        {"content": "stream it"},
        format="json",
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = parse_sse(b"".join(response))
    names = [name for name, _ in events]
    assert names[:2] == ["message.created", "message.created"]
    assert names[-1] == "chat.done"
    assert all(name == "chat.delta" for name in names[2:-1])
    assert len(names) > 5
    deltas = "".join(data["text"] for name, data in events if name == "chat.delta")
    final = events[-1][1]["message"]
    assert final["text"] == deltas
    assert "You said: “stream it”" in final["text"]
    assert Message.objects.get(uuid=final["id"]).status == "complete"


@pytest.mark.django_db(transaction=True)
def test_streamed_send_reports_errors_as_events(api, conversation):
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/?stream=true",
        {"content": "x [sim:error=auth]"},
        format="json",
    )
    events = parse_sse(b"".join(response))
    assert events[-1][0] == "chat.error"
    assert events[-1][1]["message"]["error_type"] == "authentication"


def test_streamed_send_still_validates_first(api, conversation):
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/?stream=true",
        {"content": " "},
        format="json",
    )
    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_server_sent_events_arrive_while_the_reply_is_still_being_written(user, conversation):
    """Through a real ASGI server: the first delta is readable before the reply has ended."""
    import http.client

    from chatsite.accounts.tokens import api_token_create
    from chatsite.asgi import application
    from tests.asgi_server import AsgiTestServer

    _, key = api_token_create(user=user, name="stream test")
    server = AsgiTestServer(application).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        body = json.dumps({"content": "[sim:words=100] [sim:delay=0.02] slowly"})
        connection.request(
            "POST",
            f"/api/conversations/{conversation.uuid}/messages/?stream=true",
            body=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        assert response.status == 200
        seen = []
        while "event: chat.delta" not in seen:
            seen.append(response.readline().decode().strip())
        reply = Message.objects.get(role="assistant")
        assert reply.status == Message.Status.STREAMING  # the stream is live, not buffered
        rest = response.read().decode()
        assert "event: chat.done" in rest
        connection.close()
    finally:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_a_later_message_streams_too(api, conversation):
    """The second turn has a parent: nothing in the event stream may query the database."""
    url = f"/api/conversations/{conversation.uuid}/messages/?stream=true"
    first = parse_sse(b"".join(api.post(url, {"content": "one"}, format="json")))
    second = parse_sse(b"".join(api.post(url, {"content": "two"}, format="json")))
    assert first[-1][0] == second[-1][0] == "chat.done"
    assert second[0][1]["message"]["parent_id"] == first[-1][1]["message"]["id"]
    assert "I received 3 messages" in second[-1][1]["message"]["text"]


@pytest.mark.django_db(transaction=True)
def test_a_repeated_client_id_streams_how_the_reply_ended(api, conversation):
    url = f"/api/conversations/{conversation.uuid}/messages/?stream=true"
    body = {"content": "once", "client_id": "abc"}
    first = parse_sse(b"".join(api.post(url, body, format="json")))
    again = parse_sse(b"".join(api.post(url, body, format="json")))
    assert [name for name, _ in again] == ["message.created", "message.created", "chat.done"]
    assert again[-1][1]["message"]["text"] == first[-1][1]["message"]["text"]


# --- models -------------------------------------------------------------------------------------
MODEL_KEYS = {
    "id",
    "display_name",
    "context_window",
    "max_output_tokens",
    "accepts_prefill",
    "sampling_parameters",
    "thinking",
    "effort_levels",
    "image_long_edge",
    "prices",
    "retires_on",
}
PRICE_KEYS = {"input", "output", "cache_write_5m", "cache_write_1h", "cache_read"}


def test_the_models_list_describes_each_model_with_prices_as_decimal_strings(api):
    response = api.get("/api/models/")
    assert response.status_code == 200
    models = response.json()
    assert {m["id"] for m in models} == {spec.id for spec in models_available()}
    for model in models:
        assert set(model) == MODEL_KEYS
        assert isinstance(model["thinking"], bool)
        assert model["max_output_tokens"] < model["context_window"]
        if model["prices"] is not None:
            assert set(model["prices"]) == PRICE_KEYS
            assert all(isinstance(price, str) for price in model["prices"].values())
        if model["retires_on"] is not None:
            date.fromisoformat(model["retires_on"])
    sonnet = next(m for m in models if m["id"] == "claude-sonnet-4-6")
    assert sonnet["prices"]["input"] == "3"
    assert Decimal(sonnet["prices"]["cache_read"]) == Decimal("0.3")
    assert Decimal(sonnet["prices"]["cache_write_5m"]) == Decimal("3.75")


def test_the_models_list_needs_authentication(db):
    assert APIClient().get("/api/models/").status_code in (401, 403)


# --- create and update a conversation -----------------------------------------------------------
def test_a_conversation_is_created_with_checked_settings(api):
    response = api.post(
        "/api/conversations/",
        {"parameters": {"max_tokens": 500, "stop_sequences": ["END"], "temperature": None}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    stored = Conversation.objects.get(uuid=body["id"])
    assert stored.parameters == {"max_tokens": 500, "stop_sequences": ["END"]}
    assert body["parameters"] == stored.parameters
    assert body["usage"] == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cost_usd": None,
    }
    assert body["context"]["tokens"] is None
    assert body["context"]["budget"] > 0


def test_a_conversation_with_a_rejected_setting_is_not_created(api):
    response = api.post("/api/conversations/", {"parameters": {"max_tokens": 0}}, format="json")
    assert response.status_code == 400
    assert "max_tokens" in response.json()["error"]["fields"]["parameters"]
    assert not Conversation.objects.exists()


def test_patch_renames_and_changes_model_system_prompt_and_settings(api, conversation):
    response = api.patch(
        f"/api/conversations/{conversation.uuid}/",
        {
            "title": "  Renamed\n trip ",
            "model": "claude-haiku-4-5",
            "system": "Be brief.",
            "parameters": {"max_tokens": 300, "temperature": 0.2},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    conversation.refresh_from_db()
    assert conversation.title == "Renamed trip"
    assert (conversation.model, conversation.system_prompt) == ("claude-haiku-4-5", "Be brief.")
    assert conversation.parameters == {"max_tokens": 300, "temperature": 0.2}
    body = response.json()
    assert (body["title"], body["model"], body["system"]) == (
        "Renamed trip",
        "claude-haiku-4-5",
        "Be brief.",
    )
    assert body["parameters"] == conversation.parameters
    assert {"usage", "context"} <= set(body)


def test_patch_changes_only_what_it_is_given(api, conversation):
    conversation.system_prompt = "Keep me."
    conversation.save()
    response = api.patch(
        f"/api/conversations/{conversation.uuid}/", {"title": "Only this"}, format="json"
    )
    assert response.status_code == 200
    conversation.refresh_from_db()
    assert conversation.title == "Only this"
    assert conversation.system_prompt == "Keep me."
    assert conversation.parameters == {"max_tokens": 1024}


def test_patch_parameters_replaces_the_stored_settings(api, conversation):
    url = f"/api/conversations/{conversation.uuid}/"
    api.patch(url, {"parameters": {"stop_sequences": ["END"]}}, format="json")
    conversation.refresh_from_db()
    assert conversation.parameters == {"stop_sequences": ["END"]}  # max_tokens is gone
    api.patch(url, {"parameters": {}}, format="json")
    conversation.refresh_from_db()
    assert conversation.parameters == {}


def stored_row(conversation: Conversation) -> tuple:
    return tuple(
        Conversation.objects.filter(pk=conversation.pk)
        .values_list("title", "model", "system_prompt", "parameters", "updated_at")
        .get()
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "claude-imaginary-9"}, "model"),
        ({"model": ""}, "model"),
        ({"model": ["claude-sonnet-4-6"]}, "model"),
        ({"title": None}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"system": {"text": "hi"}}, "system"),
        ({"system": "nul\x00"}, "system"),
        ({"parameters": "max_tokens=5"}, "parameters"),
        ({"parameters": ["max_tokens"]}, "parameters"),
        ({"pinned": True}, "pinned"),
        ({"parameters": {"max_tokens": 0}}, "parameters.max_tokens"),
        ({"parameters": {"max_tokens": -5}}, "parameters.max_tokens"),
        ({"parameters": {"max_tokens": 1.5}}, "parameters.max_tokens"),
        ({"parameters": {"max_tokens": "lots"}}, "parameters.max_tokens"),
        ({"parameters": {"max_tokens": 128_001}}, "parameters.max_tokens"),
        ({"parameters": {"stop_sequences": ["x"] * 9}}, "parameters.stop_sequences"),
        ({"parameters": {"stop_sequences": [""]}}, "parameters.stop_sequences"),
        ({"parameters": {"stop_sequences": ["  "]}}, "parameters.stop_sequences"),
        ({"parameters": {"stop_sequences": ["x" * 201]}}, "parameters.stop_sequences"),
        ({"parameters": {"stop_sequences": [7]}}, "parameters.stop_sequences"),
        ({"parameters": {"stop_sequences": "END"}}, "parameters.stop_sequences"),
        ({"parameters": {"temperature": 2}}, "parameters.temperature"),
        ({"parameters": {"context_budget": 10**7}}, "parameters.context_budget"),
        ({"parameters": {"colour": "blue"}}, "parameters.colour"),
        # Checked together: a good title does not go through beside a bad model.
        ({"title": "New", "model": "claude-imaginary-9"}, "model"),
        ({"title": "New", "parameters": {"max_tokens": 0}}, "parameters.max_tokens"),
        # The budget is checked against the new system prompt, not the stored one.
        (
            {"system": "Rules. " * 5000, "parameters": {"context_budget": 4000}},
            "parameters.context_budget",
        ),
        # ... and a new model against the stored settings.
        (
            {"model": "claude-opus-4-5", "parameters": {"max_tokens": 64_001}},
            "parameters.max_tokens",
        ),
    ],
)
def test_patch_refuses_a_bad_field_naming_it_and_stores_nothing(api, conversation, body, field):
    before = stored_row(conversation)
    response = api.patch(f"/api/conversations/{conversation.uuid}/", body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    fields = error["fields"]
    for key in field.split("."):
        fields = fields[key]
    assert fields
    assert all(isinstance(message, str) for message in fields)
    assert stored_row(conversation) == before


def test_patch_a_model_the_stored_settings_do_not_fit_names_the_setting(api, user):
    conversation = ConversationFactory(
        owner=user, model="claude-haiku-4-5", parameters={"temperature": 0.3}
    )
    response = api.patch(
        f"/api/conversations/{conversation.uuid}/", {"model": "claude-opus-4-8"}, format="json"
    )
    assert response.status_code == 400
    assert "temperature" in response.json()["error"]["fields"]["parameters"]
    conversation.refresh_from_db()
    assert conversation.model == "claude-haiku-4-5"


def test_patching_another_persons_conversation_is_a_404_and_changes_nothing(api, other_user):
    theirs = ConversationFactory(owner=other_user, title="theirs")
    response = api.patch(f"/api/conversations/{theirs.uuid}/", {"title": "mine now"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No such conversation."
    theirs.refresh_from_db()
    assert theirs.title == "theirs"


# --- usage and context --------------------------------------------------------------------------
def reply(conversation, parent, **usage) -> Message:
    return MessageFactory(
        conversation=conversation, parent=parent, role="assistant", text="a", **usage
    )


def test_usage_totals_every_branch_and_every_summary(api, conversation, django_assert_num_queries):
    question = MessageFactory(conversation=conversation, role="user", text="q")
    usage = {
        "input_tokens": 100,
        "output_tokens": 10,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 50,
    }
    first = reply(conversation, question, cost_usd=Decimal("0.001500"), **usage)
    # A regenerated sibling: another branch, paid for too.
    reply(conversation, question, cost_usd=Decimal("0.002000"), **usage)
    # A reply that failed before any call has no usage at all.
    conversation.active_leaf = reply(conversation, question, status="error")
    conversation.save()
    Summary.objects.create(
        conversation=conversation,
        covers_up_to=first,
        text="s",
        input_tokens=7,
        output_tokens=3,
        cost_usd=Decimal("0.000250"),
    )
    # Someone else's conversation counts for nothing here.
    other = ConversationFactory()
    reply(other, None, cost_usd=Decimal("9"), **usage)

    # conversation (1), message totals (1), summary totals (1), the branch's context (1).
    with django_assert_num_queries(4):
        body = api.get(f"/api/conversations/{conversation.uuid}/").json()

    assert body["usage"] == {
        "input_tokens": 207,
        "output_tokens": 23,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 100,
        "cost_usd": "0.003750",
    }


def test_usage_cost_is_null_when_nothing_had_a_price(api, conversation):
    question = MessageFactory(conversation=conversation, role="user", text="q")
    reply(conversation, question, input_tokens=5, output_tokens=5)
    usage = api.get(f"/api/conversations/{conversation.uuid}/").json()["usage"]
    assert (usage["input_tokens"], usage["cost_usd"]) == (5, None)


def test_context_is_the_nearest_replys_size_and_the_budget(api, conversation):
    conversation.parameters = {"max_tokens": 1024, "context_budget": 50_000}
    conversation.save()
    chain(
        conversation,
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
    )
    answered = conversation.active_leaf.parent
    answered.context_tokens = 1234
    answered.save()
    # The newest reply is still pending: it has no size yet, its nearest ancestor reply has.
    chain(conversation, ("assistant", ""), status="pending")
    body = api.get(f"/api/conversations/{conversation.uuid}/").json()
    assert body["context"] == {"tokens": 1234, "budget": 50_000}


def test_context_budget_is_null_while_the_stored_settings_are_invalid(api, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(parameters={"max_tokens": "many"})
    body = api.get(f"/api/conversations/{conversation.uuid}/").json()
    assert body["context"] == {"tokens": None, "budget": None}


# --- pin ----------------------------------------------------------------------------------------
def test_patch_pins_and_unpins_a_message(api, conversation):
    question, answer = chain(conversation, ("user", "q"), ("assistant", "a"))
    url = f"/api/conversations/{conversation.uuid}/messages/{question.uuid}/"
    response = api.patch(url, {"is_pinned": True}, format="json")
    assert response.status_code == 200
    assert response.json()["is_pinned"] is True
    assert response.json()["id"] == str(question.uuid)
    question.refresh_from_db()
    assert question.is_pinned
    response = api.patch(url, {"is_pinned": False}, format="json")
    assert response.json()["is_pinned"] is False
    question.refresh_from_db()
    assert not question.is_pinned
    answer_url = f"/api/conversations/{conversation.uuid}/messages/{answer.uuid}/"
    assert api.patch(answer_url, {"is_pinned": True}, format="json").json()["parent_id"] == str(
        question.uuid
    )


@pytest.mark.parametrize(
    "body", [{}, {"is_pinned": "maybe"}, {"is_pinned": None}, {"is_pinned": [True]}]
)
def test_pinning_needs_a_boolean(api, conversation, body):
    (question,) = chain(conversation, ("user", "q"))
    response = api.patch(
        f"/api/conversations/{conversation.uuid}/messages/{question.uuid}/", body, format="json"
    )
    assert response.status_code == 400
    assert "is_pinned" in response.json()["error"]["fields"]
    question.refresh_from_db()
    assert not question.is_pinned


def test_pinning_a_message_of_another_conversation_is_a_404(api, user, conversation, other_user):
    (mine_elsewhere,) = chain(ConversationFactory(owner=user), ("user", "q"))
    (theirs,) = chain(ConversationFactory(owner=other_user), ("user", "secret"))
    for message in (mine_elsewhere, theirs):
        url = f"/api/conversations/{conversation.uuid}/messages/{message.uuid}/"
        response = api.patch(url, {"is_pinned": True}, format="json")
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "No such message."
    url = f"/api/conversations/{theirs.conversation.uuid}/messages/{theirs.uuid}/"
    assert api.patch(url, {"is_pinned": True}, format="json").status_code == 404
    assert not Message.objects.filter(is_pinned=True).exists()


# --- summaries ----------------------------------------------------------------------------------
def summarized(conversation) -> tuple[Summary, Summary]:
    _, answer, _, last = chain(
        conversation, ("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")
    )
    older = Summary.objects.create(
        conversation=conversation,
        covers_up_to=answer,
        text="They asked q1.",
        token_count=5,
        model="claude-haiku-4-5",
        cost_usd=Decimal("0.000100"),
    )
    newer = Summary.objects.create(
        conversation=conversation, covers_up_to=last, text="They asked q1 and q2.", token_count=8
    )
    return older, newer


def test_summaries_are_listed_oldest_first(api, conversation):
    older, newer = summarized(conversation)
    response = api.get(f"/api/conversations/{conversation.uuid}/summaries/")
    assert response.status_code == 200
    body = response.json()
    assert [s["id"] for s in body] == [str(older.uuid), str(newer.uuid)]
    assert body[0] == {
        "id": str(older.uuid),
        "covers_up_to": str(older.covers_up_to.uuid),
        "text": "They asked q1.",
        "token_count": 5,
        "model": "claude-haiku-4-5",
        "is_edited": False,
        "cost_usd": "0.000100",
        "created_at": older.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": older.updated_at.isoformat().replace("+00:00", "Z"),
    }
    assert body[1]["cost_usd"] is None


def test_patch_rewrites_a_summary_and_marks_it_edited(api, conversation):
    older, _ = summarized(conversation)
    url = f"/api/conversations/{conversation.uuid}/summaries/{older.uuid}/"
    response = api.patch(url, {"text": "  They asked about q1.\n"}, format="json")
    assert response.status_code == 200
    assert response.json()["is_edited"] is True
    assert response.json()["text"] == "  They asked about q1.\n"
    older.refresh_from_db()
    assert (older.text, older.is_edited) == ("  They asked about q1.\n", True)


@pytest.mark.parametrize("body", [{"text": ""}, {"text": " \n "}, {}, {"text": None}, {"txt": "x"}])
def test_a_summary_cannot_be_emptied(api, conversation, body):
    older, _ = summarized(conversation)
    url = f"/api/conversations/{conversation.uuid}/summaries/{older.uuid}/"
    response = api.patch(url, body, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) & {"text", "txt"}
    older.refresh_from_db()
    assert (older.text, older.is_edited) == ("They asked q1.", False)


def test_a_summary_over_the_limit_is_refused(api, conversation, settings):
    settings.CHATSITE_MAX_MESSAGE_CHARS = 50
    older, _ = summarized(conversation)
    url = f"/api/conversations/{conversation.uuid}/summaries/{older.uuid}/"
    response = api.patch(url, {"text": "x" * 51}, format="json")
    assert response.status_code == 400
    assert "text" in response.json()["error"]["fields"]


def test_another_persons_summaries_are_a_404(api, user, conversation, other_user):
    theirs, _ = summarized(ConversationFactory(owner=other_user))
    mine_elsewhere, _ = summarized(ConversationFactory(owner=user))
    for owner_conversation, summary in (
        (conversation, theirs),
        (conversation, mine_elsewhere),
        (theirs.conversation, theirs),
    ):
        url = f"/api/conversations/{owner_conversation.uuid}/summaries/{summary.uuid}/"
        response = api.patch(url, {"text": "overwritten"}, format="json")
        assert response.status_code == 404
    response = api.get(f"/api/conversations/{theirs.conversation.uuid}/summaries/")
    assert response.status_code == 404
    assert b"asked" not in response.content
    assert not Summary.objects.filter(is_edited=True).exists()


def test_another_persons_conversation_is_a_404_on_every_new_endpoint(api, other_user):
    theirs = ConversationFactory(owner=other_user, title="secret plans")
    question, answer = chain(theirs, ("user", "the secret"), ("assistant", "kept"))
    base = f"/api/conversations/{theirs.uuid}"
    for response in (
        api.patch(f"{base}/", {"title": "x"}, format="json"),
        api.patch(f"{base}/messages/{question.uuid}/", {"is_pinned": True}, format="json"),
        api.post(f"{base}/messages/{answer.uuid}/continue/"),
        api.get(f"{base}/summaries/"),
    ):
        assert response.status_code == 404
        assert b"secret" not in response.content
