"""The message endpoints of the REST API: the tree, one message, edit, regenerate and stop,
through the real SDK and the offline simulator, waited for and streamed."""

from __future__ import annotations

import http.client
import io
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, MessageFactory, chain
from tests.sent import parse_sse, sent_turns

pytestmark = pytest.mark.usefixtures("generous_send_limit")

LONG_AND_SLOW = "[sim:words=500] [sim:delay=0.02] long"


def base(conversation: Conversation) -> str:
    return f"/api/conversations/{conversation.uuid}"


def send(api: APIClient, conversation: Conversation, content: str) -> dict[str, Any]:
    response = api.post(f"{base(conversation)}/messages/", {"content": content}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def branch_texts(api: APIClient, conversation: Conversation) -> list[str]:
    return [m["text"] for m in api.get(f"{base(conversation)}/messages/").json()]


# --- the tree -----------------------------------------------------------------------------------
def branched(conversation: Conversation) -> dict[str, Message]:
    """q1 -> a1 -> q2 -> {a2, a2'}, and an edit q1' -> a1', the active branch ending at a2'."""
    q1, a1, q2, a2 = chain(
        conversation, ("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")
    )
    a2b = MessageFactory(conversation=conversation, parent=q2, role="assistant", text="a2'")
    q1b = MessageFactory(conversation=conversation, parent=None, role="user", text="q1'")
    a1b = MessageFactory(conversation=conversation, parent=q1b, role="assistant", text="a1'")
    conversation.active_leaf = a2b
    conversation.save()
    return {"q1": q1, "a1": a1, "q2": q2, "a2": a2, "a2'": a2b, "q1'": q1b, "a1'": a1b}


def test_the_tree_lists_every_branch_depth_first_with_places(api, conversation):
    made = branched(conversation)
    response = api.get(f"{base(conversation)}/messages/tree/")
    assert response.status_code == 200
    tree = response.json()
    assert [m["text"] for m in tree] == ["q1", "a1", "q2", "a2", "a2'", "q1'", "a1'"]
    by_text = {m["text"]: m for m in tree}
    assert by_text["a2'"]["parent_id"] == str(made["q2"].uuid)
    assert by_text["q1"]["parent_id"] is None
    places = [
        (m["depth"], m["sibling_index"], m["sibling_count"], m["on_active_path"]) for m in tree
    ]
    assert places == [
        (0, 0, 2, True),
        (1, 0, 1, True),
        (2, 0, 1, True),
        (3, 0, 2, False),
        (3, 1, 2, True),
        (0, 1, 2, False),
        (1, 0, 1, False),
    ]
    # Each entry is a whole message, as the branch endpoint gives it.
    branch = {m["id"]: m for m in api.get(f"{base(conversation)}/messages/").json()}
    for message in tree:
        if message["id"] in branch:
            assert {k: message[k] for k in branch[message["id"]]} == branch[message["id"]]


@pytest.mark.parametrize("turns", [2, 40])
def test_the_tree_costs_the_same_queries_however_big(
    api, conversation, turns, django_assert_max_num_queries
):
    chain(conversation, *[("user" if n % 2 == 0 else "assistant", f"t{n}") for n in range(turns)])
    # The conversation, its messages, their attachments.
    with django_assert_max_num_queries(3):
        tree = api.get(f"{base(conversation)}/messages/tree/").json()
    assert len(tree) == turns


@pytest.mark.parametrize("turns", [2, 40])
def test_the_active_branch_costs_the_same_queries_however_long(
    api, conversation, turns, django_assert_max_num_queries
):
    chain(conversation, *[("user" if n % 2 == 0 else "assistant", f"t{n}") for n in range(turns)])
    # The conversation, its messages, their attachments.
    with django_assert_max_num_queries(3):
        branch = api.get(f"{base(conversation)}/messages/").json()
    assert len(branch) == turns


def test_an_empty_conversation_has_an_empty_tree(api, conversation):
    assert api.get(f"{base(conversation)}/messages/tree/").json() == []


# --- one message --------------------------------------------------------------------------------
def test_one_message_of_any_branch_can_be_read(api, conversation):
    made = branched(conversation)
    response = api.get(f"{base(conversation)}/messages/{made['a2'].uuid}/")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["text"], body["parent_id"]) == (
        str(made["a2"].uuid),
        "a2",
        str(made["q2"].uuid),
    )


