"""The conversation endpoints of the REST API: the list's filters and pages, archive, pin,
delete, attachments' descriptions, and the one error body everywhere under /api/."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.urls import get_resolver
from PIL import Image
from rest_framework.test import APIClient

from conversations.api.views import api_not_found
from conversations.models import Attachment, Conversation, Message, Summary
from tests.factories import ConversationFactory, MessageFactory, chain

LIST = "/api/conversations/"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [c["id"] for c in response.json()["results"]]


def at(conversation: Conversation, **times: datetime) -> Conversation:
    """Set timestamps the model sets itself (auto_now), as if it had happened then."""
    Conversation.objects.filter(pk=conversation.pk).update(**times)
    conversation.refresh_from_db()
    return conversation


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


# --- the list: filters --------------------------------------------------------------------------
def test_archived_conversations_are_left_out_unless_asked_for(api, user):
    active = ConversationFactory(owner=user)
    archived = ConversationFactory(owner=user, is_archived=True)
    assert ids(api.get(LIST)) == [str(active.uuid)]
    assert ids(api.get(LIST, {"archived": "false"})) == [str(active.uuid)]
    assert ids(api.get(LIST, {"archived": ""})) == [str(active.uuid)]
    assert ids(api.get(LIST, {"archived": "only"})) == [str(archived.uuid)]
    # As before the filters, and as the bulk export reads it: true (or 1) includes them.
    for value in ("true", "1"):
        assert set(ids(api.get(LIST, {"archived": value}))) == {
            str(active.uuid),
            str(archived.uuid),
        }


def test_pinned_and_model_filters(api, user):
    pinned = ConversationFactory(owner=user, is_pinned=True, model="claude-haiku-4-5")
    plain = ConversationFactory(owner=user)
    assert ids(api.get(LIST, {"pinned": "true"})) == [str(pinned.uuid)]
    assert ids(api.get(LIST, {"pinned": "0"})) == [str(plain.uuid)]
    assert ids(api.get(LIST, {"model": "claude-haiku-4-5"})) == [str(pinned.uuid)]
    assert ids(api.get(LIST, {"model": "claude-imaginary-9"})) == []


def test_q_finds_text_in_titles_in_any_case_and_literally(api, user):
    trip = ConversationFactory(owner=user, title="Trip to Lisbon")
    percent = ConversationFactory(owner=user, title="100% sure_thing")
    ConversationFactory(owner=user, title="Groceries")
    assert ids(api.get(LIST, {"q": "LISBON"})) == [str(trip.uuid)]
    # LIKE wildcards in the query are plain characters.
    assert ids(api.get(LIST, {"q": "%"})) == [str(percent.uuid)]
    # As a wildcard, `_` would match the space in "Trip to".
    assert ids(api.get(LIST, {"q": "p_t"})) == []
    assert ids(api.get(LIST, {"q": "e_t"})) == [str(percent.uuid)]


def test_created_and_updated_ranges(api, user):
    day = datetime(2025, 3, 1, tzinfo=UTC)
    old = at(ConversationFactory(owner=user), created_at=day, updated_at=day)
    new = at(
        ConversationFactory(owner=user),
        created_at=day + timedelta(days=10),
        updated_at=day + timedelta(days=20),
    )
    assert ids(api.get(LIST, {"created_after": "2025-03-05"})) == [str(new.uuid)]
    assert ids(api.get(LIST, {"created_before": "2025-03-05T00:00:00Z"})) == [str(old.uuid)]
    # `before` excludes the instant itself, `after` includes it.
    assert ids(api.get(LIST, {"updated_before": day.isoformat()})) == []
    assert ids(api.get(LIST, {"updated_after": day.isoformat()})) == [
        str(new.uuid),
        str(old.uuid),
    ]
    assert ids(
        api.get(
            LIST, {"updated_after": "2025-03-15T00:00:00+02:00", "updated_before": "2026-01-01"}
        )
    ) == [str(new.uuid)]


def test_the_default_order_is_pinned_first_then_newest_and_ordering_changes_it(api, user):
    day = datetime(2025, 3, 1, tzinfo=UTC)
    b = at(ConversationFactory(owner=user, title="b"), created_at=day, updated_at=day)
    c = at(
        ConversationFactory(owner=user, title="c"),
        created_at=day + timedelta(days=1),
        updated_at=day + timedelta(days=3),
    )
    a = at(
        ConversationFactory(owner=user, title="a", is_pinned=True),
        created_at=day + timedelta(days=2),
        updated_at=day + timedelta(days=2),
    )
    assert ids(api.get(LIST)) == [str(a.uuid), str(c.uuid), str(b.uuid)]
    assert ids(api.get(LIST, {"ordering": "title"})) == [str(a.uuid), str(b.uuid), str(c.uuid)]
    assert ids(api.get(LIST, {"ordering": "-created_at"})) == [
        str(a.uuid),
        str(c.uuid),
        str(b.uuid),
    ]
    assert ids(api.get(LIST, {"ordering": "updated_at"})) == [
        str(b.uuid),
        str(a.uuid),
        str(c.uuid),
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"archived": "maybe"}, "archived"),
        ({"pinned": "ture"}, "pinned"),
        ({"pinned": ""}, None),  # blank: no filter, like an absent one
        ({"created_after": "yesterday"}, "created_after"),
        ({"updated_before": "2025-13-45"}, "updated_before"),
        ({"ordering": "owner"}, "ordering"),
        ({"ordering": "title,password"}, "ordering"),
        ({"q": "x" * 201}, "q"),
        ({"q": "nul\x00"}, "q"),
        ({"model": "m" * 101}, "model"),
    ],
)
def test_a_filter_that_cannot_be_read_is_a_400_naming_it(api, user, params, field):
    ConversationFactory(owner=user)
    response = api.get(LIST, params)
    if field is None:
        assert response.status_code == 200
        return
    error = assert_error(response, 400, "invalid")
    assert field in error["fields"]


def test_filters_never_reach_other_peoples_conversations(api, user, other_user):
    ConversationFactory(owner=other_user, title="Trip", is_pinned=True, is_archived=True)
    for params in ({}, {"q": "Trip"}, {"pinned": "true"}, {"archived": "only"}):
        body = api.get(LIST, params).json()
        assert (body["count"], body["results"]) == (0, [])


# --- the list: pages ----------------------------------------------------------------------------
def test_pages_follow_each_other_without_gaps_or_repeats(api, user):
    # Same updated_at for all: only the tie-break keeps the pages apart.
    made = ConversationFactory.create_batch(7, owner=user)
    Conversation.objects.update(updated_at=datetime(2025, 1, 1, tzinfo=UTC))
    seen: list[str] = []
    url: str | None = f"{LIST}?page_size=3"
    while url:
        body = api.get(url).json()
        assert body["count"] == 7
        seen += [c["id"] for c in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(str(c.uuid) for c in made)
    assert len(seen) == 7
    assert_error(api.get(LIST, {"page": 9}), 404, "not_found")
    assert len(api.get(LIST, {"page_size": 1000}).json()["results"]) == 7  # capped at 200


@pytest.mark.parametrize("count", [3, 30])
def test_the_list_costs_two_queries_whatever_its_length(
    api, user, count, django_assert_max_num_queries
):
    ConversationFactory.create_batch(count, owner=user)
    # The count, the page.
    with django_assert_max_num_queries(2):
        response = api.get(LIST, {"q": "Conversation", "pinned": "false", "ordering": "-title"})
    assert response.json()["count"] == count


# --- archive, pin -------------------------------------------------------------------------------
def subscribe(conversation: Conversation) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(conversation.group_name, channel)
    return channel


def test_patch_archives_and_pins_and_tells_open_tabs(
    api, conversation, django_capture_on_commit_callbacks
):
    before = conversation.updated_at
    channel = subscribe(conversation)
    url = f"/api/conversations/{conversation.uuid}/"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(url, {"is_archived": True, "is_pinned": True}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["is_archived"], response.json()["is_pinned"]) == (True, True)
    conversation.refresh_from_db()
    assert (conversation.is_archived, conversation.is_pinned) == (True, True)
    # Filing a conversation away is not activity: it keeps its place by date.
    assert conversation.updated_at == before
    frame = async_to_sync(get_channel_layer().receive)(channel)
    assert frame["type"] == "conversation.updated"
    assert frame["conversation"]["id"] == str(conversation.uuid)
    assert (frame["conversation"]["is_archived"], frame["conversation"]["is_pinned"]) == (
        True,
        True,
    )
    api.patch(url, {"is_archived": False}, format="json")
    conversation.refresh_from_db()
    assert (conversation.is_archived, conversation.is_pinned) == (False, True)


def test_a_conversation_whose_settings_no_longer_fit_can_still_be_archived(api, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(parameters={"max_tokens": "many"})
    url = f"/api/conversations/{conversation.uuid}/"
    response = api.patch(url, {"is_archived": True}, format="json")
    assert response.status_code == 200, response.content
    assert Conversation.objects.get(pk=conversation.pk).is_archived


@pytest.mark.parametrize("value", ["maybe", None, [True], {"on": True}])
def test_archive_and_pin_need_a_boolean(api, conversation, value):
    url = f"/api/conversations/{conversation.uuid}/"
    for field in ("is_archived", "is_pinned"):
        error = assert_error(api.patch(url, {field: value}, format="json"), 400, "invalid")
        assert field in error["fields"]
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.is_archived, stored.is_pinned) == (False, False)


def test_a_bad_title_beside_an_archive_stores_neither(api, conversation):
    url = f"/api/conversations/{conversation.uuid}/"
    response = api.patch(url, {"is_archived": True, "model": "claude-imaginary-9"}, format="json")
    assert_error(response, 400, "invalid")
    assert not Conversation.objects.get(pk=conversation.pk).is_archived


# --- delete -------------------------------------------------------------------------------------
def test_delete_removes_the_conversation_and_everything_in_it(api, conversation):
    _, answer = chain(conversation, ("user", "q"), ("assistant", "a"))
    Summary.objects.create(conversation=conversation, covers_up_to=answer, text="s")
    response = api.delete(f"/api/conversations/{conversation.uuid}/")
    assert response.status_code == 204
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()
    assert not Summary.objects.exists()
    assert_error(api.delete(f"/api/conversations/{conversation.uuid}/"), 404, "not_found")


# --- summaries ----------------------------------------------------------------------------------
def test_one_summary_can_be_read_by_its_owner_only(api, user, conversation, other_user):
    (answer,) = chain(conversation, ("assistant", "a"))
    summary = Summary.objects.create(conversation=conversation, covers_up_to=answer, text="s1")
    url = f"/api/conversations/{conversation.uuid}/summaries/{summary.uuid}/"
    body = api.get(url).json()
    assert (body["id"], body["text"], body["covers_up_to"]) == (
        str(summary.uuid),
        "s1",
        str(answer.uuid),
    )
    elsewhere = ConversationFactory(owner=user)
    assert_error(api.get(f"/api/conversations/{elsewhere.uuid}/summaries/{summary.uuid}/"), 404)
    assert_error(client_of(other_user).get(url), 404, "not_found")


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- someone else's, and nobody's ---------------------------------------------------------------
def test_another_persons_conversation_cannot_be_read_changed_or_deleted(api, other_user):
    theirs = ConversationFactory(owner=other_user, title="secret plans")
    chain(theirs, ("user", "the secret"), ("assistant", "kept"))
    url = f"/api/conversations/{theirs.uuid}/"
    missing = api.get("/api/conversations/00000000-0000-0000-0000-000000000000/")
    for response in (
        api.get(url),
        api.patch(url, {"is_archived": True, "is_pinned": True}, format="json"),
        api.delete(url),
        api.get(f"{url}usage/"),
    ):
        # Exactly what a conversation that does not exist gets.
        assert response.status_code == 404
        assert response.json() == missing.json()
        assert b"secret" not in response.content
    theirs.refresh_from_db()
    assert (theirs.is_archived, theirs.is_pinned, theirs.messages.count()) == (False, False, 2)


def every_endpoint_of(conversation: Conversation) -> list[tuple[str, str, dict]]:
    """(method, url, body) for each endpoint that reaches into one conversation."""
    question, answer = chain(conversation, ("user", "the secret"), ("assistant", "kept"))
    summary = Summary.objects.create(conversation=conversation, covers_up_to=answer, text="sum")
    c, q, a = f"/api/conversations/{conversation.uuid}", question.uuid, answer.uuid
    return [
        ("get", f"{c}/", {}),
        ("patch", f"{c}/", {"title": "taken", "is_archived": True}),
        ("delete", f"{c}/", {}),
        ("get", f"{c}/usage/", {}),
        ("post", f"{c}/stop/", {}),
        ("get", f"{c}/messages/", {}),
        ("post", f"{c}/messages/", {"content": "mine now"}),
        ("get", f"{c}/messages/tree/", {}),
        ("get", f"{c}/messages/{a}/", {}),
        ("patch", f"{c}/messages/{q}/", {"is_pinned": True}),
        ("post", f"{c}/messages/{q}/edit/", {"content": "changed"}),
        ("post", f"{c}/messages/{a}/regenerate/", {}),
        ("post", f"{c}/messages/{a}/continue/", {}),
        ("get", f"{c}/summaries/", {}),
        ("get", f"{c}/summaries/{summary.uuid}/", {}),
        ("patch", f"{c}/summaries/{summary.uuid}/", {"text": "rewritten"}),
        ("get", f"{c}/export/?format=json", {}),
        ("post", f"{c}/attachments/", {}),
    ]


def unchanged(conversation: Conversation) -> tuple:
    return (
        Conversation.objects.filter(pk=conversation.pk).values_list(
            "title", "is_archived", "updated_at"
        )[0],
        list(Message.objects.values_list("uuid", "text", "is_pinned", "status")),
        list(Summary.objects.values_list("text", "is_edited")),
    )


def test_every_conversation_endpoint_answers_another_person_as_if_it_did_not_exist(
    api, other_user, simulator
):
    theirs = ConversationFactory(owner=other_user, title="secret plans")
    endpoints = every_endpoint_of(theirs)
    before = unchanged(theirs)
    missing = api.get("/api/conversations/00000000-0000-0000-0000-000000000000/")
    for method, url, body in endpoints:
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code == 404, (method, url)
        assert response.json() == missing.json(), (method, url)
        assert b"secret" not in response.content
    assert unchanged(theirs) == before
    assert simulator.requests == []


def test_every_conversation_endpoint_refuses_anonymous_requests(conversation, simulator):
    endpoints = every_endpoint_of(conversation)
    before = unchanged(conversation)
    client = APIClient()
    for method, url, body in endpoints:
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code in (401, 403), (method, url)
        assert response.json()["error"]["code"] == "not_authenticated", (method, url)
        assert b"secret" not in response.content
    assert unchanged(conversation) == before
    assert simulator.requests == []


def test_anonymous_requests_get_the_error_body_and_change_nothing(db, conversation):
    client = APIClient()
    url = f"/api/conversations/{conversation.uuid}/"
    for response in (
        client.get(LIST),
        client.post(LIST, {"title": "x"}, format="json"),
        client.get(url),
        client.patch(url, {"is_archived": True}, format="json"),
        client.delete(url),
        client.get(f"{url}usage/"),
        client.get("/api/usage/"),
        client.get("/api/attachments/00000000-0000-0000-0000-000000000000/"),
    ):
        assert response.status_code == 401, response.content
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response["WWW-Authenticate"]
    assert Conversation.objects.count() == 1
    assert not Conversation.objects.get().is_archived


# --- the one error body -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/nothing-here/",
        "/api/conversations/not-a-uuid/",
        "/api/conversations/00000000-0000-0000-0000-000000000000/nope/",
        "/api/v2/conversations/",
    ],
)
def test_unknown_api_paths_answer_the_json_error_body(api, path):
    for response in (api.get(path), api.post(path, {}, format="json"), api.delete(path)):
        error = assert_error(response, 404, "not_found")
        assert error["message"] == "No such endpoint."


def test_a_missing_trailing_slash_is_pointed_out(api):
    error = assert_error(api.get("/api/conversations"), 404, "not_found")
    assert "slash" in error["message"]


def test_unknown_paths_answer_the_same_to_anyone_even_without_a_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert_error(client.post("/api/nothing-here/", {}, format="json"), 404, "not_found")
    assert_error(APIClient().get("/api/nothing-here/"), 404, "not_found")


def test_a_method_an_endpoint_lacks_is_a_405_with_the_error_body(api, conversation):
    assert_error(api.delete("/api/models/"), 405, "method_not_allowed")
    assert_error(api.put(f"/api/conversations/{conversation.uuid}/", {}), 405)
    assert_error(api.get(f"/api/conversations/{conversation.uuid}/attachments/"), 405)


def test_the_catch_all_is_the_last_api_route():
    """A route added after it would never be reached."""
    (api_include,) = [p for p in get_resolver().url_patterns if str(p.pattern) == "api/"]
    routes = api_include.url_patterns
    assert routes[-1].callback is api_not_found
    assert all(route.callback is not api_not_found for route in routes[:-1])


# --- attachments --------------------------------------------------------------------------------
def png() -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (600, 400), (200, 30, 30)).save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = "holiday.png"
    return buffer


@pytest.mark.django_db(transaction=True)
def test_an_attachment_is_described_to_its_owner_with_its_message_once_sent(
    api, conversation, other_user
):
    upload = api.post(
        f"/api/conversations/{conversation.uuid}/attachments/", {"file": png()}, format="multipart"
    )
    assert upload.status_code == 201, upload.content
    uploaded = upload.json()
    url = f"/api/attachments/{uploaded['id']}/"

    body = api.get(url).json()
    assert body == {
        **uploaded,
        "conversation_id": str(conversation.uuid),
        "message_id": None,
        "created_at": body["created_at"],
    }
    assert (body["name"], body["width"], body["height"]) == ("holiday.png", 600, 400)
    assert body["url"] == f"/attachments/{uploaded['id']}/"
    assert body["byte_size"] == Attachment.objects.get(uuid=uploaded["id"]).byte_size

    message = MessageFactory(conversation=conversation)
    Attachment.objects.filter(uuid=uploaded["id"]).update(message=message)
    assert api.get(url).json()["message_id"] == str(message.uuid)

    stranger = client_of(other_user)
    missing = stranger.get("/api/attachments/00000000-0000-0000-0000-000000000000/")
    response = stranger.get(url)
    assert response.status_code == 404
    assert response.json() == missing.json()
    assert b"holiday" not in response.content


def test_staff_see_no_one_elses_attachment_through_the_api(db, other_user):
    """The admin lets staff with the permission view images; the API is for owners only."""
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    theirs = Attachment.objects.create(owner=other_user, media_type="image/png", width=1)
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_attachment"))
    assert_error(client_of(staff).get(f"/api/attachments/{theirs.uuid}/"), 404, "not_found")


# --- the schema ---------------------------------------------------------------------------------
def test_the_schema_documents_the_filters_the_upload_and_the_error_body(api):
    response = api.get("/api/schema/", {"format": "json"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    import json

    schema = json.loads(response.content)
    paths = schema["paths"]
    listed = {p["name"] for p in paths["/api/conversations/"]["get"]["parameters"]}
    assert {"archived", "pinned", "model", "q", "ordering", "created_after", "page"} <= listed
    upload = paths["/api/conversations/{conversation_id}/attachments/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"201", "400", "404", "413", "429"} <= set(upload["responses"])
    for path in (
        "/api/conversations/{conversation_id}/messages/tree/",
        "/api/conversations/{conversation_id}/messages/{message_id}/edit/",
        "/api/conversations/{conversation_id}/messages/{message_id}/regenerate/",
        "/api/conversations/{conversation_id}/stop/",
        "/api/conversations/{conversation_id}/usage/",
        "/api/usage/",
        "/api/attachments/{attachment_id}/",
    ):
        assert path in paths
    error = {"$ref": "#/components/schemas/Error"}
    for operations in paths.values():
        for operation in operations.values():
            assert operation["responses"]["default"]["content"]["application/json"]["schema"] == (
                error
            )


def test_a_change_of_one_field_does_not_undo_a_concurrent_change_of_another(api, conversation):
    """The automatic title is written while the page may be saving the model: each request
    stores only what it was given."""
    from conversations.services.conversations import conversation_update

    stale = Conversation.objects.get(pk=conversation.pk)  # loaded before the title changes
    Conversation.objects.filter(pk=conversation.pk).update(title="Written meanwhile")
    conversation_update(conversation=stale, model="claude-haiku-4-5")
    conversation.refresh_from_db()
    assert conversation.title == "Written meanwhile"
    assert conversation.model == "claude-haiku-4-5"
