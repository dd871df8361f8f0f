"""A title for a new conversation, written by a cheap model after the first exchange.

Until then the conversation carries a provisional title (its first words, set when the first
message is sent). The generated one replaces it only if it is still that provisional title:
a rename by the person always wins, even one made while the title was being written.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import partial

import anthropic
from django.conf import settings
from django.db import transaction

from conversations.asyncdb import database_sync_to_async
from conversations.llm.catalog import model_resolve
from conversations.llm.client import get_client, uses_offline_simulator
from conversations.models import Conversation, Message
from conversations.services.background import ConversationTasks
from conversations.services.conversations import conversation_title_from_text
from conversations.services.events import event_publish

logger = logging.getLogger(__name__)

TITLE_MAX_TOKENS = 24
TITLE_MAX_WORDS = 8
TITLE_MAX_CHARS = 60
# Enough of each turn to know what it is about; the call must stay cheap.
EXCERPT_CHARS = 2000
TITLE_SYSTEM = (
    "You name chat conversations for a list of conversations. Reply with the title only: at "
    "most six words, in the conversation's language, no quotes, no final punctuation."
)
# The offline simulator cannot summarize; asked to echo, it answers with the person's first
# message, whose first words then make the title (and the call still goes through the SDK).
OFFLINE_ECHO = "[sim:echo=1]"
# Quotes and Markdown marks a model may wrap a title in.
_DECORATION = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb`*_#"
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")
_LABEL = re.compile(r"^(title|titre|titel|título)\s*:\s*", re.IGNORECASE)

_titles = ConversationTasks()


@dataclass(frozen=True)
class FirstExchange:
    conversation: Conversation
    provisional: str
    question: str
    answer: str


def title_start_in_background(*, conversation_id: int, reply_id: int) -> None:
    """After a completed reply: title the conversation if this was its first exchange."""
    if settings.CHATSITE_AUTO_TITLE:
        _titles.start(conversation_id, _title_in_background(reply_id))


async def title_wait(conversation_id: int) -> None:
    await _titles.wait(conversation_id)


def title_clean(text: str) -> str:
    """The model's answer as a title: its first line, without decoration, a few words."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    line = _LABEL.sub("", line.strip().strip(_DECORATION).strip()).strip(_DECORATION)
    line = _SENTENCE_END.split(line, maxsplit=1)[0]  # a chatty answer: its first sentence
    words = line.split()[:TITLE_MAX_WORDS]
    title = " ".join(words)
    if len(title) > TITLE_MAX_CHARS:
        title = title[: TITLE_MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return title.rstrip(".:;,!?。 ").strip()


async def _title_in_background(reply_id: int) -> None:
    try:
        exchange = await database_sync_to_async(_first_exchange)(reply_id)
        if exchange is None:
            return
        title = title_clean(await _ask_for_title(exchange))
        if title:
            await database_sync_to_async(_title_save)(exchange, title)
    except anthropic.APIError as exc:
        # The provisional title stays; nothing else depends on this call.
        logger.warning("no title for reply %s: %s", reply_id, exc)
    except Exception:
        logger.exception("no title for reply %s", reply_id)


def _first_exchange(reply_id: int) -> FirstExchange | None:
    """The reply's conversation, if the reply answers its first message and the title is
    still the provisional one. Queries: 1."""
    reply = (
        Message.objects.select_related("parent", "conversation")
        .filter(pk=reply_id, role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE)
        .first()
    )
    if reply is None or reply.parent is None or reply.parent.parent_id is not None:
        return None
    provisional = conversation_title_from_text(reply.parent.text)
    if reply.conversation.title != provisional:
        return None  # renamed by the person, or titled already
    return FirstExchange(
        conversation=reply.conversation,
        provisional=provisional,
        question=reply.parent.text,
        answer=reply.text,
    )


async def _ask_for_title(exchange: FirstExchange) -> str:
    spec = model_resolve(settings.CHATSITE_TITLE_MODEL, fetch=False)
    if uses_offline_simulator():
        content = f"{exchange.question[:EXCERPT_CHARS]}\n{OFFLINE_ECHO}"
    else:
        content = (
            "<conversation>\n"
            f"<person>{exchange.question[:EXCERPT_CHARS]}</person>\n"
            f"<assistant>{exchange.answer[:EXCERPT_CHARS]}</assistant>\n"
            "</conversation>\n"
            "Write the title of this conversation."
        )
    response = await get_client().messages.create(
        model=spec.id,
        max_tokens=min(TITLE_MAX_TOKENS, spec.max_output_tokens),
        system=TITLE_SYSTEM,
        messages=[{"role": "user", "content": content}],
    )
    logger.info(
        "title model=%s input_tokens=%s output_tokens=%s",
        spec.id,
        response.usage.input_tokens,
        response.usage.output_tokens,
    )
    return "".join(block.text for block in response.content if block.type == "text")


def _title_save(exchange: FirstExchange, title: str) -> None:
    """Only over the provisional title: a rename made meanwhile wins. Queries: 1."""
    conversation = exchange.conversation
    with transaction.atomic():
        changed = Conversation.objects.filter(
            pk=conversation.pk, title=exchange.provisional
        ).update(title=title)
        if changed:
            frame = {
                "type": "conversation.updated",
                "conversation": {"id": str(conversation.uuid), "title": title},
            }
            announce = partial(event_publish, group=conversation.group_name, frame=frame)
            transaction.on_commit(announce)
