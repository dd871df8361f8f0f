"""The attachments of an imported transcript: our own JSON export with `images=base64`.

Every file goes through the same checks as an upload (a bounded child process decodes and
re-encodes it), before the import's transaction opens: decoding is slow and must not hold a
write lock. A file the checks refuse is left out with a warning (the conversation matters more
than one picture); a file that is not even base64 fails the import, as any malformed field does.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from conversations.models import Attachment, Conversation, Message
from conversations.services.attachments import (
    URL_IMAGE_TOKEN_ESTIMATE,
    AttachmentError,
    CheckedFile,
    attachment_check,
    attachment_name_clean,
    attachment_store,
    image_url_validate,
)
from conversations.services.transcript_sources import FileReader, TranscriptImportError

# Each distinct file costs a child process (~0.1-0.3 s): this bounds one import's work.
MAX_IMPORTED_FILES = 500


@dataclass(frozen=True)
class ImportedFile:
    where: str
    name: str
    data: bytes | None  # None: the export left the file out (images=link or omit)
    url: str = ""  # an image Claude fetches by URL


@dataclass
class FileImport:
    """What the checks made of the file's attachments, and what storing them wrote."""

    checked: dict[str, CheckedFile | None]  # by sha256 of the exported bytes
    stored: dict[str, Attachment]  # the first row written for each digest
    created: list[Attachment]
    left_out: int = 0


def imported_file_parse(item: object, at: str, reader: FileReader) -> ImportedFile:
    data = reader.obj(item, at)
    name = reader.text(data, "name", at)
    encoded = data.get("data")
    if encoded is None:
        # An image by URL carries no media type; its `url` is the address Claude fetches.
        url = reader.text(data, "url", at) if not data.get("media_type") else ""
        return ImportedFile(where=at, name=name, data=None, url=url)
    if not isinstance(encoded, str):
        raise reader.fail(f"{at}.data", "expected base64 text")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise reader.fail(f"{at}.data", "is not valid base64") from None
    return ImportedFile(where=at, name=name, data=raw)


def imported_files_check(files: list[ImportedFile], warnings: list[str]) -> FileImport:
    """Check every distinct file once (edits share their images, so exports repeat them)."""
    by_digest: dict[str, ImportedFile] = {}
    for file in files:
        if file.data is not None:
            by_digest.setdefault(hashlib.sha256(file.data).hexdigest(), file)
    if len(by_digest) > MAX_IMPORTED_FILES:
        raise TranscriptImportError(
            f"The file holds {len(by_digest)} attachments; an import takes at most "
            f"{MAX_IMPORTED_FILES}. Export with images=omit, or in parts.",
            code="too_large",
        )
    checked: dict[str, CheckedFile | None] = {}
    for digest, file in by_digest.items():
        assert file.data is not None
        try:
            checked[digest] = attachment_check(name=file.name, data=file.data)
        except AttachmentError as exc:
            checked[digest] = None
            warnings.append(f"{file.where}: left out ({exc.message})")
    return FileImport(checked=checked, stored={}, created=[])


def imported_files_store(
    *,
    owner_id: int,
    conversation: Conversation,
    message: Message,
    files: list[ImportedFile],
    state: FileImport,
) -> None:
    """Inside the import's transaction: rows (and files) for one message's attachments."""
    for file in files:
        attachment = _attachment_for(owner_id, conversation, message, file, state)
        if attachment is not None:
            state.created.append(attachment)
        elif file.data is None:
            state.left_out += 1  # files the checks refused were warned about one by one


def _attachment_for(
    owner_id: int,
    conversation: Conversation,
    message: Message,
    file: ImportedFile,
    state: FileImport,
) -> Attachment | None:
    if file.data is None:
        return _url_attachment(owner_id, conversation, message, file)
    digest = hashlib.sha256(file.data).hexdigest()
    checked = state.checked.get(digest)
    if checked is None:
        return None  # refused by the checks, already warned about
    first = state.stored.get(digest)
    if first is not None:
        # The same file again: share the stored files, as an edit's copy does.
        shared = copy.copy(first)
        shared.pk, shared.uuid, shared.message = None, uuid.uuid4(), message
        if file.name:
            shared.original_name = attachment_name_clean(file.name)
        shared.save()
        return shared
    stored = attachment_store(
        owner_id=owner_id, conversation=conversation, checked=checked, message=message
    )
    state.stored[digest] = stored
    return stored


def _url_attachment(
    owner_id: int, conversation: Conversation, message: Message, file: ImportedFile
) -> Attachment | None:
    if not file.url or not settings.CHATSITE_IMAGE_URLS:
        return None
    try:
        url = image_url_validate(file.url)
    except AttachmentError:
        return None
    fields: dict[str, Any] = {
        "owner_id": owner_id,
        "conversation": conversation,
        "message": message,
        "source_url": url,
        "original_name": attachment_name_clean(file.name or url),
        "token_estimate": URL_IMAGE_TOKEN_ESTIMATE,
    }
    return Attachment.objects.create(**fields)
