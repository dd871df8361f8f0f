"""A conversation's generation settings, validated against its model.

Settings live in `Conversation.parameters` (JSON). Every one is checked against the model's
capabilities before it is stored and again before a request is built, so a request the model
would reject for a parameter is never sent: the person gets a message naming the setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from django.conf import settings

from conversations.llm.catalog import model_resolve
from conversations.llm.models import (
    THINKING_MIN_BUDGET,
    TURN_OVERHEAD_TOKENS,
    ModelSpec,
    estimate_text_tokens,
)
from conversations.models import Conversation

MAX_STOP_SEQUENCES = 8
MAX_STOP_SEQUENCE_CHARS = 200
CACHE_TTLS = ("5m", "1h")
# The smallest budget that leaves room for a conversation beside the system prompt.
MIN_CONTEXT_BUDGET = 2048
# With thinking on, the API only takes top_p in [0.95, 1].
THINKING_MIN_TOP_P = 0.95
# Digits only (ASCII), and few enough that int() stays cheap; anything else is not a count.
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,12}")
# How much of a bad value an error message quotes back.
QUOTE_LIMIT = 40

FIELDS = (
    "max_tokens",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "thinking",
    "thinking_budget",
    "effort",
    "context_budget",
    "cache_ttl",
)


class SettingsError(ValueError):
    """A setting the model or the API would reject; `field` names it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class GenerationSettings:
    max_tokens: int
    context_budget: int
    stop_sequences: tuple[str, ...] = ()
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    thinking: bool = False
    # Only for models with budgeted ("enabled") thinking; None: half of max_tokens.
    thinking_budget: int | None = None
    effort: str = ""
    cache_ttl: str = "5m"

    def as_parameters(self) -> dict[str, Any]:
        """The JSON stored on the conversation: only what differs from "not set"."""
        data = asdict(self)
        data["stop_sequences"] = list(self.stop_sequences)
        # `is` checks: temperature 0 is a setting, not an absence.
        return {k: v for k, v in data.items() if not (v is None or v is False or v in ("", []))}

    @property
    def sampling(self) -> dict[str, float | int]:
        values = {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k}
        return {k: v for k, v in values.items() if v is not None}

    def thinking_budget_for(self, max_tokens: int) -> int:
        return self.thinking_budget or max(THINKING_MIN_BUDGET, max_tokens // 2)


def conversation_settings(
    conversation: Conversation, *, fetch: bool = True
) -> tuple[ModelSpec, GenerationSettings]:
    """The conversation's model and its stored settings, checked against it. Raises
    SettingsError naming the setting to fix. With `fetch`, an expired model list may be
    fetched again: only where a network wait is acceptable (not in the shared sync thread)."""
    spec = model_resolve(conversation.model, fetch=fetch)
    generation = settings_validate(
        spec=spec,
        system_prompt=conversation.system_prompt,
        parameters=conversation.parameters or {},
    )
    return spec, generation


def default_max_tokens(spec: ModelSpec) -> int:
    return min(settings.CHATSITE_DEFAULT_MAX_TOKENS, spec.max_output_tokens)


def budget_limit(spec: ModelSpec, max_tokens: int) -> int:
    """The largest context budget: the reply must still fit in the window."""
    return spec.context_window - max_tokens


def settings_validate(
    *, spec: ModelSpec, system_prompt: str, parameters: Mapping[str, Any]
) -> GenerationSettings:
    """Parse and check `parameters` for `spec`; raises SettingsError naming the first bad field."""
    unknown = sorted(str(key)[:QUOTE_LIMIT] for key in set(parameters) - set(FIELDS))
    if unknown:
        raise SettingsError(f"Unknown setting “{unknown[0]}”.", field=unknown[0])
    name = spec.display_name
    max_tokens = _int(parameters, "max_tokens", default=default_max_tokens(spec), low=1)
    if max_tokens > spec.max_output_tokens:
        raise SettingsError(
            f"max_tokens: {name} writes at most {spec.max_output_tokens:,} tokens per reply.",
            field="max_tokens",
        )
    stop_sequences = _stop_sequences(parameters.get("stop_sequences"))
    sampling = {key: parameters.get(key) for key in ("temperature", "top_p", "top_k")}
    thinking = _bool(parameters, "thinking")
    result = GenerationSettings(
        max_tokens=max_tokens,
        context_budget=0,
        stop_sequences=stop_sequences,
        temperature=_unit(sampling["temperature"], "temperature"),
        top_p=_unit(sampling["top_p"], "top_p"),
        top_k=_optional_int(sampling["top_k"], "top_k", low=1, high=500),
        thinking=thinking,
        thinking_budget=_optional_int(
            parameters.get("thinking_budget"),
            "thinking_budget",
            low=THINKING_MIN_BUDGET,
            high=spec.max_output_tokens,
        ),
        effort=_choice(parameters, "effort", ("", *spec.effort_levels), spec),
        cache_ttl=_choice(
            parameters, "cache_ttl", CACHE_TTLS, spec, default=settings.CHATSITE_CACHE_TTL
        ),
    )
    _check_sampling(spec, result)
    _check_thinking(spec, result)
    budget = _context_budget(spec, system_prompt, parameters, max_tokens)
    return replace(result, context_budget=budget)


def _check_sampling(spec: ModelSpec, result: GenerationSettings) -> None:
    for key in result.sampling:
        if key not in spec.sampling_parameters:
            raise SettingsError(
                f"{key}: {spec.display_name} does not accept {key}. Clear it, or pick a model "
                "that takes sampling parameters (the 4.5 and 4.6 families).",
                field=key,
            )
    if spec.sampling_exclusive and result.temperature is not None and result.top_p is not None:
        raise SettingsError(
            f"top_p: {spec.display_name} does not take temperature and top_p together; "
            "set only one of them.",
            field="top_p",
        )
    if result.thinking:
        if result.top_p is not None and result.top_p < THINKING_MIN_TOP_P:
            raise SettingsError(
                f"top_p: must be {THINKING_MIN_TOP_P} or more while thinking is on.",
                field="top_p",
            )
        for key in ("temperature", "top_k"):
            if key in result.sampling:
                raise SettingsError(
                    f"{key}: cannot be combined with thinking. Turn thinking off or clear {key}.",
                    field=key,
                )


def _check_thinking(spec: ModelSpec, result: GenerationSettings) -> None:
    if result.thinking_budget is not None and "enabled" not in spec.thinking_types:
        raise SettingsError(
            f"thinking_budget: {spec.display_name} decides how much to think by itself; "
            "clear the thinking budget.",
            field="thinking_budget",
        )
    if result.thinking and not spec.supports_thinking:
        raise SettingsError(
            f"thinking: {spec.display_name} does not support extended thinking.",
            field="thinking",
        )
    if result.thinking and "adaptive" not in spec.thinking_types:
        budget = result.thinking_budget_for(result.max_tokens)
        if budget >= result.max_tokens:
            raise SettingsError(
                f"thinking_budget: the thinking budget ({budget:,}) must be smaller than "
                f"max_tokens ({result.max_tokens:,}).",
                field="thinking_budget" if result.thinking_budget else "max_tokens",
            )


def _context_budget(
    spec: ModelSpec, system_prompt: str, parameters: Mapping[str, Any], max_tokens: int
) -> int:
    limit = budget_limit(spec, max_tokens)
    if parameters.get("context_budget") is None:
        return min(settings.CHATSITE_CONTEXT_BUDGET, limit)
    budget = _int(parameters, "context_budget", default=0, low=MIN_CONTEXT_BUDGET)
    if budget > limit:
        raise SettingsError(
            f"context_budget: at most {limit:,} tokens for {spec.display_name} "
            f"(its {spec.context_window:,}-token window minus max_tokens).",
            field="context_budget",
        )
    needed = estimate_text_tokens(system_prompt) + TURN_OVERHEAD_TOKENS
    if budget < needed + MIN_CONTEXT_BUDGET // 2:
        raise SettingsError(
            f"context_budget: {budget:,} tokens leave no room beside the system prompt "
            f"(about {needed:,} tokens).",
            field="context_budget",
        )
    return budget


def _int(parameters: Mapping[str, Any], key: str, *, default: int, low: int) -> int:
    value = parameters.get(key)
    if value is None:
        return default
    parsed = _optional_int(value, key, low=low)
    assert parsed is not None
    return parsed


def _optional_int(value: object, key: str, *, low: int, high: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and WHOLE_NUMBER.fullmatch(value.strip()):
        value = int(value)
    # `type(...) is int`: a boolean is an int in Python, and `true` is not a token count.
    if type(value) is not int:
        raise SettingsError(f"{key}: expected a whole number.", field=key)
    if value < low or (high is not None and value > high):
        bounds = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
        raise SettingsError(f"{key}: must be {bounds}.", field=key)
    return value


def _unit(value: object, key: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise SettingsError(f"{key}: expected a number between 0 and 1.", field=key) from None
    if type(value) not in (int, float) or not 0 <= value <= 1:  # type: ignore[operator]
        raise SettingsError(f"{key}: expected a number between 0 and 1.", field=key)
    return float(value)  # type: ignore[arg-type]


def _bool(parameters: Mapping[str, Any], key: str) -> bool:
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        raise SettingsError(f"{key}: expected true or false.", field=key)
    return value


def _choice(
    parameters: Mapping[str, Any],
    key: str,
    choices: tuple[str, ...],
    spec: ModelSpec,
    *,
    default: str = "",
) -> str:
    value = parameters.get(key)
    if value is None or value == "":
        value = default
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(c for c in choices if c) or "none"
        quoted = str(value)[:QUOTE_LIMIT]
        raise SettingsError(
            f"{key}: “{quoted}” is not available for {spec.display_name} (choose: {allowed}).",
            field=key,
        )
    return value


def _stop_sequences(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise SettingsError("stop_sequences: expected a list of strings.", field="stop_sequences")
    if len(value) > MAX_STOP_SEQUENCES:
        raise SettingsError(
            f"stop_sequences: at most {MAX_STOP_SEQUENCES} stop sequences.",
            field="stop_sequences",
        )
    for sequence in value:
        if not isinstance(sequence, str) or not sequence.strip():
            raise SettingsError(
                "stop_sequences: each stop sequence must contain some non-blank text.",
                field="stop_sequences",
            )
        if "\x00" in sequence:
            raise SettingsError(
                "stop_sequences: a stop sequence contains a NUL character.",
                field="stop_sequences",
            )
        if len(sequence) > MAX_STOP_SEQUENCE_CHARS:
            raise SettingsError(
                f"stop_sequences: each is at most {MAX_STOP_SEQUENCE_CHARS} characters.",
                field="stop_sequences",
            )
    if len(set(value)) != len(value):
        raise SettingsError("stop_sequences: a stop sequence is repeated.", field="stop_sequences")
    return tuple(value)
