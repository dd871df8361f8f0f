"""The images a request carries: which ones, at which size, and as which kind of source.

Chosen while the reply is prepared (sync, one query), then made into image blocks between
network waits: with the Files API on, each stored size is uploaded once and referred to by id
afterwards; base64 is the default and the fallback. Requests stay inside the API's limits —
the oldest images beyond them are left out (a short text says so in their place, and the reply
carries a notice for the person) rather than the turn failing.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
from django.conf import settings

from conversations.asyncdb import database_sync_to_async
from conversations.llm.client import get_client
from conversations.llm.models import IMAGE_EDGE_STANDARD, ModelSpec
from conversations.models import Attachment, Conversation, Message
from conversations.services.attachments import (
    URL_IMAGE_TOKEN_ESTIMATE,
    SendableFile,
    attachment_size_for,
)
from conversations.services.documents import PDF_MEDIA_TYPE
from conversations.services.history import FILES_API_BETA

logger = logging.getLogger(__name__)

Block = dict[str, Any]

# The Messages API's limits on images (see ANTHROPIC_API.md, Vision).
MAX_IMAGES_PER_REQUEST = 100
# Beyond this many images in one request, none may be larger than SMALL_IMAGE_EDGE.
MANY_IMAGES = 20
SMALL_IMAGE_EDGE = 2000
# PDF pages Claude reads in one request.
MAX_PDF_PAGES_PER_REQUEST = 100
# The request body may not pass 32 MB; base64 images get most of it, text keeps the rest.
MAX_BASE64_BYTES = 24_000_000
OMITTED_TEXT = "[An earlier attachment is left out here: the request reached the API's limits.]"
MISSING_TEXT = "[An attachment is missing here: its file could not be read.]"


@dataclass(frozen=True)
class AttachmentPlan:
    """The images (and PDFs) of the turns sent verbatim, by message id, in the order sent."""

    chosen: dict[int, list[SendableFile | Attachment]] = field(default_factory=dict)
    omitted: dict[int, int] = field(default_factory=dict)  # message id -> attachments left out

    @property
    def notice(self) -> str:
        count = sum(self.omitted.values())
        if not count:
            return ""
        attachments = "attachment was" if count == 1 else "attachments were"
        return (
            f"{count} older {attachments} left out of this request: the API takes at most "
            f"{MAX_IMAGES_PER_REQUEST} images, {MAX_PDF_PAGES_PER_REQUEST} PDF pages and 32 MB "
            "per request."
        )

    @property
    def tokens(self) -> dict[int, int]:
        return {
            message_id: sum(_tokens(image) for image in images)
            for message_id, images in self.chosen.items()
        }


def _tokens(image: SendableFile | Attachment) -> int:
    return image.tokens if isinstance(image, SendableFile) else URL_IMAGE_TOKEN_ESTIMATE


def attachments_plan(
    *, conversation: Conversation, verbatim: Sequence[Message], spec: ModelSpec
) -> AttachmentPlan:
    """Choose the attachments of the verbatim turns: a size per image for this model, and which
    of the oldest to leave out to stay inside the API's limits.

    Queries: 1 (the conversation's attachments on messages; naming every turn of a long path
    in the query would cost more than the few attachments off it).
    """
    user_ids = [m.id for m in verbatim if m.role == Message.Role.USER]
    wanted = set(user_ids)
    attachments: dict[int, list[Attachment]] = {}
    stored = Attachment.objects.filter(message__conversation=conversation).order_by(
        "created_at", "id"
    )
    for attachment in stored:
        if attachment.message_id in wanted:
            attachments.setdefault(attachment.message_id, []).append(attachment)
    ordered = [(m_id, a) for m_id in user_ids for a in attachments.get(m_id, [])]
    image_count = sum(a.media_type != PDF_MEDIA_TYPE for _, a in ordered)
    long_edge = spec.image_long_edge
    if min(image_count, MAX_IMAGES_PER_REQUEST) > MANY_IMAGES:
        long_edge = min(long_edge, SMALL_IMAGE_EDGE, IMAGE_EDGE_STANDARD)
    # Newest first: what the person is asking about now is the last thing left out.
    room = _Room()
    sized = []
    for message_id, attachment in reversed(ordered):
        size = attachment_size_for(attachment, long_edge=long_edge)
        if room.takes(attachment, size):
            sized.append((message_id, attachment if size is None else size))
    plan = AttachmentPlan()
    for message_id, chosen in reversed(sized):
        plan.chosen.setdefault(message_id, []).append(chosen)
    for message_id, items in attachments.items():
        left_out = len(items) - len(plan.chosen.get(message_id, []))
        if left_out:
            plan.omitted[message_id] = left_out
    return plan


@dataclass
class _Room:
    """What is left of one request's allowance for attachments."""

    images: int = MAX_IMAGES_PER_REQUEST
    pdf_pages: int = MAX_PDF_PAGES_PER_REQUEST
    base64_bytes: int = MAX_BASE64_BYTES

    def takes(self, attachment: Attachment, size: SendableFile | None) -> bool:
        # Counted as base64 even when a file id is cached: the id may turn out stale.
        size_bytes = (size.byte_size + 2) // 3 * 4 if size is not None else 0
        is_pdf = attachment.media_type == PDF_MEDIA_TYPE
        if size_bytes > self.base64_bytes:
            return False
        if is_pdf and attachment.page_count > self.pdf_pages:
            return False
        if not is_pdf and self.images == 0:
            return False
        self.base64_bytes -= size_bytes
        if is_pdf:
            self.pdf_pages -= attachment.page_count
        else:
            self.images -= 1
        return True