def test_a_message_is_only_found_in_its_own_conversation(api, user, conversation, other_user):
    (mine_elsewhere,) = chain(ConversationFactory(owner=user), ("user", "q"))
    (theirs,) = chain(ConversationFactory(owner=other_user), ("user", "secret"))
    for url in (
        f"{base(conversation)}/messages/{mine_elsewhere.uuid}/",
        f"{base(conversation)}/messages/{theirs.uuid}/",
        f"{base(theirs.conversation)}/messages/{theirs.uuid}/",
        f"{base(theirs.conversation)}/messages/tree/",
    ):
        response = api.get(url)
        assert response.status_code == 404
        assert b"secret" not in response.content


# --- edit ---------------------------------------------------------------------------------------
def test_an_edit_makes_a_new_branch_with_a_new_reply(api, conversation, simulator):
    first = send(api, conversation, "What is 2+2?")
    question = first["parent_id"]

    response = api.post(
        f"{base(conversation)}/messages/{question}/edit/",
        {"content": "What is 3+3?"},
        format="json",
    )

    assert response.status_code == 201, response.content
    reply = response.json()
    assert (reply["role"], reply["status"]) == ("assistant", "complete")
    assert "You said: “What is 3+3?”" in reply["text"]
    edited = Message.objects.get(uuid=reply["parent_id"])
    original = Message.objects.get(uuid=question)
    assert (edited.text, edited.parent_id) == ("What is 3+3?", original.parent_id)
    assert sent_turns(simulator.requests[-1]) == [("user", "What is 3+3?")]
    assert branch_texts(api, conversation) == ["What is 3+3?", reply["text"]]
    # The original branch stays, whole.
    assert Message.objects.get(uuid=first["id"]).text == first["text"]
    assert Message.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_streamed_edit_opens_with_both_new_messages(api, conversation, settings):
    settings.CHATSITE_STREAM_FLUSH_SECONDS = 0
    question = send(api, conversation, "first")["parent_id"]
    url = f"{base(conversation)}/messages/{question}/edit/?stream=true"
    response = api.post(url, {"content": "second"}, format="json")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = parse_sse(b"".join(response))
    names = [name for name, _ in events]
    assert names[:2] == ["message.created", "message.created"]
    assert names[-1] == "chat.done"
    user_message, reply = events[0][1]["message"], events[1][1]["message"]
    assert (user_message["text"], user_message["parent_id"]) == ("second", None)
    assert (reply["parent_id"], reply["status"]) == (user_message["id"], "pending")
    assert events[-1][1]["message"]["id"] == reply["id"]
    assert "You said: “second”" in events[-1][1]["message"]["text"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": " "}, None),
        ({}, "content"),
        ({"content": "x", "contents": "y"}, "contents"),
        ({"content": "x", "attachments": ["not-an-id"]}, "attachments"),
    ],
)
def test_a_bad_edit_is_a_400_and_stores_nothing(api, conversation, simulator, body, field):
    reply = send(api, conversation, "hello")
    response = api.post(
        f"{base(conversation)}/messages/{reply['parent_id']}/edit/", body, format="json"
    )
    assert response.status_code == 400
    if field:
        assert field in response.json()["error"]["fields"]
    assert Message.objects.count() == 2
    assert len(simulator.requests) == 1


def png(colour: tuple[int, int, int]) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), colour).save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = "picture.png"
    return buffer


