"""What each Claude model accepts and costs: the registry every request is gated by.

The API does not report most of this (prefill, sampling parameters, prices, image tier), so it
is a table kept by hand, checked against ANTHROPIC_API.md. `GET /v1/models` adds models the
table does not know; those get `conservative()` capabilities, so a request built for them only
uses what every model accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

# Sampling parameters only exist under this older API version (the SDK defaults to 2026-10-21).
API_VERSION_SAMPLING = "2023-06-01"

SAMPLING_PARAMETERS = ("temperature", "top_p", "top_k")
EFFORT_LEVELS = ("low", "medium", "high", "xhigh", "max")
THINKING_MIN_BUDGET = 1024

# The API answers with dated ids (`claude-haiku-4-5-20251001`) of the models it was asked for.
DATED_ID = re.compile(r"-\d{8}$")

IMAGE_EDGE_STANDARD = 1568
IMAGE_EDGE_HIGH_RES = 2576


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal

    @classmethod
    def from_base(cls, input_price: str, output_price: str) -> Prices:
        """The published multipliers: writes 1.25x (5 min) or 2x (1 h), reads 0.1x."""
        base = Decimal(input_price)
        return cls(
            input=base,
            output=Decimal(output_price),
            cache_write_5m=base * Decimal("1.25"),
            cache_write_1h=base * 2,
            cache_read=base / 10,
        )


@dataclass(frozen=True)
class ModelSpec:
    id: str
    display_name: str
    context_window: int
    max_output_tokens: int
    # A final assistant turn the model continues from.
    accepts_prefill: bool = False
    # Sampling parameters this model takes, only under API_VERSION_SAMPLING.
    sampling_parameters: tuple[str, ...] = ()
    # On 4.x models temperature and top_p may not be sent together.
    sampling_exclusive: bool = True
    # "adaptive" (the model decides) and/or "enabled" (a fixed budget_tokens).
    thinking_types: tuple[str, ...] = ()
    effort_levels: tuple[str, ...] = ()
    image_long_edge: int = IMAGE_EDGE_STANDARD
    prices: Prices | None = None
    retires_on: date | None = None

    @property
    def supports_thinking(self) -> bool:
        return bool(self.thinking_types)


_SAMPLING = SAMPLING_PARAMETERS
_OPUS_PRICES = Prices.from_base("5", "25")
_SONNET_PRICES = Prices.from_base("3", "15")
_HAIKU_PRICES = Prices.from_base("1", "5")

MODELS: dict[str, ModelSpec] = {
    spec.id: spec
    for spec in (
        ModelSpec(
            id="claude-opus-4-8",
            display_name="Claude Opus 4.8",
            context_window=1_000_000,
            max_output_tokens=128_000,
            thinking_types=("adaptive",),
            effort_levels=EFFORT_LEVELS,
            image_long_edge=IMAGE_EDGE_HIGH_RES,
            prices=_OPUS_PRICES,
        ),
        ModelSpec(
            id="claude-opus-4-7",
            display_name="Claude Opus 4.7",
            context_window=1_000_000,
            max_output_tokens=128_000,
            thinking_types=("adaptive",),
            effort_levels=EFFORT_LEVELS,
            image_long_edge=IMAGE_EDGE_HIGH_RES,
            prices=_OPUS_PRICES,
        ),
        ModelSpec(
            id="claude-opus-4-6",
            display_name="Claude Opus 4.6",
            context_window=1_000_000,
            max_output_tokens=128_000,
            sampling_parameters=_SAMPLING,
            thinking_types=("adaptive", "enabled"),
            effort_levels=("low", "medium", "high", "max"),
            prices=_OPUS_PRICES,
        ),
        ModelSpec(
            id="claude-sonnet-4-6",
            display_name="Claude Sonnet 4.6",
            context_window=1_000_000,
            max_output_tokens=128_000,
            sampling_parameters=_SAMPLING,
            thinking_types=("adaptive", "enabled"),
            effort_levels=("low", "medium", "high", "max"),
            prices=_SONNET_PRICES,
        ),
        ModelSpec(
            id="claude-opus-4-5",
            display_name="Claude Opus 4.5",
            context_window=200_000,
            max_output_tokens=64_000,
            accepts_prefill=True,
            sampling_parameters=_SAMPLING,
            thinking_types=("enabled",),
            effort_levels=("low", "medium", "high"),
            prices=_OPUS_PRICES,
        ),
        ModelSpec(
            id="claude-sonnet-4-5",
            display_name="Claude Sonnet 4.5",
            context_window=200_000,
            max_output_tokens=64_000,
            accepts_prefill=True,
            sampling_parameters=_SAMPLING,
            thinking_types=("enabled",),
            prices=_SONNET_PRICES,
            retires_on=date(2026, 11, 30),
        ),
        ModelSpec(
            id="claude-haiku-4-5",
            display_name="Claude Haiku 4.5",
            context_window=200_000,
            max_output_tokens=64_000,
            accepts_prefill=True,
            sampling_parameters=_SAMPLING,
            thinking_types=("enabled",),
            prices=_HAIKU_PRICES,
        ),
    )
}


def conservative(
    model_id: str, *, display_name: str = "", context_window: int = 0, max_output_tokens: int = 0
) -> ModelSpec:
    """A model the table does not know: only what every model accepts.

    No prefill, no sampling parameters, no thinking; the smallest window and output of the
    table unless the API reported its own; no price (cost shows as unknown).
    """
    return ModelSpec(
        id=model_id,
        display_name=display_name or model_id,
        context_window=context_window or 200_000,
        max_output_tokens=max_output_tokens or 64_000,
    )


def with_reported_limits(
    spec: ModelSpec, *, context_window: int | None, max_output_tokens: int | None
) -> ModelSpec:
    """`spec` with the limits `GET /v1/models` reported, where it reported them."""
    return replace(
        spec,
        context_window=context_window or spec.context_window,
        max_output_tokens=max_output_tokens or spec.max_output_tokens,
    )


# Without a tokenizer at hand: about 3.5 characters per token for English prose and code,
# plus a few tokens for the turn itself. Only used for what no usage figure covers yet.
CHARS_PER_TOKEN = 3.5
TURN_OVERHEAD_TOKENS = 3


def estimate_text_tokens(text: str) -> int:
    if not text:
        return 0
    return -(-len(text) * 2 // 7)  # ceil(len / 3.5) in integers


# What an image costs: about one token per 28x28 pixel tile. An image of unknown size counts as
# a large one (its long edge at the standard limit), so an estimate errs on the safe side.
IMAGE_TILE_PIXELS = 28
UNKNOWN_IMAGE_TOKENS = 3200


def estimate_image_tokens(width: int, height: int) -> int:
    if width <= 0 or height <= 0:
        return UNKNOWN_IMAGE_TOKENS
    return -(-width // IMAGE_TILE_PIXELS) * -(-height // IMAGE_TILE_PIXELS)
