"""Full-text search over a person's own conversations: titles and message text (any branch).

A read, selector-style. One result per conversation: its best-matching message (or none when
only the title matched), how many of its messages matched, and a snippet as segments
(`{"text", "match"}`), never HTML, so any client renders it with textContent.

The query is never search syntax: it is cut into words and "quoted phrases", every one required;
the last word, as typed so far, also matches as a prefix. Order: title matches first, then the
best message's rank (ts_rank / bm25), then the most recently updated. See docs/search.md.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict, overload

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.utils.dateparse import parse_datetime

from conversations.services.search_index import (
    MARK_START,
    MARK_STOP,
    MESSAGES,
    SEARCH_CONFIG,
    TITLES,
    pg_clean,
    pg_indexed_text,
    pg_tsvector,
    sqlite_index_ready,
)

SEARCH_QUERY_MAX_CHARS = 200
# Control characters (our markers among them; PostgreSQL refuses NUL) and the invisible
# bidirectional controls, which would only hide what was typed: all become spaces.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_PIECE = re.compile(r'"([^"]*)"|([^\s"]+)')
_SPACES = re.compile(r"\s+")


class SearchQueryError(ValueError):
    pass


class SnippetSegment(TypedDict):
    text: str
    match: bool


@dataclass(frozen=True)
class SearchTerms:
    phrases: tuple[str, ...]  # words and phrases, each required as typed
    prefix: str | None = None  # the last word, also matched as the start of a longer one

    def __bool__(self) -> bool:
        return bool(self.phrases or self.prefix)

    @property
    def words(self) -> tuple[str, ...]:
        return self.phrases + ((self.prefix,) if self.prefix else ())


@dataclass(frozen=True)
class ConversationSearchHit:
    conversation_uuid: uuid.UUID
    title: str
    is_archived: bool
    updated_at: datetime
    message_uuid: uuid.UUID | None  # None: only the title matched
    role: str | None
    snippet: list[SnippetSegment]
    match_count: int  # messages of the conversation that matched


def search_terms(query: str) -> SearchTerms:
    """The words and phrases of `query`; quotes, operators and wildcards are only text."""
    if len(query) > SEARCH_QUERY_MAX_CHARS:
        raise SearchQueryError(f"A search is at most {SEARCH_QUERY_MAX_CHARS} characters.")
    text = unicodedata.normalize("NFC", _INVISIBLE.sub(" ", query))
    pieces: list[tuple[str, bool]] = []
    for match in _PIECE.finditer(text):
        quoted, bare = match.groups()
        piece = _SPACES.sub(" ", quoted if quoted is not None else bare).strip()
        # A piece without a letter or digit has no word to find (and FTS5 rejects "").
        if any(ch.isalnum() for ch in piece):
            pieces.append((piece, quoted is None))
    if pieces and pieces[-1][1] and pieces[-1][0].isalnum() and len(pieces[-1][0]) >= 2:
        return SearchTerms(tuple(p for p, _ in pieces[:-1]), prefix=pieces[-1][0])
    return SearchTerms(tuple(p for p, _ in pieces))


def segments_from_marked(marked: str) -> list[SnippetSegment]:
    """Split text highlighted with MARK_START/MARK_STOP into segments (whitespace collapsed)."""
    segments: list[SnippetSegment] = []
    for index, part in enumerate(re.split(f"[{MARK_START}{MARK_STOP}]", marked)):
        text = _SPACES.sub(" ", part)
        if not text:
            continue
        is_match = index % 2 == 1 and not text.isspace()
        if segments and segments[-1]["match"] == is_match:
            segments[-1]["text"] += text
        else:
            segments.append({"text": text, "match": is_match})
    if segments:
        segments[0]["text"] = segments[0]["text"].lstrip()
        segments[-1]["text"] = segments[-1]["text"].rstrip()
    return [s for s in segments if s["text"]]


# --- SQL --------------------------------------------------------------------------------------
# The f-strings below (noqa: S608) splice in only table names and constants; what a person
# typed always travels as a query parameter.
_MESSAGE_FTS, _TITLE_FTS = MESSAGES.fts, TITLES.fts


def _pg_query(terms: SearchTerms) -> tuple[str, list[Any]]:
    # Constants to the planner (both functions are immutable), so the GIN indexes apply.
    sql = f"websearch_to_tsquery('{SEARCH_CONFIG}'::regconfig, %s)"
    params: list[Any] = [" ".join(f'"{phrase}"' for phrase in terms.phrases)]
    if terms.prefix:
        sql = f"({sql} && to_tsquery('{SEARCH_CONFIG}'::regconfig, %s))"
        params.append(f"'{terms.prefix}':*")
    return sql, params


def _fts5_query(terms: SearchTerms) -> str:
    quoted = ['"' + phrase.replace('"', '""') + '"' for phrase in terms.phrases]
    if terms.prefix:
        quoted.append(f'"{terms.prefix}"*')
    return " ".join(quoted)


def _hits_sql(
    terms: SearchTerms, *, owner_id: int, include_archived: bool
) -> tuple[str, list[Any]]:
    """CTEs `message_hits` (conversation_id, message_id, score) and `title_hits`
    (conversation_id, score) of the owner's conversations; a higher score is a better match."""
    archived = "" if include_archived else " AND NOT c.is_archived"
    if connection.vendor == "postgresql":
        tsquery, query_params = _pg_query(terms)
        message_vector, title_vector = pg_tsvector("m.text"), pg_tsvector("c.title")
        sql = f"""
        message_hits AS (
          SELECT m.conversation_id, m.id AS message_id,
                 ts_rank({message_vector}, {tsquery}, 1) AS score
          FROM conversations_message m
          JOIN conversations_conversation c ON c.id = m.conversation_id
          WHERE c.owner_id = %s{archived} AND {message_vector} @@ {tsquery}
        ),
        title_hits AS (
          SELECT c.id AS conversation_id, ts_rank({title_vector}, {tsquery}, 1) AS score
          FROM conversations_conversation c
          WHERE c.owner_id = %s{archived} AND {title_vector} @@ {tsquery}
        )"""  # noqa: S608
        params = [*query_params, owner_id, *query_params, *query_params, owner_id]
        return sql, [*params, *query_params]
    match = _fts5_query(terms)
    sql = f"""
    message_hits AS (
      SELECT m.conversation_id, m.id AS message_id, -bm25({_MESSAGE_FTS}) AS score
      FROM {_MESSAGE_FTS}
      JOIN conversations_message m ON m.id = {_MESSAGE_FTS}.rowid
      JOIN conversations_conversation c ON c.id = m.conversation_id
      WHERE {_MESSAGE_FTS} MATCH %s AND c.owner_id = %s{archived}
    ),
    title_hits AS (
      SELECT c.id AS conversation_id, -bm25({_TITLE_FTS}) AS score
      FROM {_TITLE_FTS}
      JOIN conversations_conversation c ON c.id = {_TITLE_FTS}.rowid
      WHERE {_TITLE_FTS} MATCH %s AND c.owner_id = %s{archived}
    )"""  # noqa: S608
    return sql, [match, owner_id, match, owner_id]


