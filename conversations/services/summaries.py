"""Folding old turns into a summary: a separate, cheaper call, then a stored Summary row.

The call runs outside any transaction (it waits on the network); only the final insert touches
the database. Nothing is deleted: the covered messages stay stored, in the admin and exports.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import anthropic
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction

from conversations.asyncdb import database_sync_to_async
from conversations.frames import summary_data
from conversations.llm.catalog import model_resolve
from conversations.llm.client import get_client
from conversations.llm.errors import describe_api_error
from conversations.llm.models import estimate_text_tokens
from conversations.models import Conversation, Message, Summary
from conversations.services.background import ConversationTasks
from conversations.services.context import COMPACT_TARGET, fold_boundary, message_cost
from conversations.services.events import event_publish
from conversations.services.history import (
    conversation_path,
    split_at_summary,
    summary_for_path,
)
from conversations.services.parameters import conversation_settings

logger = logging.getLogger(__name__)

SUMMARY_MAX_TOKENS = 2048
# A transcript larger than this share of the summarizer's window is folded in several calls.
SUMMARIZER_WINDOW_SHARE = 0.5
SUMMARIZER_SYSTEM = (
    "You maintain the running summary of a long conversation between a person and Claude, so "
    "the conversation can go on without its oldest turns. Write a faithful, dense summary in "
    "the conversation's language: the person's goals and preferences, facts and numbers they "
    "gave, decisions made, code or text produced that later turns may refer to (keep exact "
    "names and identifiers), and open questions. Fold the previous summary in; do not mention "
    "that you are summarizing. Messages marked as pinned are kept word for word elsewhere: "
    "refer to them briefly instead of repeating them."
)


class SummaryFailedError(Exception):
    """The summary call failed; `detail` says why in words a person understands."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class FoldResult:
    text: str
    model: str
    input_tokens: int
    output_tokens: int


def transcript_parts(folded: Sequence[Message], *, chunk_tokens: int) -> list[str]:
    """The folded turns as labelled text, split into chunks the summarizer can read."""
    lines = [
        f"[{'The person' if m.role == Message.Role.USER else 'Claude'}"
        f"{' — pinned' if m.is_pinned else ''}]\n{m.text}"
        for m in folded
        if m.text.strip()
    ]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        tokens = estimate_text_tokens(line)
        if current and size + tokens > chunk_tokens:
            chunks.append("\n\n".join(current))
            current, size = [], 0
        current.append(line)
        size += tokens
    if current:
        chunks.append("\n\n".join(current))
    return chunks


def _prompt(previous_text: str, chunk: str) -> str:
    before = previous_text.strip() or "(none yet)"
    return (
        f"Previous summary:\n\n{before}\n\nConversation turns to fold in:\n\n{chunk}\n\n"
        "Write the new summary."
    )


async def fold_turns(previous_text: str, folded: Sequence[Message]) -> FoldResult:
    """Ask the summary model for a summary of `previous_text` + `folded` (several calls for a
    transcript larger than its window)."""
    spec = model_resolve(settings.CHATSITE_SUMMARY_MODEL, fetch=False)  # on the event loop
    chunk_tokens = int(spec.context_window * SUMMARIZER_WINDOW_SHARE)
    text, input_tokens, output_tokens = previous_text, 0, 0
    client = get_client()
    for chunk in transcript_parts(folded, chunk_tokens=chunk_tokens):
        try:
            response = await client.messages.create(
                model=spec.id,
                max_tokens=min(SUMMARY_MAX_TOKENS, spec.max_output_tokens),
                system=SUMMARIZER_SYSTEM,
                messages=[{"role": "user", "content": _prompt(text, chunk)}],
            )
        except anthropic.APIError as exc:
            raise SummaryFailedError(describe_api_error(exc)[1]) from exc
        written = "".join(b.text for b in response.content if b.type == "text").strip()
        if not written:
            raise SummaryFailedError("The summary model returned an empty summary.")
        if response.stop_reason == "max_tokens":
            # Still the best summary there is; a person can read and complete it on the page.
            logger.warning("a summary by %s was cut at its token limit", spec.id)
        text = written
        input_tokens += (
            response.usage.input_tokens
            + (response.usage.cache_read_input_tokens or 0)
            + (response.usage.cache_creation_input_tokens or 0)
        )
        output_tokens += response.usage.output_tokens
    return FoldResult(text, spec.id, input_tokens, output_tokens)


