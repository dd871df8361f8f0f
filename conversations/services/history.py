"""Stored tree -> the exact Messages API request.

One query each loads a conversation's messages and summaries (images: services/vision.py);
the active path is found by walking parent pointers in memory, so the cost is the same for 3
messages or 5,000.
Everything after the queries is a pure function of its inputs: `request_build` turns a path, its
summary, its images and the conversation's validated settings into the body the SDK sends.

Cache layout (the API allows 4 breakpoints): the system prompt (cached across compactions), the
summary (byte-identical until the next compaction), the last block of the previous user turn
(where the previous request put its last breakpoint, so its entry is found whatever lies between)
and the last block of the final user turn (written for the next request).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from conversations.llm.models import API_VERSION_SAMPLING, ModelSpec
from conversations.models import Conversation, Message, Summary
from conversations.services.parameters import GenerationSettings

# Only what the request builder and the page need: a 5,000-message history stays cheap.
PATH_FIELDS = (
    "id",
    "notice",
    "uuid",
    "parent_id",
    "role",
    "text",
    "status",
    "model",
    "stop_reason",
    "stop_sequence",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_1h_input_tokens",
    "thinking",
    "thinking_tokens",
    "context_tokens",
    "cost_usd",
    "prefill_length",
    "continuations",
    "is_pinned",
    "summary_id",
    "error_type",
    "error_detail",
    "started_at",
    "first_token_at",
    "finished_at",
    "created_at",
)
# What building a request, sizing it and folding it into a summary read: every turn, the whole
# path is loaded, and each column converted per row (uuids and dates the most) is time.
GENERATION_PATH_FIELDS = (
    "id",
    "parent_id",
    "role",
    "text",
    "status",
    "model",
    "is_pinned",
    "summary_id",
    "context_tokens",
)

# Sent after a cut-off reply on models that cannot continue from a prefill.
CONTINUE_PROMPT = (
    "Your previous reply was cut off. Continue it exactly where it stopped, without repeating "
    "anything and without any preamble."
)
# Opens the verbatim turns when a summary ended on the person's turn (the API wants a user first).
SUMMARY_BRIDGE = "(The earlier part of this conversation is summarized in the system prompt.)"
SUMMARY_HEADING = "Summary of the earlier part of this conversation:"
PINNED_HEADING = "Messages from that earlier part, kept word for word:"

Block = dict[str, Any]
Turn = dict[str, Any]  # {"role": ..., "content": [Block, ...]}
# Sent with requests that refer to uploaded files (harmless where the API no longer needs it).
FILES_API_BETA = "files-api-2025-04-14"


def conversation_path(
    *,
    conversation: Conversation,
    leaf_id: int | None = None,
    fields: Sequence[str] = PATH_FIELDS,
) -> list[Message]:
    """The messages from the root to `leaf_id` (default: the active leaf), oldest first.

    Queries: 1 (all the conversation's messages, `fields` only: reading another field of
    them later costs a query per message).
    """
    leaf_id = leaf_id if leaf_id is not None else conversation.active_leaf_id
    if leaf_id is None:
        return []
    by_id = {m.id: m for m in Message.objects.filter(conversation=conversation).only(*fields)}
    return path_to(by_id, leaf_id)


def path_to(by_id: dict[int, Message], leaf_id: int) -> list[Message]:
    """Walk parent pointers from a leaf to the root; a cycle or dangling pointer ends the walk."""
    path: list[Message] = []
    seen: set[int] = set()
    current = by_id.get(leaf_id)
    while current is not None and current.id not in seen:
        seen.add(current.id)
        path.append(current)
        current = by_id.get(current.parent_id) if current.parent_id else None
    path.reverse()
    return path


def summary_for_path(*, conversation: Conversation, path: Sequence[Message]) -> Summary | None:
    """The summary that reaches furthest along `path` (summaries belong to their branch);
    of two that cover as far, the newer (a recompaction or a rewrite).

    Queries: 1 (the conversation's summaries: a few, as compaction is rare; cheaper than
    naming every message of a long path in the query).
    """
    position = {m.id: index for index, m in enumerate(path)}
    if not position:
        return None
    candidates = [
        summary
        for summary in Summary.objects.filter(conversation=conversation)
        if summary.covers_up_to_id in position
    ]
    return max(
        candidates,
        key=lambda s: (position[s.covers_up_to_id], s.created_at, s.id),
        default=None,
    )


@dataclass(frozen=True)
class PathImages:
    """The image blocks of a path's messages, by message id (see services/vision.py)."""

    blocks: dict[int, list[Block]] = field(default_factory=dict)
    # Estimated input tokens per message (for the context size before the API counts them).
    tokens: dict[int, int] = field(default_factory=dict)


