"""Transcripts: export formats (one conversation and bulk) and import (ours, claude.ai, ChatGPT)."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from conversations.models import Attachment, Conversation, Message, Summary
from conversations.services.generation import generation_run_blocking
from conversations.services.messages import message_edit
from conversations.services.transcript_formats import markdown_escape
from conversations.services.transcripts import transcript_export_json
from tests.conversations.support import ask
from tests.conversations.test_attachments import uploaded
from tests.factories import ConversationFactory, chain
from tests.sent import sent_turns

HOSTILE_TITLES = [
    'a";\r\nSet-Cookie:x',
    "evil\u202egnp.exe",
    # The longest title a conversation holds (a 300-character one is cut to 200 when saved).
    ("very long title " * 20)[:200],
    "🦊 émoji ünïcode 日本語",
    "../../etc/passwd",
    # A spreadsheet formula: exports hold no CSV, and a file name or heading is only text.
    '=HYPERLINK("https://evil.example","x")',
    "",
]


def export(api: APIClient, conversation: Conversation, query: str = "") -> Any:
    return api.get(f"/api/conversations/{conversation.uuid}/export/{query}")


def import_json(api: APIClient, payload: Any) -> Any:
    return api.post("/api/import/", json.dumps(payload), content_type="application/json")


def import_file(api: APIClient, data: bytes, name: str = "conversations.json") -> Any:
    upload = io.BytesIO(data)
    upload.name = name
    return api.post("/api/import/", {"file": upload}, format="multipart")


# --- export: formats ---------------------------------------------------------------------------
def test_markdown_shows_the_persons_text_as_typed_and_claudes_as_markdown(api, conversation):
    typed = "# not a heading\n```\n*not emphasis* <b>x</b>"
    reply = ask(conversation, typed)
    response = export(api, conversation, "?format=markdown")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()
    assert text.splitlines()[0] == f"# {markdown_escape(conversation.title)}"
    # The fence is longer than any backtick run inside, so the text cannot close it.
    assert f"````text\n{typed}\n````" in text
    assert "## You" in text
    assert "## Claude" in text
    assert reply.text in text
    assert f"{reply.input_tokens:,} in / {reply.output_tokens:,} out tokens" in text
    assert reply.model in text


def test_markdown_lists_attachments_by_name_and_escapes_the_title(api, user):
    conversation = ConversationFactory(owner=user, title="*bold* [link](x)")
    key = uploaded(api, conversation, name="cat [1].png")
    ask(conversation, "look", attachments=[key])
    text = export(api, conversation, "?format=markdown").content.decode()
    assert text.splitlines()[0] == r"# \*bold\* \[link\](x)"
    assert r"Attachments: cat \[1\].png" in text


def test_html_is_one_self_contained_file_that_runs_nothing(api, conversation):
    hostile = '<script>alert(1)</script><img src="https://evil.example/x.png" onerror=alert(2)>'
    chain(conversation, ("user", hostile), ("assistant", hostile + "\n\n**bold**"))
    response = export(api, conversation, "?format=html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert (
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
    ) in page
    assert "<script" not in page
    assert "<img" not in page
    assert "https://" not in page.replace("https://evil.example", "")
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2


def test_html_inlines_images_only_when_asked(api, conversation):
    key = uploaded(api, conversation, name="photo.png")
    ask(conversation, "look", attachments=[key])
    stored = Path(Attachment.objects.get(uuid=key).file.path).read_bytes()
    inline = export(api, conversation, "?format=html&images=base64").content.decode()
    assert f'src="data:image/png;base64,{base64.b64encode(stored).decode()}"' in inline
    linked = export(api, conversation, "?format=html").content.decode()
    assert "<img" not in linked
    assert "photo.png" in linked


def test_anthropic_export_is_the_request_that_wrote_the_last_reply(
    api, conversation, simulator, settings
):
    settings.CHATSITE_FILES_API = False
    conversation.system_prompt = "Be brief."
    conversation.parameters = {"max_tokens": 1024, "temperature": 0.5}
    conversation.save()
    ask(conversation, "first")
    key = uploaded(api, conversation)
    ask(conversation, "and this?", attachments=[key])
    response = export(api, conversation, "?format=anthropic")
    assert response.status_code == 200
    body = response.json()
    sent = {k: v for k, v in simulator.requests[-1].items() if k != "stream"}
    assert body == sent
    image = body["messages"][-1]["content"][0]
    stored = Path(Attachment.objects.get(uuid=key).file.path).read_bytes()
    assert base64.b64decode(image["source"]["data"]) == stored


def test_anthropic_export_of_an_empty_conversation_says_so(api, conversation):
    response = export(api, conversation, "?format=anthropic")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty"


@pytest.mark.parametrize("export_format", ["json", "markdown", "html", "anthropic"])
def test_each_format_takes_a_constant_number_of_queries(
    api, conversation, export_format, django_assert_max_num_queries
):
    for text in ("one", "two", "three"):
        ask(conversation, text, attachments=[uploaded(api, conversation)])
    first_user = conversation.messages.filter(role="user").first()
    message_edit(conversation=conversation, message_uuid=first_user.uuid, text="again")
    # The conversation (1), then json: messages, attachments, summaries (3); markdown/html:
    # the path, its attachments (2); anthropic: the path, its summary, its attachments (3).
    with django_assert_max_num_queries(4):
        response = export(api, conversation, f"?format={export_format}")
    assert response.status_code == 200


def test_an_unknown_format_or_image_choice_is_a_400_with_the_error_body(api, conversation):
    for query, field in (("?format=docx", "format"), ("?images=inline", "images")):
        body = export(api, conversation, query).json()
        assert body["error"]["code"] == "invalid"
        assert field in body["error"]["fields"]
    assert api.get("/api/export/?format=html").status_code == 400


@pytest.mark.parametrize("export_format", ["json", "markdown", "html", "anthropic"])
def test_another_users_conversation_is_not_exported(api, other_user, export_format):
    theirs = ConversationFactory(owner=other_user, title="secret")
    chain(theirs, ("user", "the secret"), ("assistant", "kept"))
    response = export(api, theirs, f"?format={export_format}")
    assert response.status_code == 404
    assert b"secret" not in response.content


@pytest.mark.parametrize("title", HOSTILE_TITLES)
@pytest.mark.parametrize("export_format", ["json", "markdown", "html", "anthropic"])
def test_the_download_name_is_safe_for_any_title(api, user, title, export_format):
    conversation = ConversationFactory(owner=user, title=title)
    chain(conversation, ("user", "q"), ("assistant", "a"))
    disposition = export(api, conversation, f"?format={export_format}")["Content-Disposition"]
    assert disposition.startswith("attachment; filename")
    assert disposition.isascii()
    assert not any(bad in disposition for bad in ("\r", "\n", '";', "/", "\\", "Set-Cookie:x\r"))
    assert len(disposition) < 400
    assert str(conversation.uuid)[:8] in disposition


# --- export: bulk ------------------------------------------------------------------------------
def test_bulk_export_zips_each_of_the_persons_conversations_under_a_unique_name(
    api, user, other_user
):
    mine = [ConversationFactory(owner=user, title="Same") for _ in range(3)]
    for conversation in mine:
        chain(conversation, ("user", f"q {conversation.uuid}"), ("assistant", "a"))
    chain(ConversationFactory(owner=other_user), ("user", "not yours"), ("assistant", "no"))
    for export_format, extension in (("json", ".json"), ("markdown", ".md")):
        response = api.get(f"/api/export/?format={export_format}")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        names = archive.namelist()
        assert len(names) == len(set(names)) == len(mine)
        assert all(name.endswith(extension) and "/" not in name for name in names)
        texts = [archive.read(name).decode() for name in names]
        assert all(any(str(c.uuid) in t for t in texts) for c in mine)
        assert not any("not yours" in t for t in texts)


def test_bulk_export_past_the_size_cap_is_refused(api, user, settings):
    settings.CHATSITE_EXPORT_MAX_BYTES = 100
    chain(ConversationFactory(owner=user), ("user", "x" * 200))
    response = api.get("/api/export/")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


# --- import: our own export --------------------------------------------------------------------
def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    """An export with ids replaced by positions and timestamps left out."""
    position = {m["id"]: index for index, m in enumerate(data["messages"])}
    head = {
        k: v for k, v in data["conversation"].items() if k not in ("id", "created_at", "updated_at")
    }
    head["active_leaf_id"] = position.get(head["active_leaf_id"])
    messages = [
        {
            **{k: v for k, v in m.items() if k not in ("id", "created_at")},
            "parent_id": position.get(m["parent_id"]),
        }
        for m in data["messages"]
    ]
    summaries = [
        {
            **{k: v for k, v in s.items() if k != "created_at"},
            "covers_up_to": position[s["covers_up_to"]],
        }
        for s in data["summaries"]
    ]
    return {**data, "conversation": head, "messages": messages, "summaries": summaries}


def _rich_conversation(user) -> Conversation:
    conversation = ConversationFactory(
        owner=user,
        title="Round trip",
        system_prompt="Be brief.",
        parameters={"max_tokens": 2048, "temperature": 0.3, "stop_sequences": ["END"]},
        is_pinned=True,
    )
    ask(conversation, "first question")
    second = ask(conversation, "second question")
    edited = message_edit(
        conversation=conversation, message_uuid=second.parent.uuid, text="edited second"
    )
    generation_run_blocking(reply=edited.assistant_message)
    Message.objects.filter(pk=second.parent.pk).update(is_pinned=True)
    Summary.objects.create(
        conversation=conversation,
        covers_up_to=second,
        text="They asked two things.",
        token_count=7,
        model="claude-haiku-4-5",
        input_tokens=100,
        output_tokens=7,
        is_edited=True,
    )
    conversation.refresh_from_db()
    return conversation


def test_export_import_export_is_identical_apart_from_ids_and_timestamps(api, user):
    original = _rich_conversation(user)
    exported = export(api, original).json()
    assert len(exported["messages"]) == 6  # two turns, then a second branch of the last one
    response = import_json(api, exported)
    assert response.status_code == 201, response.content
    [created] = response.json()["conversations"]
    assert created["messages"] == len(exported["messages"])
    imported = Conversation.objects.get(uuid=created["id"])
    assert imported.owner == user
    assert imported.uuid != original.uuid
    again = export(api, imported).json()
    assert _comparable(again) == _comparable(exported)
    assert response.json()["warnings"] == []


def test_an_imported_conversation_can_go_on(api, user, simulator):
    exported = export(api, _rich_conversation(user)).json()
    created = import_json(api, exported).json()["conversations"][0]
    imported = Conversation.objects.get(uuid=created["id"])
    reply = ask(imported, "third question")
    assert reply.status == "complete"
    turns = sent_turns(simulator.requests[-1])
    assert turns[-1] == ("user", "third question")
    assert ("user", "edited second") in turns


def _without_file_ids(data: dict[str, Any]) -> dict[str, Any]:
    """Attachments compared by what they are, not by their (new) ids and addresses."""
    moved = ("id", "url", "thumbnail_url")
    messages = [
        {
            **m,
            "attachments": [
                {k: v for k, v in a.items() if k not in moved} for a in m["attachments"]
            ],
        }
        for m in data["messages"]
    ]
    return {**data, "messages": messages}


def _stored_files() -> set[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def test_images_exported_as_base64_come_back_shared_and_reach_claude(api, conversation, simulator):
    first = ask(conversation, "look", attachments=[uploaded(api, conversation)])
    edited = message_edit(conversation=conversation, message_uuid=first.parent.uuid, text="see")
    generation_run_blocking(reply=edited.assistant_message)
    exported = export(api, conversation, "?images=base64").json()
    files_before = _stored_files()

    response = import_json(api, exported)
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == []
    imported = Conversation.objects.get(uuid=response.json()["conversations"][0]["id"])
    again = export(api, imported, "?images=base64").json()
    assert _without_file_ids(_comparable(again)) == _without_file_ids(_comparable(exported))
    # Both turns (the original and its edit) hold the image, stored once as upload stores it.
    rows = Attachment.objects.filter(message__conversation=imported)
    assert rows.count() == 2
    assert len({row.file.name for row in rows}) == 1
    original = Attachment.objects.filter(message__conversation=conversation).first()
    sizes = [f for f in (original.file, original.standard_file, original.thumbnail) if f]
    assert len(_stored_files() - files_before) == len(sizes)

    reply = ask(imported, "and now?")
    assert reply.status == "complete"
    request = simulator.requests[-1]
    assert any(
        block["type"] == "image"
        for turn in request["messages"]
        if isinstance(turn["content"], list)
        for block in turn["content"]
    )


def test_images_exported_as_links_are_left_out_with_a_warning(api, conversation):
    ask(conversation, "look", attachments=[uploaded(api, conversation)])
    exported = export(api, conversation, "?images=link").json()
    body = import_json(api, exported).json()
    assert any("1 attachments were not imported" in w for w in body["warnings"])
    imported = Conversation.objects.get(uuid=body["conversations"][0]["id"])
    assert not Attachment.objects.filter(message__conversation=imported).exists()


def test_a_file_the_checks_refuse_is_left_out_and_named(api, conversation):
    ask(conversation, "look", attachments=[uploaded(api, conversation)])
    exported = export(api, conversation, "?images=base64").json()
    exported["messages"][0]["attachments"][0]["data"] = base64.b64encode(b"GIF89a broken").decode()
    response = import_json(api, exported)
    assert response.status_code == 201, response.content
    [warning] = response.json()["warnings"]
    assert warning.startswith("messages[0].attachments[0]: left out (")
    imported = Conversation.objects.get(uuid=response.json()["conversations"][0]["id"])
    assert imported.messages.count() == 2
    assert not Attachment.objects.filter(message__conversation=imported).exists()


@pytest.mark.parametrize("data", ["not base64!", 42, ["x"]])
def test_an_attachment_that_is_not_base64_fails_the_import(api, conversation, data):
    ask(conversation, "look", attachments=[uploaded(api, conversation)])
    exported = export(api, conversation, "?images=base64").json()
    exported["messages"][0]["attachments"][0]["data"] = data
    count = Conversation.objects.count()
    response = import_json(api, exported)
    assert response.status_code == 400
    assert "messages[0].attachments[0].data" in response.json()["error"]["message"]
    assert Conversation.objects.count() == count


def test_a_failing_import_removes_the_files_it_wrote(api, conversation, settings):
    ask(conversation, "look", attachments=[uploaded(api, conversation)])
    good = export(api, conversation, "?images=base64").json()
    settings.CHATSITE_MAX_MESSAGE_CHARS = 1000
    bad = {**good, "conversation": {**good["conversation"], "system": "x" * 1001}}
    files_before = _stored_files()
    attachments_before = Attachment.objects.count()
    # The first conversation's image is written before the second one fails to store.
    response = import_json(api, [good, bad])
    assert response.status_code == 400, response.content
    assert "conversations[1]" in response.json()["error"]["message"]
    assert Attachment.objects.count() == attachments_before
    assert _stored_files() == files_before


def test_importing_another_users_ids_never_touches_their_rows(api, user, other_user):
    theirs = ConversationFactory(owner=other_user, title="theirs")
    chain(theirs, ("user", "q"), ("assistant", "a"))
    data = transcript_export_json(conversation=theirs)
    before = list(theirs.messages.values_list("uuid", "text", "conversation_id"))
    response = import_json(api, data)
    assert response.status_code == 201
    imported = Conversation.objects.get(uuid=response.json()["conversations"][0]["id"])
    assert imported.owner == user
    assert list(theirs.messages.values_list("uuid", "text", "conversation_id")) == before
    assert not imported.messages.filter(uuid__in=[row[0] for row in before]).exists()


def test_an_unknown_model_becomes_the_default_with_a_warning(api, conversation):
    exported = export(api, conversation).json()
    exported["conversation"]["model"] = "gpt-4o"
    body = import_json(api, exported).json()
    imported = Conversation.objects.get(uuid=body["conversations"][0]["id"])
    assert imported.model == django_settings.CHATSITE_DEFAULT_MODEL
    assert any("gpt-4o" in w for w in body["warnings"])


# --- import: claude.ai -------------------------------------------------------------------------
def claude_export(messages: list[dict[str, Any]], **fields: Any) -> list[dict[str, Any]]:
    return [
        {
            "uuid": "c0ffee00-0000-0000-0000-000000000001",
            "name": "From claude.ai",
            "created_at": "2024-05-01T10:00:00.000000Z",
            "updated_at": "2024-05-01T10:05:00.000000Z",
            "chat_messages": messages,
            **fields,
        }
    ]


def claude_message(key: str, sender: str, text: str, **fields: Any) -> dict[str, Any]:
    return {
        "uuid": key,
        "sender": sender,
        "text": text,
        "content": [{"type": "text", "text": text}],
        "created_at": "2024-05-01T10:00:00Z",
        **fields,
    }


def test_a_claude_ai_export_becomes_a_conversation_that_can_go_on(api, user, simulator):
    data = claude_export(
        [
            claude_message("m1", "human", "Hello there"),
            claude_message("m2", "assistant", "Hi! How can I help?"),
            {"uuid": "m3", "sender": "human", "content": [{"type": "text", "text": "Q"}]},
            claude_message("m4", "assistant", "A", attachments=[{"file_name": "x.txt"}]),
        ]
    )
    response = import_file(api, json.dumps(data).encode())
    assert response.status_code == 201, response.content
    assert any("1 attached files" in w for w in response.json()["warnings"])
    conversation = Conversation.objects.get(uuid=response.json()["conversations"][0]["id"])
    assert (conversation.title, conversation.owner) == ("From claude.ai", user)
    assert conversation.created_at.year == 2024
    path = conversation.messages.order_by("id")
    assert [(m.role, m.text, m.status) for m in path] == [
        ("user", "Hello there", "complete"),
        ("assistant", "Hi! How can I help?", "complete"),
        ("user", "Q", "complete"),
        ("assistant", "A", "complete"),
    ]
    assert conversation.active_leaf == path.last()
    ask(conversation, "and now?")
    assert sent_turns(simulator.requests[-1])[:2] == [
        ("user", "Hello there"),
        ("assistant", "Hi! How can I help?"),
    ]


def test_claude_ai_branches_follow_parent_message_uuid(api):
    root = "00000000-0000-4000-8000-000000000000"
    data = claude_export(
        [
            claude_message("a", "human", "q", parent_message_uuid=root),
            claude_message("b", "assistant", "first answer", parent_message_uuid="a"),
            claude_message("c", "assistant", "second answer", parent_message_uuid="a"),
        ]
    )
    body = import_json(api, data).json()
    conversation = Conversation.objects.get(uuid=body["conversations"][0]["id"])
    question = conversation.messages.get(text="q")
    assert question.parent is None
    assert sorted(question.children.values_list("text", flat=True)) == [
        "first answer",
        "second answer",
    ]
    assert conversation.active_leaf.text == "second answer"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (claude_export([claude_message("a", "robot", "x")]), "conversations[0].chat_messages[0]"),
        (
            claude_export([claude_message("a", "human", "ok"), {"sender": "human", "text": 5}]),
            "conversations[0].chat_messages[1].text",
        ),
        (claude_export([], name=["not", "text"]), "conversations[0].name"),
        ([{"name": "x"}], "conversations[0]"),
        ([claude_export([])[0], "nope"], "conversations[1]"),
        (claude_export([claude_message("a", ["human"], "x")]), "conversations[0].chat_messages[0]"),
        (
            {"chatsite_export_version": 1, "messages": [{"id": "a", "role": "user", "status": 5}]},
            "messages[0].status",
        ),
        (
            {"chatsite_export_version": 1, "messages": [{"id": "a", "role": "user", "text": "x"}]}
            | {"summaries": [{"covers_up_to": "a", "text": "s", "token_count": -1}]},
            "summaries[0].token_count",
        ),
        (
            {"title": "t", "mapping": {"a": {"parent": ["x"], "message": "not an object"}}},
            "mapping['a'].message",
        ),
        ({"title": "t", "mapping": []}, "mapping"),
    ],
)
def test_a_wrong_shape_is_a_400_that_names_the_place(api, data, where):
    response = import_json(api, data)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith(where + ":")
    assert error["fields"] == {"file": [error["message"]]}
    assert not Conversation.objects.exists()


def test_the_sender_error_reads_plainly(api):
    data = claude_export([claude_message("a", "human", "q"), claude_message("b", "bot", "x")])
    message = import_json(api, data).json()["error"]["message"]
    assert message == "conversations[0].chat_messages[1]: sender must be human or assistant"


def test_nul_characters_are_removed_and_reported(api):
    body = import_json(api, claude_export([claude_message("a", "human", "nul\x00here")])).json()
    assert Message.objects.get().text == "nulhere"
    assert any("NUL characters removed" in w for w in body["warnings"])


def test_ten_thousand_messages_import_in_bulk(api, django_assert_max_num_queries):
    messages = [
        claude_message(f"m{i}", "human" if i % 2 == 0 else "assistant", f"text {i}")
        for i in range(10_000)
    ]
    payload = json.dumps(claude_export(messages)).encode()
    started = time.monotonic()
    # Batched inserts and parent links, never a query per message.
    with django_assert_max_num_queries(2_000):
        response = import_file(api, payload)
    assert response.status_code == 201
    assert time.monotonic() - started < 30
    conversation = Conversation.objects.get()
    assert conversation.messages.count() == 10_000
    leaf = conversation.active_leaf
    assert (leaf.text, leaf.parent.text) == ("text 9999", "text 9998")


# --- import: ChatGPT ---------------------------------------------------------------------------
def gpt_node(key: str, parent: str | None, role: str | None, text: str = "", **message: Any):
    node: dict[str, Any] = {"id": key, "parent": parent, "children": [], "message": None}
    if role is not None:
        node["message"] = {
            "id": key,
            "author": {"role": role},
            "content": {"content_type": "text", "parts": [text]},
            "create_time": 1_700_000_000.5,
            **message,
        }
    return node


def gpt_export(nodes: list[dict[str, Any]], current: str) -> list[dict[str, Any]]:
    return [
        {
            "title": "From ChatGPT",
            "create_time": 1_700_000_000.0,
            "update_time": 1_700_000_100.0,
            "mapping": {node["id"]: node for node in nodes},
            "current_node": current,
        }
    ]


def test_a_chatgpt_export_keeps_its_branches_and_current_node(api, simulator):
    nodes = [
        gpt_node("root", None, None),
        gpt_node("sys", "root", "system", "You are ChatGPT"),
        gpt_node("u1", "sys", "user", "question"),
        gpt_node("a1", "u1", "assistant", "old answer"),
        gpt_node("a2", "u1", "assistant", "new answer"),
        gpt_node("tool", "a2", "tool", "tool output"),
        gpt_node("u2", "tool", "user", "follow-up"),
        gpt_node("a3", "u2", "assistant", "final"),
    ]
    nodes[2]["message"]["content"] = {
        "content_type": "multimodal_text",
        "parts": [{"content_type": "image_asset_pointer"}, "question"],
    }
    body = import_json(api, gpt_export(nodes, current="a3")).json()
    assert any("1 images were not imported" in w for w in body["warnings"])
    conversation = Conversation.objects.get(uuid=body["conversations"][0]["id"])
    assert conversation.title == "From ChatGPT"
    stored = {m.text: m for m in conversation.messages.select_related("parent")}
    assert set(stored) == {"question", "old answer", "new answer", "follow-up", "final"}
    assert stored["question"].parent is None
    assert stored["old answer"].parent == stored["question"]
    assert stored["follow-up"].parent == stored["new answer"]
    assert conversation.active_leaf == stored["final"]
    ask(conversation, "more")
    assert sent_turns(simulator.requests[-1])[:3] == [
        ("user", "question"),
        ("assistant", "new answer"),
        ("user", "follow-up"),
    ]


def test_a_cycle_in_a_chatgpt_mapping_is_refused_at_once(api):
    nodes = [gpt_node("a", "b", "user", "x"), gpt_node("b", "a", "assistant", "y")]
    started = time.monotonic()
    response = import_json(api, gpt_export(nodes, current="a"))
    assert time.monotonic() - started < 5
    assert response.status_code == 400
    assert "cycle" in response.json()["error"]["message"]
    assert not Conversation.objects.exists()


def test_a_deep_chatgpt_tree_does_not_overflow(api):
    depth = 5_000
    nodes = [gpt_node("n0", None, "user", "t0")]
    for i in range(1, depth):
        role = "assistant" if i % 2 else "user"
        nodes.append(gpt_node(f"n{i}", f"n{i - 1}", role, f"t{i}"))
    response = import_json(api, gpt_export(nodes, current=f"n{depth - 1}"))
    assert response.status_code == 201
    assert Conversation.objects.get().active_leaf.text == f"t{depth - 1}"


# --- import: bad files -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b'{"chat_messages": [', "not valid JSON"),
        (b"42", "Expected an export"),
        (b"[]", "no conversations"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_a_file_that_is_not_an_export_is_a_clear_400(api, data, phrase):
    response = import_file(api, data)
    assert response.status_code == 400
    assert phrase in response.json()["error"]["message"]
    assert not Conversation.objects.exists()


def test_a_file_over_the_limit_is_refused_whichever_way_it_is_sent(api, settings):
    settings.CHATSITE_IMPORT_MAX_BYTES = 1000
    data = json.dumps(claude_export([claude_message("a", "human", "x" * 2000)]))
    for response in (import_file(api, data.encode()), import_json(api, json.loads(data))):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "too_large"
    assert not Conversation.objects.exists()


def test_an_import_is_all_or_nothing(api, settings):
    settings.CHATSITE_MAX_MESSAGE_CHARS = 50
    good = claude_export([claude_message("a", "human", "fine")])[0]
    own = {
        "chatsite_export_version": 1,
        "conversation": {"title": "t", "system": "s" * 51},
        "messages": [],
    }
    response = import_json(api, [good, own])
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("conversations[1]:")
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_import_without_a_file_says_what_to_send(api):
    response = api.post("/api/import/", {}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]


def test_import_requires_authentication(db):
    assert APIClient().post("/api/import/", b"[]", content_type="application/json").status_code in (
        401,
        403,
    )
