"""Property: any stored tree yields a request the (simulated) API accepts, for every model.

Trees are built in memory (the builder is pure) and sent through the real SDK to the simulator,
which applies the API's validation rules (empty turns, prefill, sampling, breakpoints, ...).
"""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import anthropic
import httpx2
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from conversations.llm.catalog import model_resolve
from conversations.llm.models import MODELS
from conversations.llm.simulator import Simulator, simulator_transport
from conversations.models import Conversation, Message, Summary
from conversations.services.history import path_to, request_build
from conversations.services.parameters import SettingsError, settings_validate

TEXTS = st.one_of(
    st.sampled_from(["", " ", "\n\t ", "hello", "trailing space  ", "  leading", "ünï 🎉", "{"]),
    st.text(max_size=40),
)
NON_BLANK = st.text(min_size=1, max_size=40).filter(lambda t: t.strip())
PARAMETERS = st.fixed_dictionaries(
    {},
    optional={
        "max_tokens": st.integers(1, 8192),
        "stop_sequences": st.lists(NON_BLANK, max_size=3, unique=True),
        "temperature": st.floats(0, 1),
        "top_p": st.floats(0, 1),
        "top_k": st.integers(1, 500),
        "thinking": st.booleans(),
        "effort": st.sampled_from(["low", "medium", "high", "xhigh", "max"]),
        "cache_ttl": st.sampled_from(["5m", "1h"]),
    },
)


def tiny_png() -> dict[str, Any]:
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), "blue").save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}


IMAGE = tiny_png()


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[Message], Summary | None, str, dict[int, list]]:
    """A random tree, the path to one of its leaves plus the person's new turn, maybe a
    summary on that path, and what the reply already holds."""
    count = draw(st.integers(0, 14))
    by_id: dict[int, Message] = {}
    for i in range(1, count + 1):
        parent = draw(st.one_of(st.none(), st.integers(1, i - 1))) if i > 1 else None
        by_id[i] = Message(
            id=i,
            parent_id=parent,
            role=draw(st.sampled_from(["user", "assistant"])),
            text=draw(TEXTS),
            is_pinned=draw(st.booleans()),
        )
    path = path_to(by_id, draw(st.integers(1, count))) if count else []
    # The person's turn being answered is never blank (the services refuse a blank send).
    path.append(
        Message(
            id=count + 1, parent_id=path[-1].id if path else None, role="user", text=draw(NON_BLANK)
        )
    )
    summary = None
    if len(path) > 1 and draw(st.booleans()):
        covered = draw(st.sampled_from(path[:-1]))
        summary = Summary(id=1, covers_up_to_id=covered.id, text=draw(NON_BLANK))
    reply_text = draw(st.sampled_from(["", "  ", "{", "The answer is (  ", "partial reply\n"]))
    # The person's messages may carry images (with or without text).
    images = {
        m.id: [IMAGE] * draw(st.integers(1, 2))
        for m in path
        if m.role == "user" and draw(st.booleans())
    }
    return path, summary, reply_text, images


async def send(simulator: Simulator, request: Any) -> anthropic.types.Message:
    async with anthropic.AsyncAnthropic(
        api_key="test-key",
        base_url="http://simulator.invalid",
        http_client=httpx2.AsyncClient(transport=simulator_transport(simulator)),
        max_retries=0,
    ) as client:
        return await client.messages.create(**request.stream_arguments())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=trees(),
    model=st.sampled_from(sorted(MODELS)),
    parameters=PARAMETERS,
    system_prompt=TEXTS,
)
def test_any_stored_tree_yields_a_request_the_api_accepts(tree, model, parameters, system_prompt):
    path, summary, reply_text, images = tree
    spec = model_resolve(model)
    try:
        generation = settings_validate(
            spec=spec, system_prompt=system_prompt, parameters=parameters
        )
    except SettingsError:
        assume(False)  # the services refuse these settings before anything is sent
        return
    conversation = Conversation(model=model, system_prompt=system_prompt, owner_id=1)
    request = request_build(
        conversation=conversation,
        spec=spec,
        generation=generation,
        path=path,
        summary=summary,
        reply_text=reply_text,
        user_id=1,
        images=images,
    )
    breakpoints = str(request.body).count("cache_control")
    assert breakpoints <= 4
    reply = asyncio.run(send(Simulator(), request))
    assert reply.stop_reason is not None