def summary_save(*, conversation: Conversation, boundary: Message, result: FoldResult) -> Summary:
    """Store the summary and tell the open tabs (it may have been written in the background)."""
    spec = model_resolve(result.model)
    summary = Summary.objects.create(
        conversation=conversation,
        covers_up_to=boundary,
        text=result.text,
        token_count=estimate_text_tokens(result.text),
        model=result.model,
        input_tokens=result.input_tokens,
        output_tokens=result.output_tokens,
        cost_usd=message_cost(
            spec=spec, input_tokens=result.input_tokens, output_tokens=result.output_tokens
        ),
    )
    frame = {
        "type": "summary.created",
        "summary": summary_data(summary, covers_up_to_uuid=boundary.uuid),
    }
    transaction.on_commit(partial(event_publish, group=conversation.group_name, frame=frame))
    return summary


async def summary_compact(
    *,
    conversation: Conversation,
    path: Sequence[Message],
    summary: Summary | None,
    boundary: Message,
) -> Summary:
    """Fold the verbatim turns of `path` up to `boundary` (and `summary`) into a new summary.

    Raises SummaryFailedError.
    """
    _covered, verbatim = split_at_summary(path, summary)
    folded = verbatim[: verbatim.index(boundary) + 1]
    previous_text = summary.text if summary is not None else ""
    result = await fold_turns(previous_text, folded)
    saved = await database_sync_to_async(summary_save)(
        conversation=conversation, boundary=boundary, result=result
    )
    logger.info(
        "summary conversation=%s covers=%d messages model=%s tokens_in=%d tokens_out=%d",
        conversation.uuid,
        len(folded),
        result.model,
        result.input_tokens,
        result.output_tokens,
    )
    return saved


def conversation_resummarize(*, conversation: Conversation) -> Summary | None:
    """Write the active branch's summary again from the turns themselves (sync; staff use it
    after editing covered messages). None when the branch has no summary.

    Raises SummaryFailedError.
    """
    path = conversation_path(conversation=conversation)
    current = summary_for_path(conversation=conversation, path=path)
    if current is None:
        return None
    boundary = next(m for m in path if m.id == current.covers_up_to_id)
    return async_to_sync(summary_compact)(
        conversation=conversation, path=path, summary=None, boundary=boundary
    )


# --- background compaction after a reply ------------------------------------------------------
_compactions = ConversationTasks()


def compaction_start_in_background(*, conversation_id: int, leaf_id: int) -> None:
    """Summarize now, after a reply that brought the conversation near its budget, so the
    person's next turn rarely waits for it. One per conversation in this process."""
    _compactions.start(conversation_id, _compact_in_background(conversation_id, leaf_id))


def compaction_running(conversation_id: int) -> bool:
    """A background summary of this conversation runs on this event loop."""
    return _compactions.running(conversation_id)


async def compaction_wait(conversation_id: int) -> None:
    """Let a background compaction of this conversation finish before a new request is built."""
    await _compactions.wait(conversation_id)


def _load_for_compaction(
    conversation_id: int, leaf_id: int
) -> tuple[Conversation, list[Message], Summary | None, int]:
    conversation = Conversation.objects.get(pk=conversation_id)
    path = conversation_path(conversation=conversation, leaf_id=leaf_id)
    summary = summary_for_path(conversation=conversation, path=path)
    _spec, generation = conversation_settings(conversation)
    return conversation, path, summary, generation.context_budget


async def _compact_in_background(conversation_id: int, leaf_id: int) -> None:
    try:
        conversation, path, summary, budget = await database_sync_to_async(_load_for_compaction)(
            conversation_id, leaf_id
        )
        boundary = fold_boundary(
            system_prompt=conversation.system_prompt,
            path=path,
            summary=summary,
            target_tokens=int(budget * COMPACT_TARGET),
        )
        if boundary is not None:
            await summary_compact(
                conversation=conversation, path=path, summary=summary, boundary=boundary
            )
    except SummaryFailedError as exc:
        # The next turn tries again in the foreground, and goes ahead anyway if it fits.
        logger.warning("background summary of conversation %s failed: %s", conversation_id, exc)
    except Exception:
        logger.exception("background summary of conversation %s failed", conversation_id)