# One row per conversation: its best message and their count, joined with its title's score.
_RANKED = """,
best AS (
  SELECT conversation_id, message_id, score, match_count FROM (
    SELECT conversation_id, message_id, score,
           ROW_NUMBER() OVER (
             PARTITION BY conversation_id ORDER BY score DESC, message_id DESC
           ) AS place,
           COUNT(*) OVER (PARTITION BY conversation_id) AS match_count
    FROM message_hits
  ) ranked WHERE place = 1
),
matched AS (
  SELECT conversation_id, MAX(message_id) AS message_id, MAX(message_score) AS message_score,
         MAX(match_count) AS match_count, MAX(title_score) AS title_score
  FROM (
    SELECT conversation_id, message_id, score AS message_score, match_count,
           NULL AS title_score FROM best
    UNION ALL
    SELECT conversation_id, NULL, NULL, 0, score FROM title_hits
  ) candidates
  GROUP BY conversation_id
),
page AS (
  SELECT matched.*, ROW_NUMBER() OVER (
           ORDER BY title_score IS NOT NULL DESC, message_score DESC NULLS LAST,
                    title_score DESC NULLS LAST, c.updated_at DESC, c.id DESC
         ) AS position
  FROM matched JOIN conversations_conversation c ON c.id = matched.conversation_id
  ORDER BY position LIMIT %s OFFSET %s
)"""
_COLUMNS = "c.uuid, c.title, c.is_archived, c.updated_at, m.uuid, m.role, page.match_count"
# About as long as SQLite's snippet (24 tokens): one passage around the best cover.
_PG_MESSAGE_OPTIONS = f"StartSel={MARK_START}, StopSel={MARK_STOP}, MaxWords=24, MinWords=12"
_PG_TITLE_OPTIONS = f"StartSel={MARK_START}, StopSel={MARK_STOP}, HighlightAll=true"


def _pg_headline(column: str, tsquery: str) -> str:
    # ts_headline drops what its parser takes for XML tags: `<` travels as \x01 (control
    # characters were blanked first) and comes back after.
    text = f"translate({pg_clean(pg_indexed_text(column))}, '<', chr(1))"
    headline = f"ts_headline('{SEARCH_CONFIG}'::regconfig, {text}, {tsquery}, %s)"
    return f"translate({headline}, chr(1), '<')"


