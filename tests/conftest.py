from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from conversations.llm import client as llm_client
from conversations.llm.simulator import Simulator
from tests.factories import ConversationFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_llm_clients(settings) -> Iterator[None]:
    """Each test gets a new simulator and SDK clients built from its own settings."""
    settings.ANTHROPIC_API_KEY = ""
    settings.ANTHROPIC_BASE_URL = ""
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0
    llm_client.reset_clients()
    yield
    llm_client.reset_clients()


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    """A new channel layer per test: a Redis layer's connections belong to the event loop of
    the test that opened them, and every async test has its own loop."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _fresh_send_limits(settings) -> None:
    from conversations.services.limits import limits_reset

    limits_reset()


@pytest.fixture
def simulator() -> Simulator:
    """The in-process simulator the app talks to (what it received is in `.requests`)."""
    return llm_client.offline_simulator()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def conversation(user):
    return ConversationFactory(owner=user)


@pytest.fixture
def logged_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
