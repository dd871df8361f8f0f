"""The offline Messages API simulator, exercised through the real `anthropic` SDK (no mocks).

In process through `simulator_transport`, and over loopback through `simulator_asgi_app`
served by uvicorn, so both adapters and the wire format are checked the way the app uses them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anthropic
import httpx2
import pytest
import uvicorn
from anthropic.types import Message, MessageParam

from conversations.llm.simulator import Simulator, simulator_asgi_app, simulator_transport
from tests.llm.support import (
    BASE_URL,
    MODEL,
    image_bytes,
    make_client,
    stream_text,
    text_of,
    user,
)

HI: list[MessageParam] = [{"role": "user", "content": "hi"}]
REPLY_RE = re.compile(
    r"^Offline simulator reply\. I received (?P<n>\d+) messages \((?P<u>\d+) from you\), "
    r"(?P<system>a system prompt|no system prompt), (?P<k>\d+) images and about "
    r"(?P<t>\d+) input tokens\. You said: “(?P<said>.*?)”\n\n"
)


def png_base64(width: int, height: int, image_format: str = "PNG") -> str:
    return base64.b64encode(image_bytes(width, height, image_format)).decode()


def image_block(data: str, media_type: str = "image/png") -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


async def wait_for(condition: Callable[[], bool], timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


# --- replies ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stream_arrives_in_deltas_that_join_to_the_final_message(
    sim: Simulator, client: anthropic.AsyncAnthropic
) -> None:
    parts, message = await stream_text(client, messages=HI)

    assert len(parts) > 10
    assert "".join(parts) == text_of(message)
    assert message.id.startswith("msg_sim_")
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.output_tokens == len(parts)
    assert message.usage.input_tokens == 4  # ceil(2 / 3.5) + 3 for the one turn
    assert message.usage.cache_read_input_tokens == 0
    assert sim.completed_streams == 1
    assert sim.aborted_streams == 0
    assert sim.requests == [
        {"model": MODEL, "max_tokens": 1000, "messages": HI, "stream": True},
    ]


@pytest.mark.asyncio
async def test_create_returns_the_same_deterministic_reply(
    client: anthropic.AsyncAnthropic,
) -> None:
    message = await client.messages.create(model=MODEL, max_tokens=1000, messages=HI)
    parts, streamed = await stream_text(client, messages=HI)

    assert text_of(message) == "".join(parts)
    assert message.id.startswith("msg_sim_")
    assert message.id != streamed.id
    assert message._request_id is not None
    assert message._request_id.startswith("req_")
    assert message.usage.output_tokens == len(parts)
    assert message.stop_reason == "end_turn"


@pytest.mark.asyncio
async def test_reply_shows_turns_system_images_and_tokens(
    client: anthropic.AsyncAnthropic,
) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {
            "role": "user",
            "content": [image_block(png_base64(56, 84)), {"type": "text", "text": "What is this?"}],
        },
    ]
    message = await client.messages.create(
        model=MODEL, max_tokens=1000, system="Be brief.", messages=messages
    )
    counted = await client.messages.count_tokens(model=MODEL, system="Be brief.", messages=messages)

    match = REPLY_RE.match(text_of(message))
    assert match is not None, text_of(message)
    texts = ("Be brief.", "Hello there", "Hi! How can I help?", "What is this?")
    text_tokens = sum(math.ceil(len(text) / 3.5) for text in texts)  # counted per block
    expected_tokens = text_tokens + 3 * 3 + 2 * 3  # text, role overhead, 56x84 image
    assert match.groupdict() == {
        "n": "3",
        "u": "2",
        "system": "a system prompt",
        "k": "1",
        "t": str(expected_tokens),
        "said": "What is this?",
    }
    assert message.usage.input_tokens == expected_tokens
    assert counted.input_tokens == expected_tokens
    # The Markdown sample follows, so a UI has formatting to render.
    assert "- **bold** list item" in text_of(message)
    assert '```python\nprint("hello from the simulator")\n```' in text_of(message)


@pytest.mark.asyncio
async def test_quote_is_whitespace_collapsed_and_cut(client: anthropic.AsyncAnthropic) -> None:
    long_text = "word\n\n  " * 100
    message = await client.messages.create(model=MODEL, max_tokens=1000, messages=user(long_text))

    match = REPLY_RE.match(text_of(message))
    assert match is not None
    assert match["system"] == "no system prompt"
    assert match["said"] == " ".join(long_text.split())[:200] + "…"


@pytest.mark.asyncio
async def test_max_tokens_cuts_the_reply(client: anthropic.AsyncAnthropic) -> None:
    parts, message = await stream_text(client, max_tokens=3, messages=HI)

    assert parts == ["Offline", " simulator", " reply."]
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3


@pytest.mark.asyncio
async def test_max_tokens_zero_gives_no_content(client: anthropic.AsyncAnthropic) -> None:
    created = await client.messages.create(model=MODEL, max_tokens=0, messages=HI)
    parts, streamed = await stream_text(client, max_tokens=0, messages=HI)

    for message in (created, streamed):
        assert message.content == []
        assert message.stop_reason == "max_tokens"
    assert parts == []


@pytest.mark.asyncio
async def test_stop_sequence_ends_the_text_before_it(client: anthropic.AsyncAnthropic) -> None:
    stops = ["images", "messages"]
    parts, streamed = await stream_text(client, stop_sequences=stops, messages=HI)
    created = await client.messages.create(
        model=MODEL, max_tokens=100, stop_sequences=stops, messages=HI
    )

    for message in (streamed, created):
        assert text_of(message) == "Offline simulator reply. I received 1 "
        assert message.stop_reason == "stop_sequence"
        assert message.stop_sequence == "messages"  # the earliest match, not the first listed
    assert "".join(parts) == "Offline simulator reply. I received 1 "


@pytest.mark.asyncio
async def test_prefill_is_continued_not_repeated(client: anthropic.AsyncAnthropic) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "Answer please"},
        {"role": "assistant", "content": "Sure:"},
    ]
    parts, message = await stream_text(client, messages=messages)

    assert parts[0] == " Offline"
    assert text_of(message).startswith(
        " Offline simulator reply. I received 2 messages (1 from you)"
    )
    assert "Sure:" not in text_of(message)
    assert "You said: “Answer please”" in text_of(message)


@pytest.mark.asyncio
async def test_accepted_shapes(sim: Simulator, client: anthropic.AsyncAnthropic) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},  # merged by the API
        {"role": "assistant", "content": ""},  # an empty final assistant turn is no prefill
    ]
    message = await client.messages.create(model=MODEL, max_tokens=100, messages=messages)
    old_api = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=HI,
        extra_headers={"anthropic-version": "2023-06-01"},
        extra_body={"temperature": 0.5},
    )

    assert text_of(message).startswith(
        "Offline simulator reply. I received 3 messages (2 from you)"
    )
    assert "You said: “two”" in text_of(message)
    assert old_api.stop_reason == "end_turn"
    assert sim.requests[-1]["temperature"] == 0.5


# --- validation -------------------------------------------------------------------------------


def body_with(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "messages": HI}
    for key, value in changes.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return body


PNG = png_base64(10, 10)
INVALID_BODIES = {
    "model missing": (body_with(model=None), "model: Field required"),
    "model not a string": (body_with(model=4), "model: Input should be a valid string"),
    "max_tokens missing": (body_with(max_tokens=None), "max_tokens: Field required"),
    "max_tokens a string": (
        body_with(max_tokens="9"),
        "max_tokens: Input should be a valid integer",
    ),
    "max_tokens negative": (body_with(max_tokens=-1), "max_tokens: Input should be greater than"),
    "messages missing": (body_with(messages=None), "messages: Field required"),
    "messages not a list": (body_with(messages="hi"), "messages: Input should be a valid list"),
    "messages empty": (body_with(messages=[]), "messages: at least one message is required"),
    "message not an object": (body_with(messages=["hi"]), "messages.0: Input should be a valid"),
    "bad role": (
        body_with(messages=[{"role": "system", "content": "hi"}]),
        "messages.0.role: Input should be 'user' or 'assistant'",
    ),
    "content a number": (
        body_with(messages=[{"role": "user", "content": 5}]),
        "messages.0.content: Input should be a valid string or list",
    ),
    "empty text block": (
        body_with(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]),
        "messages.0.content.0.text: text content blocks must be non-empty",
    ),
    "whitespace text block": (
        body_with(messages=[{"role": "user", "content": [{"type": "text", "text": " \n"}]}]),
        "messages.0.content.0.text: text content blocks must contain non-whitespace text",
    ),
    "empty string content": (
        body_with(messages=[{"role": "user", "content": ""}]),
        "messages.0: all messages must have non-empty content",
    ),
    "empty list content": (
        body_with(messages=[{"role": "user", "content": []}, {"role": "user", "content": "x"}]),
        "messages.0: all messages must have non-empty content",
    ),
    "prefill ends in whitespace": (
        body_with(messages=[*HI, {"role": "assistant", "content": "Sure "}]),
        "final assistant content cannot end with trailing whitespace",
    ),
    "stop_sequences not a list": (
        body_with(stop_sequences="STOP"),
        "stop_sequences: Input should be a valid list",
    ),
    "empty stop sequence": (body_with(stop_sequences=["ok", ""]), "stop_sequences.1: "),
    "temperature on 2026-10-21": (
        body_with(temperature=0.2),
        "temperature: Extra inputs are not permitted",
    ),
    "top_k on 2026-10-21": (body_with(top_k=5), "top_k: Extra inputs are not permitted"),
    "image media type": (
        body_with(messages=[{"role": "user", "content": [image_block(PNG, "image/bmp")]}]),
        "messages.0.content.0.source.media_type: Input should be",
    ),
    "image bad base64": (
        body_with(messages=[{"role": "user", "content": [image_block("not base64!")]}]),
        "messages.0.content.0.source.data: invalid base64 data",
    ),
    "image not an image": (
        body_with(messages=[{"role": "user", "content": [image_block("aGVsbG8=")]}]),
        "messages.0.content.0.source: Could not process image",
    ),
    "image wrong media type": (
        body_with(messages=[{"role": "user", "content": [image_block(PNG, "image/jpeg")]}]),
        "does not match the provided media type image/jpeg",
    ),
    "unknown block type": (
        body_with(
            messages=[
                {"role": "user", "content": [{"type": "tool_use", "id": "x", "name": "y"}]},
            ]
        ),
        "messages.0.content.0: Input tag 'tool_use' found using 'type' does not match",
    ),
    "not an object": ([1, 2], "Request body must be a JSON object"),
}


@pytest.mark.asyncio
@pytest.mark.parametrize(("body", "message"), INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
async def test_invalid_request_is_rejected_with_the_field(
    client: anthropic.AsyncAnthropic, body: Any, message: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.post("/v1/messages", cast_to=Message, body=body)

    error = caught.value
    assert message in str(error.api_message)
    assert error.status_code == 400
    assert error.type == "invalid_request_error"
    assert error.request_id is not None
    assert error.request_id.startswith("req_")
    assert isinstance(error.body, dict)
    assert error.body["request_id"] == error.request_id


@pytest.mark.asyncio
async def test_body_that_is_not_json(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="error parsing the body"):
        await client.post("/v1/messages", cast_to=Message, content=b"{oops")


@pytest.mark.asyncio
async def test_missing_credentials_are_rejected(client: anthropic.AsyncAnthropic) -> None:
    no_auth: dict[str, str | anthropic.Omit] = {
        "Authorization": anthropic.omit,
        "X-Api-Key": anthropic.omit,
    }
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await client.messages.create(model=MODEL, max_tokens=10, messages=HI, extra_headers=no_auth)
    assert caught.value.type == "authentication_error"

    api_key_only: dict[str, str | anthropic.Omit] = {
        "Authorization": anthropic.omit,
        "X-Api-Key": "sk-test",
    }
    message = await client.messages.create(
        model=MODEL, max_tokens=10, messages=HI, extra_headers=api_key_only
    )
    assert message.stop_reason == "max_tokens"


@pytest.mark.asyncio
@pytest.mark.parametrize("version", ["2024-01-01", anthropic.omit])
async def test_anthropic_version_is_required(
    client: anthropic.AsyncAnthropic, version: Any
) -> None:
    with pytest.raises(anthropic.BadRequestError, match="anthropic-version"):
        await client.messages.create(
            model=MODEL, max_tokens=10, messages=HI, extra_headers={"anthropic-version": version}
        )


# --- fault directives -------------------------------------------------------------------------


FAULTS = {
    "overloaded": (anthropic.OverloadedError, 529, "overloaded_error"),
    "rate_limit": (anthropic.RateLimitError, 429, "rate_limit_error"),
    "api": (anthropic.InternalServerError, 500, "api_error"),
    "auth": (anthropic.AuthenticationError, 401, "authentication_error"),
    "invalid": (anthropic.BadRequestError, 400, "invalid_request_error"),
}


@pytest.mark.asyncio
@pytest.mark.parametrize(("kind", "expected"), FAULTS.items(), ids=FAULTS.keys())
async def test_error_directive(
    client: anthropic.AsyncAnthropic, kind: str, expected: tuple[type[Exception], int, str]
) -> None:
    exception_type, status, error_type = expected
    with pytest.raises(exception_type) as caught:
        await client.messages.create(
            model=MODEL, max_tokens=100, messages=user(f"please fail [sim:error={kind}]")
        )

    error = caught.value
    assert isinstance(error, anthropic.APIStatusError)
    assert (error.status_code, error.type) == (status, error_type)
    if kind == "rate_limit":
        assert error.response.headers["retry-after"] == "0"
    if kind == "api":
        assert not isinstance(error, anthropic.OverloadedError)


@pytest.mark.asyncio
async def test_error_directive_fails_a_stream_before_it_starts(
    client: anthropic.AsyncAnthropic,
) -> None:
    with pytest.raises(anthropic.OverloadedError):
        await stream_text(client, messages=user("[sim:error=overloaded]"))


@pytest.mark.asyncio
async def test_error_after_sends_an_error_event_mid_stream(
    sim: Simulator, client: anthropic.AsyncAnthropic
) -> None:
    parts: list[str] = []

    async def consume() -> None:
        async with client.messages.stream(
            model=MODEL, max_tokens=100, messages=user("go [sim:error_after=3]")
        ) as stream:
            async for text in stream.text_stream:
                parts.append(text)

    with pytest.raises(anthropic.APIStatusError) as caught:
        await consume()

    assert parts == ["Offline", " simulator", " reply."]
    assert caught.value.status_code == 200
    assert caught.value.type == "overloaded_error"
    assert (sim.completed_streams, sim.aborted_streams) == (0, 0)


@pytest.mark.asyncio
async def test_drop_after_ends_the_body_without_message_stop(
    sim: Simulator, client: anthropic.AsyncAnthropic
) -> None:
    parts, message = await stream_text(client, messages=user("go [sim:drop_after=4]"))

    assert "".join(parts) == "Offline simulator reply. I"
    assert text_of(message) == "Offline simulator reply. I"
    assert message.stop_reason is None
    assert (sim.completed_streams, sim.aborted_streams) == (0, 0)


@pytest.mark.asyncio
async def test_words_directive_gives_lorem_ipsum(client: anthropic.AsyncAnthropic) -> None:
    parts, message = await stream_text(client, messages=user("long [sim:words=50]"))
    cut = await client.messages.create(
        model=MODEL, max_tokens=10, messages=user("long [sim:words=50]")
    )

    assert text_of(message).startswith("lorem ipsum dolor sit amet")
    assert len(text_of(message).split()) == 50
    assert len(parts) == message.usage.output_tokens == 50
    assert len(text_of(cut).split()) == 10
    assert cut.stop_reason == "max_tokens"


@pytest.mark.asyncio
async def test_delay_directive_paces_the_stream(client: anthropic.AsyncAnthropic) -> None:
    started = time.monotonic()
    parts, _ = await stream_text(client, messages=user("[sim:words=6] [sim:delay=0.05]"))

    assert len(parts) == 6
    assert time.monotonic() - started >= 0.25  # five gaps between six deltas


@pytest.mark.asyncio
async def test_unknown_directive_is_rejected(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match=r"\[sim:bogus"):
        await client.messages.create(model=MODEL, max_tokens=10, messages=user("[sim:bogus=1]"))


@pytest.mark.asyncio
async def test_count_tokens_ignores_directives(
    sim: Simulator, client: anthropic.AsyncAnthropic
) -> None:
    counted = await client.messages.count_tokens(
        model=MODEL, messages=user("[sim:error=overloaded]")
    )

    assert counted.input_tokens == math.ceil(len("[sim:error=overloaded]") / 3.5) + 3
    assert sim.requests[-1]["messages"] == user("[sim:error=overloaded]")


# --- models and routing -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_models_list_and_retrieve(client: anthropic.AsyncAnthropic) -> None:
    models = [model async for model in client.models.list()]
    one = await client.models.retrieve("claude-haiku-4-5")

    assert [model.id for model in models] == [
        "claude-opus-4-8",
        "claude-opus-4-7",
        "claude-sonnet-4-6",
        "claude-opus-4-6",
        "claude-haiku-4-5",
        "claude-sonnet-4-5",
        "claude-opus-4-5",
    ]
    assert all(model.type == "model" and model.display_name for model in models)
    assert one.display_name == "Claude Haiku 4.5"
    assert one.lifecycle == "active"
    assert models[5].lifecycle == "deprecated"
    assert models[5].retires_at is not None
    with pytest.raises(anthropic.NotFoundError):
        await client.models.retrieve("claude-nonexistent")


@pytest.mark.asyncio
async def test_unknown_path_and_method(sim: Simulator) -> None:
    async with httpx2.AsyncClient(
        transport=simulator_transport(sim), base_url=BASE_URL
    ) as http_client:
        missing = await http_client.post("/v1/nothing", headers={"x-api-key": "k"})
        wrong_method = await http_client.get("/v1/messages", headers={"x-api-key": "k"})

    body = missing.json()
    assert missing.status_code == 404
    assert body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "Not Found"},
        "request_id": missing.headers["request-id"],
    }
    assert body["request_id"].startswith("req_")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"] == "error"


@pytest.mark.asyncio
async def test_sse_wire_format(sim: Simulator) -> None:
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    body = {"model": MODEL, "max_tokens": 2, "stream": True, "messages": HI}
    async with (
        httpx2.AsyncClient(transport=simulator_transport(sim), base_url=BASE_URL) as http_client,
        http_client.stream("POST", "/v1/messages", headers=headers, json=body) as response,
    ):
        raw = (await response.aread()).decode()

    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["request-id"].startswith("req_")
    events = raw.removesuffix("\n\n").split("\n\n")
    names = []
    for event in events:
        event_line, data_line = event.split("\n")  # exactly one event: and one data: line
        name = event_line.removeprefix("event: ")
        assert json.loads(data_line.removeprefix("data: "))["type"] == name
        names.append(name)
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = json.loads(events[0].split("\n")[1].removeprefix("data: "))["message"]
    assert start["usage"] == {
        "input_tokens": 4,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    }
    assert (start["content"], start["stop_reason"], start["stop_sequence"]) == ([], None, None)


# --- pacing and aborts ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stream_is_incremental_not_buffered() -> None:
    sim = Simulator(token_delay=0.05, first_token_delay=0.2)
    async with make_client(sim) as client:
        started = time.monotonic()
        arrivals: list[float] = []
        async with client.messages.stream(
            model=MODEL, max_tokens=100, messages=user("[sim:words=8]")
        ) as stream:
            headers_at = time.monotonic() - started
            async for _ in stream.text_stream:
                arrivals.append(time.monotonic() - started)

    # The headers and message_start are not held back by the first-token delay.
    assert arrivals[0] - headers_at >= 0.18
    assert arrivals[-1] - arrivals[0] >= 0.3  # seven gaps of 0.05 s, delivered as they happen


AbortScenario = Callable[[anthropic.AsyncAnthropic], Awaitable[None]]


async def leave_after_three_deltas(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model=MODEL, max_tokens=5000, messages=user("[sim:words=1000]")
    ) as stream:
        seen = 0
        async for _ in stream.text_stream:
            seen += 1
            if seen == 3:
                break


async def leave_before_reading(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(model=MODEL, max_tokens=5000, messages=HI):
        pass


async def cancel_the_task(client: anthropic.AsyncAnthropic) -> None:
    got_text = asyncio.Event()

    async def consume() -> None:
        async with client.messages.stream(
            model=MODEL, max_tokens=5000, messages=user("[sim:words=1000]")
        ) as stream:
            async for _ in stream.text_stream:
                got_text.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_text.wait(), timeout=1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "scenario", [leave_after_three_deltas, leave_before_reading, cancel_the_task]
)
async def test_early_exit_is_counted_as_an_abort(scenario: AbortScenario) -> None:
    sim = Simulator(token_delay=0.01)
    async with make_client(sim) as client:
        await scenario(client)
        assert await wait_for(lambda: sim.aborted_streams == 1)
    assert sim.completed_streams == 0


# --- over HTTP with uvicorn -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served() -> Iterator[tuple[Simulator, str]]:
    """The ASGI app on a free loopback port, served by uvicorn in a background thread."""
    sim = Simulator(token_delay=0.005)
    port = free_port()
    config = uvicorn.Config(
        simulator_asgi_app(sim), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield sim, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.asyncio
async def test_streaming_over_http(served: tuple[Simulator, str]) -> None:
    sim, base_url = served
    async with anthropic.AsyncAnthropic(api_key="test", base_url=base_url, max_retries=0) as client:
        parts, message = await stream_text(client, messages=HI)
        models = await client.models.list()
        with pytest.raises(anthropic.BadRequestError, match="messages: at least one"):
            await client.messages.create(model=MODEL, max_tokens=10, messages=[])

    assert len(parts) > 10
    assert "".join(parts) == text_of(message)
    assert message.stop_reason == "end_turn"
    assert models.data[0].id == "claude-opus-4-8"
    assert sim.completed_streams == 1


@pytest.mark.asyncio
async def test_disconnect_over_http_is_counted_as_an_abort(served: tuple[Simulator, str]) -> None:
    sim, base_url = served
    async with anthropic.AsyncAnthropic(api_key="test", base_url=base_url, max_retries=0) as client:
        await leave_after_three_deltas(client)
        assert await wait_for(lambda: sim.aborted_streams == 1)
    assert sim.completed_streams == 0
