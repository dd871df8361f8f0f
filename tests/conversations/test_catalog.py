"""The model picker's list: GET /v1/models through the SDK, cached, the registry as fallback."""

from __future__ import annotations

import dataclasses

import pytest

from conversations.llm import client as llm_client
from conversations.llm.catalog import (
    model_lookup,
    model_resolve,
    models_available,
    registry_spec,
)
from conversations.llm.models import MODELS as REGISTRY
from conversations.llm.simulator import models as simulated_models


@pytest.fixture
def new_model_listed(monkeypatch):
    """The API lists a model this release of chatsite does not know yet."""
    template = simulated_models.MODELS[0]
    newcomer = dataclasses.replace(
        template, id="claude-opus-9", display_name="Claude Opus 9", context_window=2_000_000
    )
    listed = (newcomer, *simulated_models.MODELS)
    monkeypatch.setattr(simulated_models, "MODELS", listed)
    return newcomer


@pytest.mark.django_db
def test_the_picker_lists_what_the_api_lists_with_the_registrys_capabilities():
    listed = {spec.id: spec for spec in models_available()}
    assert set(listed) == {m.id for m in simulated_models.MODELS}
    assert listed["claude-opus-4-5"].accepts_prefill
    assert listed["claude-opus-4-5"].prices == REGISTRY["claude-opus-4-5"].prices


@pytest.mark.django_db
def test_a_listed_model_the_registry_lacks_gets_conservative_capabilities(new_model_listed):
    spec = {s.id: s for s in models_available()}["claude-opus-9"]
    assert registry_spec("claude-opus-9") is None
    assert not spec.accepts_prefill
    assert spec.sampling_parameters == ()
    assert spec.prices is None
    # What the listing reports is used: its window and its thinking support.
    assert spec.context_window == 2_000_000
    assert spec.thinking_types == ("adaptive",)
    assert model_lookup("claude-opus-9") == spec


@pytest.mark.django_db
def test_the_list_is_cached(new_model_listed, monkeypatch):
    first = models_available()
    monkeypatch.setattr(simulated_models, "MODELS", simulated_models.MODELS[1:])
    assert models_available() == first


@pytest.mark.django_db
def test_without_a_reachable_api_the_registry_is_the_list(settings):
    settings.ANTHROPIC_API_KEY = "sk-test"
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    llm_client.reset_clients()
    assert [spec.id for spec in models_available()] == list(REGISTRY)
    assert model_lookup("claude-opus-9") is None


def test_an_unknown_model_resolves_to_conservative_capabilities():
    spec = model_resolve("claude-something-new")
    assert (spec.accepts_prefill, spec.sampling_parameters, spec.prices) == (False, (), None)
    assert spec.thinking_types == ()


@pytest.mark.django_db
def test_a_generation_refreshes_the_list_for_a_model_only_the_api_knows(user, new_model_listed):
    from tests.conversations.support import ask
    from tests.factories import ConversationFactory

    # Its listing was seen when the model was chosen; then this process's copy expired.
    conversation = ConversationFactory(owner=user, model="claude-opus-9", parameters={})
    reply = ask(conversation, "hello")
    assert reply.status == "complete", reply.error_detail
    assert model_lookup("claude-opus-9", fetch=False) is not None  # fetched again on the way
