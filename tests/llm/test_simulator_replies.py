"""Thinking, continuations, stop reasons and the newer fault directives, through the SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import ThinkingConfigEnabledParam

from conversations.llm.simulator import Simulator, simulator_transport
from tests.llm.support import BASE_URL, MODEL, make_client, stream_text, text_of, user

ENABLED: ThinkingConfigEnabledParam = {"type": "enabled", "budget_tokens": 2000}
QUESTION = user("How do clouds form?")


# --- thinking ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_thinking_stream_has_a_thinking_block_then_the_text(
    sim: Simulator, client: anthropic.AsyncAnthropic
) -> None:
    parts, message = await stream_text(client, max_tokens=4000, thinking=ENABLED, messages=QUESTION)

    assert [block.type for block in message.content] == ["thinking", "text"]
    thinking = message.content[0]
    assert thinking.type == "thinking"
    assert "How do clouds form?" in thinking.thinking
    assert thinking.signature
    assert "".join(parts) == text_of(message)  # the text stream carries no thinking
    assert text_of(message).startswith("Offline simulator reply.")
    details = message.usage.output_tokens_details
    assert details is not None
    thinking_tokens = len(thinking.thinking.split())
    assert details.thinking_tokens == thinking_tokens
    assert message.usage.output_tokens == thinking_tokens + len(parts)
    assert sim.completed_streams == 1


@pytest.mark.asyncio
async def test_thinking_events_come_in_order_on_the_wire(sim: Simulator) -> None:
    headers = {"x-api-key": "k", "anthropic-version": "2026-10-21"}
    body = {
        "model": "claude-opus-4-8",
        "max_tokens": 100,
        "stream": True,
        "thinking": {"type": "adaptive"},
        "messages": QUESTION,
    }
    async with (
        httpx2.AsyncClient(transport=simulator_transport(sim), base_url=BASE_URL) as http,
        http.stream("POST", "/v1/messages", headers=headers, json=body) as response,
    ):
        raw = (await response.aread()).decode()

    kinds = []
    for line in raw.splitlines():
        if not line.startswith("data: "):
            continue
        event = json.loads(line.removeprefix("data: "))
        detail = event.get("delta", event.get("content_block", {})).get("type")
        kinds.append((event["type"], event.get("index"), detail))
    assert kinds[1] == ("content_block_start", 0, "thinking")
    assert ("content_block_delta", 0, "thinking_delta") in kinds
    signature = kinds.index(("content_block_delta", 0, "signature_delta"))
    assert kinds[signature + 1] == ("content_block_stop", 0, None)
    assert kinds[signature + 2] == ("content_block_start", 1, "text")
    assert kinds[-2][0] == "message_delta"


@pytest.mark.asyncio
async def test_a_non_streaming_answer_with_adaptive_thinking_has_both_blocks(
    client: anthropic.AsyncAnthropic,
) -> None:
    message = await client.messages.create(
        model="claude-opus-4-8", max_tokens=1000, thinking={"type": "adaptive"}, messages=QUESTION
    )

    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.stop_reason == "end_turn"


@pytest.mark.asyncio
async def test_max_tokens_counts_thinking_and_text_together(
    client: anthropic.AsyncAnthropic,
) -> None:
    message = await client.messages.create(
        model="claude-opus-4-8", max_tokens=5, thinking={"type": "adaptive"}, messages=QUESTION
    )

    assert [block.type for block in message.content] == ["thinking"]
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 5


@pytest.mark.asyncio
async def test_thinking_blocks_sent_back_are_accepted(client: anthropic.AsyncAnthropic) -> None:
    first = await client.messages.create(
        model=MODEL, max_tokens=4000, thinking=ENABLED, messages=QUESTION
    )
    # Sent back as received, thinking block (and its signature) included.
    history: list[Any] = [
        *QUESTION,
        {"role": "assistant", "content": [block.to_dict() for block in first.content]},
        *user("And rain?"),
    ]
    second = await client.messages.create(
        model=MODEL, max_tokens=4000, thinking=ENABLED, messages=history
    )

    assert "You said: “And rain?”" in text_of(second)


# --- continuations ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_prefill_that_starts_the_reply_is_continued_to_the_full_reply(
    client: anthropic.AsyncAnthropic,
) -> None:
    full = text_of(await client.messages.create(model=MODEL, max_tokens=1000, messages=QUESTION))
    prefill = full[:40].rstrip()
    parts, message = await stream_text(
        client, messages=[*QUESTION, {"role": "assistant", "content": prefill}]
    )

    assert prefill + text_of(message) == full
    assert prefill + "".join(parts) == full


@pytest.mark.asyncio
async def test_a_cut_off_reply_is_continued_when_the_person_asks_to_continue(
    client: anthropic.AsyncAnthropic,
) -> None:
    question = user("Tell me a story [sim:words=40]")
    full = text_of(await client.messages.create(model=MODEL, max_tokens=1000, messages=question))
    cut = await client.messages.create(model=MODEL, max_tokens=15, messages=question)
    rest = await client.messages.create(
        model=MODEL,
        max_tokens=1000,
        messages=[*question, {"role": "assistant", "content": text_of(cut)}, *user("Continue")],
    )
    other = await client.messages.create(
        model=MODEL,
        max_tokens=1000,
        messages=[*question, {"role": "assistant", "content": text_of(cut)}, *user("Why?")],
    )

    assert cut.stop_reason == "max_tokens"
    assert text_of(cut) + text_of(rest) == full
    assert "You said: “Why?”" in text_of(other)  # another question gets its own answer
    assert rest.stop_reason == "end_turn"


@pytest.mark.asyncio
async def test_a_complete_reply_is_not_continued(client: anthropic.AsyncAnthropic) -> None:
    full = text_of(await client.messages.create(model=MODEL, max_tokens=1000, messages=QUESTION))
    next_turn = await client.messages.create(
        model=MODEL,
        max_tokens=1000,
        messages=[*QUESTION, {"role": "assistant", "content": full}, *user("thanks")],
    )

    assert "You said: “thanks”" in text_of(next_turn)


# --- stop reasons -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_generation_stops_at_the_context_window(client: anthropic.AsyncAnthropic) -> None:
    text = "a short prompt [sim:window=20]"
    prompt = (await client.messages.count_tokens(model=MODEL, messages=user(text))).input_tokens
    message = await client.messages.create(model=MODEL, max_tokens=1000, messages=user(text))

    assert message.stop_reason == "model_context_window_exceeded"
    assert message.usage.output_tokens == 20 - prompt


@pytest.mark.asyncio
@pytest.mark.parametrize("reason", ["refusal", "pause_turn"])
async def test_stop_directive_ends_the_reply_early_with_that_reason(
    client: anthropic.AsyncAnthropic, reason: str
) -> None:
    full = await client.messages.create(model=MODEL, max_tokens=1000, messages=QUESTION)
    asked = user(f"How do clouds form? [sim:stop={reason}]")
    parts, streamed = await stream_text(client, messages=asked)
    created = await client.messages.create(model=MODEL, max_tokens=1000, messages=asked)

    for message in (streamed, created):
        assert message.stop_reason == reason
        assert 0 < message.usage.output_tokens < full.usage.output_tokens
    assert "".join(parts) == text_of(created)
    if reason == "refusal":
        assert created.stop_details is not None
        assert created.stop_details.type == "refusal"


# --- fault directives -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sdk_retries_succeed_after_error_times(sim: Simulator) -> None:
    async with make_client(sim, max_retries=2) as client:
        started = time.monotonic()
        message = await client.messages.create(
            model=MODEL, max_tokens=10, messages=user("[sim:error=overloaded] [sim:error_times=2]")
        )
        elapsed = time.monotonic() - started
    async with make_client(sim, max_retries=1) as client:
        with pytest.raises(anthropic.OverloadedError):
            await client.messages.create(
                model=MODEL,
                max_tokens=10,
                messages=user("[sim:error=overloaded] [sim:error_times=2] again"),
            )

    assert message.stop_reason == "max_tokens"
    assert len(sim.requests) == 3 + 2
    assert elapsed < 0.6  # retry-after-ms keeps the SDK from its own back-off (over a second)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kind", "status"), [("rate_limit", 429), ("overloaded", 529), ("api", 500)]
)
async def test_retryable_faults_carry_retry_after(
    client: anthropic.AsyncAnthropic, kind: str, status: int
) -> None:
    with pytest.raises(anthropic.APIStatusError) as default:
        await client.messages.create(
            model=MODEL, max_tokens=10, messages=user(f"[sim:error={kind}]")
        )
    with pytest.raises(anthropic.APIStatusError) as given:
        await client.messages.create(
            model=MODEL, max_tokens=10, messages=user(f"[sim:error={kind}] [sim:retry_after=2]")
        )

    assert default.value.status_code == status
    assert default.value.response.headers["retry-after"] == "0"
    assert given.value.response.headers["retry-after"] == "2"
    assert given.value.response.headers["retry-after-ms"] == "2000"


@pytest.mark.asyncio
async def test_first_delay_slows_only_the_first_token(client: anthropic.AsyncAnthropic) -> None:
    started = time.monotonic()
    arrivals: list[float] = []
    async with client.messages.stream(
        model=MODEL, max_tokens=100, messages=user("[sim:words=5] [sim:first_delay=0.2]")
    ) as stream:
        headers_at = time.monotonic() - started
        async for _ in stream.text_stream:
            arrivals.append(time.monotonic() - started)

    assert arrivals[0] - headers_at >= 0.18
    assert arrivals[-1] - arrivals[0] < 0.1


@pytest.mark.asyncio
async def test_a_bad_new_directive_value_is_rejected(client: anthropic.AsyncAnthropic) -> None:
    for text in (
        "[sim:stop=maybe]",
        "[sim:window=0]",
        "[sim:error_times=x]",
        "[sim:first_delay=99]",
    ):
        with pytest.raises(anthropic.BadRequestError, match=r"\[sim:"):
            await client.messages.create(model=MODEL, max_tokens=10, messages=user(text))


# --- echo ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_echo_streams_the_last_user_text_verbatim_without_directives(
    client: anthropic.AsyncAnthropic,
) -> None:
    said = (
        "[sim:echo=1]# Title\n\n- one\n-  two\n\n```python\nprint( 1 )\n```\n"
        "  indented [sim:delay=0]  <scr ipt>\ttab\n\n\n"
    )
    expected = (
        "# Title\n\n- one\n-  two\n\n```python\nprint( 1 )\n```\n  indented   <scr ipt>\ttab\n\n\n"
    )

    parts, message = await stream_text(client, messages=user(said))

    assert "".join(parts) == expected
    assert text_of(message) == expected
    assert len(parts) > 5  # token by token, like any reply
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == len(parts)


@pytest.mark.asyncio
async def test_echo_answers_the_last_user_turn_and_wins_over_words(
    client: anthropic.AsyncAnthropic,
) -> None:
    messages = [
        *user("first question"),
        {"role": "assistant", "content": "an answer"},
        *user("[sim:words=50][sim:echo=1]**only this**"),
    ]

    message = await client.messages.create(model=MODEL, max_tokens=100, messages=messages)

    assert text_of(message) == "**only this**"


@pytest.mark.asyncio
async def test_echo_is_cut_by_max_tokens_like_any_reply(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model=MODEL, max_tokens=3, messages=user("[sim:echo=1] one two three four five")
    )

    assert text_of(message) == " one two three"
    assert message.stop_reason == "max_tokens"


@pytest.mark.asyncio
async def test_echo_takes_only_one_or_zero(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match=r"\[sim:echo=yes\]"):
        await client.messages.create(model=MODEL, max_tokens=10, messages=user("[sim:echo=yes] x"))
    message = await client.messages.create(
        model=MODEL, max_tokens=100, messages=user("[sim:echo=0] x")
    )
    assert text_of(message).startswith("Offline simulator reply.")
