"""The Files API: upload with the SDK, use the file as an image source, delete it."""

from __future__ import annotations

import math
from typing import Any

import anthropic
import pytest

from tests.llm.support import MODEL, image_bytes, input_total, text_of


def file_image(file_id: str) -> list[Any]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "file", "file_id": file_id}},
                {"type": "text", "text": "What is this?"},
            ],
        }
    ]


@pytest.mark.asyncio
async def test_an_uploaded_image_is_measured_from_its_bytes_when_used(
    client: anthropic.AsyncAnthropic,
) -> None:
    data = image_bytes(100, 30)
    uploaded = await client.files.upload(file=("chart.png", data, "image/png"))
    listed = [item.id async for item in client.files.list()]
    fetched = await client.files.retrieve_metadata(uploaded.id)
    message = await client.messages.create(
        model=MODEL, max_tokens=1000, messages=file_image(uploaded.id)
    )

    assert uploaded.id.startswith("file_")
    assert (uploaded.filename, uploaded.mime_type) == ("chart.png", "image/png")
    assert uploaded.size_bytes == len(data)
    assert uploaded.downloadable is False
    assert fetched == uploaded
    assert listed == [uploaded.id]
    image_tokens = math.ceil(100 / 28) * math.ceil(30 / 28)
    assert input_total(message) == image_tokens + math.ceil(len("What is this?") / 3.5) + 3
    assert "1 images" in text_of(message)


@pytest.mark.asyncio
async def test_a_deleted_or_unknown_file_is_a_404(client: anthropic.AsyncAnthropic) -> None:
    uploaded = await client.beta.files.upload(file=("dot.png", image_bytes(5, 5), "image/png"))
    deleted = await client.files.delete(uploaded.id)

    assert (deleted.id, deleted.type) == (uploaded.id, "file_deleted")
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.create(model=MODEL, max_tokens=10, messages=file_image(uploaded.id))
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.count_tokens(model=MODEL, messages=file_image("file_unknown"))
    with pytest.raises(anthropic.NotFoundError):
        await client.files.delete(uploaded.id)


@pytest.mark.asyncio
async def test_a_file_that_is_not_an_image_is_rejected_as_an_image_source(
    client: anthropic.AsyncAnthropic,
) -> None:
    notes = await client.files.upload(file=("notes.txt", b"plain words", "text/plain"))

    with pytest.raises(anthropic.BadRequestError, match="not an image"):
        await client.messages.create(model=MODEL, max_tokens=10, messages=file_image(notes.id))
