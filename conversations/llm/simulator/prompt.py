"""Read the prompt of a request (system + messages) into blocks, checking each one's shape.

The prompt is a list of blocks in prefix order: the system blocks (a string system is one
block), then each message's content blocks (a string content is one text block). Every block
knows its token cost, so counts, cache figures and the context-window check all add up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from conversations.llm.simulator.documents import (
    MAX_PDF_PAGES,
    PDF_MEDIA_TYPE,
    PDF_PAGE_TOKENS,
    pdf_pages,
)
from conversations.llm.simulator.files import FileStore
from conversations.llm.simulator.images import (
    IMAGE_TILE,
    UNMEASURED_ATTACHMENT_TOKENS,
    check_image_count,
    check_media_type,
    decode_base64,
    image_size,
)
from conversations.llm.simulator.wire import invalid

CHARS_PER_TOKEN = 3.5
# Each turn costs a little for its role markers, counted with the turn's first block.
TURN_OVERHEAD_TOKENS = 3
CACHE_TTLS = ("5m", "1h")
# Thinking blocks sent back in assistant turns are accepted but cost nothing.
WEIGHTLESS = ("thinking", "redacted_thinking")
BLOCK_TYPES = ("text", "image", "document", *WEIGHTLESS)
NON_EMPTY = (
    "all messages must have non-empty content except for the optional final assistant message"
)


@dataclass(frozen=True)
class Block:
    role: str  # "system", "user" or "assistant"
    kind: str
    tokens: int
    key: dict[str, Any]  # the block as sent minus cache_control: what a cache key covers
    ttl: str | None  # its cache_control breakpoint, if it carries one


@dataclass(frozen=True)
class Turn:
    role: str
    text: str  # its text blocks, joined with a space
    tokens: int
    images: int


@dataclass(frozen=True)
class Prompt:
    system: bool
    blocks: tuple[Block, ...]
    turns: tuple[Turn, ...]

    @property
    def tokens(self) -> int:
        return sum(block.tokens for block in self.blocks)

    @property
    def system_tokens(self) -> int:
        return sum(block.tokens for block in self.blocks if block.role == "system")

    @property
    def last_user_text(self) -> str:
        return next((turn.text for turn in reversed(self.turns) if turn.role == "user"), "")

    @property
    def prefill(self) -> str:
        """The text of a final assistant turn, which the reply continues; "" if none."""
        last = self.turns[-1]
        return last.text if last.role == "assistant" else ""


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def read_prompt(req: dict[str, Any], files: FileStore) -> Prompt:
    reader = _Reader(files)
    system = reader.system(req.get("system"))
    turns = reader.messages(req.get("messages"))
    check_image_count(reader.image_sizes)
    return Prompt(system=system, blocks=tuple(reader.blocks), turns=turns)


class _Reader:
    def __init__(self, files: FileStore) -> None:
        self.files = files
        self.blocks: list[Block] = []
        self.image_sizes: list[tuple[str, int, int]] = []  # (where, width, height)
        self.pdf_pages = 0

    def system(self, system: object) -> bool:
        if system is None:
            return False
        if isinstance(system, str):
            # An empty system string is allowed and simply absent.
            if system:
                self._add("system", {"type": "text", "text": system}, text_tokens(system), None)
            return bool(system.strip())
        if not isinstance(system, list):
            raise invalid("system: Input should be a valid string or a list of text blocks")
        for j, block in enumerate(system):
            loc = f"system.{j}"
            if not isinstance(block, dict) or block.get("type") != "text":
                raise invalid(f"{loc}.type: Input should be 'text'")
            tokens = _text(f"{loc}.text", block.get("text"))
            self._add("system", block, tokens, _ttl(loc, block))
        return bool(system)

    def messages(self, messages: object) -> tuple[Turn, ...]:
        if messages is None:
            raise invalid("messages: Field required")
        if not isinstance(messages, list):
            raise invalid("messages: Input should be a valid list")
        if not messages:
            raise invalid("messages: at least one message is required")
        last = len(messages) - 1
        return tuple(self._message(i, m, final=i == last) for i, m in enumerate(messages))

    def _message(self, i: int, message: object, *, final: bool) -> Turn:
        if not isinstance(message, dict):
            raise invalid(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}] if content else []
        elif not isinstance(content, list):
            raise invalid(f"messages.{i}.content: Input should be a valid string or list")
        # Only a final assistant turn (a prefill) may be empty; the API continues from it.
        may_be_empty = final and role == "assistant"
        if not content and not may_be_empty:
            raise invalid(f"messages.{i}: {NON_EMPTY}")
        texts: list[str] = []
        tokens = images = 0
        for j, block in enumerate(content):
            loc = f"messages.{i}.content.{j}"
            cost = self._block(loc, role, block)
            if cost and not tokens:
                cost += TURN_OVERHEAD_TOKENS  # with the turn's first block that weighs anything
            self._add(role, block, cost, _ttl(loc, block))
            tokens += cost
            images += block["type"] == "image"
            if block["type"] == "text":
                texts.append(block["text"])
        text = " ".join(texts)
        if may_be_empty and text != text.rstrip():
            raise invalid("messages: final assistant content cannot end with trailing whitespace")
        return Turn(role=role, text=text, tokens=tokens, images=images)

    def _block(self, loc: str, role: str, block: object) -> int:
        """Check one content block; its own token cost (thinking blocks cost nothing)."""
        if not isinstance(block, dict):
            raise invalid(f"{loc}: Input should be a valid dictionary")
        kind = block.get("type")
        if kind == "text":
            return _text(f"{loc}.text", block.get("text"))
        if kind == "image":
            return self._image(f"{loc}.source", block.get("source"))
        if kind == "document":
            return self._document(f"{loc}.source", block.get("source"))
        if kind in WEIGHTLESS:
            _thinking(loc, role, block)
            return 0
        expected = "', '".join(BLOCK_TYPES)
        raise invalid(
            f"{loc}: Input tag '{kind}' found using 'type' does not match any of the "
            f"expected tags: '{expected}'"
        )

    def _add(self, role: str, block: dict[str, Any], tokens: int, ttl: str | None) -> None:
        key = {k: v for k, v in block.items() if k != "cache_control"}
        self.blocks.append(
            Block(role=role, kind=str(block["type"]), tokens=tokens, key=key, ttl=ttl)
        )

    def _image(self, loc: str, source: object) -> int:
        if not isinstance(source, dict):
            raise invalid(f"{loc}: Field required")
        kind = source.get("type")
        if kind == "url" and isinstance(source.get("url"), str) and source["url"]:
            self.image_sizes.append((loc, 0, 0))  # not fetched: counted, not measured
            return UNMEASURED_ATTACHMENT_TOKENS
        if kind == "file" and isinstance(source.get("file_id"), str) and source["file_id"]:
            stored = self.files.get(source["file_id"])
            if not stored.mime_type.startswith("image/"):
                raise invalid(f"{loc}: file {stored.id} is a {stored.mime_type}, not an image")
            return self._measured(loc, stored.mime_type, stored.data)
        if kind != "base64":
            raise invalid(
                f"{loc}: expected a base64, url or file image source with its required fields"
            )
        # The media type is checked before the data is decoded, as the API's schema does.
        media_type = check_media_type(loc, source.get("media_type"))
        return self._measured(loc, media_type, decode_base64(loc, source.get("data")))

    def _measured(self, loc: str, media_type: str, raw: bytes) -> int:
        width, height = image_size(loc, media_type, raw)
        self.image_sizes.append((loc, width, height))
        return math.ceil(width / IMAGE_TILE) * math.ceil(height / IMAGE_TILE)

    def _document(self, loc: str, source: object) -> int:
        """Plain-text documents are measured as text; PDFs by their pages."""
        if not isinstance(source, dict):
            raise invalid(f"{loc}: Field required")
        kind = source.get("type")
        if kind == "text" and isinstance(source.get("data"), str):
            return text_tokens(source["data"])
        if kind == "file" and isinstance(source.get("file_id"), str):
            stored = self.files.get(source["file_id"])  # an unknown file is a 404
            if stored.mime_type != PDF_MEDIA_TYPE:
                raise invalid(f"{loc}: file {stored.id} is a {stored.mime_type}, not a PDF")
            return self._pdf(loc, stored.data)
        if kind == "base64":
            if source.get("media_type") != PDF_MEDIA_TYPE:
                raise invalid(f"{loc}.media_type: Input should be 'application/pdf'")
            return self._pdf(loc, decode_base64(loc, source.get("data")))
        if kind == "url" and isinstance(source.get("url"), str):
            return UNMEASURED_ATTACHMENT_TOKENS
        raise invalid(f"{loc}: expected a base64, text, url or file document source")

    def _pdf(self, loc: str, raw: bytes) -> int:
        pages = pdf_pages(loc, raw)
        self.pdf_pages += pages
        if self.pdf_pages > MAX_PDF_PAGES:
            raise invalid(f"{loc}: A maximum of {MAX_PDF_PAGES} PDF pages may be provided.")
        return pages * PDF_PAGE_TOKENS


def _text(loc: str, text: object) -> int:
    if not isinstance(text, str):
        raise invalid(f"{loc}: Input should be a valid string")
    if not text:
        raise invalid(f"{loc}: text content blocks must be non-empty")
    if not text.strip():
        raise invalid(f"{loc}: text content blocks must contain non-whitespace text")
    return text_tokens(text)


def _thinking(loc: str, role: str, block: dict[str, Any]) -> None:
    if role != "assistant":
        raise invalid(f"{loc}: thinking blocks may only appear in assistant messages")
    fields = ("thinking", "signature") if block["type"] == "thinking" else ("data",)
    for field in fields:
        if not isinstance(block.get(field), str):
            raise invalid(f"{loc}.{field}: Field required")
    if block.get("cache_control") is not None:
        raise invalid(f"{loc}.cache_control: thinking blocks cannot be cached directly")


def _ttl(loc: str, block: dict[str, Any]) -> str | None:
    control = block.get("cache_control")
    return None if control is None else cache_ttl(f"{loc}.cache_control", control)


def cache_ttl(loc: str, control: object) -> str:
    """Check a cache_control object; its TTL ("5m" when absent)."""
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise invalid(f"{loc}.type: Input should be 'ephemeral'")
    ttl = control.get("ttl", "5m")
    if ttl not in CACHE_TTLS:
        raise invalid(f"{loc}.ttl: Input should be '5m' or '1h'")
    return str(ttl)
