"""Prompt caching: exact read and creation figures, TTLs, look-back and minimums.

Expected figures come from the simulator's own count_tokens (prompt token counts add up
block by block), never from hard-coded numbers.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from anthropic.types import CacheControlEphemeralParam, Message, MessageParam, TextBlockParam

from conversations.llm.simulator import Simulator
from tests.llm.support import MODEL, input_total, make_client, text_of, user

# About 5,000 tokens: above the 4,096-token minimum of claude-haiku-4-5.
BIG = "Reference material for the whole conversation. " * 370
AUTO: CacheControlEphemeralParam = {"type": "ephemeral"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cached(message: Message) -> tuple[int, int, int, int]:
    """(uncached input, read, created for 5m, created for 1h)."""
    usage = message.usage
    assert usage.cache_creation is not None
    creation = usage.cache_creation
    assert usage.cache_creation_input_tokens == (
        creation.ephemeral_5m_input_tokens + creation.ephemeral_1h_input_tokens
    )
    return (
        usage.input_tokens,
        usage.cache_read_input_tokens or 0,
        creation.ephemeral_5m_input_tokens,
        creation.ephemeral_1h_input_tokens,
    )


async def count(client: anthropic.AsyncAnthropic, **kwargs: Any) -> int:
    kwargs.setdefault("model", MODEL)
    return (await client.messages.count_tokens(**kwargs)).input_tokens


async def ask(client: anthropic.AsyncAnthropic, **kwargs: Any) -> Message:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("max_tokens", 50)
    message: Message = await client.messages.create(**kwargs)
    return message


@pytest.mark.asyncio
async def test_growing_conversation_reads_the_last_prefix_and_writes_only_the_new_turns(
    sim: Simulator, client: anthropic.AsyncAnthropic
) -> None:
    system: list[TextBlockParam] = [
        {"type": "text", "text": BIG, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    turns: list[MessageParam] = user("First question")
    first = await ask(client, system=system, messages=turns, cache_control=AUTO)
    system_tokens = await count(client, system=system, messages=turns) - await count(
        client, messages=turns
    )
    prefixes = [await count(client, system=system, messages=turns)]
    figures = [cached(first)]
    reply = first
    for question in ("Second question", "Third question"):
        turns = [*turns, {"role": "assistant", "content": text_of(reply)}, *user(question)]
        reply = await ask(client, system=system, messages=turns, cache_control=AUTO)
        prefixes.append(await count(client, system=system, messages=turns))
        figures.append(cached(reply))
        assert input_total(reply) == prefixes[-1]

    one, two, three = prefixes
    # The system block is written at 1h, the rest of the first prompt at 5m.
    assert figures[0] == (0, 0, one - system_tokens, system_tokens)
    # Later requests read everything up to the previous user turn (found by look-back from
    # the automatic breakpoint) and write only what is new.
    assert figures[1] == (0, one, two - one, 0)
    assert figures[2] == (0, two, three - two, 0)
    assert [entry.tokens for entry in sim.cache_entries()] == [system_tokens, one, two, three]
    assert [entry.ttl for entry in sim.cache_entries()] == ["1h", "5m", "5m", "5m"]


@pytest.mark.asyncio
async def test_tokens_after_the_last_breakpoint_are_plain_input(
    client: anthropic.AsyncAnthropic,
) -> None:
    system: list[TextBlockParam] = [{"type": "text", "text": BIG, "cache_control": AUTO}]
    messages = user("Not cached")
    message = await ask(client, system=system, messages=messages)
    total = await count(client, system=system, messages=messages)
    after = await count(client, messages=messages)

    assert cached(message) == (after, 0, total - after, 0)


@pytest.mark.asyncio
async def test_an_entry_expires_after_its_ttl_and_a_hit_renews_it() -> None:
    clock = Clock()
    sim = Simulator(clock=clock)
    async with make_client(sim) as client:
        messages = user(BIG)
        total = await count(client, messages=messages)

        async def figures() -> tuple[int, int, int, int]:
            return cached(await ask(client, messages=messages, cache_control=AUTO))

        assert await figures() == (0, 0, total, 0)
        clock.now += 299
        assert await figures() == (0, total, 0, 0)  # a read renews the five minutes
        clock.now += 299
        assert await figures() == (0, total, 0, 0)  # 598 s after the write, 299 after the read
        clock.now += 300
        assert await figures() == (0, 0, total, 0)  # expired: written again
        clock.now += 299
        assert await figures() == (0, total, 0, 0)


@pytest.mark.asyncio
async def test_a_one_hour_entry_outlives_five_minutes() -> None:
    clock = Clock()
    sim = Simulator(clock=clock)
    async with make_client(sim) as client:
        messages = user(BIG)
        hour: CacheControlEphemeralParam = {"type": "ephemeral", "ttl": "1h"}
        await ask(client, messages=messages, cache_control=hour)
        clock.now += 3000
        later = await ask(client, messages=messages, cache_control=hour)
        clock.now += 3601
        expired = await ask(client, messages=messages, cache_control=hour)

    total = later.usage.cache_read_input_tokens
    assert total
    assert cached(expired) == (0, 0, 0, total)


def blocks(n: int, *, mark: int) -> list[MessageParam]:
    """One user turn: BIG (a cached entry of its own), then n notes; `mark` is cached."""
    content: list[Any] = [{"type": "text", "text": BIG}]
    content += [{"type": "text", "text": f"note {i}"} for i in range(1, n + 1)]
    content[mark]["cache_control"] = {"type": "ephemeral"}
    return [{"role": "user", "content": content}]


@pytest.mark.asyncio
async def test_a_breakpoint_looks_back_at_most_20_blocks(
    client: anthropic.AsyncAnthropic,
) -> None:
    big = await count(client, messages=blocks(0, mark=0))
    await ask(client, messages=blocks(0, mark=0))  # an entry for block 0

    too_far = await ask(client, messages=blocks(21, mark=21))  # block 21 sees blocks 1..21
    in_reach = await ask(client, messages=blocks(20, mark=20))  # block 20 sees blocks 0..20

    too_far_total = await count(client, messages=blocks(21, mark=21))
    in_reach_total = await count(client, messages=blocks(20, mark=20))
    assert cached(too_far) == (0, 0, too_far_total, 0)
    assert cached(in_reach) == (0, big, in_reach_total - big, 0)


@pytest.mark.asyncio
async def test_a_prefix_below_the_model_minimum_is_silently_not_cached(
    sim: Simulator, client: anthropic.AsyncAnthropic
) -> None:
    # About 2,000 tokens: below claude-haiku-4-5's 4,096, above claude-sonnet-4-5's 1,024.
    messages = user("Medium sized material. " * 300)
    total = await count(client, messages=messages)
    for _ in range(2):
        message = await ask(client, messages=messages, cache_control=AUTO)
        assert cached(message) == (total, 0, 0, 0)
    assert sim.cache_entries() == []

    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": messages}
    sonnet = await client.post(
        "/v1/messages", cast_to=Message, body={**body, "cache_control": AUTO}
    )  # raw post: messages.create warns that claude-sonnet-4-5 is deprecated
    assert cached(sonnet) == (0, 0, total, 0)


@pytest.mark.asyncio
async def test_another_model_or_an_edited_prefix_misses(
    client: anthropic.AsyncAnthropic,
) -> None:
    system: list[TextBlockParam] = [{"type": "text", "text": BIG, "cache_control": AUTO}]
    messages = user("hello")
    await ask(client, system=system, messages=messages)
    total = await count(client, system=system, messages=messages)
    after = await count(client, messages=messages)
    other_model = await ask(client, model="claude-opus-4-5", system=system, messages=messages)
    edited: list[TextBlockParam] = [{**system[0], "text": BIG + "!"}]
    edited_prefix = await ask(client, system=edited, messages=messages)

    assert cached(other_model) == (after, 0, total - after, 0)
    assert cached(edited_prefix)[1] == 0


@pytest.mark.asyncio
async def test_a_failed_request_does_not_touch_the_cache(
    sim: Simulator, client: anthropic.AsyncAnthropic
) -> None:
    with pytest.raises(anthropic.InternalServerError):
        await ask(client, messages=user(BIG + " [sim:error=api]"), cache_control=AUTO)
    with pytest.raises(anthropic.BadRequestError):
        await ask(client, max_tokens=-1, messages=user(BIG), cache_control=AUTO)

    assert sim.cache_entries() == []


@pytest.mark.asyncio
async def test_five_breakpoints_are_rejected_before_anything_is_cached(
    sim: Simulator, client: anthropic.AsyncAnthropic
) -> None:
    system: list[Any] = [
        {"type": "text", "text": f"{BIG} {i}", "cache_control": AUTO} for i in range(4)
    ]
    with pytest.raises(anthropic.BadRequestError, match="Found 5"):
        await ask(client, system=system, messages=user("hi"), cache_control=AUTO)
    assert sim.cache_entries() == []

    four = await ask(client, system=system, messages=user("hi"))
    system_tokens = await count(client, system=system, messages=user("hi")) - await count(
        client, messages=user("hi")
    )
    assert four.usage.cache_creation_input_tokens == system_tokens
    assert len(sim.cache_entries()) == 4
