"""Budget, summaries and prompt caching over a long conversation (real SDK, simulator)."""

from __future__ import annotations

import itertools

import pytest

from conversations.models import Message, Summary
from conversations.services.context import context_size, fold_boundary
from conversations.services.history import conversation_path
from tests.conversations.support import ask
from tests.factories import ConversationFactory, chain
from tests.sent import sent_system

# About 2,500 tokens: long enough to be cached on its own (the minimum is 2,048 here).
pytestmark = pytest.mark.usefixtures("generous_send_limit")

SYSTEM_PROMPT = "You are a patient tutor. Explain step by step, with care. " * 150


def cache_read_share(reply: Message) -> float:
    return reply.cache_read_input_tokens / reply.context_tokens


@pytest.mark.django_db
def test_a_long_conversation_compacts_rarely_and_reads_its_prefix_from_cache(user, simulator):
    conversation = ConversationFactory(
        owner=user,
        model="claude-sonnet-4-6",
        system_prompt=SYSTEM_PROMPT,
        parameters={"max_tokens": 1000, "context_budget": 6000},
    )
    replies = [ask(conversation, f"Question {n}: what comes next?") for n in range(40)]

    assert all(r.status == "complete" for r in replies), [r.error_detail for r in replies]
    summaries = list(Summary.objects.filter(conversation=conversation))
    assert 1 <= len(summaries) <= 3  # compaction happens, and rarely
    # Every request stayed inside the budget.
    assert max(r.context_tokens for r in replies) <= 6000
    # The newest summary reaches the request, in the system prompt.
    newest = summaries[-1]
    assert replies[-1].summary_id == newest.pk
    assert newest.text.strip() in sent_system(replies[-1].api_requests[-1])
    # From turn 3 on, at least 90% of the prompt is read from cache, except on the turn right
    # after a compaction (its new summary changes the prefix).
    for previous, reply in itertools.pairwise(replies[1:]):
        if reply.summary_id != previous.summary_id:
            continue
        assert cache_read_share(reply) >= 0.9, (replies.index(reply), cache_read_share(reply))


@pytest.mark.django_db
def test_a_summary_failure_lets_the_turn_go_ahead_when_it_still_fits(user, simulator, settings):
    settings.CHATSITE_SUMMARY_MODEL = "claude-imaginary-1"  # the API answers 404
    conversation = ConversationFactory(
        owner=user, parameters={"max_tokens": 500, "context_budget": 2500}
    )
    replies = [ask(conversation, f"Question {n}: " + "words " * 150) for n in range(8)]
    assert all(r.status == "complete" for r in replies)
    # A summary was asked for (and refused by the API): the turns went ahead without one.
    assert any(body.get("model") == "claude-imaginary-1" for body in simulator.requests)
    assert not Summary.objects.exists()


@pytest.mark.django_db
def test_a_summary_failure_fails_the_turn_clearly_when_it_no_longer_fits(user, settings):
    settings.CHATSITE_SUMMARY_MODEL = "claude-imaginary-1"
    conversation = ConversationFactory(owner=user, parameters={"max_tokens": 500})
    for n in range(4):
        ask(conversation, f"Question {n}: " + "words " * 300)
    reply = ask(conversation, "and now? [sim:window=1200]")
    assert (reply.status, reply.error_type) == ("error", "context_full")
    assert "summarizing" in reply.error_detail


@pytest.mark.django_db
def test_pinned_messages_are_not_folded_away(user, simulator):
    conversation = ConversationFactory(
        owner=user, parameters={"max_tokens": 500, "context_budget": 2500}
    )
    first = ask(conversation, "Remember: the password is swordfish. " + "words " * 100)
    first.parent.is_pinned = True
    first.parent.save()
    for n in range(8):
        ask(conversation, f"Question {n}: " + "words " * 150)
    assert Summary.objects.exists()
    latest = Message.objects.filter(role="assistant").order_by("-created_at").first()
    assert "the password is swordfish" in sent_system(latest.api_requests[-1])
    # Nothing is deleted: the folded messages are all still stored.
    assert Message.objects.filter(conversation=conversation).count() == 18


@pytest.mark.django_db
def test_the_context_size_is_exact_up_to_the_last_reply(conversation, simulator):
    reply = ask(conversation, "hello")
    path = conversation_path(conversation=conversation, leaf_id=reply.pk)
    size = context_size(system_prompt="", path=path, summary=None, model=conversation.model)
    assert size.exact_tokens == reply.context_tokens
    assert size.tokens > size.exact_tokens  # the reply itself is estimated


@pytest.mark.django_db
def test_the_fold_boundary_is_a_reply_before_the_persons_newest_turn(conversation):
    messages = chain(
        conversation, *[("user" if i % 2 == 0 else "assistant", "x" * 700) for i in range(9)]
    )
    path = conversation_path(conversation=conversation)
    boundary = fold_boundary(system_prompt="", path=path, summary=None, target_tokens=0)
    assert boundary == messages[7]
    # Each message is about 203 tokens: folding the first six leaves three (about 609).
    roomy = fold_boundary(system_prompt="", path=path, summary=None, target_tokens=700)
    assert roomy == messages[5]


def count_tokens_calls(simulator) -> int:
    # count_tokens bodies are the only ones without max_tokens.
    return sum(1 for body in simulator.requests if "max_tokens" not in body)


@pytest.mark.django_db
def test_count_tokens_is_asked_only_close_to_the_budget(user, simulator):
    conversation = ConversationFactory(
        owner=user, parameters={"max_tokens": 500, "context_budget": 2100}
    )
    ask(conversation, "A short question")
    assert count_tokens_calls(simulator) == 0  # far below the line: the estimate decides
    ask(conversation, "Now this: " + "words " * 1100)  # about 2,000 tokens: close to it
    assert count_tokens_calls(simulator) == 1


@pytest.mark.django_db
def test_another_models_usage_is_not_taken_as_exact(conversation, simulator):
    reply = ask(conversation, "hello")
    path = conversation_path(conversation=conversation, leaf_id=reply.pk)
    size = context_size(system_prompt="", path=path, summary=None, model="claude-opus-4-8")
    assert size.exact_tokens == 0


@pytest.mark.django_db
def test_past_80_percent_the_summary_is_written_after_the_reply(user, simulator):
    conversation = ConversationFactory(
        owner=user, parameters={"max_tokens": 500, "context_budget": 2100}
    )
    ask(conversation, "A short question")
    reply = ask(conversation, "Now this: " + "words " * 950)  # about 1,800 tokens: over 80%
    assert reply.context_tokens <= 2100
    assert reply.summary_id is None  # this reply did not wait for a summary
    summary = Summary.objects.get()  # but the next one will stand on it
    assert summary.covers_up_to.role == "assistant"
    nxt = ask(conversation, "and then?")
    assert nxt.summary_id == summary.pk


def test_images_count_in_the_context_estimate():
    from conversations.llm.models import estimate_image_tokens

    path = [Message(id=1, role="user", text="look")]
    without = context_size(system_prompt="", path=path, summary=None, model="m")
    with_image = context_size(
        system_prompt="", path=path, summary=None, model="m", image_tokens={1: 1200}
    )
    assert with_image.tokens == without.tokens + 1200
    assert estimate_image_tokens(56, 29) == 2 * 2
    assert estimate_image_tokens(0, 0) > estimate_image_tokens(1568, 1568)
