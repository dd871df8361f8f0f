from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from conversations.services.batching import DeltaBatcher

pytestmark = pytest.mark.asyncio


async def test_a_quiet_spell_flushes_buffered_text_by_timer():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("batcher-test", channel)
    batcher = DeltaBatcher(group="batcher-test", message_uuid="m", interval=0.2)
    await batcher.add("Hello")  # the first text goes out at once
    await batcher.add(", world")  # within the interval: buffered
    first = await asyncio.wait_for(layer.receive(channel), 1)
    assert (first["seq"], first["offset"], first["text"]) == (1, 0, "Hello")
    # No more deltas arrive; the timer must send what is buffered, without close().
    second = await asyncio.wait_for(layer.receive(channel), 1)
    assert (second["seq"], second["offset"], second["text"]) == (2, 5, ", world")
    await batcher.close()
    assert batcher.frames_sent == 2


async def test_a_failing_channel_layer_does_not_break_the_batcher(settings):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # nothing listens there
        }
    }
    channel_layers.backends.clear()
    batcher = DeltaBatcher(group="nowhere", message_uuid="m", interval=0)
    await batcher.add("text that cannot be delivered")
    await batcher.close()
    assert batcher.frames_sent == 1
    assert batcher.text == "text that cannot be delivered"
