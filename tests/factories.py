from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from conversations.models import Conversation, Message


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"person{n}")
    password = factory.django.Password("correct horse battery staple")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Conversation {n}")
    model = "claude-sonnet-4-6"
    parameters = factory.LazyFunction(lambda: {"max_tokens": 1024})


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.USER
    text = factory.Sequence(lambda n: f"message {n}")
    status = Message.Status.COMPLETE


def chain(conversation: Conversation, *turns: tuple[str, str], **fields: Any) -> list[Message]:
    """Store `turns` (role, text) as one branch after the active leaf and make it active."""
    parent = conversation.active_leaf
    created = []
    for role, text in turns:
        parent = MessageFactory(
            conversation=conversation, parent=parent, role=role, text=text, **fields
        )
        created.append(parent)
    conversation.active_leaf = parent
    conversation.save(update_fields=["active_leaf"])
    return created
