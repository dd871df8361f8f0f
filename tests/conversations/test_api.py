from __future__ import annotations

import json
import re

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, chain


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


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
    assert simulator.requests[-1]["messages"] == [{"role": "user", "content": "Hello there"}]


def test_the_second_turn_carries_the_whole_history(api, conversation, simulator):
    url = f"/api/conversations/{conversation.uuid}/messages/"
    api.post(url, {"content": "first"}, format="json")
    reply = api.post(url, {"content": "second"}, format="json").json()
    assert re.search(r"I received 3 messages \(2 from you\)", reply["text"])
    sent = simulator.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert (sent[0]["content"], sent[2]["content"]) == ("first", "second")


def test_the_system_prompt_reaches_the_api(api, user, simulator):
    conversation = ConversationFactory(owner=user, system_prompt="You are terse.")
    reply = api.post(
        f"/api/conversations/{conversation.uuid}/messages/", {"content": "hi"}, format="json"
    ).json()
    assert "a system prompt" in reply["text"]
    assert simulator.requests[-1]["system"] == "You are terse."


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
    assert simulator.requests[-1]["messages"] == [
        {"role": "user", "content": "x [sim:error=api]\n\nagain"}
    ]


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
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/conversations/").json()["count"] == 1
    client.credentials(HTTP_AUTHORIZATION="Token wrong")
    assert client.get("/api/conversations/").status_code == 401


def test_session_auth_writes_need_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/conversations/", {"title": "x"}, format="json")
    assert response.status_code == 403
    assert not Conversation.objects.exists()


def test_a_failure_before_streaming_leaves_the_conversation_usable(api, conversation, settings):
    """A conversation whose model setting breaks the request builder must not stay busy."""
    conversation.parameters = {"max_tokens": "not a number"}
    conversation.save()
    url = f"/api/conversations/{conversation.uuid}/messages/"
    reply = api.post(url, {"content": "hello"}, format="json").json()
    assert reply["status"] == "error"
    assert reply["error_type"] == "internal"
    conversation.parameters = {"max_tokens": 100}
    conversation.save()
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
    assert remote.requests[-1]["messages"] == [{"role": "user", "content": "over HTTP"}]
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


def parse_sse(body: bytes) -> list[tuple[str, dict]]:
    events = []
    for block in body.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


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

    from rest_framework.authtoken.models import Token

    from chatsite.asgi import application
    from tests.asgi_server import AsgiTestServer

    token = Token.objects.create(user=user)
    server = AsgiTestServer(application).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        body = json.dumps({"content": "[sim:words=100] [sim:delay=0.02] slowly"})
        connection.request(
            "POST",
            f"/api/conversations/{conversation.uuid}/messages/?stream=true",
            body=body,
            headers={"Authorization": f"Token {token.key}", "Content-Type": "application/json"},
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
