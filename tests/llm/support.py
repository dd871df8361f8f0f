"""Helpers for the simulator tests: the real SDK, talking to a simulator in process."""

from __future__ import annotations

import base64
import io
from typing import Any

import anthropic
import httpx2
from anthropic.types import Message, MessageParam
from PIL import Image

from conversations.llm.simulator import Simulator, simulator_transport

BASE_URL = "http://sim.invalid"
MODEL = "claude-haiku-4-5"  # accepts prefill, and the SDK does not flag it as deprecated
OLD_API = {"anthropic-version": "2023-06-01"}


def make_client(sim: Simulator, **kwargs: Any) -> anthropic.AsyncAnthropic:
    kwargs.setdefault("max_retries", 0)
    http_client = httpx2.AsyncClient(transport=simulator_transport(sim))
    return anthropic.AsyncAnthropic(
        api_key="k", base_url=BASE_URL, http_client=http_client, **kwargs
    )


def image_bytes(width: int, height: int, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, format=image_format)
    return buffer.getvalue()


def image_block(width: int, height: int) -> dict[str, Any]:
    data = base64.b64encode(image_bytes(width, height)).decode()
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}


def user(text: str) -> list[MessageParam]:
    return [{"role": "user", "content": text}]


def text_of(message: Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


async def stream_text(client: anthropic.AsyncAnthropic, **kwargs: Any) -> tuple[list[str], Message]:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("max_tokens", 1000)
    async with client.messages.stream(**kwargs) as stream:
        parts = [text async for text in stream.text_stream]
        return parts, await stream.get_final_message()


def input_total(message: Message) -> int:
    """Everything the prompt cost: uncached input, cache reads and cache writes."""
    usage = message.usage
    read = usage.cache_read_input_tokens or 0
    return usage.input_tokens + read + (usage.cache_creation_input_tokens or 0)
