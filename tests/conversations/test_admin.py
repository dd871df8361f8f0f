from __future__ import annotations

import pytest
from django.test import Client

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
