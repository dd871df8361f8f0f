"""The simulator's model table and request rules, seen through the real SDK."""

from __future__ import annotations

import math
from typing import Any

import anthropic
import pytest
from anthropic.types import CapabilitySupport, Message, MessageParam, ModelInfo, TextBlockParam

from tests.llm.support import MODEL, OLD_API, image_block, input_total, text_of, user

HI = user("hi")
THINKING_TYPES = ("adaptive", "enabled", "disabled", "between_tools")
EFFORT_LEVELS = ("low", "medium", "high", "xhigh", "max")
NO = CapabilitySupport(supported=False)
PREFILL: list[MessageParam] = [*HI, {"role": "assistant", "content": "Sure"}]
THINK = {"type": "enabled", "budget_tokens": 2000}


async def post(
    client: anthropic.AsyncAnthropic, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Message:
    return await client.post(
        "/v1/messages", cast_to=Message, body=body, options={"headers": headers or {}}
    )


def body(model: str = MODEL, **fields: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 4000, "messages": HI, **fields}


# --- models -----------------------------------------------------------------------------------


def summary(model: ModelInfo) -> tuple[int | None, int | None, list[str], list[str], bool]:
    """Limits, thinking types, effort levels and image input, as the SDK parsed them."""
    capabilities = model.capabilities
    assert capabilities is not None
    types = capabilities.thinking.types
    thinking = [name for name in THINKING_TYPES if getattr(types, name).supported]
    effort = capabilities.effort
    levels = [name for name in EFFORT_LEVELS if (getattr(effort, name) or NO).supported]
    assert effort.supported == bool(levels)
    assert capabilities.thinking.supported
    return (
        model.max_input_tokens,
        model.max_tokens,
        thinking,
        levels,
        capabilities.image_input.supported,
    )


@pytest.mark.asyncio
async def test_models_list_reports_limits_and_capabilities_the_sdk_parses(
    client: anthropic.AsyncAnthropic,
) -> None:
    models = {model.id: summary(model) async for model in client.models.list()}
    one = await client.models.retrieve("claude-opus-4-5")

    all_levels = ["low", "medium", "high", "xhigh", "max"]
    no_xhigh = ["low", "medium", "high", "max"]
    assert models == {
        "claude-opus-4-8": (1_000_000, 128_000, ["adaptive", "disabled"], all_levels, True),
        "claude-opus-4-7": (1_000_000, 128_000, ["adaptive", "disabled"], all_levels, True),
        "claude-sonnet-4-6": (
            1_000_000,
            128_000,
            ["adaptive", "enabled", "disabled"],
            no_xhigh,
            True,
        ),
        "claude-opus-4-6": (
            1_000_000,
            128_000,
            ["adaptive", "enabled", "disabled"],
            no_xhigh,
            True,
        ),
        "claude-haiku-4-5": (200_000, 64_000, ["enabled", "disabled"], [], True),
        "claude-sonnet-4-5": (200_000, 64_000, ["enabled", "disabled"], [], True),
        "claude-opus-4-5": (
            200_000,
            64_000,
            ["enabled", "disabled"],
            ["low", "medium", "high"],
            True,
        ),
    }
    assert summary(one) == models["claude-opus-4-5"]
    assert one.line == "opus"


@pytest.mark.asyncio
async def test_an_unknown_model_is_a_404_naming_it(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as created:
        await client.messages.create(model="claude-nope", max_tokens=10, messages=HI)
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.count_tokens(model="claude-nope", messages=HI)

    assert created.value.type == "not_found_error"
    assert created.value.api_message == "model: claude-nope"


# --- validation -------------------------------------------------------------------------------


def breakpoints(n: int) -> list[dict[str, Any]]:
    marked = {"type": "ephemeral"}
    return [{"type": "text", "text": f"part {i}", "cache_control": marked} for i in range(n)]


REJECTED: dict[str, tuple[dict[str, Any], dict[str, str] | None, str]] = {
    "prefill on a model without prefill": (
        body("claude-opus-4-8", messages=PREFILL),
        None,
        "This model does not support assistant message prefill. "
        "The conversation must end with a user message.",
    ),
    "sampling on a model that rejects it": (
        body("claude-opus-4-7", temperature=0.5),
        OLD_API,
        "temperature: `temperature` is not supported for claude-opus-4-7",
    ),
    "temperature with top_p": (
        body("claude-opus-4-6", temperature=0.5, top_p=0.9),
        OLD_API,
        "`temperature` and `top_p` cannot both be specified for this model.",
    ),
    "temperature with thinking": (
        body(temperature=0.5, thinking=THINK),
        OLD_API,
        "`temperature` may only be set to 1 when thinking is enabled.",
    ),
    "top_k with thinking": (
        body(top_k=5, thinking=THINK),
        OLD_API,
        "`top_k` is not compatible with thinking.",
    ),
    "adaptive thinking on a budget-only model": (
        body(thinking={"type": "adaptive"}),
        None,
        "thinking.type.adaptive is not supported for this model.",
    ),
    "budget thinking on an adaptive-only model": (
        body("claude-opus-4-8", thinking=THINK),
        None,
        "thinking.type.enabled is not supported for this model.",
    ),
    "between_tools thinking": (
        body(thinking={"type": "between_tools"}),
        None,
        "thinking.type.between_tools is not supported",
    ),
    "thinking budget below 1024": (
        body(thinking={"type": "enabled", "budget_tokens": 1000}),
        None,
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    ),
    "thinking budget not below max_tokens": (
        body(max_tokens=2000, thinking=THINK),
        None,
        "`max_tokens` must be greater than `thinking.budget_tokens`",
    ),
    "prefill with thinking": (
        body(messages=PREFILL, thinking=THINK),
        None,
        "prefill cannot be used with thinking",
    ),
    "effort on a model without effort": (
        body(output_config={"effort": "low"}),
        None,
        "output_config.effort: claude-haiku-4-5 does not support the effort parameter",
    ),
    "an effort level the model lacks": (
        body("claude-opus-4-6", output_config={"effort": "xhigh"}),
        None,
        "output_config.effort: 'xhigh' is not supported for claude-opus-4-6",
    ),
    "max_tokens above the model's output": (
        body("claude-opus-4-8", max_tokens=200_000),
        None,
        "max_tokens: 200000 > 128000, which is the maximum allowed number of output tokens "
        "for claude-opus-4-8",
    ),
    "five cache breakpoints, one automatic": (
        body(
            messages=[{"role": "user", "content": breakpoints(4)}],
            cache_control={"type": "ephemeral"},
        ),
        None,
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    "an unknown cache ttl": (
        body(
            system=[
                {"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "10m"}}
            ]
        ),
        None,
        "system.0.cache_control.ttl: Input should be '5m' or '1h'",
    ),
    "a 1h breakpoint after a 5m one": (
        body(
            system=[{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
            cache_control={"type": "ephemeral", "ttl": "1h"},
        ),
        None,
        "A ttl='1h' cache_control block must not come after a ttl='5m' cache_control block.",
    ),
    "a prompt longer than the window": (
        body(messages=user("x" * 700_000)),
        None,
        "prompt is too long: 200003 tokens > 200000 maximum",
    ),
    "a prompt longer than the pretend window": (
        body(messages=user("twelve chars [sim:window=5]")),
        None,
        "prompt is too long: 11 tokens > 5 maximum",
    ),
    "a thinking block in a user turn": (
        body(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "thinking", "thinking": "t", "signature": "s"}],
                }
            ]
        ),
        None,
        "thinking blocks may only appear in assistant messages",
    ),
}


@pytest.mark.asyncio
@pytest.mark.parametrize(("request_body", "headers", "message"), REJECTED.values(), ids=REJECTED)
async def test_a_request_breaking_a_model_rule_is_a_400_saying_which(
    client: anthropic.AsyncAnthropic,
    request_body: dict[str, Any],
    headers: dict[str, str] | None,
    message: str,
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await post(client, request_body, headers)

    assert message in str(caught.value.api_message)
    assert caught.value.type == "invalid_request_error"


ACCEPTED: dict[str, tuple[dict[str, Any], dict[str, str] | None]] = {
    "prefill on a model with prefill": (body(messages=PREFILL), None),
    "temperature alone on an older model": (body("claude-opus-4-6", temperature=0.3), OLD_API),
    "top_p alone": (body("claude-sonnet-4-6", top_p=0.9), OLD_API),
    "temperature 1 with thinking": (body(temperature=1, thinking=THINK), OLD_API),
    "budget thinking on opus 4.6": (body("claude-opus-4-6", thinking=THINK), None),
    "adaptive thinking with max effort": (
        body("claude-opus-4-8", thinking={"type": "adaptive"}, output_config={"effort": "max"}),
        None,
    ),
    "high effort on opus 4.5": (body("claude-opus-4-5", output_config={"effort": "high"}), None),
    "thinking disabled on any model": (
        body("claude-opus-4-8", thinking={"type": "disabled"}),
        None,
    ),
    "max_tokens at the model's maximum": (body("claude-opus-4-8", max_tokens=128_000), None),
    "four breakpoints, one automatic": (
        body(
            messages=[{"role": "user", "content": breakpoints(3)}],
            cache_control={"type": "ephemeral"},
        ),
        None,
    ),
    "a 5m breakpoint after a 1h one": (
        body(
            system=[
                {"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
            ],
            cache_control={"type": "ephemeral", "ttl": "5m"},
        ),
        None,
    ),
    "any anthropic-beta header": (body(), {"anthropic-beta": "files-api-2025-04-14,whatever"}),
}


@pytest.mark.asyncio
@pytest.mark.parametrize(("request_body", "headers"), ACCEPTED.values(), ids=ACCEPTED)
async def test_a_request_within_the_model_rules_is_answered(
    client: anthropic.AsyncAnthropic, request_body: dict[str, Any], headers: dict[str, str] | None
) -> None:
    message = await post(client, request_body, headers)

    assert message.stop_reason == "end_turn"


@pytest.mark.asyncio
async def test_prefill_is_rejected_on_models_that_do_not_accept_it(
    client: anthropic.AsyncAnthropic,
) -> None:
    for model in ("claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-sonnet-4-6"):
        with pytest.raises(anthropic.BadRequestError, match="does not support assistant message"):
            await client.messages.create(model=model, max_tokens=10, messages=PREFILL)
    for model in ("claude-opus-4-5", "claude-haiku-4-5"):
        message = await client.messages.create(model=model, max_tokens=10, messages=PREFILL)
        assert message.stop_reason == "max_tokens"


@pytest.mark.asyncio
async def test_count_tokens_applies_the_prompt_rules_but_not_max_tokens(
    client: anthropic.AsyncAnthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError, match="does not support assistant message"):
        await client.messages.count_tokens(model="claude-opus-4-8", messages=PREFILL)
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long: 11 tokens > 5"):
        await client.messages.count_tokens(
            model=MODEL, messages=user("twelve chars [sim:window=5]")
        )

    # A budget is checked against max_tokens only where there is one.
    counted = await client.messages.count_tokens(
        model=MODEL, messages=HI, thinking={"type": "enabled", "budget_tokens": 50_000}
    )
    assert counted.input_tokens == 4


@pytest.mark.asyncio
async def test_a_body_over_32_mb_is_a_413(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        await client.post("/v1/messages", cast_to=Message, content=b" " * 32_000_001)

    assert caught.value.status_code == 413
    error = caught.value.body
    assert isinstance(error, dict)  # the SDK's error-type literal has no request_too_large
    assert error["error"]["type"] == "request_too_large"


# --- token counts -----------------------------------------------------------------------------


def tokens(text: str) -> int:
    return math.ceil(len(text) / 3.5)


@pytest.mark.asyncio
async def test_count_tokens_is_the_sum_of_its_blocks_and_of_the_usage_figures(
    client: anthropic.AsyncAnthropic,
) -> None:
    system: list[TextBlockParam] = [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Be kind."},
    ]
    messages: list[Any] = [
        {"role": "user", "content": [image_block(60, 30), {"type": "text", "text": "Describe"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "a long thought " * 50, "signature": "sig"},
                {"type": "text", "text": "A teal square."},
            ],
        },
        {"role": "user", "content": "Which shade?"},
    ]
    counted = await client.messages.count_tokens(model=MODEL, system=system, messages=messages)
    message = await client.messages.create(
        model=MODEL, max_tokens=100, system=system, messages=messages
    )

    image = math.ceil(60 / 28) * math.ceil(30 / 28)
    expected = (
        tokens("You are terse.")
        + tokens("Be kind.")  # no turn overhead for the system
        + image
        + tokens("Describe")
        + 3
        + 0
        + tokens("A teal square.")
        + 3  # a thinking block sent back costs nothing
        + tokens("Which shade?")
        + 3
    )
    assert counted.input_tokens == expected
    assert input_total(message) == expected
    assert f"1 images and about {expected} input tokens" in text_of(message)


@pytest.mark.asyncio
async def test_a_string_and_a_single_text_block_count_the_same(
    client: anthropic.AsyncAnthropic,
) -> None:
    as_string = await client.messages.count_tokens(model=MODEL, system="Rules.", messages=HI)
    as_blocks = await client.messages.count_tokens(
        model=MODEL,
        system=[{"type": "text", "text": "Rules."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    )

    assert as_string.input_tokens == as_blocks.input_tokens == tokens("Rules.") + tokens("hi") + 3


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("count", "width", "accepted"),
    [(100, 30, True), (101, 30, False), (20, 2100, True), (21, 2100, False), (21, 2000, True)],
)
async def test_requests_hold_at_most_100_images_and_beyond_20_none_above_2000_px(
    client: anthropic.AsyncAnthropic, count: int, width: int, accepted: bool
) -> None:
    block = image_block(width, 10)  # one encode, shared: the limits count blocks, not files
    messages: list[Any] = [
        {"role": "user", "content": [block] * count + [{"type": "text", "text": "Which?"}]}
    ]
    if accepted:
        await client.messages.create(model=MODEL, max_tokens=50, messages=messages)
        return
    with pytest.raises(anthropic.BadRequestError, match=r"images|2000"):
        await client.messages.create(model=MODEL, max_tokens=50, messages=messages)
