"""Attachments (images and PDFs): upload through an isolated check, claim by a message, delete.

Only our own re-encodes are stored, under random names in private storage; the bytes a person
uploaded are never kept, and their file name is only ever shown, never used as a path.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from conversations.asyncdb import database_sync_to_async
from conversations.llm.models import IMAGE_EDGE_STANDARD, estimate_image_tokens
from conversations.models import Attachment, Conversation, Message
from conversations.services.documents import (
    MAX_PDF_BYTES,
    PDF_MEDIA_TYPE,
    PDF_TOKENS_PER_PAGE,
    DocumentRejected,
    looks_like_pdf,
    pdf_check_isolated,
)
from conversations.services.images import (
    EncodedImage,
    ImageRejected,
    NormalizedImage,
    image_normalize_isolated,
)
from conversations.services.limits import upload_allowed
from conversations.services.message_rules import ChatError, RateLimitedError

MAX_ATTACHMENTS_PER_MESSAGE = 20
UNSENT_ATTACHMENT_HOURS = 24
MAX_NAME_LENGTH = 120
MAX_URL_LENGTH = 2000
# Tokens an image by URL is counted as until the API reports its real cost.
URL_IMAGE_TOKEN_ESTIMATE = 1600
# Path separators, controls (NUL included) and the invisible characters that can make a name
# read differently from what it is (bidirectional overrides and isolates, zero-width marks).
_UNSAFE_NAME_CHARACTERS = re.compile(
    r"[\x00-\x1f\x7f-\x9f/\\\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    PDF_MEDIA_TYPE: ".pdf",
}


class AttachmentError(ChatError):
    code = "invalid_attachment"


class AttachmentTooLargeError(AttachmentError):
    code = "too_large"


@dataclass(frozen=True)
class SendableFile:
    """One stored size of an image (or the one file of a PDF), as a request would use it."""

    attachment: Attachment
    file_name: str
    media_type: str
    width: int
    height: int
    byte_size: int
    files_api_id: str
    # The Attachment field that caches this size's Files API id.
    files_api_field: str

    @property
    def is_document(self) -> bool:
        return self.media_type == PDF_MEDIA_TYPE

    @property
    def tokens(self) -> int:
        if self.is_document:
            return self.attachment.page_count * PDF_TOKENS_PER_PAGE
        return estimate_image_tokens(self.width, self.height)


def attachment_sizes(attachment: Attachment) -> list[SendableFile]:
    """The stored sizes of an attachment, largest first (none for an image by URL)."""
    prefixes = ["", "standard_"] if attachment.standard_file else [""]
    return [_stored_size(attachment, prefix) for prefix in prefixes] if attachment.file else []


def _stored_size(attachment: Attachment, prefix: str) -> SendableFile:
    # The two sizes are parallel sets of fields: `file`, `width`... and `standard_file`...
    def value(name: str) -> Any:
        return getattr(attachment, prefix + name)

    return SendableFile(
        attachment=attachment,
        file_name=value("file").name,
        media_type=value("media_type"),
        width=value("width"),
        height=value("height"),
        byte_size=value("byte_size"),
        files_api_id=value("files_api_id"),
        files_api_field=prefix + "files_api_id",
    )


def attachment_size_for(attachment: Attachment, *, long_edge: int) -> SendableFile | None:
    """The largest stored size whose long edge is within `long_edge` (the smallest otherwise)."""
    sizes = attachment_sizes(attachment)
    fitting = [size for size in sizes if max(size.width, size.height) <= long_edge]
    candidates = fitting or sizes[-1:]
    return candidates[0] if candidates else None


def attachment_token_estimate(attachment: Attachment, *, long_edge: int) -> int:
    size = attachment_size_for(attachment, long_edge=long_edge)
    return size.tokens if size is not None else URL_IMAGE_TOKEN_ESTIMATE


def attachment_name_clean(name: object) -> str:
    """A file name safe to show and to put in a header: no path, no controls, no tricks."""
    text = unicodedata.normalize("NFC", name if isinstance(name, str) else "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE_NAME_CHARACTERS.sub("", text).strip().lstrip(".")
    if len(text) > MAX_NAME_LENGTH:
        stem, dot, extension = text.rpartition(".")
        if dot and 0 < len(extension) <= 8:
            text = stem[: MAX_NAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            text = text[:MAX_NAME_LENGTH]
    return text or "image"


# --- upload ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckedFile:
    """A file that passed its checks, ready to store: an image normalized (only our re-encodes
    are kept), or a PDF opened and counted (kept as sent)."""

    name: str
    image: NormalizedImage | None = None
    pdf: bytes = b""
    page_count: int = 0


async def attachment_upload(
    *, owner_id: int, conversation: Conversation, name: object, data: bytes
) -> Attachment:
    """Check an upload off the event loop, in a bounded child process, and store it.

    Raises AttachmentError (with a sentence for the person) for anything we will not store.
    """
    await database_sync_to_async(_check_may_upload)(owner_id)
    checked = await asyncio.to_thread(attachment_check, name=name, data=data)
    return await database_sync_to_async(attachment_store)(
        owner_id=owner_id, conversation=conversation, checked=checked
    )


def attachment_check(*, name: object, data: bytes) -> CheckedFile:
    """Sync and slow (a child process decodes the file): never call it on the event loop or
    inside a transaction. An image is normalized (services/images.py), a PDF opened and
    counted (services/documents.py).

    Raises AttachmentError (with a sentence for the person) for anything we will not store.
    """
    if not data:
        raise AttachmentError("The file is empty.", field="file")
    limit = settings.CHATSITE_UPLOAD_MAX_BYTES
    if len(data) > limit:
        raise AttachmentTooLargeError(
            f"The file is too large: {len(data) / 2**20:.1f} MB, the limit is "
            f"{limit / 2**20:.0f} MB.",
            field="file",
        )
    clean_name = attachment_name_clean(name)
    if looks_like_pdf(data):
        if len(data) > MAX_PDF_BYTES:
            raise AttachmentTooLargeError(
                f"The PDF is too large: {len(data) / 2**20:.1f} MB; Claude takes PDFs of up to "
                f"{MAX_PDF_BYTES / 2**20:.0f} MB.",
                field="file",
            )
        try:
            document = pdf_check_isolated(data)
        except DocumentRejected as exc:
            raise AttachmentError(exc.message, field="file") from None
        return CheckedFile(name=clean_name, pdf=data, page_count=document.page_count)
    try:
        return CheckedFile(name=clean_name, image=image_normalize_isolated(data))
    except ImageRejected as exc:
        raise AttachmentError(exc.message, field="file") from None


def attachment_store(
    *,
    owner_id: int,
    conversation: Conversation,
    checked: CheckedFile,
    message: Message | None = None,
) -> Attachment:
    """Write a checked file and its row; unsent (message None) until a send claims it."""
    if checked.image is not None:
        return _image_store(
            owner_id=owner_id,
            conversation=conversation,
            name=checked.name,
            normalized=checked.image,
            message=message,
        )
    return _document_store(
        owner_id=owner_id,
        conversation=conversation,
        name=checked.name,
        data=checked.pdf,
        page_count=checked.page_count,
        message=message,
    )


async def attachment_from_url(
    *, owner_id: int, conversation: Conversation, url: object
) -> Attachment:
    """An image Claude fetches by URL; we only check the address and never fetch it."""
    if not settings.CHATSITE_IMAGE_URLS:
        raise AttachmentError("Images by link are turned off on this server.", field="url")
    checked = image_url_validate(url)
    await database_sync_to_async(_check_may_upload)(owner_id)
    return await Attachment.objects.acreate(
        owner_id=owner_id,
        conversation=conversation,
        source_url=checked,
        original_name=attachment_name_clean(urlsplit(checked).path),
        token_estimate=URL_IMAGE_TOKEN_ESTIMATE,
    )


def image_url_validate(url: object) -> str:
    if not isinstance(url, str) or not url.strip():
        raise AttachmentError("Give the image's address.", field="url")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise AttachmentError(
            f"The address is too long (the limit is {MAX_URL_LENGTH} characters).", field="url"
        )
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        raise AttachmentError("The address contains spaces or control characters.", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AttachmentError("That is not a valid address.", field="url") from None
    if parts.scheme.lower() != "https":
        raise AttachmentError("Only https:// image addresses are allowed.", field="url")
    if not parts.hostname or parts.username or parts.password or port == 0:
        raise AttachmentError("That is not a valid image address.", field="url")
    return url


def _check_may_upload(owner_id: int) -> None:
    if not upload_allowed(user_id=owner_id):
        raise RateLimitedError(
            f"You are uploading too fast (limit {settings.CHATSITE_UPLOAD_RATE_LIMIT}). "
            "Wait a moment, then try again."
        )
    # Uploads never sent (a tray lost with a browser's storage) go after a day, so they neither
    # fill the disk nor count against the person for ever.
    stale = timezone.now() - timedelta(hours=UNSENT_ATTACHMENT_HOURS)
    for forgotten in Attachment.objects.filter(
        owner_id=owner_id, message__isnull=True, created_at__lt=stale
    ):
        forgotten.delete()
    unsent = Attachment.objects.filter(owner_id=owner_id, message__isnull=True).count()
    if unsent >= settings.CHATSITE_MAX_UNSENT_ATTACHMENTS:
        raise AttachmentError(
            f"You have {unsent} images waiting to be sent; send or remove some first.",
            field="file",
        )


def _image_store(
    *,
    owner_id: int,
    conversation: Conversation,
    name: str,
    normalized: NormalizedImage,
    message: Message | None,
) -> Attachment:
    largest = normalized.variants[0]
    standard = next(
        (v for v in normalized.variants[1:] if max(v.width, v.height) <= IMAGE_EDGE_STANDARD),
        None,
    )
    attachment = Attachment(
        owner_id=owner_id,
        conversation=conversation,
        message=message,
        original_name=name,
        media_type=largest.media_type,
        width=largest.width,
        height=largest.height,
        byte_size=len(largest.data),
        sha256=hashlib.sha256(largest.data).hexdigest(),
        token_estimate=estimate_image_tokens(largest.width, largest.height),
    )
    try:
        attachment.file.save(_stored_name(largest), ContentFile(largest.data), save=False)
        if standard is not None:
            attachment.standard_file.save(
                _stored_name(standard), ContentFile(standard.data), save=False
            )
            attachment.standard_media_type = standard.media_type
            attachment.standard_width, attachment.standard_height = standard.width, standard.height
            attachment.standard_byte_size = len(standard.data)
        thumbnail = normalized.thumbnail
        attachment.thumbnail.save(_stored_name(thumbnail), ContentFile(thumbnail.data), save=False)
        attachment.save()
    except BaseException:
        attachment_files_delete([attachment])  # whatever was written before the failure
        raise
    return attachment


def _document_store(
    *,
    owner_id: int,
    conversation: Conversation,
    name: str,
    data: bytes,
    page_count: int,
    message: Message | None,
) -> Attachment:
    attachment = Attachment(
        owner_id=owner_id,
        conversation=conversation,
        message=message,
        original_name=name,
        media_type=PDF_MEDIA_TYPE,
        byte_size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        page_count=page_count,
        token_estimate=page_count * PDF_TOKENS_PER_PAGE,
    )
    try:
        attachment.file.save("document.pdf", ContentFile(data), save=False)
        attachment.save()
    except BaseException:
        attachment_files_delete([attachment])
        raise
    return attachment


def _stored_name(image: EncodedImage) -> str:
    # `attachment_path` replaces it with a random one; the extension only helps a human reader.
    return "image" + EXTENSIONS.get(image.media_type, "")


# --- claim and delete --------------------------------------------------------------------------
def attachments_validate(value: object) -> list[str]:
    """The attachment ids of a send: a list of at most 20 distinct UUID strings."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AttachmentError("Attachments must be a list of attachment ids.", field="attachments")
    if len(value) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise AttachmentError(
            f"At most {MAX_ATTACHMENTS_PER_MESSAGE} files can be attached to one message.",
            field="attachments",
        )
    ids: list[str] = []
    for item in value:
        try:
            ids.append(str(uuid.UUID(item)))
        except ValueError:
            raise AttachmentError("Unknown attachment.", field="attachments") from None
    if len(set(ids)) != len(ids):
        raise AttachmentError("The same image is attached twice.", field="attachments")
    return ids


