from __future__ import annotations

from typing import Any

import pytest

from conversations.llm.catalog import model_resolve
from conversations.llm.models import API_VERSION_SAMPLING, MODELS
from conversations.models import Conversation, Message, Summary
from conversations.services.history import (
    CONTINUE_PROMPT,
    GENERATION_PATH_FIELDS,
    SUMMARY_BRIDGE,
    api_turns,
    conversation_path,
    opaque_user_id,
    request_build,
    split_at_summary,
    summary_for_path,
)
from conversations.services.parameters import settings_validate
from conversations.services.vision import attachments_plan
from tests.factories import ConversationFactory, MessageFactory, chain


def alternating(n: int) -> list[tuple[str, str]]:
    return [("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(n)]


def build(
    conversation: Conversation,
    path: list[Message],
    *,
    summary: Summary | None = None,
    reply_text: str = "",
    images: dict[int, list[dict[str, Any]]] | None = None,
) -> Any:
    spec = model_resolve(conversation.model)
    generation = settings_validate(
        spec=spec, system_prompt=conversation.system_prompt, parameters=conversation.parameters
    )
    return request_build(
        conversation=conversation,
        spec=spec,
        generation=generation,
        path=path,
        summary=summary,
        reply_text=reply_text,
        user_id=conversation.owner_id or 1,
        images=images,
    )


def texts(turn: dict[str, Any]) -> list[str]:
    return [block["text"] for block in turn["content"]]


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
    old_branch = conversation_path(conversation=conversation, leaf_id=first_answer.id)
    assert [m.text for m in old_branch] == ["q", "answer A"]


@pytest.mark.django_db
@pytest.mark.parametrize("length", [1, 41, 401])
def test_rebuilding_the_request_takes_three_queries_whatever_its_length(
    conversation, length, django_assert_num_queries
):
    chain(conversation, *alternating(length))
    # Queries: the conversation's messages (the generation's narrow columns: reading any other
    # column would cost a query per message), its summaries, its attachments.
    with django_assert_num_queries(3):
        path = conversation_path(conversation=conversation, fields=GENERATION_PATH_FIELDS)
        summary = summary_for_path(conversation=conversation, path=path)
        verbatim = split_at_summary(path, summary)[1]
        spec = model_resolve(conversation.model)
        plan = attachments_plan(conversation=conversation, verbatim=verbatim, spec=spec)
        request = build(conversation, path, summary=summary, images={})
    assert plan.chosen == {}
    assert len(path) == length
    assert len(request.body["messages"]) == length


@pytest.mark.django_db
def test_a_conversation_without_messages_has_an_empty_path(conversation, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert conversation_path(conversation=conversation) == []


def msg(role: str, text: str, status: str = "complete", **fields: Any) -> Message:
    return Message(role=role, text=text, status=status, **fields)


def test_same_role_turns_are_merged_as_blocks_and_blank_turns_dropped():
    path = [
        msg("user", "one"),
        msg("assistant", "", status="error"),
        msg("user", "two"),
        msg("assistant", "   "),
        msg("assistant", "reply"),
        msg("user", "three"),
    ]
    turns = api_turns(path)
    assert [(t["role"], texts(t)) for t in turns] == [
        ("user", ["one", "two"]),
        ("assistant", ["reply"]),
        ("user", ["three"]),
    ]


def test_the_request_starts_with_the_person():
    turns = api_turns([msg("assistant", "hello, I start"), msg("user", "hi")])
    assert [t["role"] for t in turns] == ["user"]


def test_the_request_carries_system_max_tokens_stop_sequences_and_an_opaque_user(user):
    conversation = ConversationFactory.build(
        owner=user,
        model="claude-opus-4-5",
        system_prompt="Be kind.",
        parameters={"max_tokens": 321, "stop_sequences": ["END"]},
    )
    body = build(conversation, [msg("user", "hi")]).body
    assert body["model"] == "claude-opus-4-5"
    assert [b["text"] for b in body["system"]] == ["Be kind."]
    assert body["max_tokens"] == 321
    assert body["stop_sequences"] == ["END"]
    user_id = body["metadata"]["user_id"]
    assert user.username not in user_id
    assert user_id == opaque_user_id(user.id) != opaque_user_id(user.id + 1)


def test_a_blank_system_prompt_is_left_out(user):
    conversation = ConversationFactory.build(owner=user, system_prompt="  \n")
    assert "system" not in build(conversation, [msg("user", "hi")]).body


def test_cache_breakpoints_sit_after_the_system_and_on_the_last_two_user_turns(user):
    conversation = ConversationFactory.build(owner=user, system_prompt="Be kind.")
    path = [msg(r, t) for r, t in alternating(5)]
    body = build(conversation, path).body
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "5m"}
    marked = [
        (i, block["text"])
        for i, turn in enumerate(body["messages"])
        for block in turn["content"]
        if "cache_control" in block
    ]
    assert marked == [(2, "turn 2"), (4, "turn 4")]


def test_the_cache_ttl_setting_reaches_every_breakpoint(user):
    conversation = ConversationFactory.build(
        owner=user, system_prompt="S", parameters={"cache_ttl": "1h"}
    )
    body = build(conversation, [msg("user", "hi")]).body
    assert body["system"][-1]["cache_control"]["ttl"] == "1h"
    assert body["messages"][-1]["content"][-1]["cache_control"]["ttl"] == "1h"


ADAPTIVE = {"type": "adaptive"}
BUDGETED = {"type": "enabled", "budget_tokens": 2048}  # half of max_tokens 4096


THINKING_CASES = [
    ("claude-opus-4-8", ADAPTIVE),
    ("claude-opus-4-7", ADAPTIVE),
    ("claude-opus-4-6", ADAPTIVE),
    ("claude-sonnet-4-6", ADAPTIVE),
    ("claude-opus-4-5", BUDGETED),
    ("claude-sonnet-4-5", BUDGETED),
    ("claude-haiku-4-5", BUDGETED),
]


@pytest.mark.parametrize(("model", "expected"), THINKING_CASES)
def test_thinking_uses_the_kind_each_model_supports(user, model, expected):
    conversation = ConversationFactory.build(
        owner=user, model=model, parameters={"max_tokens": 4096, "thinking": True}
    )
    assert build(conversation, [msg("user", "hi")]).body["thinking"] == expected


def test_every_registered_model_has_its_thinking_kind_tested():
    assert {m for m, _ in THINKING_CASES} == set(MODELS)


def test_sampling_parameters_go_under_the_older_api_version(user):
    conversation = ConversationFactory.build(
        owner=user, model="claude-haiku-4-5", parameters={"temperature": 0.2, "top_k": 5}
    )
    request = build(conversation, [msg("user", "hi")])
    assert "temperature" not in request.body
    assert request.extra_body == {"temperature": 0.2, "top_k": 5}
    assert request.extra_headers == {"anthropic-version": API_VERSION_SAMPLING}
    assert request.recorded()["temperature"] == 0.2


def test_a_prefill_is_the_final_assistant_turn_without_trailing_whitespace(user):
    conversation = ConversationFactory.build(owner=user, model="claude-opus-4-5")
    request = build(conversation, [msg("user", "hi")], reply_text="The answer is (  \n")
    last = request.body["messages"][-1]
    assert last == {"role": "assistant", "content": [{"type": "text", "text": "The answer is ("}]}
    assert request.reply_prefix == "The answer is ("


def test_models_without_prefill_continue_through_a_continuation_turn(user):
    conversation = ConversationFactory.build(owner=user, model="claude-sonnet-4-6")
    request = build(conversation, [msg("user", "hi")], reply_text="A partial reply ")
    roles = [(t["role"], texts(t)) for t in request.body["messages"]]
    assert roles == [
        ("user", ["hi"]),
        ("assistant", ["A partial reply "]),
        ("user", [CONTINUE_PROMPT]),
    ]
    assert request.reply_prefix == "A partial reply "


def test_with_thinking_on_even_prefill_models_continue_through_a_turn(user):
    conversation = ConversationFactory.build(
        owner=user, model="claude-opus-4-5", parameters={"max_tokens": 4096, "thinking": True}
    )
    request = build(conversation, [msg("user", "hi")], reply_text="partial")
    assert request.body["messages"][-1]["role"] == "user"


@pytest.mark.django_db
def test_a_summary_replaces_the_turns_it_covers_and_keeps_pinned_ones_verbatim(conversation):
    conversation.system_prompt = "Be kind."
    messages = chain(conversation, *alternating(6))
    messages[0].is_pinned = True
    messages[0].save()
    summary = Summary.objects.create(
        conversation=conversation, covers_up_to=messages[3], text="They talked about turns."
    )
    path = conversation_path(conversation=conversation)
    assert summary_for_path(conversation=conversation, path=path) == summary
    body = build(conversation, path, summary=summary).body
    system_texts = [b["text"] for b in body["system"]]
    assert system_texts[0] == "Be kind."
    assert "They talked about turns." in system_texts[1]
    assert "turn 0" in system_texts[1]  # pinned: word for word
    assert "turn 1" not in system_texts[1]
    assert [texts(t) for t in body["messages"]] == [["turn 4"], ["turn 5"]]


@pytest.mark.django_db
def test_a_summary_of_another_branch_is_not_used(conversation):
    q, a = chain(conversation, ("user", "q"), ("assistant", "a"))
    Summary.objects.create(conversation=conversation, covers_up_to=a, text="old branch")
    other = MessageFactory(conversation=conversation, parent=q, role="assistant", text="b")
    path = conversation_path(conversation=conversation, leaf_id=other.id)
    assert summary_for_path(conversation=conversation, path=path) is None


@pytest.mark.django_db
def test_a_summary_that_ends_on_the_persons_turn_is_followed_by_a_bridge(conversation):
    messages = chain(conversation, *alternating(5))
    summary = Summary.objects.create(
        conversation=conversation, covers_up_to=messages[2], text="Summary."
    )
    body = build(conversation, conversation_path(conversation=conversation), summary=summary).body
    assert [texts(t) for t in body["messages"]] == [[SUMMARY_BRIDGE], ["turn 3"], ["turn 4"]]


@pytest.mark.django_db
def test_the_summary_that_reaches_furthest_along_the_path_is_used(conversation):
    messages = chain(conversation, *alternating(9))
    furthest = Summary.objects.create(
        conversation=conversation, covers_up_to=messages[5], text="up to 5"
    )
    # Written later, for an edit of an earlier turn, but it covers less of this branch.
    Summary.objects.create(conversation=conversation, covers_up_to=messages[1], text="up to 1")
    path = conversation_path(conversation=conversation)
    assert summary_for_path(conversation=conversation, path=path) == furthest


IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD"}}


def test_images_come_before_the_text_and_an_image_alone_is_a_turn(user):
    conversation = ConversationFactory.build(owner=user)
    path = [msg("user", "look", id=1), msg("assistant", "nice", id=2), msg("user", "", id=3)]
    request = build(conversation, path, images={1: [IMAGE], 3: [IMAGE, IMAGE]})
    kinds = [[block["type"] for block in turn["content"]] for turn in request.body["messages"]]
    assert kinds == [["image", "text"], ["text"], ["image", "image"]]
    # The inspector keeps the image's hash and size, not its bytes.
    recorded = request.recorded()["messages"][0]["content"][0]["source"]
    assert "data" not in recorded
    assert recorded["data_chars"] == 4
    assert len(recorded["data_sha256"]) == 64


def test_a_thinking_budget_the_person_set_is_used_where_the_model_takes_one(user):
    conversation = ConversationFactory.build(
        owner=user,
        model="claude-sonnet-4-6",
        parameters={"max_tokens": 4096, "thinking": True, "thinking_budget": 3000},
    )
    thinking = build(conversation, [msg("user", "hi")]).body["thinking"]
    assert thinking == {"type": "enabled", "budget_tokens": 3000}