def upload(api: APIClient, conversation: Conversation, colour: tuple[int, int, int]) -> str:
    response = api.post(
        f"{base(conversation)}/attachments/", {"file": png(colour)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


@pytest.mark.django_db(transaction=True)
def test_an_edit_keeps_the_images_and_adds_new_uploads(api, conversation, simulator):
    first = upload(api, conversation, (200, 0, 0))
    response = api.post(
        f"{base(conversation)}/messages/",
        {"content": "one picture", "attachments": [first]},
        format="json",
    )
    question = response.json()["parent_id"]
    second = upload(api, conversation, (0, 0, 200))

    response = api.post(
        f"{base(conversation)}/messages/{question}/edit/",
        {"content": "two pictures", "attachments": [second]},
        format="json",
    )

    assert response.status_code == 201, response.content
    edited = api.get(f"{base(conversation)}/messages/").json()[0]
    assert edited["text"] == "two pictures"
    assert len(edited["attachments"]) == 2
    assert second in {a["id"] for a in edited["attachments"]}
    sent_images = [
        block
        for turn in simulator.requests[-1]["messages"]
        if isinstance(turn["content"], list)
        for block in turn["content"]
        if block["type"] == "image"
    ]
    assert len(sent_images) == 2
    # The original keeps its one image.
    original = api.get(f"{base(conversation)}/messages/{question}/").json()
    assert [a["id"] for a in original["attachments"]] == [first]


@pytest.mark.django_db(transaction=True)
def test_an_edit_cannot_take_an_upload_already_sent(api, conversation, simulator):
    first = upload(api, conversation, (200, 0, 0))
    response = api.post(
        f"{base(conversation)}/messages/",
        {"content": "one picture", "attachments": [first]},
        format="json",
    )
    question = response.json()["parent_id"]
    response = api.post(
        f"{base(conversation)}/messages/{question}/edit/",
        {"content": "again", "attachments": [first]},
        format="json",
    )
    assert response.status_code == 400
    assert "attachments" in response.json()["error"]["fields"]
    assert Message.objects.count() == 2


def test_only_the_persons_own_messages_can_be_edited(api, conversation, simulator):
    reply = send(api, conversation, "hello")
    response = api.post(
        f"{base(conversation)}/messages/{reply['id']}/edit/", {"content": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "message_id" in response.json()["error"]["fields"]
    assert Message.objects.count() == 2


# --- regenerate ---------------------------------------------------------------------------------
def test_regenerate_adds_a_reply_beside_the_first(api, conversation, simulator):
    first = send(api, conversation, "Tell me something")
    response = api.post(f"{base(conversation)}/messages/{first['id']}/regenerate/")
    assert response.status_code == 201, response.content
    second = response.json()
    assert second["id"] != first["id"]
    assert (second["parent_id"], second["status"]) == (first["parent_id"], "complete")
    assert len(simulator.requests) == 2
    assert sent_turns(simulator.requests[-1]) == [("user", "Tell me something")]
    assert branch_texts(api, conversation) == ["Tell me something", second["text"]]
    tree = api.get(f"{base(conversation)}/messages/tree/").json()
    assert [(m["sibling_index"], m["on_active_path"]) for m in tree[1:]] == [
        (0, False),
        (1, True),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_streamed_regenerate_opens_with_the_new_reply(api, conversation, settings):
    settings.CHATSITE_STREAM_FLUSH_SECONDS = 0
    first = send(api, conversation, "again please")
    response = api.post(f"{base(conversation)}/messages/{first['id']}/regenerate/?stream=true")
    events = parse_sse(b"".join(response))
    assert events[0][0] == "message.created"
    opened = events[0][1]["message"]
    assert (opened["parent_id"], opened["status"]) == (first["parent_id"], "pending")
    assert events[-1][0] == "chat.done"
    assert events[-1][1]["message"]["id"] == opened["id"]
    assert events[-1][1]["message"]["status"] == "complete"


def test_a_persons_message_cannot_be_regenerated(api, conversation, simulator):
    first = send(api, conversation, "hello")
    response = api.post(f"{base(conversation)}/messages/{first['parent_id']}/regenerate/")
    assert response.status_code == 400
    assert "message_id" in response.json()["error"]["fields"]
    assert Message.objects.count() == 2


def test_regenerating_while_a_reply_is_being_written_is_a_409(api, conversation):
    _, answer, _ = chain(conversation, ("user", "q"), ("assistant", "a"), ("user", "q2"))
    # Its process alive: a fresh heartbeat.
    chain(conversation, ("assistant", ""), status="pending", heartbeat_at=timezone.now())
    response = api.post(f"{base(conversation)}/messages/{answer.uuid}/regenerate/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "busy"
    assert Message.objects.count() == 4


# --- someone else's, and nobody's ---------------------------------------------------------------
def test_nobody_edits_regenerates_or_stops_in_another_persons_conversation(
    api, other_user, simulator
):
    theirs = ConversationFactory(owner=other_user)
    question, answer = chain(theirs, ("user", "secret question"), ("assistant", "secret"))
    missing = api.post("/api/conversations/00000000-0000-0000-0000-000000000000/stop/")
    for response in (
        api.post(
            f"{base(theirs)}/messages/{question.uuid}/edit/", {"content": "mine"}, format="json"
        ),
        api.post(f"{base(theirs)}/messages/{answer.uuid}/regenerate/"),
        api.post(f"{base(theirs)}/stop/"),
        api.get(f"{base(theirs)}/messages/{answer.uuid}/"),
    ):
        assert response.status_code == 404
        assert response.json() == missing.json()
        assert b"secret" not in response.content
    assert Message.objects.count() == 2
    assert simulator.requests == []


def test_anonymous_requests_reach_no_message(db, conversation, simulator):
    question, answer = chain(conversation, ("user", "q"), ("assistant", "a"))
    client = APIClient()
    for response in (
        client.get(f"{base(conversation)}/messages/tree/"),
        client.get(f"{base(conversation)}/messages/{answer.uuid}/"),
        client.post(
            f"{base(conversation)}/messages/{question.uuid}/edit/", {"content": "x"}, format="json"
        ),
        client.post(f"{base(conversation)}/messages/{answer.uuid}/regenerate/"),
        client.post(f"{base(conversation)}/stop/"),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
    assert Message.objects.count() == 2
    assert simulator.requests == []


# --- stop ---------------------------------------------------------------------------------------
def test_stop_with_nothing_running_says_so(api, conversation):
    send(api, conversation, "hello")
    response = api.post(f"{base(conversation)}/stop/")
    assert response.status_code == 200
    assert response.json() == {"stopped": False, "message": None}


@pytest.mark.parametrize("message_id", ["not-a-uuid", "", ["x"], {"id": 1}])
def test_stop_refuses_a_bad_message_id(api, conversation, message_id):
    response = api.post(f"{base(conversation)}/stop/", {"message_id": message_id}, format="json")
    assert response.status_code == 400
    assert "message_id" in response.json()["error"]["fields"]


def test_stop_of_a_message_of_another_conversation_is_a_404(api, user, conversation):
    (elsewhere,) = chain(ConversationFactory(owner=user), ("assistant", "a"))
    response = api.post(
        f"{base(conversation)}/stop/", {"message_id": str(elsewhere.uuid)}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No such message."


class InBackground:
    """A blocking call in another thread (with its own database connection), as a second
    client would make it."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self._call = call
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._call()
        finally:
            connection.close()

    def join(self) -> Any:
        self._thread.join(timeout=30)
        assert not self._thread.is_alive()
        return self.result


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture(autouse=True)
def _partial_text_saved_often(settings) -> None:
    # So a test can see from the database that a reply has begun writing.
    settings.CHATSITE_STREAM_SAVE_SECONDS = 0.05


def long_reply_in_background(user, conversation: Conversation) -> tuple[InBackground, Message]:
    """A blocking send whose reply streams for about ten seconds; returns once its first
    words are saved."""
    url = f"{base(conversation)}/messages/"
    sending = InBackground(
        lambda: client_of(user).post(url, {"content": LONG_AND_SLOW}, format="json")
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = (
            Message.objects.filter(role="assistant", status="streaming").exclude(text="").first()
        )
        if reply is not None:
            return sending, reply
        time.sleep(0.02)
    raise AssertionError("the reply never started writing")


@pytest.mark.django_db(transaction=True)
def test_stop_ends_a_long_reply_and_both_callers_see_the_partial_text(
    user, conversation, simulator
):
    sending, reply = long_reply_in_background(user, conversation)
    started = time.monotonic()

    response = client_of(user).post(f"{base(conversation)}/stop/")

    assert time.monotonic() - started < 5
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["stopped"] is True
    stopped = body["message"]
    assert (stopped["id"], stopped["status"]) == (str(reply.uuid), "stopped")
    assert 0 < len(stopped["text"].split()) < 500
    # The person who sent it gets the same stopped reply.
    sent = sending.join()
    assert sent.status_code == 201
    assert (sent.json()["id"], sent.json()["status"]) == (str(reply.uuid), "stopped")
    assert sent.json()["text"] == stopped["text"] == Message.objects.get(pk=reply.pk).text
    assert simulator.aborted_streams == 1
    # The conversation is free again.
    assert client_of(user).post(f"{base(conversation)}/stop/").json()["stopped"] is False


@pytest.mark.django_db(transaction=True)
def test_stop_of_another_reply_leaves_the_running_one_alone(user, conversation, simulator):
    (earlier,) = chain(conversation, ("assistant", "done long ago"))
    sending, reply = long_reply_in_background(user, conversation)
    response = client_of(user).post(
        f"{base(conversation)}/stop/", {"message_id": str(earlier.uuid)}, format="json"
    )
    assert response.json() == {"stopped": False, "message": None}
    assert Message.objects.get(pk=reply.pk).status == "streaming"
    client_of(user).post(f"{base(conversation)}/stop/", {"message_id": str(reply.uuid)})
    assert sending.join().json()["status"] == "stopped"


@pytest.mark.django_db(transaction=True)
def test_another_person_cannot_stop_a_reply(user, other_user, conversation, simulator):
    sending, reply = long_reply_in_background(user, conversation)
    response = client_of(other_user).post(f"{base(conversation)}/stop/")
    assert response.status_code == 404
    time.sleep(0.2)
    assert Message.objects.get(pk=reply.pk).status == "streaming"
    client_of(user).post(f"{base(conversation)}/stop/")
    sending.join()


@pytest.mark.django_db(transaction=True)
def test_deleting_a_conversation_while_it_replies_stops_the_reply(user, conversation, simulator):
    """A person expects Delete to work at any time, and nothing to run on for a deleted
    conversation: no 409, the reply is stopped with it."""
    sending, _ = long_reply_in_background(user, conversation)
    response = client_of(user).delete(f"{base(conversation)}/")
    assert response.status_code == 204
    assert not Conversation.objects.exists()
    sent = sending.join()
    assert sent.status_code == 404
    assert (
        sent.json()["error"]["message"] == "The conversation was deleted while Claude was replying."
    )
    assert simulator.aborted_streams == 1
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_stop_ends_a_streamed_reply_through_a_real_server(user, conversation, simulator):
    """A stream and a Stop over HTTP, as two tabs of a client would send them."""
    from chatsite.asgi import application
    from tests.asgi_server import AsgiTestServer

    server = AsgiTestServer(application).start()
    try:
        headers = {"Content-Type": "application/json", **auth_headers(user)}
        stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        body = json.dumps({"content": LONG_AND_SLOW})
        stream.request("POST", f"{base(conversation)}/messages/?stream=true", body, headers)
        events = stream.getresponse()
        assert events.status == 200
        while events.readline().decode().strip() != "event: chat.delta":
            pass

        stopper = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        stopper.request("POST", f"{base(conversation)}/stop/", "{}", headers)
        answer = stopper.getresponse()
        assert answer.status == 200
        stopped = json.loads(answer.read())
        assert (stopped["stopped"], stopped["message"]["status"]) == (True, "stopped")

        rest = parse_sse(b"event: chat.delta\n" + events.read())
        assert rest[-1][0] == "chat.done"
        assert rest[-1][1]["message"]["status"] == "stopped"
        assert rest[-1][1]["message"]["text"] == stopped["message"]["text"]
        stream.close()
        stopper.close()
    finally:
        server.stop()


def auth_headers(user) -> dict[str, str]:
    from chatsite.accounts.tokens import api_token_create

    _, key = api_token_create(user=user, name="stop test")
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.django_db(transaction=True)
def test_a_retried_send_waits_for_the_reply_the_first_one_started(user, conversation, simulator):
    """A script whose blocking send timed out retries with the same client_id: it gets the
    finished reply, not a snapshot of it half written."""
    url = f"{base(conversation)}/messages/"
    body = {"content": "[sim:words=60] [sim:delay=0.02] long", "client_id": "retry-1"}
    first = InBackground(lambda: client_of(user).post(url, body, format="json"))
    deadline = time.monotonic() + 10
    while not Message.objects.filter(role="assistant", status="streaming").exclude(text=""):
        assert time.monotonic() < deadline, "the reply never started writing"
        time.sleep(0.02)

    retried = client_of(user).post(url, body, format="json")

    assert retried.status_code == 200, retried.content
    assert retried.json()["status"] == "complete"
    assert len(retried.json()["text"].split()) == 60
    assert first.join().json()["text"] == retried.json()["text"]
    assert Message.objects.filter(role="assistant").count() == 1
