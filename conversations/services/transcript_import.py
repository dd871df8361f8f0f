"""Transcript import: our own JSON export, the claude.ai data export, the ChatGPT export.

Everything is parsed and checked before the first write, then stored in one transaction: a bad
file changes nothing, and the error names where it is wrong ("conversations[3].chat_messages[2]:
sender must be human or assistant"). Ids in the file are only keys inside the file: every row
gets a new UUID and belongs to the importer, so a file can never reach anyone else's rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, models, transaction

from conversations.llm.catalog import model_lookup
from conversations.models import Conversation, Message, Summary
from conversations.services.attachments import attachment_files_delete
from conversations.services.conversations import ConversationValidationError, conversation_create
from conversations.services.transcript_files import (
    FileImport,
    ImportedFile,
    imported_file_parse,
    imported_files_check,
    imported_files_store,
)
from conversations.services.transcript_sources import (
    FileReader,
    ParsedConversation,
    ParsedMessage,
    TranscriptImportError,
    at_key,
    parse_chatgpt,
    parse_claude,
    tree_check,
)

__all__ = ["ImportResult", "TranscriptImportError", "transcript_import"]

# Replies still generating when exported cannot be resumed here: they are kept as cut off.
IMPORTED_STATUSES = {s.value: s.value for s in Message.Status} | {
    Message.Status.PENDING.value: Message.Status.INTERRUPTED.value,
    Message.Status.STREAMING.value: Message.Status.INTERRUPTED.value,
}
TEXT_FIELDS = ("model", "stop_reason", "stop_sequence", "thinking", "error_type", "error_detail")


@dataclass(frozen=True)
class ImportResult:
    conversations: list[Conversation]
    message_counts: list[int]
    warnings: list[str]


# --- entry point -------------------------------------------------------------------------------
def transcript_import_limit() -> int:
    limit = settings.CHATSITE_IMPORT_MAX_BYTES
    return limit


def transcript_import_size_check(*, size: int) -> None:
    limit = transcript_import_limit()
    if size > limit:
        raise TranscriptImportError(
            f"The file is too large: {size / 2**20:.1f} MB, the limit is {limit / 2**20:.0f} MB.",
            code="too_large",
        )


def transcript_import(*, owner: User, data: bytes) -> ImportResult:
    """Import every conversation in `data` for `owner`, all or nothing.

    Raises TranscriptImportError (code `too_large` past CHATSITE_IMPORT_MAX_BYTES).
    """
    transcript_import_size_check(size=len(data))
    try:
        payload = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise TranscriptImportError("The file is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise TranscriptImportError(
            f"The file is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        raise TranscriptImportError("The file is nested too deeply to be an export.") from None
    reader = FileReader()
    parsed = _parse(payload, reader)
    for where, count in reader.nul_stripped.items():
        reader.warnings.append(f"{where or 'the file'}: NUL characters removed from {count} texts.")
    files = imported_files_check(
        [file for conversation in parsed for file in _files_of(conversation)], reader.warnings
    )
    try:
        with transaction.atomic():
            stored = [_store(owner, item, reader.warnings, files) for item in parsed]
    except BaseException:
        attachment_files_delete(files.created)  # their rows were rolled back
        raise
    return ImportResult(
        conversations=stored,
        message_counts=[len(conversation.messages) for conversation in parsed],
        warnings=reader.warnings,
    )


def _parse(payload: object, reader: FileReader) -> list[ParsedConversation]:
    if isinstance(payload, dict):
        items, prefix = [payload], None
    elif isinstance(payload, list):
        items, prefix = payload, "conversations"
    else:
        raise TranscriptImportError(
            "Expected an export: an object (one conversation) or a list of conversations."
        )
    if not items:
        raise TranscriptImportError("The file holds no conversations.")
    parsed = []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]" if prefix else ""
        data = reader.obj(item, where or "the file")
        if "chatsite_export_version" in data:
            parsed.append(_parse_own(data, where, reader))
        elif "chat_messages" in data:
            parsed.append(parse_claude(data, where, reader))
        elif "mapping" in data:
            parsed.append(parse_chatgpt(data, where, reader))
        else:
            raise reader.fail(
                where or "the file",
                "not a conversation export (no chatsite_export_version, chat_messages or mapping)",
            )
    return parsed


# --- our own export ----------------------------------------------------------------------------
def _parse_own(data: dict[str, Any], where: str, reader: FileReader) -> ParsedConversation:
    if data["chatsite_export_version"] != 1:
        raise reader.fail(at_key(where, "chatsite_export_version"), "only version 1 is known")
    head_where = at_key(where, "conversation")
    head = reader.obj(data.get("conversation", {}), head_where)
    parameters = head.get("parameters") or {}
    reader.obj(parameters, at_key(head_where, "parameters"))
    messages = []
    for index, item in enumerate(reader.items(data.get("messages"), at_key(where, "messages"))):
        messages.append(
            _parse_own_message(item, f"{at_key(where, 'messages')}[{index}]", where, reader)
        )
    tree_check(messages, at_key(where, "messages"), reader)
    summaries = []
    for index, item in enumerate(reader.items(data.get("summaries"), at_key(where, "summaries"))):
        at = f"{at_key(where, 'summaries')}[{index}]"
        summary = reader.obj(item, at)
        summaries.append(
            {
                "covers_up_to": reader.text(summary, "covers_up_to", at),
                "text": reader.text(summary, "text", at, conversation=where),
                "model": reader.text(summary, "model", at)[:100],
                "token_count": reader.count(summary, "token_count", at) or 0,
                "input_tokens": reader.count(summary, "input_tokens", at) or 0,
                "output_tokens": reader.count(summary, "output_tokens", at) or 0,
                "cost_usd": reader.decimal(summary, "cost_usd", at),
                "is_edited": reader.flag(summary, "is_edited", at),
            }
        )
    return ParsedConversation(
        where=where,
        title=reader.text(head, "title", head_where),
        messages=messages,
        model=reader.text(head, "model", head_where),
        system=reader.text(head, "system", head_where, conversation=where),
        parameters=parameters,
        active_leaf_key=reader.text(head, "active_leaf_id", head_where) or None,
        summaries=summaries,
        flags={key: reader.flag(head, key, head_where) for key in ("is_pinned", "is_archived")},
        created_at=reader.date(head, "created_at", head_where),
        updated_at=reader.date(head, "updated_at", head_where),
    )


def _parse_own_message(
    item: object, at: str, conversation: str, reader: FileReader
) -> ParsedMessage:
    data = reader.obj(item, at)
    role = data.get("role")
    if role not in Message.Role.values:
        raise reader.fail(f"{at}.role", "must be user or assistant")
    status = data.get("status") or Message.Status.COMPLETE.value
    if not isinstance(status, str) or status not in IMPORTED_STATUSES:
        raise reader.fail(f"{at}.status", f"unknown status {str(status)[:20]!r}")
    usage = reader.obj(data.get("usage") or {}, f"{at}.usage")
    columns: dict[str, Any] = {
        name: _fit(name, reader.text(data, name, at, conversation=conversation))
        for name in (*TEXT_FIELDS, "notice")
    }
    columns |= {name: reader.count(usage, name, f"{at}.usage") for name in Message.USAGE_FIELDS}
    columns |= {
        "status": IMPORTED_STATUSES[status],
        "cost_usd": reader.decimal(data, "cost_usd", at),
        "prefill_length": reader.count(data, "prefill_length", at) or 0,
        "continuations": reader.count(data, "continuations", at, high=32767) or 0,
        "is_pinned": reader.flag(data, "is_pinned", at),
        "first_token_ms": reader.count(data, "time_to_first_token_ms", at),
        "duration_ms": reader.count(data, "duration_ms", at),
        "attachments": [
            imported_file_parse(file, f"{at}.attachments[{index}]", reader)
            for index, file in enumerate(reader.items(data.get("attachments"), f"{at}.attachments"))
        ],
    }
    key = reader.text(data, "id", at)
    if not key:
        raise reader.fail(f"{at}.id", "missing")
    return ParsedMessage(
        key=key,
        parent_key=reader.text(data, "parent_id", at) or None,
        role=role,
        text=reader.text(data, "text", at, conversation=conversation),
        created_at=reader.date(data, "created_at", at),
        columns=columns,
    )


def _fit(name: str, value: str) -> str:
    """Cut a text to its column (PostgreSQL refuses longer ones)."""
    column = Message._meta.get_field(name)
    limit = column.max_length if isinstance(column, models.CharField) else None
    return value[:limit] if limit else value


# --- storing -----------------------------------------------------------------------------------
def _files_of(parsed: ParsedConversation) -> list[ImportedFile]:
    return [file for message in parsed.messages for file in message.columns.get("attachments", [])]


def _store(
    owner: User, parsed: ParsedConversation, warnings: list[str], files: FileImport
) -> Conversation:
    """Queries: about 4 + the message batches (bulk inserts, then bulk parent links) + about
    2 per attachment."""
    where = parsed.where or "the file"
    model = parsed.model
    if not model or model_lookup(model, fetch=False) is None:
        if model:
            warnings.append(f"{where}: unknown model {model[:100]!r} replaced by the default.")
        model = settings.CHATSITE_DEFAULT_MODEL
    try:
        conversation = conversation_create(
            owner=owner,
            title=parsed.title,
            system_prompt=parsed.system,
            model=model,
            parameters=parsed.parameters,
        )
    except ConversationValidationError as exc:
        if exc.field in ("title", "system", "model"):
            raise TranscriptImportError(f"{where}: {exc}") from None
        # Settings another model took may not fit this one: chatting matters more.
        warnings.append(f"{where}: settings dropped ({exc}).")
        conversation = conversation_create(
            owner=owner, title=parsed.title, system_prompt=parsed.system, model=model
        )
    rows = [_row(conversation, message) for message in parsed.messages]
    Message.objects.bulk_create(rows, batch_size=500)
    pk_by_key = {message.key: row.pk for message, row in zip(parsed.messages, rows, strict=True)}
    _link_parents(parsed.messages, rows, pk_by_key)
    _store_files(owner, conversation, parsed, rows, files, warnings)
    _store_summaries(conversation, parsed, pk_by_key, warnings)
    leaf = pk_by_key.get(parsed.active_leaf_key or "") or (rows[-1].pk if rows else None)
    changes: dict[str, Any] = {"active_leaf_id": leaf, **parsed.flags}
    if parsed.created_at:
        changes["created_at"] = parsed.created_at
    changes["updated_at"] = parsed.updated_at or parsed.created_at or conversation.updated_at
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    conversation.refresh_from_db()
    return conversation


def _store_files(
    owner: User,
    conversation: Conversation,
    parsed: ParsedConversation,
    rows: list[Message],
    files: FileImport,
    warnings: list[str],
) -> None:
    left_out_before = files.left_out
    for message, row in zip(parsed.messages, rows, strict=True):
        if message.columns.get("attachments"):
            imported_files_store(
                owner_id=owner.pk,
                conversation=conversation,
                message=row,
                files=message.columns["attachments"],
                state=files,
            )
    left_out = files.left_out - left_out_before
    if left_out:
        warnings.append(
            f"{parsed.where or 'the file'}: {left_out} attachments were not imported "
            "(the export did not carry their files: export with images=base64 to keep them)."
        )


def _link_parents(
    messages: list[ParsedMessage], rows: list[Message], pk_by_key: Mapping[str, int]
) -> None:
    """Set parents (known only once every row has its key) and the file's dates (the insert
    sets them to now). One statement run for all rows: bulk_update's CASE per row took
    seconds for 10,000 messages."""
    changes = []
    for message, row in zip(messages, rows, strict=True):
        parent = pk_by_key[message.parent_key] if message.parent_key else None
        if parent is None and message.created_at is None:
            continue
        created = message.created_at or row.created_at
        changes.append((parent, connection.ops.adapt_datetimefield_value(created), row.pk))
    if not changes:
        return
    quote = connection.ops.quote_name
    table = quote(Message._meta.db_table)
    # Only our own model's quoted names are interpolated; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {quote('parent_id')} = %s, {quote('created_at')} = %s "  # noqa: S608
        f"WHERE {quote('id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, changes)


def _row(conversation: Conversation, message: ParsedMessage) -> Message:
    columns = dict(message.columns)
    columns.pop("attachments", None)
    first_token_ms, duration_ms = (
        columns.pop("first_token_ms", None),
        columns.pop("duration_ms", None),
    )
    row = Message(
        uuid=uuid.uuid4(),
        conversation=conversation,
        role=message.role,
        text=message.text,
        **({"status": Message.Status.COMPLETE} | columns),
    )
    row.prefill_length = min(row.prefill_length, len(row.text))
    started = message.created_at
    if started is not None and (first_token_ms is not None or duration_ms is not None):
        row.started_at = started
        if first_token_ms is not None:
            row.first_token_at = started + timedelta(milliseconds=first_token_ms)
        if duration_ms is not None:
            row.finished_at = started + timedelta(milliseconds=duration_ms)
    return row


def _store_summaries(
    conversation: Conversation,
    parsed: ParsedConversation,
    pk_by_key: Mapping[str, int],
    warnings: list[str],
) -> None:
    rows = []
    for summary in parsed.summaries:
        covers = pk_by_key.get(summary["covers_up_to"])
        if covers is None or not summary["text"].strip():
            warnings.append(
                f"{parsed.where or 'the file'}: a summary of unknown turns was skipped."
            )
            continue
        rows.append(
            Summary(
                conversation=conversation,
                covers_up_to_id=covers,
                **{k: v for k, v in summary.items() if k != "covers_up_to"},
            )
        )
    Summary.objects.bulk_create(rows)
