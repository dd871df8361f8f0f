from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from conversations.models import Message, Summary
from tests.factories import ConversationFactory, UserFactory, chain


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_staff_see_a_conversation_with_its_messages_inline(staff_client, user):
    conversation = ConversationFactory(owner=user, title="Inspect me")
    chain(conversation, ("user", "the question"), ("assistant", "the answer"))
    listing = staff_client.get("/admin/conversations/conversation/")
    assert listing.status_code == 200
    assert b"Inspect me" in listing.content
    page = staff_client.get(f"/admin/conversations/conversation/{conversation.pk}/change/")
    assert page.status_code == 200
    assert b"the question" in page.content
    assert b"the answer" in page.content


@pytest.mark.django_db
def test_the_admin_is_for_staff_only(logged_in_client):
    response = logged_in_client.get("/admin/conversations/conversation/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- the request inspector ----------------------------------------------------------------------
HOSTILE = '<script>alert("pwned")</script> & <b>bold</b>'


def sent_reply(api: APIClient, conversation, text: str) -> Message:
    response = api.post(
        f"/api/conversations/{conversation.uuid}/messages/", {"content": text}, format="json"
    )
    assert response.status_code == 201, response.content
    return Message.objects.get(uuid=response.json()["id"])


def message_page(client: Client, message: Message) -> str:
    response = client.get(f"/admin/conversations/message/{message.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_the_request_inspector_shows_the_stored_request_escaped(
    staff_client, api, conversation, simulator
):
    reply = sent_reply(api, conversation, HOSTILE)
    page = message_page(staff_client, reply)

    inspector = page[page.index("Requests sent") :]
    inspector = inspector[inspector.index("<pre") : inspector.index("</pre>")]
    # Pretty-printed, one key a line (in any order: PostgreSQL's jsonb sorts them), every
    # character of the body escaped.
    assert "\n    &quot;max_tokens&quot;: 1024" in inspector
    assert "\n    &quot;model&quot;: &quot;claude-sonnet-4-6&quot;" in inspector
    assert "&lt;script&gt;alert(\\&quot;pwned\\&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in inspector
    assert "<script>alert(" not in page
    assert "<b>bold</b>" not in page


@pytest.mark.django_db
def test_the_message_page_shows_usage_cost_and_the_summary_the_request_stood_on(
    staff_client, api, conversation, simulator
):
    reply = sent_reply(api, conversation, "hello")
    summary = Summary.objects.create(
        conversation=conversation, covers_up_to=reply.parent, text="<i>earlier</i>"
    )
    reply.summary = summary
    reply.thinking = "Let me <think>"
    reply.save()
    page = message_page(staff_client, reply)
    assert f"${reply.cost_usd}" in page
    assert f"/admin/conversations/summary/{summary.pk}/change/" in page
    assert "Let me &lt;think&gt;" in page
    for value in (reply.input_tokens, reply.output_tokens, reply.context_tokens):
        assert f">{value}<" in page


@pytest.mark.django_db
def test_a_message_without_requests_shows_an_empty_inspector(staff_client, conversation):
    (question,) = chain(conversation, ("user", "q"))
    assert "Requests sent" in message_page(staff_client, question)


@pytest.mark.django_db
def test_staff_pin_a_message_from_its_page(staff_client, conversation):
    (question,) = chain(conversation, ("user", "q"))
    url = f"/admin/conversations/message/{question.pk}/change/"
    response = staff_client.post(url, form_data(staff_client.get(url), is_pinned="on"))
    assert response.status_code == 302, response.context and response.context["errors"]
    question.refresh_from_db()
    assert question.is_pinned
    assert question.text == "q"


@pytest.mark.django_db
def test_messages_are_filtered_by_status_and_stop_reason(staff_client, conversation):
    chain(conversation, ("user", "q"), ("assistant", "cut"), stop_reason="max_tokens")
    chain(conversation, ("assistant", "failed"), status="error")
    listing = staff_client.get("/admin/conversations/message/?stop_reason=max_tokens")
    assert listing.status_code == 200
    assert b"assistant: cut" in listing.content
    assert b"assistant: failed" not in listing.content
    listing = staff_client.get("/admin/conversations/message/?status__exact=error")
    assert b"assistant: failed" in listing.content
    assert b"assistant: cut" not in listing.content


# --- summaries ----------------------------------------------------------------------------------
def summary_of(conversation) -> Summary:
    _, answer = chain(conversation, ("user", "q"), ("assistant", "a"))
    return Summary.objects.create(
        conversation=conversation,
        covers_up_to=answer,
        text="They asked q.",
        cost_usd=Decimal("0.000420"),
    )


@pytest.mark.django_db
def test_the_summary_list_links_the_message_it_covers_and_shows_the_cost(
    staff_client, conversation
):
    summary = summary_of(conversation)
    listing = staff_client.get("/admin/conversations/summary/")
    assert listing.status_code == 200
    assert f"/admin/conversations/message/{summary.covers_up_to_id}/change/".encode() in (
        listing.content
    )
    assert b"$0.000420" in listing.content


@pytest.mark.django_db
def test_editing_a_summary_in_the_admin_marks_it_edited(staff_client, conversation):
    summary = summary_of(conversation)
    url = f"/admin/conversations/summary/{summary.pk}/change/"
    assert staff_client.get(url).status_code == 200
    response = staff_client.post(url, {"text": "They asked <q>."})
    assert response.status_code == 302
    summary.refresh_from_db()
    assert (summary.text, summary.is_edited) == ("They asked <q>.", True)


@pytest.mark.django_db
def test_a_summary_cannot_be_emptied_in_the_admin(staff_client, conversation, settings):
    summary = summary_of(conversation)
    url = f"/admin/conversations/summary/{summary.pk}/change/"
    assert staff_client.post(url, {"text": "   "}).status_code == 200  # the form, with its error
    settings.CHATSITE_MAX_MESSAGE_CHARS = 10
    assert staff_client.post(url, {"text": "x" * 11}).status_code == 200
    summary.refresh_from_db()
    assert (summary.text, summary.is_edited) == ("They asked q.", False)


# --- the conversation page ----------------------------------------------------------------------
@pytest.mark.django_db
def test_the_conversation_page_shows_the_total_cost_and_its_summaries(
    staff_client, api, conversation, simulator
):
    first = sent_reply(api, conversation, "one")
    second = sent_reply(api, conversation, "two")
    summary = summary_of(conversation)
    page = staff_client.get(f"/admin/conversations/conversation/{conversation.pk}/change/")
    assert page.status_code == 200
    total = first.cost_usd + second.cost_usd + summary.cost_usd
    assert f"${total}" in page.content.decode()
    assert b"They asked q." in page.content


@pytest.mark.django_db
def test_a_summary_edited_inline_on_the_conversation_page_is_marked_edited(
    staff_client, conversation
):
    summary = summary_of(conversation)
    url = f"/admin/conversations/conversation/{conversation.pk}/change/"
    data = form_data(staff_client.get(url))
    text_key = next(key for key, value in data.items() if value == "They asked q.")
    data[text_key] = "Rewritten by staff."
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    summary.refresh_from_db()
    assert (summary.text, summary.is_edited) == ("Rewritten by staff.", True)
    assert conversation.messages.get(role="user").text == "q"  # the other inline kept as it was


def form_data(response, **changes: str) -> dict[str, object]:
    """The POST an admin change page would send unchanged (plus `changes`)."""
    data: dict[str, object] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update({management.add_prefix(k): v for k, v in management.initial.items()})
        forms.extend(formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            value = field.prepare_value(form[name].value())
            if value is True:
                data[form.add_prefix(name)] = "on"
            elif value not in (None, False):
                data[form.add_prefix(name)] = value
    data.update(changes)
    return data


# --- the conversation list and page --------------------------------------------------------------
def conversation_list(client: Client, query: str = "") -> str:
    response = client.get(f"/admin/conversations/conversation/{query}")
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_the_list_shows_counts_tokens_and_cost_in_a_constant_number_of_queries(staff_client, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def listed_with(conversations: int) -> int:
        for i in range(conversations):
            conversation = ConversationFactory(owner=user, title=f"chat {i}")
            chain(
                conversation,
                ("user", "q"),
                ("assistant", "a"),
                input_tokens=100,
                output_tokens=20,
                cost_usd=Decimal("0.001"),
            )
        with CaptureQueriesContext(connection) as queries:
            page = conversation_list(staff_client)
        assert "chat 0" in page
        return len(queries)

    assert listed_with(2) == listed_with(20)
    page = conversation_list(staff_client)
    # Each listed conversation: 2 messages, 240 tokens (2 x 120), $0.002.
    assert ">240<" in page
    assert "$0.002000" in page


@pytest.mark.django_db
def test_conversations_are_found_by_message_text_and_filtered_by_reply_status(staff_client, user):
    found = ConversationFactory(owner=user, title="Found")
    chain(
        found,
        ("user", "the zanzibar question"),
        (
            "assistant",
            "half",
        ),
    )
    found.active_leaf.status = Message.Status.INTERRUPTED
    found.active_leaf.save()
    other = ConversationFactory(owner=user, title="Elsewhere")
    chain(other, ("user", "unrelated"), ("assistant", "fine"))
    by_text = conversation_list(staff_client, "?q=zanzibar")
    assert 'field-message_count">2<' in by_text
    by_title = conversation_list(staff_client, "?q=Found")
    # The search joins every message (title OR text): the counts must not multiply.
    assert 'field-message_count">2<' in by_title
    assert "Found" in by_text
    assert "Elsewhere" not in by_text
    interrupted = conversation_list(staff_client, "?reply_status=interrupted")
    assert "Found" in interrupted
    assert "Elsewhere" not in interrupted


@pytest.mark.django_db
def test_the_conversation_page_shows_the_tree_in_reading_order_in_constant_queries(
    staff_client, user
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    conversation = ConversationFactory(owner=user)
    question, first = chain(conversation, ("user", "QUESTION"), ("assistant", "FIRST-ANSWER"))
    later = chain(conversation, ("user", "FOLLOW-UP"), ("assistant", "FOLLOW-ANSWER"))
    # A regenerated reply to the first question, created last: shown right after its sibling's
    # branch, not at the end.
    from tests.factories import MessageFactory

    MessageFactory(conversation=conversation, parent=question, role="assistant", text="SIBLING")
    url = f"/admin/conversations/conversation/{conversation.pk}/change/"
    with CaptureQueriesContext(connection) as few:
        page = staff_client.get(url).content.decode()
    order = ["QUESTION", "FIRST-ANSWER", "FOLLOW-UP", "FOLLOW-ANSWER", "SIBLING"]
    positions = [page.index(f"{text}</textarea>") for text in order]
    assert positions == sorted(positions)
    assert later[0].parent_id == first.id
    chain(conversation, *[("user" if i % 2 == 0 else "assistant", f"more {i}") for i in range(30)])
    with CaptureQueriesContext(connection) as many:
        staff_client.get(url)
    assert len(many) == len(few)


def admin_form_data(client: Client, url: str) -> dict[str, object]:
    """The change form's current values, as a browser would submit them."""
    form = client.get(url).context["adminform"].form
    data: dict[str, object] = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        data[name] = getattr(value, "pk", value)
    return data


@pytest.mark.django_db
def test_a_message_edited_in_the_admin_is_what_the_next_call_sends(
    staff_client, api, conversation, simulator
):
    first = sent_reply(api, conversation, "What is the capital of France?")
    question = Message.objects.get(pk=first.parent_id)
    url = f"/admin/conversations/message/{question.pk}/change/"
    data = admin_form_data(staff_client, url)
    data["text"] = "What is the capital of Portugal?"
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.content
    sent_reply(api, conversation, "And its population?")
    from tests.sent import sent_turns

    turns = sent_turns(simulator.requests[-1])
    assert turns[0] == ("user", "What is the capital of Portugal?")


@pytest.mark.django_db
def test_staff_export_selected_conversations_as_a_zip(staff_client, user):
    import io
    import json
    import zipfile

    chats = [ConversationFactory(owner=user, title=f'a";\\r\\nSet-Cookie:x {i}') for i in range(2)]
    for chat in chats:
        chain(chat, ("user", "hello"), ("assistant", "hi"))
    response = staff_client.post(
        "/admin/conversations/conversation/",
        {"action": "export_json", "_selected_action": [c.pk for c in chats]},
    )
    assert response["Content-Type"] == "application/zip"
    assert "\n" not in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        names = bundle.namelist()
        assert len(names) == 2
        assert all("/" not in name and "\\r" not in name for name in names)
        exported = [json.loads(bundle.read(name)) for name in names]
    assert {e["conversation"]["id"] for e in exported} == {str(c.uuid) for c in chats}


@pytest.mark.django_db
def test_staff_retry_an_interrupted_reply(staff_client, api, conversation, simulator):
    reply = sent_reply(api, conversation, "Tell me a story")
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.INTERRUPTED)
    response = staff_client.post(
        "/admin/conversations/conversation/",
        {"action": "retry_interrupted", "_selected_action": [conversation.pk]},
    )
    assert response.status_code == 302
    conversation.refresh_from_db()
    retried = conversation.active_leaf
    assert retried.pk != reply.pk
    assert retried.parent_id == reply.parent_id
    assert retried.status == Message.Status.COMPLETE


@pytest.mark.django_db
def test_staff_resummarize_writes_the_summary_again_from_the_turns(
    staff_client, conversation, simulator
):
    summary = summary_of(conversation)
    before = Summary.objects.count()
    response = staff_client.post(
        "/admin/conversations/conversation/",
        {"action": "resummarize", "_selected_action": [conversation.pk]},
    )
    assert response.status_code == 302
    assert Summary.objects.count() == before + 1
    newest = Summary.objects.latest("created_at", "id")
    assert newest.covers_up_to_id == summary.covers_up_to_id
    assert newest.text != summary.text
