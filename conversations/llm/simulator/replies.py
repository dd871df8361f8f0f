"""What the simulated model says, and where it stops.

The reply is deterministic and describes what was received (turns, system prompt, images,
token count, the quoted last user text), so tests can assert on what the app actually sent;
`[sim:echo=1]` makes it the last user text instead, and `[sim:words=N]` lorem ipsum.
It also continues itself the way a model does: after a prefill that starts its reply, and
after a reply of its own that was cut off when the person's next turn asks it to continue.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

from conversations.llm.simulator.caching import CacheUsage
from conversations.llm.simulator.directives import lenient_directives, without_directives
from conversations.llm.simulator.prompt import Prompt
from conversations.llm.simulator.validation import Generation, Thinking

# One output "token" is a word with the whitespace before it; the second alternative only
# matches trailing whitespace, so the chunks always join back to the exact text.
TOKEN_RE = re.compile(r"\s*\S+|\s+")
QUOTE_LIMIT = 200
THINKING_QUOTE_LIMIT = 80
FORMATTING_SAMPLE = (
    "Some formatting, so the page can show it:\n\n"
    "- **bold** list item\n"
    "- `inline code` list item\n\n"
    "```python\n"
    'print("hello from the simulator")\n'
    "```"
)
LOREM = (  # noqa: SIM905 - one readable sentence beats a 28-item literal
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut "
    "labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco"
).split()


def tokens_of(text: str) -> list[str]:
    return TOKEN_RE.findall(text)


def collapse(text: str, limit: int) -> str:
    said = " ".join(text.split())
    return said[:limit] + "…" if len(said) > limit else said


class Replier:
    """The full reply (before any limit cuts it) to the first k turns of a prompt.

    A continuation builds on the reply to an earlier, shorter conversation; those are
    resolved with an explicit stack and memoised, so long chains cannot exhaust the stack.
    """

    def __init__(self, prompt: Prompt) -> None:
        self._prompt = prompt
        self._turn_tokens = [0, *itertools.accumulate(turn.tokens for turn in prompt.turns)]
        self._turn_images = [0, *itertools.accumulate(turn.images for turn in prompt.turns)]
        self._memo: dict[int, str] = {}

    def reply(self, k: int | None = None) -> str:
        target = len(self._prompt.turns) if k is None else k
        pending = [target]
        while pending:
            top = pending[-1]
            if top in self._memo:
                pending.pop()
                continue
            base = self._builds_on(top)
            if base is not None and base not in self._memo:
                pending.append(base)
                continue
            self._memo[top] = self._resolve(top, base)
            pending.pop()
        return self._memo[target]

    def _builds_on(self, k: int) -> int | None:
        """The shorter conversation whose reply the reply to the first k turns continues."""
        turns = self._prompt.turns[:k]
        if turns[-1].role == "assistant" and turns[-1].text:
            return k - 1 if k > 1 else None  # a prefill continues the reply without it
        j = k - 1
        while j >= 0 and turns[j].role == "user":
            j -= 1
        # The final user turn asks to continue an assistant turn that may be our own cut-off
        # reply; any other question gets its own answer.
        asks_to_continue = "continue" in turns[-1].text.lower()
        return j if asks_to_continue and j >= 1 and turns[j].text else None

    def _resolve(self, k: int, base: int | None) -> str:
        turns = self._prompt.turns[:k]
        earlier = self._memo[base] if base is not None else ""
        said = turns[base].text if base is not None else ""
        if turns[-1].role == "assistant" and turns[-1].text:
            if base is not None and earlier.startswith(said):
                return earlier[len(said) :]  # prefill + this == the reply without the prefill
            body = self._compose(k)
            # A prefill cannot end in whitespace, so its continuation starts with a space.
            return " " + body if body else body
        if base is not None and earlier.startswith(said) and len(earlier) > len(said):
            return earlier[len(said) :]
        return self._compose(k)

    def _compose(self, k: int) -> str:
        turns = self._prompt.turns[:k]
        last_user = next((turn.text for turn in reversed(turns) if turn.role == "user"), "")
        directives = lenient_directives(last_user)
        if directives.echo:
            # Exact text on demand, e.g. Markdown (or hostile Markdown) for the browser's renderer.
            return without_directives(last_user)
        if directives.words is not None:
            return " ".join(LOREM[i % len(LOREM)] for i in range(directives.words))
        system = "a system prompt" if self._prompt.system else "no system prompt"
        users = sum(1 for turn in turns if turn.role == "user")
        tokens = self._prompt.system_tokens + self._turn_tokens[k]
        return (
            f"Offline simulator reply. I received {k} messages ({users} from you), {system}, "
            f"{self._turn_images[k]} images and about {tokens} input tokens. "
            f"You said: “{collapse(last_user, QUOTE_LIMIT)}”\n\n{FORMATTING_SAMPLE}"
        )


def thinking_text(prompt: Prompt) -> str:
    said = collapse(prompt.last_user_text, THINKING_QUOTE_LIMIT)
    return (
        f"The user wrote “{said}”. I should say what I received, quote it back, "
        "and show some formatting."
    )


def signature_of(thinking: str) -> str:
    # Opaque like the real one, and stable, so a resent thinking block is the same block.
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest()).decode()


@dataclass(frozen=True)
class Output:
    """The generated content, cut where generation stopped."""

    thinking: list[str]  # output tokens of the thinking block; [] when there is none
    text: list[str]  # output tokens of the text block
    signature: str | None  # set when the request asked for thinking and some was generated
    thinking_shown: bool
    stop_reason: str
    stop_sequence: str | None

    @property
    def tokens(self) -> int:
        return len(self.thinking) + len(self.text)

    @property
    def stop_details(self) -> dict[str, Any] | None:
        if self.stop_reason != "refusal":
            return None
        return {"type": "refusal", "category": None, "explanation": "Simulated refusal"}

    def thinking_block(self) -> dict[str, str]:
        shown = "".join(self.thinking) if self.thinking_shown else ""
        return {"type": "thinking", "thinking": shown, "signature": self.signature or ""}


def plan_output(
    reply: str,
    thinking: str | None,
    generation: Generation,
    *,
    stop: str | None,
    room: int,
    shown: bool = True,
) -> Output:
    """Where generation stops: [sim:stop], stop sequences, then max_tokens or the window.

    `room` is what the context window leaves after the prompt; max_tokens counts thinking
    and text together, as the API does.
    """
    chunks = tokens_of(reply)
    reason = "end_turn"
    if stop is not None and chunks:
        chunks, reason = chunks[: math.ceil(len(chunks) / 2)], stop
    text = "".join(chunks)
    # The earliest match in the text wins, not the first one listed.
    hits = [(text.find(s), s) for s in generation.stop_sequences if s in text]
    sequence: str | None = None
    if hits:
        at, sequence = min(hits)
        chunks, reason = tokens_of(text[:at]), "stop_sequence"
    thought = tokens_of(thinking) if thinking is not None else []
    limit = min(generation.max_tokens, room)
    if len(thought) + len(chunks) > limit:
        reason = "max_tokens" if generation.max_tokens <= room else "model_context_window_exceeded"
        sequence = None
        thought, chunks = thought[:limit], chunks[: max(0, limit - len(thought))]
    signature = signature_of(thinking) if thinking is not None and thought else None
    return Output(thought, chunks, signature, shown, reason, sequence)


def usage_json(
    prompt_tokens: int, cache: CacheUsage, output: Output | None, *, thinking: Thinking | None
) -> dict[str, Any]:
    """`output=None` gives the usage message_start carries (output_tokens 1, as the API does)."""
    usage: dict[str, Any] = {
        "input_tokens": prompt_tokens - cache.read - cache.created,
        "output_tokens": output.tokens if output else 1,
        "cache_creation_input_tokens": cache.created,
        "cache_read_input_tokens": cache.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache.created_5m,
            "ephemeral_1h_input_tokens": cache.created_1h,
        },
    }
    if thinking is not None and output is not None:
        usage["output_tokens_details"] = {"thinking_tokens": len(output.thinking)}
    return usage


def message_json(
    msg_id: str, model: str, usage: dict[str, Any], output: Output | None
) -> dict[str, Any]:
    """The Message object; `output=None` gives the empty shell that message_start carries."""
    content: list[dict[str, Any]] = []
    if output is not None and output.signature is not None:
        content.append(output.thinking_block())
    if output is not None and output.text:
        content.append({"type": "text", "text": "".join(output.text)})
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": output.stop_reason if output else None,
        "stop_sequence": output.stop_sequence if output else None,
        "stop_details": output.stop_details if output else None,
        "usage": usage,
    }
