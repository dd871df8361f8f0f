"""Uploading, serving, sending and deleting images, through the API and the real SDK."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from PIL import Image
from rest_framework.test import APIClient

from conversations.models import Attachment, Message
from conversations.services.attachments import attachment_name_clean
from conversations.services.conversations import conversation_delete
from conversations.services.message_rules import ChatError
from conversations.services.messages import message_edit, message_send
from tests.conversations.support import ask
from tests.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def png(width: int = 600, height: int = 400, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def tiles(width: int, height: int) -> int:
    return math.ceil(width / 28) * math.ceil(height / 28)


def upload(client: APIClient | Client, conversation, data: bytes, name: str = "photo.png"):
    return client.post(
        f"/api/conversations/{conversation.uuid}/attachments/",
        {"file": _named(data, name)},
        format="multipart",
    )


def _named(data: bytes, name: str) -> io.BytesIO:
    buffer = io.BytesIO(data)
    buffer.name = name
    return buffer


def uploaded(api: APIClient, conversation, data: bytes | None = None, name: str = "a.png") -> str:
    response = upload(api, conversation, data or png(), name)
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def image_sources(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        block["source"]
        for turn in request["messages"]
        if isinstance(turn["content"], list)
        for block in turn["content"]
        if block["type"] == "image"
    ]


# --- upload --------------------------------------------------------------------------------------
def test_an_upload_is_stored_as_our_re_encode_and_described(api, conversation):
    original = png(600, 400) + b"<script>alert(1)</script>"
    response = upload(api, conversation, original, "holiday.png")
    assert response.status_code == 201
    body = response.json()
    attachment = Attachment.objects.get(uuid=body["id"])
    assert body["name"] == "holiday.png"
    assert (body["width"], body["height"]) == (600, 400)
    assert body["token_estimate"] == tiles(600, 400)
    assert body["url"] == f"/attachments/{attachment.uuid}/"
    stored = Path(attachment.file.path).read_bytes()
    assert b"<script" not in stored
    assert stored != original
    assert attachment.byte_size == len(stored)
    assert attachment.message is None
    assert attachment.conversation == conversation
    # A random name on disk, nothing of the person's file name.
    assert "holiday" not in attachment.file.name


def test_a_high_res_model_is_quoted_the_larger_size(api, user):
    conversation = ConversationFactory(owner=user, model="claude-opus-4-7")
    response = upload(api, conversation, png(4000, 3000))
    body = response.json()
    attachment = Attachment.objects.get(uuid=body["id"])
    assert max(attachment.width, attachment.height) == 2576
    assert max(attachment.standard_width, attachment.standard_height) == 1568
    assert body["token_estimate"] == tiles(attachment.width, attachment.height)
    standard = ConversationFactory(owner=user, model="claude-sonnet-4-6")
    body = upload(api, standard, png(4000, 3000)).json()
    assert body["token_estimate"] == tiles(1568, 1176)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "JPEG"),
        (b"<html><body>not a picture</body></html>", "JPEG"),
        (png()[:200], "incomplete"),
    ],
    ids=["zero-bytes", "svg", "html-named-png", "truncated-png"],
)
def test_files_that_are_not_whole_images_are_refused_clearly(api, conversation, data, words):
    response = upload(api, conversation, data, "innocent.png")
    assert response.status_code == 400
    error = response.json()["error"]
    assert words.lower() in error["message"].lower()
    assert not Attachment.objects.exists()


def test_a_file_over_the_byte_limit_is_refused_before_decoding(api, conversation, settings):
    settings.CHATSITE_UPLOAD_MAX_BYTES = 1000
    response = upload(api, conversation, png(600, 400))
    assert response.status_code == 413
    assert "too large" in response.json()["error"]["message"]


def test_an_upload_without_a_file_names_the_field(api, conversation):
    response = api.post(
        f"/api/conversations/{conversation.uuid}/attachments/", {}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"file": [response.json()["error"]["message"]]}


def test_nobody_uploads_into_another_persons_conversation(conversation, other_user):
    stranger = APIClient()
    stranger.force_authenticate(other_user)
    assert upload(stranger, conversation, png()).status_code == 404
    anonymous = upload(APIClient(), conversation, png())
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer chs_not-a-token")
    assert upload(bad_token, conversation, png()).status_code == 401
    assert not Attachment.objects.exists()


def test_a_session_upload_needs_the_csrf_token(user, conversation):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = upload(browser, conversation, png())
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    browser.get(f"/c/{conversation.uuid}/")  # the page sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        f"/api/conversations/{conversation.uuid}/attachments/",
        {"file": _named(png(), "ok.png")},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201, response.content


def test_unsent_uploads_are_capped(api, conversation, settings):
    settings.CHATSITE_MAX_UNSENT_ATTACHMENTS = 2
    uploaded(api, conversation)
    uploaded(api, conversation)
    response = upload(api, conversation, png())
    assert response.status_code == 400
    assert "waiting to be sent" in response.json()["error"]["message"]


def test_uploads_are_rate_limited(api, conversation, settings):
    settings.CHATSITE_UPLOAD_RATE_LIMIT = "2/minute"
    uploaded(api, conversation)
    uploaded(api, conversation)
    assert upload(api, conversation, png()).status_code == 429


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("..\\..\\windows\\evil.png", "evil.png"),
        ("nul\x00byte.png", "nulbyte.png"),
        ("invoice\u202egnp.exe", "invoicegnp.exe"),
        ("x" * 300 + ".png", "x" * 116 + ".png"),
        ("", "image"),
        ("...", "image"),
    ],
)
def test_file_names_are_made_safe_to_show(given, shown):
    assert attachment_name_clean(given) == shown


# --- serving -------------------------------------------------------------------------------------
def test_images_are_served_to_their_owner_only_with_defensive_headers(api, user, conversation):
    key = uploaded(api, conversation, name='we"ird\r\nname.png')
    owner = Client()
    owner.force_login(user)
    response = owner.get(f"/attachments/{key}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("inline;")
    assert "\n" not in disposition
    assert "\r" not in disposition
    thumbnail = owner.get(f"/attachments/{key}/thumbnail/")
    assert thumbnail.status_code == 200
    with Image.open(io.BytesIO(thumbnail.content)) as image:
        assert max(image.size) <= 320

    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.get(f"/attachments/{key}/").status_code == 404
    assert stranger.get(f"/attachments/{key}/thumbnail/").status_code == 404
    assert Client().get(f"/attachments/{key}/").status_code == 302  # to the login page
    # Staff see others' images only with the admin's permission to view attachments.
    staff = Client()
    staff.force_login(UserFactory(is_staff=True))
    assert staff.get(f"/attachments/{key}/").status_code == 404
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert admin.get(f"/attachments/{key}/").status_code == 200
    assert owner.head(f"/attachments/{key}/thumbnail/").status_code == 200


def test_there_is_no_public_media_url(api, conversation):
    key = uploaded(api, conversation)
    name = Attachment.objects.get(uuid=key).file.name
    assert Client().get(f"/media/{name}").status_code == 404
    assert Client().get(f"/{name}").status_code == 404


# --- sending -------------------------------------------------------------------------------------
def test_an_image_reaches_claude_before_the_text_and_in_later_turns(
    api, conversation, simulator, settings
):
    settings.CHATSITE_FILES_API = False
    key = uploaded(api, conversation)
    reply = ask(conversation, "What is in this picture?", attachments=[key])
    assert reply.status == Message.Status.COMPLETE
    first = simulator.requests[-1]
    content = first["messages"][0]["content"]
    assert [block["type"] for block in content] == ["image", "text"]
    assert content[0]["source"]["type"] == "base64"
    assert content[0]["source"]["media_type"] == "image/png"
    ask(conversation, "And the colour?")
    assert len(image_sources(simulator.requests[-1])) == 1
    user_message = Message.objects.get(role="user", text="What is in this picture?")
    assert [a.uuid for a in user_message.attachments.all()] == [
        Attachment.objects.get(uuid=key).uuid
    ]


def test_with_the_files_api_an_image_is_uploaded_once(api, conversation, simulator, settings):
    settings.CHATSITE_FILES_API = True
    key = uploaded(api, conversation)
    ask(conversation, "Look", attachments=[key])
    ask(conversation, "Again")
    ask(conversation, "Once more")
    sources = [image_sources(request) for request in simulator.requests]
    file_ids = {source["file_id"] for request in sources for source in request}
    assert len(file_ids) == 1
    assert all(s["type"] == "file" for r in sources for s in r)
    assert len(simulator.files.page()["data"]) == 1
    assert Attachment.objects.get(uuid=key).files_api_id in file_ids


def test_a_file_the_api_lost_is_uploaded_again(api, conversation, simulator, settings):
    settings.CHATSITE_FILES_API = True
    key = uploaded(api, conversation)
    ask(conversation, "Look", attachments=[key])
    lost = Attachment.objects.get(uuid=key).files_api_id
    simulator.files.delete(lost)
    reply = ask(conversation, "Still there?")
    assert reply.status == Message.Status.COMPLETE
    renewed = Attachment.objects.get(uuid=key).files_api_id
    assert renewed
    assert renewed != lost
    assert image_sources(simulator.requests[-1]) == [{"type": "file", "file_id": renewed}]


def test_each_model_gets_the_size_of_its_tier(api, user, simulator, settings):
    settings.CHATSITE_FILES_API = False
    for model, edge in (("claude-opus-4-7", 2576), ("claude-sonnet-4-6", 1568)):
        conversation = ConversationFactory(owner=user, model=model)
        key = uploaded(api, conversation, png(4000, 3000))
        ask(conversation, "Describe", attachments=[key])
        source = image_sources(simulator.requests[-1])[0]
        with Image.open(io.BytesIO(base64.b64decode(source["data"]))) as sent:
            assert max(sent.size) == edge


def test_a_message_of_images_alone_is_accepted_but_not_an_empty_one(api, conversation):
    key = uploaded(api, conversation)
    reply = ask(conversation, "", attachments=[key])
    assert reply.status == Message.Status.COMPLETE
    with pytest.raises(ChatError, match="empty"):
        message_send(conversation=conversation, text="  ")


@pytest.mark.parametrize(
    "attachments",
    [
        "not-a-list",
        [1, 2],
        ["not-a-uuid"],
        ["00000000-0000-0000-0000-000000000000"],
        ["00000000-0000-0000-0000-000000000000"] * 21,
    ],
)
def test_bad_attachment_lists_are_refused_and_nothing_is_stored(conversation, attachments):
    with pytest.raises(ChatError):
        message_send(conversation=conversation, text="hi", attachments=attachments)
    assert not Message.objects.exists()


def test_another_persons_upload_cannot_be_sent(conversation, other_user):
    theirs = ConversationFactory(owner=other_user)
    stranger = APIClient()
    stranger.force_authenticate(other_user)
    key = uploaded(stranger, theirs)
    with pytest.raises(ChatError, match="no longer available"):
        message_send(conversation=conversation, text="mine now", attachments=[key])
    assert not Message.objects.filter(conversation=conversation).exists()
    assert Attachment.objects.get(uuid=key).message is None


def test_an_image_is_sent_with_one_message_only(api, conversation):
    key = uploaded(api, conversation)
    ask(conversation, "first", attachments=[key])
    with pytest.raises(ChatError, match="no longer available"):
        message_send(conversation=conversation, text="second", attachments=[key])


def test_an_edited_message_keeps_its_images(api, conversation, simulator, settings):
    settings.CHATSITE_FILES_API = False
    key = uploaded(api, conversation)
    ask(conversation, "What is this?", attachments=[key])
    original = Message.objects.get(role="user")
    from conversations.services.generation import generation_run_blocking

    result = message_edit(conversation=conversation, message_uuid=original.uuid, text="And this?")
    generation_run_blocking(reply=result.assistant_message)
    assert result.user_message.attachments.count() == 1
    assert len(image_sources(simulator.requests[-1])) == 1


def test_the_oldest_images_beyond_the_api_limit_are_left_out_and_the_person_told(
    api, user, simulator, settings, generous_send_limit
):
    settings.CHATSITE_FILES_API = False
    settings.CHATSITE_MAX_UNSENT_ATTACHMENTS = 200
    settings.CHATSITE_UPLOAD_RATE_LIMIT = "1000/minute"
    conversation = ConversationFactory(owner=user, model="claude-opus-4-7")
    # 6 turns of 20 images: 120 in all, large enough to need the many-image size rule.
    for turn in range(6):
        keys = [uploaded(api, conversation, png(2100, 60, (turn, i, 0))) for i in range(20)]
        reply = ask(conversation, f"turn {turn}", attachments=keys)
        assert reply.status == Message.Status.COMPLETE, reply.error_detail
    request = simulator.requests[-1]
    assert len(image_sources(request)) == 100
    first_turn = request["messages"][0]["content"]
    assert first_turn[0]["type"] == "text"
    assert "left out" in first_turn[0]["text"]
    assert "20 older attachments were left out" in reply.notice
    for source in image_sources(request):
        with Image.open(io.BytesIO(base64.b64decode(source["data"]))) as sent:
            assert max(sent.size) <= 2000


# --- image URLs ----------------------------------------------------------------------------------
def test_image_links_are_off_unless_allowed(api, conversation):
    response = api.post(
        f"/api/conversations/{conversation.uuid}/attachments/",
        {"url": "https://example.com/cat.png"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "turned off" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/cat.png",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "https://user:pass@example.com/cat.png",
        "https:///nohost.png",
        "https://example.com/ cat.png",
        "https://example.com/" + "a" * 2100,
    ],
)
def test_only_plain_https_image_links_are_taken(api, conversation, settings, url):
    settings.CHATSITE_IMAGE_URLS = True
    response = api.post(
        f"/api/conversations/{conversation.uuid}/attachments/", {"url": url}, format="multipart"
    )
    assert response.status_code == 400
    assert not Attachment.objects.exists()


def test_an_allowed_image_link_is_passed_to_claude_and_never_fetched(
    api, conversation, simulator, settings
):
    settings.CHATSITE_IMAGE_URLS = True
    response = api.post(
        f"/api/conversations/{conversation.uuid}/attachments/",
        {"url": "https://example.com/cat.png"},
        format="multipart",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["thumbnail_url"] is None
    assert body["url"] == "https://example.com/cat.png"
    ask(conversation, "What is this?", attachments=[body["id"]])
    assert image_sources(simulator.requests[-1]) == [
        {"type": "url", "url": "https://example.com/cat.png"}
    ]


# --- deleting and exporting ----------------------------------------------------------------------
def test_an_unsent_upload_can_be_removed_by_its_owner_only(api, conversation, other_user):
    key = uploaded(api, conversation)
    path = Path(Attachment.objects.get(uuid=key).file.path)
    stranger = APIClient()
    stranger.force_authenticate(other_user)
    assert stranger.delete(f"/api/attachments/{key}/").status_code == 404
    assert api.delete(f"/api/attachments/{key}/").status_code == 204
    assert not Attachment.objects.exists()
    assert not path.exists()


def test_a_sent_image_cannot_be_removed_on_its_own(api, conversation):
    key = uploaded(api, conversation)
    ask(conversation, "look", attachments=[key])
    assert api.delete(f"/api/attachments/{key}/").status_code == 404


def test_deleting_a_conversation_deletes_its_image_files(api, conversation):
    key = uploaded(api, conversation)
    ask(conversation, "look", attachments=[key])
    original = Message.objects.get(role="user")
    result = message_edit(conversation=conversation, message_uuid=original.uuid, text="again")
    assert result.user_message.attachments.count() == 1  # the copy shares the files
    stored = Attachment.objects.get(uuid=key)
    paths = [Path(f.path) for f in (stored.file, stored.thumbnail)]
    conversation_delete(conversation=conversation)
    assert not Attachment.objects.exists()
    assert not any(path.exists() for path in paths)


def test_messages_and_exports_carry_their_images(api, conversation):
    key = uploaded(api, conversation)
    ask(conversation, "look", attachments=[key])
    messages = api.get(f"/api/conversations/{conversation.uuid}/messages/").json()
    assert [a["id"] for a in messages[0]["attachments"]] == [key]
    assert messages[1]["attachments"] == []
    export = f"/api/conversations/{conversation.uuid}/export/"
    linked = api.get(export).json()["messages"][0]["attachments"][0]
    assert linked["url"] == f"/attachments/{key}/"
    assert "data" not in linked
    inline = api.get(export + "?images=base64").json()["messages"][0]["attachments"][0]
    stored = Path(Attachment.objects.get(uuid=key).file.path).read_bytes()
    assert base64.b64decode(inline["data"]) == stored
    assert api.get(export + "?images=omit").json()["messages"][0]["attachments"] == []
    assert api.get(export + "?images=nope").status_code == 400


# --- over the socket -----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_a_socket_send_with_images_announces_them_and_claude_sees_them(
    api, conversation, cookie, simulator
):
    from channels.db import database_sync_to_async

    from tests.conversations.sockets import communicator, receive, receive_until_done

    keys = [
        await database_sync_to_async(uploaded)(api, conversation, png(56 * (i + 1), 56))
        for i in range(2)
    ]
    ws = communicator(conversation, cookie=cookie)
    assert (await ws.connect(timeout=10))[0]
    frame = {"type": "send", "text": "", "attachments": keys, "client_id": "img-1"}
    await ws.send_to(text_data=json.dumps(frame))
    question = (await receive(ws))["message"]
    assert [a["id"] for a in question["attachments"]] == keys
    assert [a["width"] for a in question["attachments"]] == [56, 112]
    assert question["attachments"][0]["thumbnail_url"] == f"/attachments/{keys[0]}/thumbnail/"
    await receive(ws)  # the reply's message.created
    done = (await receive_until_done(ws))[-1]
    assert done["type"] == "chat.done"
    assert len(image_sources(simulator.requests[-1])) == 2
    # The same frame again: one message, one generation, the images still on it.
    await ws.send_to(text_data=json.dumps(frame))
    again = (await receive(ws))["message"]
    assert again["id"] == question["id"]
    assert [a["id"] for a in again["attachments"]] == keys
    await ws.disconnect()


@pytest.mark.asyncio
async def test_a_socket_send_with_someone_elses_image_is_refused(conversation, cookie, other_user):
    from channels.db import database_sync_to_async

    from tests.conversations.sockets import communicator, receive

    def theirs() -> str:
        stranger = APIClient()
        stranger.force_authenticate(other_user)
        return uploaded(stranger, ConversationFactory(owner=other_user))

    key = await database_sync_to_async(theirs)()
    ws = communicator(conversation, cookie=cookie)
    assert (await ws.connect(timeout=10))[0]
    frame = {"type": "send", "text": "hi", "attachments": [key], "client_id": "x"}
    await ws.send_to(text_data=json.dumps(frame))
    error = await receive(ws)
    assert (error["type"], error["code"], error["client_id"]) == (
        "error",
        "invalid_attachment",
        "x",
    )
    assert not await database_sync_to_async(Message.objects.exists)()
    await ws.disconnect()


def test_the_admin_shows_thumbnails_of_a_messages_images(api, conversation):
    key = uploaded(api, conversation, name="<img src=x onerror=alert(1)>.png")
    ask(conversation, "look", attachments=[key])
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    question = Message.objects.get(role="user")
    page = staff.get(f"/admin/conversations/message/{question.pk}/change/").content.decode()
    assert f'src="/attachments/{key}/thumbnail/"' in page
    assert "<img src=x" not in page  # the name is escaped in the alt text
    assert 'alt="&lt;img src=x onerror=alert(1)&gt;.png"' in page
    listing = staff.get("/admin/conversations/attachment/").content.decode()
    assert f'src="/attachments/{key}/thumbnail/"' in listing


# --- PDFs ----------------------------------------------------------------------------------------
def pdf(pages: int = 2, *, password: str = "") -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_is_checked_stored_and_sent_as_a_document(api, conversation, simulator, settings):
    settings.CHATSITE_FILES_API = False
    response = upload(api, conversation, pdf(3), "report.pdf")
    assert response.status_code == 201
    body = response.json()
    assert (body["media_type"], body["page_count"]) == ("application/pdf", 3)
    assert body["thumbnail_url"] is None
    from conversations.services.documents import PDF_TOKENS_PER_PAGE

    assert body["token_estimate"] == 3 * PDF_TOKENS_PER_PAGE
    reply = ask(conversation, "Summarize", attachments=[body["id"]])
    assert reply.status == Message.Status.COMPLETE, reply.error_detail
    content = simulator.requests[-1]["messages"][0]["content"]
    assert [block["type"] for block in content] == ["document", "text"]
    assert content[0]["source"]["media_type"] == "application/pdf"
    assert base64.b64decode(content[0]["source"]["data"]) == pdf(3)
    recorded = Message.objects.get(pk=reply.pk).api_requests[0]["messages"][0]["content"][0]
    assert "data" not in recorded["source"]
    assert recorded["source"]["data_chars"] == len(content[0]["source"]["data"])


def test_a_pdf_goes_through_the_files_api_once(api, conversation, simulator, settings):
    settings.CHATSITE_FILES_API = True
    key = upload(api, conversation, pdf(1), "a.pdf").json()["id"]
    ask(conversation, "Read", attachments=[key])
    ask(conversation, "Again")
    sources = [
        block["source"]
        for request in simulator.requests
        for block in request["messages"][0]["content"]
        if block["type"] == "document"
    ]
    assert len(sources) == 2
    assert {s["type"] for s in sources} == {"file"}
    assert len({s["file_id"] for s in sources}) == 1


def test_a_pdf_is_only_ever_downloaded(api, user, conversation):
    key = upload(api, conversation, pdf(1), "report.pdf").json()["id"]
    owner = Client()
    owner.force_login(user)
    response = owner.get(f"/attachments/{key}/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert owner.get(f"/attachments/{key}/thumbnail/").status_code == 404


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (pdf(1, password="secret"), "password-protected"),
        (pdf(2)[:300], "damaged"),
        (b"%PDF-1.7\n" + b"\x00" * 100, "damaged"),
        (pdf(4), "4 pages"),
    ],
    ids=["encrypted", "truncated", "garbage", "too-many-pages"],
)
def test_bad_pdfs_are_refused_clearly(api, conversation, settings, data, words):
    settings.CHATSITE_PDF_MAX_PAGES = 3
    response = upload(api, conversation, data, "x.pdf")
    assert response.status_code == 400
    assert words in response.json()["error"]["message"]
    assert not Attachment.objects.exists()


def test_pdf_pages_beyond_the_request_limit_leave_the_oldest_document_out(api, conversation):
    from conversations.llm.catalog import model_resolve
    from conversations.services.history import conversation_path
    from conversations.services.vision import MAX_PDF_PAGES_PER_REQUEST, attachments_plan

    pages = MAX_PDF_PAGES_PER_REQUEST * 2 // 5  # two fit, a third does not
    for turn in range(3):
        key = upload(api, conversation, pdf(pages), f"part{turn}.pdf").json()["id"]
        message_send(conversation=conversation, text=f"part {turn}", attachments=[key])
        Message.objects.filter(status=Message.Status.PENDING).update(status="complete")
    conversation.refresh_from_db()
    path = conversation_path(conversation=conversation)
    plan = attachments_plan(
        conversation=conversation, verbatim=path, spec=model_resolve(conversation.model)
    )
    questions = [m for m in path if m.role == Message.Role.USER]
    assert [len(plan.chosen.get(m.id, [])) for m in questions] == [0, 1, 1]
    assert plan.omitted == {questions[0].id: 1}
    assert plan.notice.startswith("1 older attachment was left out")


def test_a_lost_file_is_a_404_not_a_500(api, user, conversation):
    key = uploaded(api, conversation)
    Path(Attachment.objects.get(uuid=key).file.path).unlink()
    owner = Client()
    owner.force_login(user)
    assert owner.get(f"/attachments/{key}/").status_code == 404


def test_uploads_never_sent_are_forgotten_after_a_day(api, conversation, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.CHATSITE_MAX_UNSENT_ATTACHMENTS = 1
    old = uploaded(api, conversation)
    stale = timezone.now() - timedelta(days=2)
    Attachment.objects.filter(uuid=old).update(created_at=stale)
    path = Path(Attachment.objects.get(uuid=old).file.path)
    fresh = uploaded(api, conversation)  # not refused: the stale one no longer counts
    assert list(Attachment.objects.values_list("uuid", flat=True)) == [
        Attachment.objects.get(uuid=fresh).uuid
    ]
    assert not path.exists()


def test_a_pdf_too_big_to_send_is_refused_at_upload(api, conversation):
    from conversations.services.documents import MAX_PDF_BYTES

    response = upload(api, conversation, b"%PDF-1.7\n" + b"0" * MAX_PDF_BYTES, "big.pdf")
    assert response.status_code == 413
    assert "PDF is too large" in response.json()["error"]["message"]


def test_an_export_with_images_inline_is_bounded(api, conversation, settings):
    key = uploaded(api, conversation)
    ask(conversation, "look", attachments=[key])
    settings.CHATSITE_EXPORT_MAX_BYTES = 100
    export = f"/api/conversations/{conversation.uuid}/export/"
    response = api.get(export + "?images=base64")
    assert response.status_code == 413
    assert "images=link" in response.json()["error"]["message"]
    assert api.get(export + "?images=link").status_code == 200
