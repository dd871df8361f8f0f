from __future__ import annotations

import pytest

from conversations.models import Message
from conversations.services.history import (
    api_messages,
    conversation_path,
    opaque_user_id,
    request_build,
)
from tests.factories import ConversationFactory, MessageFactory, chain


def alternating(n: int) -> list[tuple[str, str]]:
    return [("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(n)]


@pytest.mark.django_db
def test_the_path_is_in_order_with_roles_from_the_root_to_the_leaf(conversation):
    chain(conversation, *alternating(5))
    path = conversation_path(conversation=conversation)
    assert [(m.role, m.text) for m in path] == alternating(5)


@pytest.mark.django_db
def test_the_path_follows_the_active_branch_only(conversation):
    question, first_answer = chain(conversation, ("user", "q"), ("assistant", "answer A"))
    second_answer = MessageFactory(
        conversation=conversation, parent=question, role="assistant", text="answer B"
    )
    conversation.active_leaf = second_answer
    conversation.save()
    assert [m.text for m in conversation_path(conversation=conversation)] == ["q", "answer B"]
    assert [
        m.text for m in conversation_path(conversation=conversation, leaf_id=first_answer.id)
    ] == [
        "q",
        "answer A",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("length", [2, 40, 400])
def test_rebuilding_the_history_takes_one_query_whatever_its_length(
    conversation, length, django_assert_num_queries
):
    chain(conversation, *alternating(length))
    # Queries: 1 — the conversation's messages (narrow columns); the walk is in memory.
    with django_assert_num_queries(1):
        path = conversation_path(conversation=conversation)
        request = request_build(conversation=conversation, path=path, user_id=conversation.owner_id)
    assert len(path) == length
    assert len(request["messages"]) == length - (length % 2 == 0)  # a trailing reply is dropped


@pytest.mark.django_db
def test_a_conversation_without_messages_has_an_empty_path(conversation, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert conversation_path(conversation=conversation) == []


def msg(role: str, text: str, status: str = "complete") -> Message:
    return Message(role=role, text=text, status=status)


def test_same_role_turns_are_merged_and_empty_turns_dropped():
    path = [
        msg("user", "one"),
        msg("assistant", "", status="error"),
        msg("user", "two"),
        msg("assistant", "   "),
        msg("assistant", "reply"),
        msg("user", "three"),
    ]
    assert api_messages(path) == [
        {"role": "user", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "three"},
    ]


def test_the_request_starts_and_ends_with_the_person():
    path = [msg("assistant", "hello, I start"), msg("user", "hi"), msg("assistant", "partial")]
    assert api_messages(path) == [{"role": "user", "content": "hi"}]


def test_the_request_carries_system_max_tokens_stop_sequences_and_an_opaque_user(user):
    conversation = ConversationFactory.build(
        owner=user,
        model="claude-opus-4-5",
        system_prompt="Be kind.",
        parameters={"max_tokens": 321, "stop_sequences": ["END", ""]},
    )
    request = request_build(conversation=conversation, path=[msg("user", "hi")], user_id=user.id)
    assert request["model"] == "claude-opus-4-5"
    assert request["system"] == "Be kind."
    assert request["max_tokens"] == 321
    assert request["stop_sequences"] == ["END"]
    user_id = request["metadata"]["user_id"]
    assert user.username not in user_id
    assert user_id == opaque_user_id(user.id) != opaque_user_id(user.id + 1)


def test_a_blank_system_prompt_is_left_out(user):
    conversation = ConversationFactory.build(owner=user, system_prompt="  \n")
    request = request_build(conversation=conversation, path=[msg("user", "hi")], user_id=1)
    assert "system" not in request
