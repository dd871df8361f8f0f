"""The request rules the API enforces, per model: answered with its status and error body.

`check_request` covers what /v1/messages and count_tokens share; `check_generation` the
fields only /v1/messages takes. Both raise `ApiError`, so the first broken rule is the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conversations.llm.simulator.files import FileStore
from conversations.llm.simulator.models import (
    EFFORT_LEVELS,
    THINKING_TYPES,
    ModelRules,
    find_model,
)
from conversations.llm.simulator.prompt import WEIGHTLESS, Prompt, cache_ttl, read_prompt
from conversations.llm.simulator.wire import invalid

# The newer API version dropped the sampling parameters altogether.
STRICT_VERSION = "2026-10-21"
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
MAX_BREAKPOINTS = 4
MIN_THINKING_BUDGET = 1024
THINKING_DISPLAYS = ("summarized", "omitted")
NO_PREFILL = (
    "This model does not support assistant message prefill. "
    "The conversation must end with a user message."
)
TTL_ORDER = (
    "A ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. "
    "Note that blocks are processed in the following order: `tools`, `system`, `messages`."
)


@dataclass(frozen=True)
class Thinking:
    type: str  # "enabled" or "adaptive"; a disabled thinking is no Thinking at all
    budget_tokens: int | None
    shown: bool  # False for display="omitted": the signature comes, the text does not


@dataclass(frozen=True)
class Breakpoint:
    index: int  # of the block in Prompt.blocks whose prefix it caches
    ttl: str


@dataclass(frozen=True)
class Checked:
    """A request whose prompt passed every rule."""

    model: ModelRules
    prompt: Prompt
    thinking: Thinking | None
    breakpoints: tuple[Breakpoint, ...]


@dataclass(frozen=True)
class Generation:
    max_tokens: int
    stop_sequences: tuple[str, ...]
    stream: bool


def check_request(req: dict[str, Any], version: str, files: FileStore) -> Checked:
    """Validate and measure what /v1/messages and count_tokens share, but the window."""
    if "model" not in req:
        raise invalid("model: Field required")
    if not isinstance(req["model"], str):
        raise invalid("model: Input should be a valid string")
    model = find_model(req["model"])
    prompt = read_prompt(req, files)
    thinking = _thinking(req, model)
    _sampling(req, version, model, thinking)
    _effort(req, model)
    if prompt.prefill and not model.prefill:
        raise invalid(NO_PREFILL)
    if prompt.prefill and thinking:
        raise invalid(
            "messages: an assistant message prefill cannot be used with thinking; "
            "the conversation must end with a user message"
        )
    return Checked(model, prompt, thinking, _breakpoints(req, prompt))


def check_window(checked: Checked, window: int | None) -> int:
    """The context window (`window` stands in for the model's: [sim:window=N]) the prompt
    must fit in; checked separately because the directive is read from the checked prompt."""
    limit = window or checked.model.context_window
    tokens = checked.prompt.tokens
    if tokens > limit:
        raise invalid(f"prompt is too long: {tokens} tokens > {limit} maximum")
    return limit


def check_generation(req: dict[str, Any], checked: Checked) -> Generation:
    """Validate the fields only /v1/messages takes."""
    if "max_tokens" not in req:
        raise invalid("max_tokens: Field required")
    max_tokens = req["max_tokens"]
    if type(max_tokens) is not int:
        raise invalid("max_tokens: Input should be a valid integer")
    if max_tokens < 0:
        raise invalid("max_tokens: Input should be greater than or equal to 0")
    model = checked.model
    if max_tokens > model.max_output_tokens:
        raise invalid(
            f"max_tokens: {max_tokens} > {model.max_output_tokens}, which is the maximum "
            f"allowed number of output tokens for {model.id}"
        )
    budget = checked.thinking.budget_tokens if checked.thinking else None
    if budget is not None and budget >= max_tokens:
        raise invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    stops = req.get("stop_sequences")
    if stops is None:
        stops = []
    if not isinstance(stops, list):
        raise invalid("stop_sequences: Input should be a valid list")
    for j, stop in enumerate(stops):
        if not isinstance(stop, str) or not stop:
            raise invalid(f"stop_sequences.{j}: Input should be a non-empty string")
    stream = req.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("stream: Input should be a valid boolean")
    return Generation(max_tokens=max_tokens, stop_sequences=tuple(stops), stream=stream)


def _sampling(
    req: dict[str, Any], version: str, model: ModelRules, thinking: Thinking | None
) -> None:
    given = [name for name in SAMPLING_PARAMS if name in req]
    for name in given:
        if version == STRICT_VERSION:
            raise invalid(f"{name}: Extra inputs are not permitted")
        if not model.sampling:
            raise invalid(f"{name}: `{name}` is not supported for {model.id}")
        value = req[name]
        if name == "top_k":
            if type(value) is not int or value < 0:
                raise invalid("top_k: Input should be a non-negative integer")
        elif type(value) not in (int, float) or not 0 <= value <= 1:
            raise invalid(f"{name}: Input should be a number between 0 and 1")
    # Every model that still takes sampling parameters takes one of these two, not both.
    if "temperature" in given and "top_p" in given:
        raise invalid(
            "`temperature` and `top_p` cannot both be specified for this model. "
            "Please use only one."
        )
    if thinking is None:
        return
    if "temperature" in given and req["temperature"] != 1:
        raise invalid("`temperature` may only be set to 1 when thinking is enabled.")
    if "top_k" in given:
        raise invalid("`top_k` is not compatible with thinking.")
    if "top_p" in given and req["top_p"] < 0.95:
        raise invalid("`top_p` must be 0.95 or more when thinking is enabled.")


def _thinking(req: dict[str, Any], model: ModelRules) -> Thinking | None:
    config = req.get("thinking")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise invalid("thinking: Input should be a valid dictionary")
    kind = config.get("type")
    if kind not in THINKING_TYPES:
        expected = "', '".join(THINKING_TYPES)
        raise invalid(
            f"thinking: Input tag '{kind}' found using 'type' does not match any of the "
            f"expected tags: '{expected}'"
        )
    if kind == "disabled":
        return None
    if kind not in model.thinking_types:
        instead = " or ".join(f"thinking.type.{t}" for t in sorted(model.thinking_types))
        raise invalid(f"thinking.type.{kind} is not supported for this model. Use {instead}.")
    display = config.get("display")
    if display is not None and display not in THINKING_DISPLAYS:
        raise invalid(f"thinking.{kind}.display: Input should be 'summarized' or 'omitted'")
    budget: int | None = None
    if kind == "enabled":
        budget = config.get("budget_tokens")
        if budget is None:
            raise invalid("thinking.enabled.budget_tokens: Field required")
        if type(budget) is not int:
            raise invalid("thinking.enabled.budget_tokens: Input should be a valid integer")
        if budget < MIN_THINKING_BUDGET:
            raise invalid(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to "
                f"{MIN_THINKING_BUDGET}"
            )
    return Thinking(type=str(kind), budget_tokens=budget, shown=display != "omitted")


def _effort(req: dict[str, Any], model: ModelRules) -> None:
    config = req.get("output_config")
    if config is None:
        return
    if not isinstance(config, dict):
        raise invalid("output_config: Input should be a valid dictionary")
    effort = config.get("effort")
    if effort is None:
        return
    if effort not in EFFORT_LEVELS:
        raise invalid(
            "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'"
        )
    if not model.effort_levels:
        raise invalid(f"output_config.effort: {model.id} does not support the effort parameter")
    if effort not in model.effort_levels:
        allowed = ", ".join(level for level in EFFORT_LEVELS if level in model.effort_levels)
        raise invalid(
            f"output_config.effort: '{effort}' is not supported for {model.id}; use {allowed}"
        )


def _breakpoints(req: dict[str, Any], prompt: Prompt) -> tuple[Breakpoint, ...]:
    """The cache breakpoints in prefix order; a top-level cache_control marks the last block."""
    found = [
        Breakpoint(i, block.ttl) for i, block in enumerate(prompt.blocks) if block.ttl is not None
    ]
    slots = len(found)
    automatic = req.get("cache_control")
    if automatic is not None:
        slots += 1  # automatic caching takes one of the four slots, even on a marked block
        ttl = cache_ttl("cache_control", automatic)
        cacheable = [i for i, block in enumerate(prompt.blocks) if block.kind not in WEIGHTLESS]
        if cacheable:  # a lone turn of thinking blocks has nothing it could mark
            mark = Breakpoint(cacheable[-1], ttl)
            if found and found[-1].index == mark.index:
                found[-1] = mark  # the same block: the top-level TTL wins
            else:
                found.append(mark)
    if slots > MAX_BREAKPOINTS:
        raise invalid(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {slots}."
        )
    seen_short = False
    for breakpoint in found:
        if breakpoint.ttl == "1h" and seen_short:
            raise invalid(TTL_ORDER)
        seen_short = seen_short or breakpoint.ttl == "5m"
    return tuple(found)