def split_at_summary(
    path: Sequence[Message], summary: Summary | None
) -> tuple[list[Message], list[Message]]:
    """(covered, verbatim): the turns the summary stands for, and the ones sent as they are."""
    if summary is None:
        return [], list(path)
    for index, message in enumerate(path):
        if message.id == summary.covers_up_to_id:
            return list(path[: index + 1]), list(path[index + 1 :])
    return [], list(path)


def opaque_user_id(user_id: int) -> str:
    """`metadata.user_id`: stable per person, meaningless outside this server (no PII)."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"chatsite-user:{user_id}".encode(), hashlib.sha256
    )
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class BuiltRequest:
    """Everything one Messages API call needs, and what to record about it."""

    # Arguments of `messages.stream()` (model, max_tokens, system, messages, ...).
    body: dict[str, Any]
    # Sampling parameters travel outside the SDK's typed arguments, under the older version.
    extra_headers: dict[str, str] = field(default_factory=dict)
    extra_body: dict[str, Any] = field(default_factory=dict)
    summary_id: int | None = None
    # The text the new deltas are appended to: a prefill, or the reply being continued.
    reply_prefix: str = ""

    def stream_arguments(self) -> dict[str, Any]:
        arguments = dict(self.body)
        if self.extra_headers:
            arguments["extra_headers"] = self.extra_headers
        if self.extra_body:
            arguments["extra_body"] = self.extra_body
        return arguments

    def count_tokens_arguments(self) -> dict[str, Any]:
        """`count_tokens` takes the prompt, not the generation settings."""
        keep = ("model", "system", "messages", "thinking")
        arguments = {k: v for k, v in self.body.items() if k in keep}
        if "anthropic-beta" in self.extra_headers:  # the prompt refers to uploaded files
            arguments["extra_headers"] = {"anthropic-beta": self.extra_headers["anthropic-beta"]}
        return arguments

    def recorded(self) -> dict[str, Any]:
        """The body as sent, for the request inspector: image and PDF bytes replaced by hash
        and size."""
        recorded = {**self.body, **self.extra_body}
        if self.extra_headers:
            recorded["_headers"] = self.extra_headers
        redacted: dict[str, Any] = _redact(recorded)
        return redacted


def request_build(
    *,
    conversation: Conversation,
    spec: ModelSpec,
    generation: GenerationSettings,
    path: Sequence[Message],
    summary: Summary | None,
    reply_text: str,
    user_id: int,
    images: Mapping[int, list[Block]] | None = None,
) -> BuiltRequest:
    """The request that writes the reply after `path` (root .. the person's turn).

    `reply_text` is what the reply holds already: empty for a new reply, the person's prefill,
    or a cut-off reply being continued. Models that accept a prefill continue from it (without
    trailing whitespace, which the API rejects); the others get the partial reply as an
    assistant turn and a request to continue.
    """
    covered, verbatim = split_at_summary(path, summary)
    ttl = generation.cache_ttl
    system = _system_blocks(conversation.system_prompt, summary, covered)
    # After a summary the first verbatim turn may be Claude's: it is kept, behind a bridge.
    turns = api_turns(verbatim, from_user=summary is None, images=images or {})
    if summary is not None and (not turns or turns[0]["role"] != "user"):
        turns.insert(0, _turn("user", [_text(SUMMARY_BRIDGE)]))
    _place_message_breakpoints(turns, ttl)
    for block in system:
        block["cache_control"] = _cache_control(ttl)

    prefix = reply_prefix(spec=spec, generation=generation, reply_text=reply_text)
    if prefix:
        turns.append(_turn("assistant", [_text(prefix)]))
        if not continues_from_prefill(spec=spec, generation=generation):
            turns.append(_turn("user", [_text(CONTINUE_PROMPT)]))

    body: dict[str, Any] = {
        "model": spec.id,
        "max_tokens": generation.max_tokens,
        "messages": turns,
        "metadata": {"user_id": opaque_user_id(user_id)},
    }
    if system:
        body["system"] = system
    if generation.stop_sequences:
        body["stop_sequences"] = list(generation.stop_sequences)
    if generation.thinking and spec.supports_thinking:
        # A budget the person set is honoured where the model takes one; else the model decides.
        budgeted = generation.thinking_budget is not None and "enabled" in spec.thinking_types
        if "adaptive" in spec.thinking_types and not budgeted:
            body["thinking"] = {"type": "adaptive"}
        else:
            budget = generation.thinking_budget_for(generation.max_tokens)
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if generation.effort and generation.effort in spec.effort_levels:
        body["output_config"] = {"effort": generation.effort}
    sampling = {k: v for k, v in generation.sampling.items() if k in spec.sampling_parameters}
    headers = {"anthropic-version": API_VERSION_SAMPLING} if sampling else {}
    if _refers_to_files(turns):
        headers["anthropic-beta"] = FILES_API_BETA
    return BuiltRequest(
        body=body,
        extra_headers=headers,
        extra_body=sampling,
        summary_id=summary.id if summary is not None else None,
        reply_prefix=prefix,
    )


def _refers_to_files(turns: Sequence[Turn]) -> bool:
    return any(
        block.get("type") in ("image", "document") and block.get("source", {}).get("type") == "file"
        for turn in turns
        for block in turn["content"]
    )


def continues_from_prefill(*, spec: ModelSpec, generation: GenerationSettings) -> bool:
    """Whether a reply that holds text goes on from it as a prefill (the API does not take a
    prefill together with thinking)."""
    return spec.accepts_prefill and not generation.thinking


def reply_prefix(*, spec: ModelSpec, generation: GenerationSettings, reply_text: str) -> str:
    """The text a reply is continued from: a prefill may not end in whitespace, so it loses
    its trailing whitespace (the model's continuation brings its own)."""
    if not reply_text.strip():
        return ""
    if continues_from_prefill(spec=spec, generation=generation):
        return reply_text.rstrip()
    return reply_text


def api_turns(
    path: Iterable[Message],
    *,
    from_user: bool = True,
    images: Mapping[int, list[Block]] | None = None,
) -> list[Turn]:
    """The turns the API accepts: non-blank, same-role turns merged (each part its own block),
    starting with the person; a message's images come before its text. Earlier assistant
    turns are sent exactly as received."""
    turns: list[Turn] = []
    for message in path:
        blocks = [dict(block) for block in (images or {}).get(message.id, [])]
        if message.text.strip():
            blocks.append(_text(message.text))
        if not blocks:
            # Empty replies (failed before the first token) carry nothing the model needs.
            continue
        role = "user" if message.role == Message.Role.USER else "assistant"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append(_turn(role, blocks))
    while from_user and turns and turns[0]["role"] != "user":
        turns.pop(0)
    return turns


def summary_block_text(summary: Summary, covered: Sequence[Message]) -> str:
    """The summary as sent: its text, then any pinned messages it covers, word for word."""
    parts = [f"{SUMMARY_HEADING}\n\n{summary.text.strip()}"]
    pinned = [m for m in covered if m.is_pinned and m.text.strip()]
    if pinned:
        quoted = "\n\n".join(f"[{_speaker(m)}]\n{m.text}" for m in pinned)
        parts.append(f"{PINNED_HEADING}\n\n{quoted}")
    return "\n\n".join(parts)


def _speaker(message: Message) -> str:
    return "The person" if message.role == Message.Role.USER else "Claude"


def _system_blocks(
    system_prompt: str, summary: Summary | None, covered: Sequence[Message]
) -> list[Block]:
    blocks = []
    if system_prompt.strip():
        blocks.append(_text(system_prompt))
    if summary is not None and summary.text.strip():
        blocks.append(_text(summary_block_text(summary, covered)))
    return blocks


def _place_message_breakpoints(turns: list[Turn], ttl: str) -> None:
    user_turns = [turn for turn in turns if turn["role"] == "user"]
    for turn in user_turns[-2:]:
        turn["content"][-1]["cache_control"] = _cache_control(ttl)


def _cache_control(ttl: str) -> dict[str, str]:
    # "5m" is the API's default; naming it anyway keeps the body explicit for the inspector.
    return {"type": "ephemeral", "ttl": ttl}


def _text(text: str) -> Block:
    return {"type": "text", "text": text}


def _turn(role: str, content: list[Block]) -> Turn:
    return {"role": role, "content": content}


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        source = value.get("source")
        inline = value.get("type") in ("image", "document")
        if inline and isinstance(source, dict) and source.get("type") == "base64":
            data = str(source.get("data", ""))
            digest = hashlib.sha256(data.encode()).hexdigest()
            redacted = {k: v for k, v in source.items() if k != "data"}
            return {**value, "source": {**redacted, "data_sha256": digest, "data_chars": len(data)}}
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value
