"""Reading export files: typed access to untrusted JSON that names where it is wrong, the
parsed shape every format becomes, and the claude.ai and ChatGPT formats (ours, and storing,
are in services/transcript_import.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from conversations.models import Message

MAX_COUNT = 2**31 - 1  # PositiveIntegerField on every database
CLAUDE_SENDERS = {"human": Message.Role.USER, "assistant": Message.Role.ASSISTANT}


class TranscriptImportError(ValueError):
    """A file that cannot be imported; the message names the place ("conversations[3]...")."""

    def __init__(self, message: str, *, code: str = "invalid_import") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class ParsedMessage:
    key: str
    parent_key: str | None
    role: str
    text: str
    created_at: datetime | None
    # Our own export's other columns (status, usage, cost, timings, ...).
    columns: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedConversation:
    where: str
    title: str
    messages: list[ParsedMessage]
    model: str = ""
    system: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    active_leaf_key: str | None = None
    summaries: list[dict[str, Any]] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)  # is_pinned, is_archived
    created_at: datetime | None = None
    updated_at: datetime | None = None


class FileReader:
    """Typed access to untrusted JSON that names the place of every problem."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.nul_stripped: dict[str, int] = {}

    def fail(self, where: str, problem: str) -> TranscriptImportError:
        return TranscriptImportError(f"{where}: {problem}" if where else problem)

    def obj(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {kind_of(value)}")
        return value

    def items(self, value: object, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {kind_of(value)}")
        return value

    def text(self, data: dict[str, Any], key: str, where: str, *, conversation: str = "") -> str:
        value = data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", f"expected text, got {kind_of(value)}")
        if "\x00" in value:
            # PostgreSQL cannot store NUL; it carries no meaning in a chat, so it is dropped.
            self.nul_stripped[conversation] = self.nul_stripped.get(conversation, 0) + 1
            value = value.replace("\x00", "")
        return value

    def count(self, data: dict[str, Any], key: str, where: str, high: int = MAX_COUNT) -> Any:
        value = data.get(key)
        if value is None:
            return None
        if type(value) is not int or not 0 <= value <= high:
            raise self.fail(f"{where}.{key}", f"expected a whole number from 0 to {high}")
        return value

    def flag(self, data: dict[str, Any], key: str, where: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", "expected true or false")
        return value

    def date(self, data: dict[str, Any], key: str, where: str) -> datetime | None:
        value = data.get(key)
        if value is None or value == "":
            return None
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                if not math.isfinite(value):
                    raise ValueError
                return datetime.fromtimestamp(value, tz=UTC)
            if isinstance(value, str):
                parsed = datetime.fromisoformat(value)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError, OSError):
            pass
        raise self.fail(f"{where}.{key}", "expected a date (ISO 8601 or seconds since 1970)")

    def decimal(self, data: dict[str, Any], key: str, where: str) -> Decimal | None:
        value = data.get(key)
        if value is None:
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            number = Decimal("NaN")
        if isinstance(value, bool) or not number.is_finite() or not 0 <= number < 10**6:
            raise self.fail(f"{where}.{key}", "expected an amount in US dollars")
        return number.quantize(Decimal("0.000001"))


def kind_of(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "a number")


def at_key(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def tree_check(messages: list[ParsedMessage], where: str, reader: FileReader) -> None:
    """Unique keys, parents in the file, no cycles (a walk from the roots reaches them all)."""
    children: dict[str | None, list[str]] = {}
    keys: set[str] = set()
    for message in messages:
        if message.key in keys:
            raise reader.fail(where, f"the message id {message.key[:40]!r} appears twice")
        keys.add(message.key)
    for message in messages:
        if message.parent_key is not None and message.parent_key not in keys:
            raise reader.fail(where, f"message {message.key[:40]!r} has a parent not in the file")
        children.setdefault(message.parent_key, []).append(message.key)
    reached, stack = 0, list(children.get(None, []))
    while stack:
        reached += 1
        stack.extend(children.get(stack.pop(), []))
    if reached != len(messages):
        raise reader.fail(where, "the messages' parent links form a cycle")


# --- claude.ai ---------------------------------------------------------------------------------
def parse_claude(data: dict[str, Any], where: str, reader: FileReader) -> ParsedConversation:
    messages: list[ParsedMessage] = []
    skipped_files = 0
    previous: str | None = None
    listed = reader.items(data.get("chat_messages"), at_key(where, "chat_messages"))
    keys = {m.get("uuid") for m in listed if isinstance(m, dict) and isinstance(m.get("uuid"), str)}
    for index, item in enumerate(listed):
        at = f"{at_key(where, 'chat_messages')}[{index}]"
        message = reader.obj(item, at)
        sender = message.get("sender")
        if not isinstance(sender, str) or sender not in CLAUDE_SENDERS:
            raise reader.fail(at, "sender must be human or assistant")
        text = reader.text(message, "text", at, conversation=where)
        if not text:
            blocks = reader.items(message.get("content"), f"{at}.content")
            parts = []
            for number, block in enumerate(blocks):
                block = reader.obj(block, f"{at}.content[{number}]")
                if block.get("type") == "text":
                    parts.append(
                        reader.text(block, "text", f"{at}.content[{number}]", conversation=where)
                    )
            text = "\n\n".join(part for part in parts if part)
        skipped_files += len(reader.items(message.get("attachments"), f"{at}.attachments"))
        skipped_files += len(reader.items(message.get("files"), f"{at}.files"))
        key = reader.text(message, "uuid", at) or f"#{index}"
        if "parent_message_uuid" in message:
            parent = reader.text(message, "parent_message_uuid", at)
            # claude.ai's root is a fixed id no message has: unknown parents start a branch.
            parent_key = parent if parent in keys and parent != key else None
        else:
            parent_key = previous
        messages.append(
            ParsedMessage(
                key=key,
                parent_key=parent_key,
                role=CLAUDE_SENDERS[sender],
                text=text,
                created_at=reader.date(message, "created_at", at),
            )
        )
        previous = key
    tree_check(messages, at_key(where, "chat_messages"), reader)
    if skipped_files:
        reader.warnings.append(
            f"{where or 'the file'}: {skipped_files} attached files were not imported "
            "(the export does not carry them)."
        )
    return ParsedConversation(
        where=where,
        title=reader.text(data, "name", where or "the file"),
        messages=messages,
        model=reader.text(data, "model", where or "the file"),
        active_leaf_key=messages[-1].key if messages else None,
        created_at=reader.date(data, "created_at", where or "the file"),
        updated_at=reader.date(data, "updated_at", where or "the file"),
    )


# --- ChatGPT -----------------------------------------------------------------------------------
def parse_chatgpt(data: dict[str, Any], where: str, reader: FileReader) -> ParsedConversation:
    """Rebuild the `mapping` tree without system/tool/hidden/empty nodes: their children hang
    from the nearest kept ancestor. Iterative, so a deep tree cannot overflow the stack."""
    at = at_key(where, "mapping")
    mapping = reader.obj(data.get("mapping"), at)
    nodes = {
        str(key): reader.obj(node, f"{at}[{str(key)[:40]!r}]") for key, node in mapping.items()
    }
    children: dict[str | None, list[str]] = {}
    for key, node in nodes.items():
        parent = node.get("parent")
        known = isinstance(parent, str) and parent in nodes and parent != key
        children.setdefault(parent if known else None, []).append(key)
    order: list[str] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        key = stack.pop()
        order.append(key)
        stack.extend(reversed(children.get(key, [])))
    if len(order) != len(nodes):
        raise reader.fail(at, "the nodes' parent links form a cycle")
    kept_parent: dict[str, str | None] = {}  # node -> nearest kept ancestor-or-self
    messages: list[ParsedMessage] = []
    skipped_images = 0
    for key in order:
        node = nodes[key]
        parent = node.get("parent")
        above = kept_parent.get(parent) if isinstance(parent, str) else None
        parsed, images = _chatgpt_message(node.get("message"), f"{at}[{key[:40]!r}]", where, reader)
        skipped_images += images
        if parsed is None:
            kept_parent[key] = above
            continue
        messages.append(ParsedMessage(key, above, *parsed))
        kept_parent[key] = key
    if skipped_images:
        reader.warnings.append(
            f"{where or 'the file'}: {skipped_images} images were not imported "
            "(the export only refers to them)."
        )
    current = data.get("current_node")
    leaf = kept_parent.get(current) if isinstance(current, str) else None
    return ParsedConversation(
        where=where,
        title=reader.text(data, "title", where or "the file"),
        messages=messages,
        active_leaf_key=leaf or (messages[-1].key if messages else None),
        created_at=reader.date(data, "create_time", where or "the file"),
        updated_at=reader.date(data, "update_time", where or "the file"),
    )


def _chatgpt_message(
    value: object, at: str, conversation: str, reader: FileReader
) -> tuple[tuple[str, str, datetime | None] | None, int]:
    """((role, text, created_at) or None when not kept, images left out)."""
    if value is None:
        return None, 0
    message = reader.obj(value, f"{at}.message")
    author = reader.obj(message.get("author") or {}, f"{at}.message.author")
    metadata = message.get("metadata")
    hidden = isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation")
    role = author.get("role")
    if role not in ("user", "assistant") or hidden or message.get("recipient") not in (None, "all"):
        return None, 0
    content = reader.obj(message.get("content") or {}, f"{at}.message.content")
    parts = reader.items(content.get("parts"), f"{at}.message.content.parts")
    texts = [part.replace("\x00", "") for part in parts if isinstance(part, str)]
    if not parts and isinstance(content.get("text"), str):
        texts = [reader.text(content, "text", f"{at}.message.content", conversation=conversation)]
    elif any("\x00" in part for part in parts if isinstance(part, str)):
        reader.nul_stripped[conversation] = reader.nul_stripped.get(conversation, 0) + 1
    images = sum(not isinstance(part, str) for part in parts)
    text = "\n\n".join(t for t in texts if t)
    if not text.strip():
        return None, images
    return (role, text, reader.date(message, "create_time", f"{at}.message")), images
