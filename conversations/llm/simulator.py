"""An offline, wire-compatible simulator of the Anthropic Messages API.

It speaks the real HTTP protocol (status codes, error bodies, SSE events), so the real
`anthropic` SDK is exercised end to end: in process through `simulator_transport` (an httpx2
transport), or over loopback through `simulator_asgi_app` (`manage.py run_simulator`).

Replies are deterministic and describe what was received (turns, system prompt, images, token
estimate, the last user text), so tests can assert on what the application actually sent.
Fault directives in the last user message (`[sim:error=overloaded]`, `[sim:drop_after=3]`, ...)
let a person trigger failure paths from a browser. This module must not import Django.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import math
import re
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from conversations.llm.simulator_asgi import simulator_asgi_app, simulator_transport

__all__ = ["Simulator", "SimulatorResponse", "simulator_asgi_app", "simulator_transport"]

API_VERSIONS = ("2023-06-01", "2026-10-21")
# The newer API version dropped the sampling parameters altogether.
STRICT_VERSION = "2026-10-21"
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
# media_type -> the format Pillow reports for such a file.
IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
MAX_IMAGE_SIDE = 8000
# Images (and documents) we cannot measure, such as url/file sources, count a flat figure.
UNMEASURED_ATTACHMENT_TOKENS = 1600
IMAGE_TILE = 28
CHARS_PER_TOKEN = 3.5
ROLE_OVERHEAD_TOKENS = 3
QUOTE_LIMIT = 200
MAX_SIM_WORDS = 200_000

# One output "token" is a word with the whitespace before it; the second alternative only
# matches trailing whitespace, so the chunks always join back to the exact text.
TOKEN_RE = re.compile(r"\s*\S+|\s+")
DIRECTIVE_RE = re.compile(r"\[sim:([A-Za-z_]+)=([^\]]*)\]")
DIRECTIVE_KEYS = ("error", "error_after", "drop_after", "delay", "words")
NON_EMPTY = (
    "all messages must have non-empty content except for the optional final assistant message"
)

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

# id, display name, release date, retirement date if deprecated (newest first, as listed).
MODELS: tuple[tuple[str, str, str, str | None], ...] = (
    ("claude-opus-4-8", "Claude Opus 4.8", "2026-09-15T00:00:00Z", None),
    ("claude-opus-4-7", "Claude Opus 4.7", "2026-06-10T00:00:00Z", None),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-03-05T00:00:00Z", None),
    ("claude-opus-4-6", "Claude Opus 4.6", "2026-02-05T00:00:00Z", None),
    ("claude-haiku-4-5", "Claude Haiku 4.5", "2025-10-15T00:00:00Z", None),
    ("claude-sonnet-4-5", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z", "2026-11-30T00:00:00Z"),
    ("claude-opus-4-5", "Claude Opus 4.5", "2025-11-24T00:00:00Z", None),
)

# [sim:error=KIND] -> (status, error type, message).
FAULTS: dict[str, tuple[int, str, str]] = {
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "rate_limit": (
        429,
        "rate_limit_error",
        "Number of requests has exceeded your rate limit (simulated).",
    ),
    "api": (500, "api_error", "Internal server error"),
    "auth": (401, "authentication_error", "invalid x-api-key"),
    "invalid": (400, "invalid_request_error", "Simulated invalid request"),
}
JSON_HEADERS = {"content-type": "application/json"}
SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}


@dataclass
class SimulatorResponse:
    status: int
    headers: dict[str, str]
    body: bytes | AsyncIterator[bytes]  # an AsyncIterator (with aclose) for SSE streams


class ApiError(Exception):
    """An HTTP error answer; raised anywhere below `Simulator.handle`, rendered there."""

    def __init__(
        self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


# --- request validation ---------------------------------------------------------------------


@dataclass
class Tally:
    """What the prompt contains, accumulated while validating it."""

    chars: int = 0
    images: int = 0
    attachment_tokens: int = 0


@dataclass(frozen=True)
class Prompt:
    turns: int
    user_turns: int
    has_system: bool
    images: int
    input_tokens: int
    last_user_text: str
    prefill: bool


@dataclass(frozen=True)
class Generation:
    max_tokens: int
    stop_sequences: tuple[str, ...]
    stream: bool


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"There was an error parsing the body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise invalid("Request body must be a JSON object")
    return data


def check_prompt(req: dict[str, Any], version: str) -> Prompt:
    """Validate what /v1/messages and count_tokens share, and measure it."""
    if "model" not in req:
        raise invalid("model: Field required")
    if not isinstance(req["model"], str):
        raise invalid("model: Input should be a valid string")
    check_sampling(req, version)
    tally = Tally()
    has_system = check_system(req.get("system"), tally)
    messages = check_messages(req.get("messages"), tally)
    text_tokens = math.ceil(tally.chars / CHARS_PER_TOKEN)
    return Prompt(
        turns=len(messages),
        user_turns=sum(1 for m in messages if m["role"] == "user"),
        has_system=has_system,
        images=tally.images,
        input_tokens=text_tokens + ROLE_OVERHEAD_TOKENS * len(messages) + tally.attachment_tokens,
        last_user_text=last_user_text(messages),
        prefill=messages[-1]["role"] == "assistant" and bool(message_text(messages[-1])),
    )


def check_sampling(req: dict[str, Any], version: str) -> None:
    for name in SAMPLING_PARAMS:
        if name not in req:
            continue
        if version == STRICT_VERSION:
            raise invalid(f"{name}: Extra inputs are not permitted")
        value = req[name]
        if name == "top_k":
            if type(value) is not int or value < 0:
                raise invalid("top_k: Input should be a non-negative integer")
        elif type(value) not in (int, float) or not 0 <= value <= 1:
            raise invalid(f"{name}: Input should be a number between 0 and 1")


def check_system(system: object, tally: Tally) -> bool:
    if system is None:
        return False
    if isinstance(system, str):
        tally.chars += len(system)
        return bool(system.strip())
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or a list of text blocks")
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise invalid(f"system.{j}.type: Input should be 'text'")
        check_text(f"system.{j}.text", block.get("text"), tally)
    return bool(system)


def check_messages(messages: object, tally: Tally) -> list[dict[str, Any]]:
    if messages is None:
        raise invalid("messages: Field required")
    if not isinstance(messages, list):
        raise invalid("messages: Input should be a valid list")
    if not messages:
        raise invalid("messages: at least one message is required")
    for i, message in enumerate(messages):
        check_message(i, message, tally, final=i == len(messages) - 1)
    return messages


def check_message(i: int, message: object, tally: Tally, *, final: bool) -> None:
    if not isinstance(message, dict):
        raise invalid(f"messages.{i}: Input should be a valid dictionary")
    role = message.get("role")
    if role not in ("user", "assistant"):
        raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
    content = message.get("content")
    # Only a final assistant turn (a prefill) may be empty; the API continues from it.
    may_be_empty = final and role == "assistant"
    if isinstance(content, str):
        if content == "" and may_be_empty:
            pass
        elif content == "":
            raise invalid(f"messages.{i}: {NON_EMPTY}")
        else:
            check_text(f"messages.{i}.content", content, tally)
    elif isinstance(content, list):
        if not content and not may_be_empty:
            raise invalid(f"messages.{i}: {NON_EMPTY}")
        for j, block in enumerate(content):
            check_block(f"messages.{i}.content.{j}", block, tally)
    else:
        raise invalid(f"messages.{i}.content: Input should be a valid string or list")
    if may_be_empty and message_text(message) != message_text(message).rstrip():
        raise invalid("messages: final assistant content cannot end with trailing whitespace")


def check_block(loc: str, block: object, tally: Tally) -> None:
    if not isinstance(block, dict):
        raise invalid(f"{loc}: Input should be a valid dictionary")
    kind = block.get("type")
    if kind == "text":
        check_text(f"{loc}.text", block.get("text"), tally)
    elif kind == "image":
        tally.images += 1
        tally.attachment_tokens += image_tokens(f"{loc}.source", block.get("source"))
    elif kind == "document":
        check_document(f"{loc}.source", block.get("source"), tally)
    else:
        raise invalid(
            f"{loc}: Input tag '{kind}' found using 'type' does not match any of the "
            "expected tags: 'text', 'image', 'document'"
        )


def check_text(loc: str, text: object, tally: Tally) -> None:
    if not isinstance(text, str):
        raise invalid(f"{loc}: Input should be a valid string")
    if not text:
        raise invalid(f"{loc}: text content blocks must be non-empty")
    if not text.strip():
        raise invalid(f"{loc}: text content blocks must contain non-whitespace text")
    tally.chars += len(text)


def image_tokens(loc: str, source: object) -> int:
    """Validate an image source and estimate its cost from its pixel size."""
    if not isinstance(source, dict):
        raise invalid(f"{loc}: Field required")
    kind = source.get("type")
    if kind == "url" and isinstance(source.get("url"), str) and source["url"]:
        return UNMEASURED_ATTACHMENT_TOKENS
    if kind == "file" and isinstance(source.get("file_id"), str) and source["file_id"]:
        return UNMEASURED_ATTACHMENT_TOKENS
    if kind != "base64":
        raise invalid(
            f"{loc}: expected a base64, url or file image source with its required fields"
        )
    media_type = source.get("media_type")
    if media_type not in IMAGE_FORMATS:
        allowed = "', '".join(IMAGE_FORMATS)
        raise invalid(f"{loc}.media_type: Input should be '{allowed}'")
    width, height = image_size(loc, media_type, source.get("data"))
    return math.ceil(width / IMAGE_TILE) * math.ceil(height / IMAGE_TILE)


def image_size(loc: str, media_type: str, data: object) -> tuple[int, int]:
    if not isinstance(data, str):
        raise invalid(f"{loc}.data: Input should be a valid string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"{loc}.data: invalid base64 data") from None
    try:
        with Image.open(io.BytesIO(raw)) as image:
            size, found = image.size, image.format
    except (OSError, ValueError, Image.DecompressionBombError):
        raise invalid(f"{loc}: Could not process image") from None
    if found != IMAGE_FORMATS[media_type]:
        raise invalid(f"{loc}: the image does not match the provided media type {media_type}")
    if max(size) > MAX_IMAGE_SIDE:
        raise invalid(f"{loc}: image dimensions exceed max allowed size: {MAX_IMAGE_SIDE} pixels")
    return size


def check_document(loc: str, source: object, tally: Tally) -> None:
    # Documents are accepted so attachments do not break the simulator; only text is measured.
    if not isinstance(source, dict):
        raise invalid(f"{loc}: Field required")
    if source.get("type") == "text" and isinstance(source.get("data"), str):
        tally.chars += len(source["data"])
    else:
        tally.attachment_tokens += UNMEASURED_ATTACHMENT_TOKENS


def check_generation(req: dict[str, Any]) -> Generation:
    """Validate the fields only /v1/messages takes."""
    if "max_tokens" not in req:
        raise invalid("max_tokens: Field required")
    max_tokens = req["max_tokens"]
    if type(max_tokens) is not int:
        raise invalid("max_tokens: Input should be a valid integer")
    if max_tokens < 0:
        raise invalid("max_tokens: Input should be greater than or equal to 0")
    stops = req.get("stop_sequences")
    if stops is None:
        stops = []
    if not isinstance(stops, list):
        raise invalid("stop_sequences: Input should be a valid list")
    for j, stop in enumerate(stops):
        if not isinstance(stop, str) or not stop:
            raise invalid(f"stop_sequences.{j}: Input should be a non-empty string")
    stream = req.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("stream: Input should be a valid boolean")
    return Generation(max_tokens=max_tokens, stop_sequences=tuple(stops), stream=stream)


def message_text(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return " ".join(b["text"] for b in content if b.get("type") == "text")


def last_user_text(messages: list[dict[str, Any]]) -> str:
    return next((message_text(m) for m in reversed(messages) if m["role"] == "user"), "")


# --- fault directives -----------------------------------------------------------------------


@dataclass(frozen=True)
class Directives:
    error: str | None = None
    error_after: int | None = None
    drop_after: int | None = None
    delay: float | None = None
    words: int | None = None


def parse_directives(text: str) -> Directives:
    found: dict[str, Any] = {}
    for key, raw in DIRECTIVE_RE.findall(text):
        found[key] = directive_value(key, raw)
    return Directives(**found)


def directive_value(key: str, raw: str) -> str | int | float:
    if key == "error":
        if raw not in FAULTS:
            raise invalid(
                f"[sim:error={raw}]: unknown simulated error; use one of {', '.join(FAULTS)}"
            )
        return raw
    if key in ("error_after", "drop_after", "words"):
        if not raw.isdigit() or (key == "words" and int(raw) > MAX_SIM_WORDS):
            raise invalid(f"[sim:{key}={raw}]: expected a whole number")
        return int(raw)
    if key == "delay":
        try:
            seconds = float(raw)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= 60:
            raise invalid(f"[sim:delay={raw}]: expected seconds between 0 and 60")
        return seconds
    raise invalid(f"[sim:{key}=...]: unknown directive; use {', '.join(DIRECTIVE_KEYS)}")


# --- the reply ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    chunks: list[str]  # one per content_block_delta / output token
    stop_reason: str
    stop_sequence: str | None

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def reply_text(prompt: Prompt, directives: Directives) -> str:
    if directives.words is not None:
        body = " ".join(LOREM[i % len(LOREM)] for i in range(directives.words))
    else:
        body = echo_text(prompt)
    # A prefill cannot end in whitespace, so its continuation starts with a space.
    return " " + body if prompt.prefill and body else body


def echo_text(prompt: Prompt) -> str:
    said = " ".join(prompt.last_user_text.split())
    if len(said) > QUOTE_LIMIT:
        said = said[:QUOTE_LIMIT] + "…"
    system = "a system prompt" if prompt.has_system else "no system prompt"
    return (
        f"Offline simulator reply. I received {prompt.turns} messages "
        f"({prompt.user_turns} from you), {system}, {prompt.images} images "
        f"and about {prompt.input_tokens} input tokens. "
        f"You said: “{said}”\n\n{FORMATTING_SAMPLE}"
    )


def plan_reply(text: str, generation: Generation) -> Reply:
    """Apply stop sequences, then max_tokens, the way the API stops generating."""
    hits = [(text.find(s), s) for s in generation.stop_sequences if s in text]
    stop = min(hits, key=lambda hit: hit[0]) if hits else None
    chunks = TOKEN_RE.findall(text[: stop[0]] if stop else text)
    if len(chunks) > generation.max_tokens:
        return Reply(chunks[: generation.max_tokens], "max_tokens", None)
    if stop:
        return Reply(chunks, "stop_sequence", stop[1])
    return Reply(chunks, "end_turn", None)


def message_json(msg_id: str, model: str, prompt: Prompt, reply: Reply | None) -> dict[str, Any]:
    """The Message object; `reply=None` gives the empty shell that message_start carries."""
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply.text}] if reply and reply.chunks else [],
        "stop_reason": reply.stop_reason if reply else None,
        "stop_sequence": reply.stop_sequence if reply else None,
        "usage": {
            "input_tokens": prompt.input_tokens,
            "output_tokens": len(reply.chunks) if reply else 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


# --- streaming ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    data: bytes
    delay: float | None = None  # seconds to wait before sending; None for no wait at all


def sse(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def stream_steps(
    start: dict[str, Any], reply: Reply, directives: Directives, delays: tuple[float, float]
) -> list[Step]:
    """Every SSE event of a reply, in order, with the pause before each delta."""
    first_delay, token_delay = delays
    steps = [Step(sse({"type": "message_start", "message": start}))]
    cut = directives.error_after if directives.error_after is not None else directives.drop_after
    chunks = reply.chunks if cut is None else reply.chunks[:cut]
    if reply.chunks:
        block = {"type": "text", "text": ""}
        steps.append(Step(sse({"type": "content_block_start", "index": 0, "content_block": block})))
    steps.append(Step(sse({"type": "ping"})))
    for n, chunk in enumerate(chunks):
        delta = {"type": "text_delta", "text": chunk}
        event = {"type": "content_block_delta", "index": 0, "delta": delta}
        steps.append(Step(sse(event), first_delay if n == 0 else token_delay))
    if directives.error_after is not None:
        error = {"type": "overloaded_error", "message": "Overloaded"}
        return [*steps, Step(sse({"type": "error", "error": error}))]
    if directives.drop_after is not None:
        return steps
    if reply.chunks:
        steps.append(Step(sse({"type": "content_block_stop", "index": 0})))
    stop = {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence}
    usage = {"output_tokens": len(chunks)}  # cumulative, as the real API reports it
    steps.append(Step(sse({"type": "message_delta", "delta": stop, "usage": usage})))
    steps.append(Step(sse({"type": "message_stop"})))
    return steps


class SseStream(AsyncIterator[bytes]):
    """The body of one streamed reply; records on the simulator how the stream ended.

    A consumer that goes away is seen either as `aclose()` (the SDK closing the response, or
    the ASGI adapter on http.disconnect) or as a cancellation while we wait between tokens.
    """

    def __init__(self, simulator: Simulator, steps: list[Step], *, completes: bool) -> None:
        self._simulator = simulator
        self._steps = steps
        self._completes = completes
        self._settled = False  # True once the outcome (completed / ended / aborted) is counted
        self._events = self._produce()

    async def __anext__(self) -> bytes:
        try:
            return await self._events.__anext__()
        except asyncio.CancelledError:
            self._abort()
            raise

    async def aclose(self) -> None:
        self._abort()
        await self._events.aclose()

    def _abort(self) -> None:
        if not self._settled:
            self._settled = True
            self._simulator.aborted_streams += 1

    async def _produce(self) -> AsyncGenerator[bytes, None]:
        for n, step in enumerate(self._steps):
            if step.delay is not None:
                await asyncio.sleep(step.delay)  # sleep(0) still yields control to the loop
            if n == len(self._steps) - 1:
                # Once the last event is handed over, closing the stream is no longer an abort.
                self._settled = True
                if self._completes:
                    self._simulator.completed_streams += 1
            yield step.data


# --- the simulator --------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    # Random rather than sequential: ids get stored, and a restarted simulator must not reuse them.
    return f"{prefix}_{secrets.token_hex(12)}"


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> SimulatorResponse:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return SimulatorResponse(status, {**JSON_HEADERS, **(headers or {})}, body)


def model_json(
    model_id: str, display_name: str, created_at: str, retires_at: str | None
) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": display_name,
        "created_at": created_at,
        # Mirrors the SDK, which warns about claude-sonnet-4-5 being deprecated.
        "lifecycle": "deprecated" if retires_at else "active",
        "retires_at": retires_at,
    }


def models_page() -> dict[str, Any]:
    # Everything fits on one page; the SDK's auto-pagination stops at has_more=False.
    data = [model_json(*model) for model in MODELS]
    return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}


def find_model(model_id: str) -> dict[str, Any]:
    for model in MODELS:
        if model[0] == model_id:
            return model_json(*model)
    raise ApiError(404, "not_found_error", f"model: {model_id}")


def allowed_method(path: str) -> str:
    if path in ("/v1/messages", "/v1/messages/count_tokens"):
        return "POST"
    if path == "/v1/models" or path.startswith("/v1/models/"):
        return "GET"
    raise ApiError(404, "not_found_error", "Not Found")


def check_auth(headers: Mapping[str, str]) -> None:
    bearer = headers.get("authorization", "")
    if headers.get("x-api-key") or (bearer.startswith("Bearer ") and bearer[7:].strip()):
        return
    raise ApiError(401, "authentication_error", "x-api-key header is required")


def check_version(headers: Mapping[str, str]) -> str:
    version = headers.get("anthropic-version")
    if not version:
        raise invalid("anthropic-version: header is required")
    if version not in API_VERSIONS:
        expected = " or ".join(API_VERSIONS)
        raise invalid(f"anthropic-version: invalid version '{version}', expected {expected}")
    return version


class Simulator:
    """The Messages API core; the adapters in simulator_asgi carry it over HTTP or httpx2.

    It holds no event-loop state, so one instance can serve several loops and threads.
    """

    def __init__(self, *, token_delay: float = 0.0, first_token_delay: float = 0.0) -> None:
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        # Observation for tests: what arrived, and how streams ended.
        self.requests: list[dict[str, Any]] = []
        self.completed_streams = 0
        self.aborted_streams = 0

    async def handle(
        self, *, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> SimulatorResponse:
        request_id = new_id("req")
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            response = self._route(method.upper(), path, lowered, body)
        except ApiError as err:
            error = {"type": err.error_type, "message": err.message}
            payload = {"type": "error", "error": error, "request_id": request_id}
            response = json_response(payload, err.status, err.headers)
        response.headers["request-id"] = request_id
        return response

    def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> SimulatorResponse:
        allowed = allowed_method(path)
        if method != allowed:
            raise ApiError(405, "invalid_request_error", "Method Not Allowed", {"allow": allowed})
        if method == "POST":
            self._record(body)  # before auth and validation: tests look at what was sent
        check_auth(headers)
        version = check_version(headers)
        if path == "/v1/messages":
            return self._messages(parse_json_object(body), version)
        if path == "/v1/messages/count_tokens":
            prompt = check_prompt(parse_json_object(body), version)
            return json_response({"input_tokens": prompt.input_tokens})
        if path == "/v1/models":
            return json_response(models_page())
        return json_response(find_model(path.removeprefix("/v1/models/")))

    def _record(self, body: bytes) -> None:
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(parsed, dict):
            self.requests.append(parsed)

    def _messages(self, req: dict[str, Any], version: str) -> SimulatorResponse:
        prompt = check_prompt(req, version)
        generation = check_generation(req)
        directives = parse_directives(prompt.last_user_text)
        if directives.error:
            status, error_type, message = FAULTS[directives.error]
            retry = {"retry-after": "0"} if status == 429 else None
            raise ApiError(status, error_type, message, retry)
        reply = plan_reply(reply_text(prompt, directives), generation)
        msg_id = new_id("msg_sim")
        if not generation.stream:
            # Mid-stream faults and pacing only make sense for streams.
            return json_response(message_json(msg_id, req["model"], prompt, reply))
        start = message_json(msg_id, req["model"], prompt, None)
        token_delay = self.token_delay if directives.delay is None else directives.delay
        steps = stream_steps(start, reply, directives, (self.first_token_delay, token_delay))
        completes = directives.error_after is None and directives.drop_after is None
        body = SseStream(self, steps, completes=completes)
        return SimulatorResponse(200, dict(SSE_HEADERS), body)
