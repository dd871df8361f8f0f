"""The SSE body of a streamed reply: every event in order, paced, and cut by the faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from conversations.llm.simulator.directives import Directives
from conversations.llm.simulator.replies import Output
from conversations.llm.simulator.wire import sse

# What a message_delta's usage carries: cumulative totals, no cache_creation breakdown.
DELTA_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens_details",
)


@dataclass(frozen=True)
class Step:
    data: bytes
    delay: float | None = None  # seconds to wait before sending; None for no wait at all


@dataclass(frozen=True)
class Delta:
    body: dict[str, Any]
    is_token: bool  # an output token (paced, counted by the cut directives); not a signature


def _blocks(output: Output) -> list[tuple[dict[str, Any], list[Delta]]]:
    blocks: list[tuple[dict[str, Any], list[Delta]]] = []
    if output.signature is not None:
        deltas: list[Delta] = []
        # With display="omitted" the thinking tokens are spent but none of the text is sent.
        if output.thinking_shown:
            deltas = [
                Delta({"type": "thinking_delta", "thinking": t}, True) for t in output.thinking
            ]
        deltas.append(Delta({"type": "signature_delta", "signature": output.signature}, False))
        blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
    if output.text:
        deltas = [Delta({"type": "text_delta", "text": t}, True) for t in output.text]
        blocks.append(({"type": "text", "text": ""}, deltas))
    return blocks


def stream_steps(
    start: dict[str, Any],
    output: Output,
    usage: dict[str, Any],
    directives: Directives,
    delays: tuple[float, float],
) -> list[Step]:
    """Every SSE event of a reply, in order, with the pause before each output token."""
    first_delay, token_delay = delays
    cut = directives.error_after if directives.error_after is not None else directives.drop_after
    steps = [Step(sse({"type": "message_start", "message": start}))]
    sent = 0
    for index, (block, deltas) in enumerate(_blocks(output)):
        event = {"type": "content_block_start", "index": index, "content_block": block}
        steps.append(Step(sse(event)))
        if index == 0:
            steps.append(Step(sse({"type": "ping"})))
        for delta in deltas:
            if delta.is_token and sent == cut:
                return _cut(steps, directives)
            event = {"type": "content_block_delta", "index": index, "delta": delta.body}
            pause = (first_delay if sent == 0 else token_delay) if delta.is_token else None
            steps.append(Step(sse(event), pause))
            sent += delta.is_token
        steps.append(Step(sse({"type": "content_block_stop", "index": index})))
    if len(steps) == 1:
        steps.append(Step(sse({"type": "ping"})))
    if cut is not None:
        return _cut(steps, directives)
    stop = {
        "stop_reason": output.stop_reason,
        "stop_sequence": output.stop_sequence,
        "stop_details": output.stop_details,
    }
    delta_usage = {key: usage[key] for key in DELTA_USAGE_KEYS if key in usage}
    steps.append(Step(sse({"type": "message_delta", "delta": stop, "usage": delta_usage})))
    steps.append(Step(sse({"type": "message_stop"})))
    return steps


def _cut(steps: list[Step], directives: Directives) -> list[Step]:
    if directives.error_after is None:
        return steps  # [sim:drop_after]: the body just ends, without message_stop
    error = {"type": "overloaded_error", "message": "Overloaded"}
    return [*steps, Step(sse({"type": "error", "error": error}))]


class SseStream(AsyncIterator[bytes]):
    """The body of one streamed reply; reports once how the stream ended.

    A consumer that goes away is seen either as `aclose()` (the SDK closing the response, or
    the ASGI adapter on http.disconnect) or as a cancellation while we wait between tokens.
    `settle(True)` means the whole stream was handed over, `settle(False)` an abort; a stream
    cut by a fault directive that is read to its end settles as neither.
    """

    def __init__(
        self, steps: list[Step], *, completes: bool, settle: Callable[[bool], None]
    ) -> None:
        self._steps = steps
        self._completes = completes
        self._settle = settle
        self._settled = False  # True once the outcome (completed / ended / aborted) is counted
        self._events = self._produce()

    async def __anext__(self) -> bytes:
        try:
            return await self._events.__anext__()
        except asyncio.CancelledError:
            self._abort()
            raise

    async def aclose(self) -> None:
        self._abort()
        await self._events.aclose()

    def _abort(self) -> None:
        if not self._settled:
            self._settled = True
            self._settle(False)

    async def _produce(self) -> AsyncGenerator[bytes, None]:
        for n, step in enumerate(self._steps):
            if step.delay is not None:
                await asyncio.sleep(step.delay)  # sleep(0) still yields control to the loop
            if n == len(self._steps) - 1:
                # Once the last event is handed over, closing the stream is no longer an abort.
                self._settled = True
                if self._completes:
                    self._settle(True)
            yield step.data
