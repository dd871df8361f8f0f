from __future__ import annotations

import pytest

from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, chain


@pytest.mark.django_db
def test_new_chat_creates_a_conversation_and_opens_it(logged_in_client, user):
    response = logged_in_client.post("/c/new/")
    conversation = Conversation.objects.get(owner=user)
    assert response["Location"] == f"/c/{conversation.uuid}/"


@pytest.mark.django_db
def test_the_page_shows_the_active_path_and_the_sidebar(
    logged_in_client, user, django_assert_max_num_queries
):
    conversation = ConversationFactory(owner=user, title="Lisbon")
    ConversationFactory(owner=user, title="Other chat")
    chain(conversation, *[("user" if i % 2 == 0 else "assistant", f"line {i}") for i in range(30)])
    # Queries: session, user, conversation, orphaned-reply check, message path, the path's
    # attachments, sidebar list.
    with django_assert_max_num_queries(7):
        response = logged_in_client.get(f"/c/{conversation.uuid}/")
    content = response.content.decode()
    assert '<div class="text">line 0</div>' in content
    assert '<div class="text">line 29</div>' in content
    assert 'class="flash"' not in content  # nothing leaks into the flash-message area
    assert "Other chat" in content
    assert f'data-conversation-id="{conversation.uuid}"' in content


@pytest.mark.django_db
def test_message_text_is_escaped(logged_in_client, user):
    conversation = ConversationFactory(owner=user, title="<b>x</b>")
    chain(conversation, ("user", "<script>alert(1)</script>"))
    content = logged_in_client.get(f"/c/{conversation.uuid}/").content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;" in content
    assert "<b>x</b>" not in content


@pytest.mark.django_db
def test_another_users_conversation_is_a_404(logged_in_client, other_user):
    theirs = ConversationFactory(owner=other_user, title="private")
    assert logged_in_client.get(f"/c/{theirs.uuid}/").status_code == 404
    assert logged_in_client.post(f"/c/{theirs.uuid}/delete/").status_code == 404
    assert Conversation.objects.filter(pk=theirs.pk).exists()


@pytest.mark.django_db
def test_delete_removes_the_conversation_and_its_messages(logged_in_client, user):
    conversation = ConversationFactory(owner=user)
    chain(conversation, ("user", "a"), ("assistant", "b"))
    response = logged_in_client.post(f"/c/{conversation.uuid}/delete/")
    assert response.status_code == 302
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_the_offline_banner_shows_without_a_key(logged_in_client, settings):
    assert b"Offline simulator" in logged_in_client.get("/").content
    settings.ANTHROPIC_API_KEY = "sk-test"
    assert b"Offline simulator" not in logged_in_client.get("/").content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/accounts/login/", "/c/00000000-0000-0000-0000-000000000000/"]
)
def test_html_responses_carry_a_strict_content_security_policy(logged_in_client, path):
    policy = logged_in_client.get(path)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