def attachments_claim(*, conversation: Conversation, ids: list[str], message: Message) -> None:
    """Attach the person's unsent uploads to `message` (inside the send's transaction)."""
    if not ids:
        return
    claimed = Attachment.objects.filter(
        uuid__in=ids,
        owner_id=conversation.owner_id,
        conversation=conversation,
        message__isnull=True,
    ).update(message=message)
    if claimed != len(ids):
        # Another user's, another conversation's, already sent or deleted: all look the same.
        raise AttachmentError(
            "An attached image is no longer available; remove it and attach it again.",
            field="attachments",
        )


def attachments_copy(*, source: Message, target: Message) -> None:
    """An edited message keeps the images of the one it replaces (the files are shared)."""
    copies = []
    for attachment in source.attachments.all():
        attachment.pk = None
        attachment.uuid = uuid.uuid4()
        attachment.message = target
        copies.append(attachment)
    Attachment.objects.bulk_create(copies)


def attachment_delete(*, owner_id: int, attachment_uuid: object) -> bool:
    """Delete an upload that was never sent; False if there is no such unsent upload."""
    try:
        key = uuid.UUID(str(attachment_uuid))
    except ValueError:
        return False
    with transaction.atomic():
        # Locked: a send claiming it at the same moment either wins (then it is not deleted)
        # or waits and finds it gone.
        attachment = (
            Attachment.objects.select_for_update()
            .filter(uuid=key, owner_id=owner_id, message__isnull=True)
            .first()
        )
        if attachment is None:
            return False
        attachment.delete()
    return True


def attachment_files_delete(attachments: Iterable[Attachment]) -> None:
    """Remove stored files no remaining attachment refers to (copies made by edits share them).

    Runs after the rows are gone, on commit, so a rolled-back delete keeps its files.
    """
    names = {
        field.name
        for attachment in attachments
        for field in (attachment.file, attachment.standard_file, attachment.thumbnail)
        if field
    }
    if not names:
        return
    still_used: set[str] = set()
    for column in ("file", "standard_file", "thumbnail"):
        still_used.update(
            Attachment.objects.filter(**{f"{column}__in": names}).values_list(column, flat=True)
        )
    storage = Attachment._meta.get_field("file").storage
    for name in names - still_used:
        storage.delete(name)


def attachment_files_delete_on_commit(attachments: list[Attachment]) -> None:
    transaction.on_commit(lambda: attachment_files_delete(attachments))
