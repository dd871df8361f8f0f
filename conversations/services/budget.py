"""Keeping a request inside its context budget: measure it, fold old turns when it is over.

Called by generation.py between network waits (no transaction is open). The person's tabs are
told when a summary is being written, since that delays the first token.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import anthropic

from conversations.llm.client import get_client
from conversations.models import Summary
from conversations.services.context import (
    COMPACT_TARGET,
    context_size,
    fold_boundary,
    needs_exact_count,
)
from conversations.services.events import status_publish_async
from conversations.services.generation_store import PreparedGeneration
from conversations.services.history import BuiltRequest
from conversations.services.summaries import SummaryFailedError, summary_compact

logger = logging.getLogger(__name__)

# Estimates can be far off (code, CJK, a newer tokenizer): after a compaction the request is
# counted exactly, and folded once more if it is still over.
MAX_COMPACTIONS_PER_TURN = 2


class ContextFullError(Exception):
    """The conversation cannot be brought inside the model's window; `detail` says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Fitted:
    request: BuiltRequest
    summary: Summary | None


async def request_fit(prepared: PreparedGeneration, fitted: Fitted) -> Fitted:
    """`fitted`'s request if it is inside the budget; otherwise one built on a new summary."""
    budget = prepared.generation.context_budget
    tokens = await _measure(prepared, fitted, exact=False)
    for _ in range(MAX_COMPACTIONS_PER_TURN):
        if tokens <= budget:
            break
        shrunk = await request_shrink(
            prepared, fitted, tokens=tokens, target=int(budget * COMPACT_TARGET)
        )
        if shrunk is fitted:
            break  # nothing more to fold, or the summary failed and the request still fits
        fitted = shrunk
        tokens = await _measure(prepared, fitted, exact=True)
    return fitted


async def request_shrink(
    prepared: PreparedGeneration, fitted: Fitted, *, tokens: int | None, target: int
) -> Fitted:
    """Fold old turns so the request shrinks to about `target` tokens.

    `tokens` is the request's size, None when the API said it is too long. Returns `fitted`
    unchanged when it cannot shrink but still fits the model's window; raises ContextFullError
    when it does not.
    """
    window = prepared.spec.context_window
    fits_window = tokens is not None and tokens + prepared.generation.max_tokens <= window
    boundary = fold_boundary(
        system_prompt=prepared.conversation.system_prompt,
        path=prepared.path,
        summary=fitted.summary,
        target_tokens=target,
        image_tokens=prepared.images.tokens,
    )
    if boundary is None:
        if fits_window:
            return fitted
        raise ContextFullError(
            f"Nothing older is left to summarize, and what remains (the system prompt, the "
            f"summary, pinned messages and the latest message) is too long for "
            f"{prepared.spec.display_name}. Shorten the latest message or the system prompt, "
            "unpin messages, or pick a model with a larger window."
        )
    await status_publish_async(
        group=prepared.group, message_uuid=prepared.message_uuid, status="summarizing"
    )
    try:
        summary = await summary_compact(
            conversation=prepared.conversation,
            path=prepared.path,
            summary=fitted.summary,
            boundary=boundary,
        )
    except SummaryFailedError as exc:
        if fits_window:
            logger.warning("summary failed, sending the longer request: %s", exc.detail)
            return fitted
        raise ContextFullError(
            f"This conversation is too long for {prepared.spec.display_name}, and summarizing "
            f"its older turns failed: {exc.detail}"
        ) from exc
    return Fitted(prepared.build(summary), summary)


async def _measure(prepared: PreparedGeneration, fitted: Fitted, *, exact: bool) -> int:
    """Tokens of the request: usage-based where possible, `count_tokens` near the line."""
    size = context_size(
        system_prompt=prepared.conversation.system_prompt,
        path=prepared.path,
        summary=fitted.summary,
        model=prepared.spec.id,
        reply_text=fitted.request.reply_prefix,
        image_tokens=prepared.images.tokens,
    )
    if exact or needs_exact_count(size, prepared.generation.context_budget):
        with contextlib.suppress(anthropic.APIError):
            counted = await get_client().messages.count_tokens(
                **fitted.request.count_tokens_arguments()
            )
            return counted.input_tokens
    return size.tokens