async def attachment_blocks(
    plan: AttachmentPlan, *, reupload: bool = False
) -> dict[int, list[Block]]:
    """Image and document blocks by message id. With the Files API on, files without a cached
    id are uploaded (all of them when `reupload`: the API said an id is gone). Omitted ones
    become a short text, so their turn is never empty and Claude knows something was there."""
    use_files = settings.CHATSITE_FILES_API
    blocks: dict[int, list[Block]] = {}
    for message_id, images in plan.chosen.items():
        blocks[message_id] = [await _block(image, use_files, reupload) for image in images]
    for message_id, count in plan.omitted.items():
        blocks.setdefault(message_id, [])[:0] = [{"type": "text", "text": OMITTED_TEXT}] * count
    return blocks


async def _block(image: SendableFile | Attachment, use_files: bool, reupload: bool) -> Block:
    if isinstance(image, Attachment):
        return {"type": "image", "source": {"type": "url", "url": image.source_url}}
    kind = "document" if image.is_document else "image"
    file_id = image.files_api_id if not reupload else ""
    if use_files and not file_id:
        file_id = await _upload(image)
    if use_files and file_id:
        return {"type": kind, "source": {"type": "file", "file_id": file_id}}
    try:
        data = await asyncio.to_thread(_read, image)
    except OSError:
        logger.error("the stored file of attachment %s is missing", image.attachment.uuid)
        return {"type": "text", "text": MISSING_TEXT}
    source = {"type": "base64", "media_type": image.media_type, "data": data}
    return {"type": kind, "source": source}


def _read(image: SendableFile) -> str:
    with image.attachment.file.storage.open(image.file_name, "rb") as stored:
        return base64.b64encode(stored.read()).decode("ascii")


async def _upload(image: SendableFile) -> str:
    """Upload one stored size to the Files API and cache its id; "" when that fails (the
    request then carries the bytes instead)."""
    try:
        data = await asyncio.to_thread(_read_bytes, image)
    except OSError:
        return ""  # the inline path reports it
    extension = image.media_type.rsplit("/", 1)[-1]
    try:
        uploaded = await get_client().files.upload(
            file=(f"{image.attachment.uuid}.{extension}", data, image.media_type),
            extra_headers={"anthropic-beta": FILES_API_BETA},
        )
    except anthropic.APIError as exc:
        logger.warning("Files API upload failed (%s); sending the image inline", exc)
        return ""
    await database_sync_to_async(_remember_upload)(image, uploaded.id)
    return uploaded.id


def _remember_upload(image: SendableFile, file_id: str) -> None:
    Attachment.objects.filter(pk=image.attachment.pk).update(**{image.files_api_field: file_id})


def _read_bytes(image: SendableFile) -> bytes:
    with image.attachment.file.storage.open(image.file_name, "rb") as stored:
        data: bytes = stored.read()
    return data


def is_missing_file_error(exc: anthropic.APIStatusError) -> bool:
    """The API no longer has a file a request referred to (expired or deleted)."""
    message = str(exc.message).lower()
    return exc.status_code in (400, 404) and "file" in message and "not found" in message
