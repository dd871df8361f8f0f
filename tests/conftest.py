from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from conversations.llm import client as llm_client
from conversations.llm.catalog import CACHE_KEY as CATALOG_CACHE_KEY
from conversations.llm.simulator import Simulator
from tests.factories import ConversationFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_llm_clients(settings) -> Iterator[None]:
    """Each test gets a new simulator and SDK clients built from its own settings."""
    settings.ANTHROPIC_API_KEY = ""
    settings.ANTHROPIC_BASE_URL = ""
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0
    llm_client.reset_clients()
    # The model list from GET /v1/models: only that key (with Redis, clear() would flush the
    # database the channel layer shares).
    cache.delete(CATALOG_CACHE_KEY)
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


@pytest.fixture
def api(user) -> APIClient:
    """The REST API as `user`."""
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def generous_send_limit(settings) -> None:
    """For tests that hold long conversations: far more sends than a minute's default."""
    settings.CHATSITE_SEND_RATE_LIMIT = "1000/minute"


@pytest.fixture
def cookie(user) -> str:
    """A logged-in session of `user`, for sockets."""
    from tests.conversations.sockets import session_cookie

    return session_cookie(user)
