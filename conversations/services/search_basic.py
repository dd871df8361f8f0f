"""The search without a full-text index (SQLite without FTS5, other databases, or
CHATSITE_SEARCH_BACKEND=basic): every word a case-insensitive substring (icontains, so `%` and
`_` are literal), no relevance ranking, snippets cut in Python. Same results shape."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.db.models import Case, Count, Max, Q, QuerySet, Value, When

from conversations.models import Conversation, Message
from conversations.services.search import (
    ConversationSearchHit,
    SnippetSegment,
    segments_from_marked,
)
from conversations.services.search_index import MARK_START, MARK_STOP

# Characters of context kept around the first match.
BEFORE, AFTER = 60, 140
_NO_MARKERS = {ord(MARK_START): " ", ord(MARK_STOP): " "}


def _matches(
    *, owner_id: int, words: Sequence[str], include_archived: bool
) -> QuerySet[Conversation, dict[str, Any]]:
    text_match, title_match = Q(), Q()
    for word in words:
        text_match &= Q(messages__text__icontains=word)
        title_match &= Q(title__icontains=word)
    conversations = Conversation.objects.filter(owner_id=owner_id)
    if not include_archived:
        conversations = conversations.filter(is_archived=False)
    # The newest matching message stands for the conversation: without ranking, the latest.
    return (
        conversations.annotate(
            match_count=Count("messages", filter=text_match),
            message_id=Max("messages__id", filter=text_match),
            title_match=Case(When(title_match, then=Value(True)), default=Value(False)),
        )
        .filter(Q(match_count__gt=0) | Q(title_match=True))
        .order_by("-title_match", "-message_id", "-updated_at", "-id")
        .values("id", "message_id", "match_count", "title_match")
    )


def basic_count(*, owner_id: int, words: Sequence[str], include_archived: bool) -> int:
    """Queries: 1."""
    return _matches(owner_id=owner_id, words=words, include_archived=include_archived).count()


def basic_search(
    *, owner_id: int, words: Sequence[str], include_archived: bool, limit: int, offset: int
) -> list[ConversationSearchHit]:
    """Queries: 3 (the page, its conversations, its messages)."""
    matches = _matches(owner_id=owner_id, words=words, include_archived=include_archived)
    page = list(matches[max(offset, 0) : max(offset, 0) + limit])
    conversations = Conversation.objects.in_bulk([row["id"] for row in page])
    message_ids = [row["message_id"] for row in page if row["message_id"] is not None]
    messages = Message.objects.only("uuid", "role", "text").in_bulk(message_ids)
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.I)
    hits = []
    for row in page:
        conversation = conversations[row["id"]]
        message = messages.get(row["message_id"]) if row["message_id"] is not None else None
        hits.append(
            ConversationSearchHit(
                conversation_uuid=conversation.uuid,
                title=conversation.title,
                is_archived=conversation.is_archived,
                updated_at=conversation.updated_at,
                message_uuid=message.uuid if message else None,
                role=message.role if message else None,
                snippet=_snippet(message.text if message else conversation.title, pattern),
                match_count=row["match_count"],
            )
        )
    return hits


def _snippet(text: str, pattern: re.Pattern[str]) -> list[SnippetSegment]:
    text = text.translate(_NO_MARKERS)
    first = pattern.search(text)
    start, stop = 0, len(text)
    if first is not None:
        start = max(0, first.start() - BEFORE)
        stop = min(len(text), first.end() + AFTER)
        # Whole words at the edges.
        if start > 0 and (space := text.find(" ", start, first.start())) != -1:
            start = space + 1
        if stop < len(text) and (space := text.rfind(" ", first.end(), stop)) != -1:
            stop = space
    marked = pattern.sub(lambda m: f"{MARK_START}{m.group(0)}{MARK_STOP}", text[start:stop])
    return segments_from_marked(
        ("… " if start > 0 else "") + marked + (" …" if stop < len(text) else "")
    )
