"""The full-text indexes behind conversation search (see docs/search.md).

PostgreSQL: GIN expression indexes over `to_tsvector(SEARCH_CONFIG, ...)` of message text and
conversation titles; queries must repeat exactly that expression for the planner to use them.
SQLite: an FTS5 table per source, kept in sync by triggers. Without FTS5 nothing is created and
search falls back to icontains.

One idempotent installer serves the migration and `search_index_after_migrate`: on SQLite, a
later migration that rebuilds a table (Django's "remake" for most field changes) drops the
table's triggers with it, and the installer puts them back and refills the index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder

logger = logging.getLogger(__name__)

# Our own configuration: 'simple' (no stemming, no stop words: conversations mix languages,
# and an English stemmer would mangle the rest) with accents folded by `unaccent`, as SQLite's
# `remove_diacritics` does. It is a constant, not a setting: the indexes are built from it, and
# a query with any other configuration would silently stop using them.
SEARCH_CONFIG = "chatsite_search"
MIGRATION = ("conversations", "0004_search")

# Highlight markers. Both databases are handed text with these replaced by spaces (control
# characters separate words anyway), so every marker in a snippet is ours.
MARK_START = "\x02"
MARK_STOP = "\x03"


@dataclass(frozen=True)
class _Source:
    table: str
    column: str
    index: str  # PostgreSQL GIN index name

    @property
    def fts(self) -> str:
        return f"{self.table}_search"


MESSAGES = _Source("conversations_message", "text", "message_text_search")
TITLES = _Source("conversations_conversation", "title", "conversation_title_search")
SOURCES = (MESSAGES, TITLES)


def sqlite_clean(expression: str) -> str:
    """SQL (SQLite) for `expression` without our highlight markers."""
    return f"replace(replace({expression}, char(2), ' '), char(3), ' ')"


def pg_clean(expression: str) -> str:
    """SQL (PostgreSQL) for `expression` without our markers (nor \\x01, see search.py)."""
    return f"translate({expression}, chr(1) || chr(2) || chr(3), '   ')"


# PostgreSQL refuses a tsvector over 1 MB (a long imported or admin-edited reply would then
# fail to save): only the start of a text is indexed, more than any message a person sends.
PG_INDEXED_CHARS = 100_000


def pg_indexed_text(column: str) -> str:
    return f"left({column}, {PG_INDEXED_CHARS})"


def pg_tsvector(column: str) -> str:
    """The indexed expression, character for character."""
    return f"to_tsvector('{SEARCH_CONFIG}'::regconfig, {pg_indexed_text(column)})"


# --- SQLite ---------------------------------------------------------------------------------
def _sqlite_triggers(source: _Source) -> dict[str, str]:
    fts, table, column = source.fts, source.table, source.column
    insert_new = (
        f"INSERT INTO {fts}(rowid, {column}) VALUES (new.id, {sqlite_clean('new.' + column)});"  # noqa: S608
    )
    return {
        f"{fts}_insert": f"AFTER INSERT ON {table} BEGIN {insert_new} END",
        # Streaming saves a reply about once a second: only a changed text is re-indexed
        # (a heartbeat or status save costs nothing), and only that one row.
        f"{fts}_update": (
            f"AFTER UPDATE OF {column} ON {table} WHEN old.{column} IS NOT new.{column} "  # noqa: S608
            f"BEGIN DELETE FROM {fts} WHERE rowid = old.id; {insert_new} END"
        ),
        # Cascades too: Django deletes a conversation's messages row by row statement.
        f"{fts}_delete": (
            f"AFTER DELETE ON {table} BEGIN DELETE FROM {fts} WHERE rowid = old.id; END"  # noqa: S608
        ),
    }


def _sqlite_names(cursor: Any) -> set[str]:
    cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
    return {name for (name,) in cursor.fetchall()}


def _sqlite_install(connection: BaseDatabaseWrapper) -> None:
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        names = _sqlite_names(cursor)
        for source in SOURCES:
            triggers = _sqlite_triggers(source)
            if source.fts in names and names.issuperset(triggers):
                continue
            if source.fts not in names:
                try:
                    with transaction.atomic(using=connection.alias):
                        # A copy of the text (not external content): snippets then read text
                        # without markers, and a delete needs only the rowid, so a missed
                        # trigger can leave the index stale but never corrupt it.
                        cursor.execute(
                            f"CREATE VIRTUAL TABLE {source.fts} USING fts5({source.column}, "
                            "tokenize = 'unicode61 remove_diacritics 2')"
                        )
                except DatabaseError as error:
                    logger.warning("No FTS5 (%s): search falls back to icontains.", error)
                    return
            for name, body in triggers.items():
                cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
            # Triggers were missing, so rows may have changed unseen: refill.
            cursor.execute(f"DELETE FROM {source.fts}")  # noqa: S608
            cursor.execute(
                f"INSERT INTO {source.fts}(rowid, {source.column}) "  # noqa: S608
                f"SELECT id, {sqlite_clean(source.column)} FROM {source.table}"
            )
    sqlite_index_ready.cache_clear()


def _sqlite_uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for source in SOURCES:
            for name in _sqlite_triggers(source):
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {source.fts}")
    sqlite_index_ready.cache_clear()


class _ReadyCache:
    """Which SQLite databases have the FTS tables; only a yes is remembered, so an index that
    appears later (FTS5 installed, then migrate) is found without a restart."""

    def __init__(self) -> None:
        self._ready: set[str] = set()

    def __call__(self, connection: BaseDatabaseWrapper) -> bool:
        name = str(connection.settings_dict["NAME"])
        if name not in self._ready:
            with connection.cursor() as cursor:
                if not {s.fts for s in SOURCES} <= _sqlite_names(cursor):
                    return False
            self._ready.add(name)
        return True

    def cache_clear(self) -> None:
        self._ready.clear()


sqlite_index_ready = _ReadyCache()


# --- PostgreSQL -----------------------------------------------------------------------------
def _pg_install(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_ts_config WHERE cfgname = %s", [SEARCH_CONFIG])
        if cursor.fetchone() is None:
            with transaction.atomic(using=connection.alias):
                cursor.execute(f"CREATE TEXT SEARCH CONFIGURATION {SEARCH_CONFIG} (COPY = simple)")
                try:
                    with transaction.atomic(using=connection.alias):
                        # A trusted extension since PostgreSQL 13: a database owner may add it.
                        cursor.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
                        cursor.execute(
                            f"ALTER TEXT SEARCH CONFIGURATION {SEARCH_CONFIG} ALTER MAPPING "
                            "FOR hword, hword_part, word WITH unaccent, simple"
                        )
                except DatabaseError as error:
                    logger.warning("No unaccent (%s): search is accent-sensitive.", error)
        for source in SOURCES:
            cursor.execute(
                "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)",
                [source.index],
            )
            row = cursor.fetchone()
            if row is not None and row[0]:
                continue
            # A failed CONCURRENTLY build leaves an invalid index behind: start again.
            cursor.execute(f"DROP INDEX IF EXISTS {source.index}")
            # CONCURRENTLY: building over a large table must not block the replies being saved.
            concurrently = "" if connection.in_atomic_block else "CONCURRENTLY "
            cursor.execute(
                f"CREATE INDEX {concurrently}{source.index} ON {source.table} "
                f"USING gin ({pg_tsvector(source.column)})"
            )


def _pg_uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for source in SOURCES:
            cursor.execute(f"DROP INDEX IF EXISTS {source.index}")
        cursor.execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {SEARCH_CONFIG}")


# --- entry points ---------------------------------------------------------------------------
def search_index_install(*, connection: BaseDatabaseWrapper) -> None:
    """Create whatever part of the search index is missing (a no-op when all is there)."""
    if connection.vendor == "postgresql":
        _pg_install(connection)
    elif connection.vendor == "sqlite":
        _sqlite_install(connection)


def search_index_uninstall(*, connection: BaseDatabaseWrapper) -> None:
    if connection.vendor == "postgresql":
        _pg_uninstall(connection)
    elif connection.vendor == "sqlite":
        _sqlite_uninstall(connection)


def search_index_after_migrate(*, using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver: repairs the index after later migrations (SQLite table remakes)."""
    connection = connections[using]
    if MIGRATION in MigrationRecorder(connection).applied_migrations():
        search_index_install(connection=connection)
