"""The automatic title after a conversation's first exchange."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from conversations.llm import client as llm_client
from conversations.llm.simulator import Simulator, simulator_asgi_app
from conversations.models import Conversation
from conversations.services.conversations import (
    conversation_title_from_text,
    conversation_update,
)
from conversations.services.generation import generation_run_blocking
from conversations.services.messages import message_regenerate
from conversations.services.titles import TITLE_SYSTEM, title_clean
from tests.asgi_server import AsgiTestServer
from tests.conversations.support import ask
from tests.factories import ConversationFactory

QUESTION = "Plan a three day trip to Lisbon in spring, with one day for museums"
PROVISIONAL = conversation_title_from_text(QUESTION)


@pytest.fixture
def untitled(user, settings) -> Conversation:
    settings.CHATSITE_AUTO_TITLE = True
    return ConversationFactory(owner=user, title="")


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ('"Lisbon in spring"', "Lisbon in spring"),
        ("Title: Rust lifetimes explained\nA second line", "Rust lifetimes explained"),
        ("**Bold title.**", "Bold title"),
        ("\n\n  \u201cQuoted\u201d  \n", "Quoted"),
        (
            "one two three four five six seven eight nine ten",
            "one two three four five six seven eight",
        ),
        ("x" * 100, "x" * 59 + "…"),
        ("", ""),
        ("...", ""),
    ],
)
def test_a_models_answer_is_cleaned_into_a_title(answer, title):
    assert title_clean(answer) == title


def test_offline_the_title_is_the_first_words_the_simulator_echoes(untitled, simulator, settings):
    reply = ask(untitled, QUESTION)
    assert reply.status == "complete"
    untitled.refresh_from_db()
    assert untitled.title == title_clean(QUESTION)
    assert untitled.title != PROVISIONAL
    request = simulator.requests[-1]
    assert request["model"] == settings.CHATSITE_TITLE_MODEL
    assert request["max_tokens"] <= 24
    assert request["system"] == TITLE_SYSTEM


def test_online_the_title_model_reads_the_first_exchange(user, settings):
    settings.CHATSITE_AUTO_TITLE = True
    conversation = ConversationFactory(owner=user, title="")
    remote = Simulator()
    server = AsgiTestServer(simulator_asgi_app(remote)).start()
    try:
        settings.ANTHROPIC_BASE_URL = server.url
        settings.ANTHROPIC_API_KEY = "sk-test-key"
        llm_client.reset_clients()
        reply = ask(conversation, QUESTION)
    finally:
        server.stop()
    title_request = remote.requests[-1]
    [turn] = title_request["messages"]
    assert QUESTION in turn["content"]
    assert reply.text[:100] in turn["content"]
    assert "[sim:" not in turn["content"]
    conversation.refresh_from_db()
    # The simulator describes what it received; its first words are the title.
    assert conversation.title == "Offline simulator reply"


def test_a_title_arrives_in_every_open_tab(untitled, simulator, django_capture_on_commit_callbacks):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(untitled.group_name, channel)
    with django_capture_on_commit_callbacks(execute=True):
        ask(untitled, QUESTION)

    async def titles_announced() -> list[str]:
        titles = []
        with contextlib.suppress(TimeoutError):
            while True:
                frame = await asyncio.wait_for(layer.receive(channel), 0.5)
                if frame["type"] == "conversation.updated":
                    titles.append(frame["conversation"]["title"])
        return titles

    # First the provisional title (the first message), then the generated one.
    assert async_to_sync(titles_announced)() == [PROVISIONAL, title_clean(QUESTION)]


def test_a_rename_by_the_person_is_never_overwritten(untitled, simulator):
    ask(untitled, QUESTION)
    conversation_update(conversation=untitled, title="My trip")
    reply = untitled.messages.filter(role="assistant").get()
    regenerated = message_regenerate(conversation=untitled, message_uuid=reply.uuid)
    generation_run_blocking(reply=regenerated)
    untitled.refresh_from_db()
    assert untitled.title == "My trip"


def test_only_the_first_exchange_is_titled(untitled, simulator):
    ask(untitled, QUESTION)
    Conversation.objects.filter(pk=untitled.pk).update(title="Plan a three day trip")
    count = len(simulator.requests)
    ask(untitled, "And what about Porto?")
    assert len(simulator.requests) == count + 1  # the reply only
    untitled.refresh_from_db()
    assert untitled.title == "Plan a three day trip"


def test_no_title_call_when_turned_off(user, simulator, settings):
    settings.CHATSITE_AUTO_TITLE = False
    conversation = ConversationFactory(owner=user, title="")
    ask(conversation, QUESTION)
    assert len(simulator.requests) == 1
    conversation.refresh_from_db()
    assert conversation.title == PROVISIONAL


def test_a_failed_title_call_keeps_the_provisional_title(untitled, simulator, settings):
    settings.CHATSITE_TITLE_MODEL = "claude-no-such-model"
    reply = ask(untitled, QUESTION)
    assert reply.status == "complete"
    assert simulator.requests[-1]["model"] == "claude-no-such-model"
    untitled.refresh_from_db()
    assert untitled.title == PROVISIONAL
