from __future__ import annotations

import pytest

from conversations.models import Message
from conversations.services.message_rules import ConversationBusyError, MessageValidationError
from conversations.services.messages import (
    message_send,
)


@pytest.mark.django_db
def test_send_stores_the_turn_and_a_pending_reply_on_the_active_branch(conversation):
    result = message_send(conversation=conversation, text="Hello\nworld")
    conversation.refresh_from_db()
    assert result.created
    assert result.user_message.parent_id is None
    assert result.assistant_message.parent_id == result.user_message.id
    assert result.assistant_message.status == Message.Status.PENDING
    assert conversation.active_leaf_id == result.assistant_message.id


@pytest.mark.django_db
def test_the_first_message_titles_an_untitled_conversation(conversation):
    conversation.title = ""
    conversation.save()
    message_send(conversation=conversation, text="  Plan a   trip\nto Lisbon in May " + "x" * 80)
    conversation.refresh_from_db()
    assert conversation.title.startswith("Plan a trip to Lisbon in May")
    assert len(conversation.title) <= 60


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["", " ", "\n\t", None, 5, ["hi"], "a\x00b"])
def test_bad_text_is_refused_and_nothing_is_stored(conversation, text):
    with pytest.raises(MessageValidationError) as raised:
        message_send(conversation=conversation, text=text)
    assert raised.value.field == "text"
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_the_size_limit_is_a_setting(conversation, settings):
    settings.CHATSITE_MAX_MESSAGE_CHARS = 10
    message_send(conversation=conversation, text="x" * 10)
    Message.objects.filter(status="pending").update(status="complete")
    with pytest.raises(MessageValidationError, match="too long: 11 characters"):
        message_send(conversation=conversation, text="x" * 11)


@pytest.mark.django_db
def test_a_conversation_that_is_generating_is_busy(conversation):
    message_send(conversation=conversation, text="first")
    with pytest.raises(ConversationBusyError):
        message_send(conversation=conversation, text="second")
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_the_database_refuses_a_second_generation_even_past_the_check(conversation):
    from django.db import IntegrityError, transaction

    message_send(conversation=conversation, text="first")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=conversation, role="assistant", status="streaming")