def _snippets_sql(terms: SearchTerms) -> tuple[str, list[Any]]:
    """The page's rows with their snippet, in order: the message's, or the title's."""
    if connection.vendor == "postgresql":
        tsquery, query_params = _pg_query(terms)
        sql = f"""
        SELECT {_COLUMNS}, CASE WHEN m.id IS NULL
          THEN {_pg_headline("c.title", tsquery)} ELSE {_pg_headline("m.text", tsquery)}
        END
        FROM page JOIN conversations_conversation c ON c.id = page.conversation_id
        LEFT JOIN conversations_message m ON m.id = page.message_id
        ORDER BY page.position"""  # noqa: S608
        params = [*query_params, _PG_TITLE_OPTIONS, *query_params, _PG_MESSAGE_OPTIONS]
        return sql, params
    match = _fts5_query(terms)
    # FTS5's snippet() and highlight() only exist in a query that MATCHes their table.
    sql = f"""
    SELECT {_COLUMNS}, snippet({_MESSAGE_FTS}, 0, char(2), char(3), '…', 24), page.position
    FROM page JOIN {_MESSAGE_FTS} ON {_MESSAGE_FTS}.rowid = page.message_id
    JOIN conversations_conversation c ON c.id = page.conversation_id
    JOIN conversations_message m ON m.id = page.message_id
    WHERE {_MESSAGE_FTS} MATCH %s
    UNION ALL
    SELECT c.uuid, c.title, c.is_archived, c.updated_at, NULL, NULL, page.match_count,
           highlight({_TITLE_FTS}, 0, char(2), char(3)), page.position
    FROM page JOIN {_TITLE_FTS} ON {_TITLE_FTS}.rowid = page.conversation_id
    JOIN conversations_conversation c ON c.id = page.conversation_id
    WHERE page.message_id IS NULL AND {_TITLE_FTS} MATCH %s
    ORDER BY position"""  # noqa: S608
    return sql, [match, match]


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _datetime(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    assert moment is not None
    # SQLite hands back the naive UTC Django stored.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _hit(row: Sequence[Any]) -> ConversationSearchHit:
    conversation_uuid, title, is_archived, updated_at, message_uuid, role, count, marked = row[:8]
    return ConversationSearchHit(
        conversation_uuid=_uuid(conversation_uuid),
        title=title,
        is_archived=bool(is_archived),
        updated_at=_datetime(updated_at),
        message_uuid=_uuid(message_uuid) if message_uuid is not None else None,
        role=role,
        snippet=segments_from_marked(marked or ""),
        match_count=int(count),
    )


def _full_text() -> bool:
    if settings.CHATSITE_SEARCH_BACKEND == "basic":
        return False
    if connection.vendor == "postgresql":
        return True
    return connection.vendor == "sqlite" and sqlite_index_ready(connection)


# --- the selectors -------------------------------------------------------------------------
def conversation_search(
    *,
    user: User | AnonymousUser,
    query: str,
    include_archived: bool = True,
    limit: int = 20,
    offset: int = 0,
) -> list[ConversationSearchHit]:
    """The best `limit` matches after `offset`. Queries: 1 (SQLite: +1 the first time, to see
    that the index exists; the icontains fallback: 3)."""
    terms = search_terms(query)
    if not terms or not user.is_authenticated or limit <= 0:
        return []
    if not _full_text():
        from conversations.services.search_basic import basic_search  # (imports this module)

        return basic_search(
            owner_id=user.pk,
            words=terms.words,
            include_archived=include_archived,
            limit=limit,
            offset=offset,
        )
    hits_sql, hits_params = _hits_sql(terms, owner_id=user.pk, include_archived=include_archived)
    snippets_sql, snippets_params = _snippets_sql(terms)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {hits_sql}{_RANKED}{snippets_sql}",
            [*hits_params, limit, max(offset, 0), *snippets_params],
        )
        return [_hit(row) for row in cursor.fetchall()]


def conversation_search_count(
    *, user: User | AnonymousUser, query: str, include_archived: bool = True
) -> int:
    """How many conversations match. Queries: 1 (the fallback: 2)."""
    terms = search_terms(query)
    if not terms or not user.is_authenticated:
        return 0
    if not _full_text():
        from conversations.services.search_basic import basic_count

        return basic_count(owner_id=user.pk, words=terms.words, include_archived=include_archived)
    hits_sql, params = _hits_sql(terms, owner_id=user.pk, include_archived=include_archived)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {hits_sql} SELECT COUNT(*) FROM (SELECT conversation_id FROM message_hits "  # noqa: S608
            "UNION SELECT conversation_id FROM title_hits) matched",
            params,
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


class ConversationSearchResults(Sequence[ConversationSearchHit]):
    """A search as a lazy sequence for a paginator: len() counts, a slice fetches one page."""

    def __init__(self, *, user: User | AnonymousUser, query: str, include_archived: bool) -> None:
        search_terms(query)  # a bad query fails here, before any paging
        self.user, self.query, self.include_archived = user, query, include_archived
        self._count: int | None = None

    def __len__(self) -> int:
        if self._count is None:
            self._count = conversation_search_count(
                user=self.user, query=self.query, include_archived=self.include_archived
            )
        return self._count

    @overload
    def __getitem__(self, index: int) -> ConversationSearchHit: ...
    @overload
    def __getitem__(self, index: slice) -> list[ConversationSearchHit]: ...
    def __getitem__(
        self, index: int | slice
    ) -> ConversationSearchHit | list[ConversationSearchHit]:
        if isinstance(index, int):
            found = self[index : index + 1]
            if not found:
                raise IndexError(index)
            return found[0]
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise ValueError("A search is read in pages, without steps.")
        return conversation_search(
            user=self.user,
            query=self.query,
            include_archived=self.include_archived,
            limit=stop - start,
            offset=start,
        )
