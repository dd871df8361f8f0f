"""The models a person can pick: `GET /v1/models` (cached), with the registry as fallback.

The listing says which models the key may use and their limits; the registry adds what the API
does not report (prefill, sampling parameters, prices). A listed model the registry lacks keeps
conservative capabilities, plus the thinking and effort support the listing reports.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import anthropic
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import cache

from conversations.llm.client import get_client
from conversations.llm.models import (
    DATED_ID,
    EFFORT_LEVELS,
    MODELS,
    ModelSpec,
    conservative,
    with_reported_limits,
)

logger = logging.getLogger(__name__)

CACHE_KEY = "chatsite:models:v1"
# After a failed listing, ask again this much later (not on every page view).
FAILURE_RETRY_SECONDS = 300


def models_available() -> list[ModelSpec]:
    """The models for the picker, newest first as the API lists them (sync; may call the API
    once per cache period)."""
    listed = cache.get(CACHE_KEY)
    if listed is None:
        # Only the network call crosses into async code: the cache is used from this thread.
        listed = async_to_sync(_fetch_listing)()
        cache.set(CACHE_KEY, listed, _cache_seconds(listed))
    if not listed:
        return list(MODELS.values())
    return [_spec_from_listing(entry) for entry in listed]


def model_lookup(model_id: str, *, fetch: bool = True) -> ModelSpec | None:
    """The model if the registry or the listing knows it. With `fetch` (sync callers only),
    the listing is fetched again when this process's copy has expired, so a listed-only model
    keeps its real limits."""
    listed = cache.get(CACHE_KEY)
    if fetch and listed is None and registry_spec(model_id) is None:
        models_available()
        listed = cache.get(CACHE_KEY)
    for entry in listed or []:
        if entry["id"] == model_id:
            return _spec_from_listing(entry)
    return registry_spec(model_id)


def registry_spec(model_id: str) -> ModelSpec | None:
    """The registry's entry, also for a dated id of a model it knows
    (`claude-haiku-4-5-20251001` is `claude-haiku-4-5`)."""
    spec = MODELS.get(model_id) or MODELS.get(DATED_ID.sub("", model_id))
    return replace(spec, id=model_id) if spec is not None and spec.id != model_id else spec


async def models_refresh_if_expired(model_id: str) -> None:
    """Before a generation for `model_id`: if only the listing knows the model and this
    process's copy expired, fetch it again on the event loop, so the shared sync thread can
    look the model up without a network wait. Models in the registry need nothing."""
    if registry_spec(model_id) is not None or await cache.aget(CACHE_KEY) is not None:
        return
    listed = await _fetch_listing()
    await cache.aset(CACHE_KEY, listed, _cache_seconds(listed))


async def _fetch_listing() -> list[dict[str, Any]]:
    try:
        return await _list_models()
    except anthropic.APIError as exc:
        logger.warning("could not list models, using the built-in table: %s", exc)
        return []


def _cache_seconds(listed: list[dict[str, Any]]) -> int:
    return settings.CHATSITE_MODELS_CACHE_SECONDS if listed else FAILURE_RETRY_SECONDS


def model_resolve(model_id: str, *, fetch: bool = True) -> ModelSpec:
    """The capabilities requests for `model_id` are gated by (conservative when unknown)."""
    return model_lookup(model_id, fetch=fetch) or conservative(model_id)


async def _list_models() -> list[dict[str, Any]]:
    entries = []
    async for model in get_client().models.list(limit=100):
        if model.lifecycle == "retired":
            continue  # listed for the record; requests naming it fail
        capabilities = model.capabilities
        thinking_types: list[str] = []
        effort_levels: list[str] = []
        if capabilities is not None:
            types = capabilities.thinking.types
            thinking_types = [
                name for name in ("adaptive", "enabled") if getattr(types, name).supported
            ]
            if capabilities.effort.supported:
                effort_levels = [
                    level
                    for level in EFFORT_LEVELS
                    if (support := getattr(capabilities.effort, level, None)) is not None
                    and support.supported
                ]
        entries.append(
            {
                "id": model.id,
                "display_name": model.display_name,
                "context_window": model.max_input_tokens,
                "max_output_tokens": model.max_tokens,
                "thinking_types": thinking_types,
                "effort_levels": effort_levels,
                "reported_capabilities": capabilities is not None,
            }
        )
    return entries


def _spec_from_listing(entry: dict[str, Any]) -> ModelSpec:
    known = registry_spec(entry["id"])
    if known is not None:
        return with_reported_limits(
            known,
            context_window=entry["context_window"],
            max_output_tokens=entry["max_output_tokens"],
        )
    spec = conservative(
        entry["id"],
        display_name=entry["display_name"],
        context_window=entry["context_window"] or 0,
        max_output_tokens=entry["max_output_tokens"] or 0,
    )
    if not entry["reported_capabilities"]:
        return spec
    return replace(
        spec,
        thinking_types=tuple(entry["thinking_types"]),
        effort_levels=tuple(entry["effort_levels"]),
    )
