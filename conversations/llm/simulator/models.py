"""The simulated server's own model table: the limits and rules the API enforces per model.

This is the server's side of the contract. The app keeps its own registry
(conversations/llm/models.py) and must not be imported here: if the two disagree, the app's
tests should fail the way they would against the real API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from conversations.llm.simulator.wire import not_found

EFFORT_LEVELS = ("low", "medium", "high", "xhigh", "max")
THINKING_TYPES = ("enabled", "disabled", "adaptive", "between_tools")


@dataclass(frozen=True)
class ModelRules:
    id: str
    display_name: str
    line: str
    created_at: str
    retires_at: str | None
    context_window: int
    max_output_tokens: int
    prefill: bool
    # Sampling parameters are only ever accepted under anthropic-version 2023-06-01.
    sampling: bool
    # Accepted request values of `thinking.type` besides "disabled", which every model takes.
    thinking_types: frozenset[str]
    effort_levels: frozenset[str]
    min_cache_tokens: int

    @property
    def deprecated(self) -> bool:
        return self.retires_at is not None


class _Limits(NamedTuple):
    window: int
    max_output: int
    prefill: bool


# Claude 4.6 and later: a 1M window, 128K output, and no assistant prefill.
_NEW = _Limits(window=1_000_000, max_output=128_000, prefill=False)
_OLD = _Limits(window=200_000, max_output=64_000, prefill=True)


def _rules(
    model_id: str,
    display_name: str,
    created_at: str,
    limits: _Limits,
    *,
    sampling: bool,
    thinking: tuple[str, ...],
    effort: tuple[str, ...],
    min_cache: int,
    retires_at: str | None = None,
) -> ModelRules:
    return ModelRules(
        id=model_id,
        display_name=display_name,
        line=model_id.split("-")[1],
        created_at=created_at,
        retires_at=retires_at,
        context_window=limits.window,
        max_output_tokens=limits.max_output,
        prefill=limits.prefill,
        sampling=sampling,
        thinking_types=frozenset(thinking),
        effort_levels=frozenset(effort),
        min_cache_tokens=min_cache,
    )


_EFFORT_NO_XHIGH = ("low", "medium", "high", "max")

# Newest first, the order GET /v1/models lists them in.
MODELS: tuple[ModelRules, ...] = (
    _rules(
        "claude-opus-4-8",
        "Claude Opus 4.8",
        "2026-09-15T00:00:00Z",
        _NEW,
        sampling=False,
        thinking=("adaptive",),
        effort=EFFORT_LEVELS,
        min_cache=4096,
    ),
    _rules(
        "claude-opus-4-7",
        "Claude Opus 4.7",
        "2026-06-10T00:00:00Z",
        _NEW,
        sampling=False,
        thinking=("adaptive",),
        effort=EFFORT_LEVELS,
        min_cache=4096,
    ),
    _rules(
        "claude-sonnet-4-6",
        "Claude Sonnet 4.6",
        "2026-03-05T00:00:00Z",
        _NEW,
        sampling=True,
        thinking=("adaptive", "enabled"),
        effort=_EFFORT_NO_XHIGH,
        min_cache=2048,
    ),
    _rules(
        "claude-opus-4-6",
        "Claude Opus 4.6",
        "2026-02-05T00:00:00Z",
        _NEW,
        sampling=True,
        thinking=("adaptive", "enabled"),
        effort=_EFFORT_NO_XHIGH,
        min_cache=4096,
    ),
    _rules(
        "claude-haiku-4-5",
        "Claude Haiku 4.5",
        "2025-10-15T00:00:00Z",
        _OLD,
        sampling=True,
        thinking=("enabled",),
        effort=(),
        min_cache=4096,
    ),
    _rules(
        "claude-sonnet-4-5",
        "Claude Sonnet 4.5",
        "2025-09-29T00:00:00Z",
        _OLD,
        sampling=True,
        thinking=("enabled",),
        effort=(),
        min_cache=1024,
        retires_at="2026-11-30T00:00:00Z",
    ),
    _rules(
        "claude-opus-4-5",
        "Claude Opus 4.5",
        "2025-11-24T00:00:00Z",
        _OLD,
        sampling=True,
        thinking=("enabled",),
        effort=("low", "medium", "high"),
        min_cache=4096,
    ),
)


def find_model(model_id: str) -> ModelRules:
    # A scan of seven entries; no index to keep in step with the table.
    for model in MODELS:
        if model.id == model_id:
            return model
    raise not_found(f"model: {model_id}")


def _supported(flag: bool) -> dict[str, bool]:
    return {"supported": flag}


def capabilities_json(model: ModelRules) -> dict[str, Any]:
    """Shaped like the SDK's ModelCapabilities, every required key present.

    Features the simulator does not implement (batches, tools, structured output, context
    management, citations) are reported unsupported: the simulator answers for itself.
    """
    effort = {level: _supported(level in model.effort_levels) for level in EFFORT_LEVELS}
    thinking_types = {
        "adaptive": _supported("adaptive" in model.thinking_types),
        "enabled": _supported("enabled" in model.thinking_types),
        "disabled": _supported(True),
        "between_tools": _supported(False),
    }
    return {
        "batch": _supported(False),
        "citations": _supported(False),
        "code_execution": _supported(False),
        "context_management": _supported(False),
        "effort": {"supported": bool(model.effort_levels), **effort},
        "image_input": _supported(True),
        "pdf_input": _supported(True),
        "server_tools": {
            "supported": False,
            "code_execution": _supported(False),
            "web_search": _supported(False),
        },
        "structured_outputs": _supported(False),
        "thinking": {"supported": bool(model.thinking_types), "types": thinking_types},
    }


def model_json(model: ModelRules) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model.id,
        "display_name": model.display_name,
        "line": model.line,
        "created_at": model.created_at,
        # Mirrors the SDK, which warns about claude-sonnet-4-5 being deprecated.
        "lifecycle": "deprecated" if model.deprecated else "active",
        "retires_at": model.retires_at,
        "max_input_tokens": model.context_window,
        "max_tokens": model.max_output_tokens,
        "capabilities": capabilities_json(model),
    }


def models_page() -> dict[str, Any]:
    # Everything fits on one page; the SDK's auto-pagination stops at has_more=False.
    data = [model_json(model) for model in MODELS]
    return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
