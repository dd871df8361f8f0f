"""The Simulator: routes a request, applies the rules, the faults and the cache, answers."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from conversations.llm.simulator.caching import CacheEntry, CacheUsage, PromptCache, prefix_keys
from conversations.llm.simulator.directives import (
    FAULTS,
    Directives,
    lenient_directives,
    parse_directives,
)
from conversations.llm.simulator.files import MAX_FILE_BYTES, FileStore
from conversations.llm.simulator.models import find_model, model_json, models_page
from conversations.llm.simulator.replies import (
    Replier,
    message_json,
    plan_output,
    thinking_text,
    usage_json,
)
from conversations.llm.simulator.streaming import SseStream, stream_steps
from conversations.llm.simulator.validation import (
    Checked,
    check_generation,
    check_request,
    check_window,
)
from conversations.llm.simulator.wire import (
    SSE_HEADERS,
    ApiError,
    SimulatorResponse,
    error_response,
    fingerprint,
    invalid,
    json_response,
    new_id,
    not_found,
    parse_json_object,
)

API_VERSIONS = ("2023-06-01", "2026-10-21")
MAX_REQUEST_BYTES = 32_000_000  # the Messages API's 32 MB cap

# (path pattern, route name, the methods it takes)
ROUTES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (re.compile(r"/v1/messages"), "messages", ("POST",)),
    (re.compile(r"/v1/messages/count_tokens"), "count_tokens", ("POST",)),
    (re.compile(r"/v1/models"), "models", ("GET",)),
    (re.compile(r"/v1/models/(?P<id>[^/]+)"), "model", ("GET",)),
    (re.compile(r"/v1/files"), "files", ("GET", "POST")),
    (re.compile(r"/v1/files/(?P<id>[^/]+)"), "file", ("GET", "DELETE")),
    (re.compile(r"/v1/files/(?P<id>[^/]+)/content"), "file_content", ("GET",)),
)


def route(method: str, path: str) -> tuple[str, str | None]:
    """The route name and its path parameter, or a 404 / 405."""
    for pattern, name, methods in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        if method not in methods:
            allow = ", ".join(methods)
            raise ApiError(405, "invalid_request_error", "Method Not Allowed", {"allow": allow})
        return name, match.groupdict().get("id")
    raise not_found("Not Found")


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
    """The Messages API core; the adapters in `asgi` carry it over HTTP or httpx2.

    It holds no event-loop state, so one instance can serve several loops and threads.
    `clock` (seconds, monotonic) decides when cache entries expire; tests pass their own.
    """

    def __init__(
        self,
        *,
        token_delay: float = 0.0,
        first_token_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        self.files = FileStore()
        self.cache = PromptCache(clock)
        # Observation for tests: what arrived, and how streams ended.
        self.requests: list[dict[str, Any]] = []
        self.completed_streams = 0
        self.aborted_streams = 0
        # [sim:error_times=N]: how often each request body has been answered with its fault.
        self._faults_sent: dict[str, int] = {}
        self._lock = threading.Lock()

    def cache_entries(self) -> list[CacheEntry]:
        """The live prompt-cache entries, shortest prefix first."""
        return self.cache.entries()

    async def handle(
        self, *, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> SimulatorResponse:
        request_id = new_id("req")
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            response = self._dispatch(method.upper(), path, lowered, body)
        except ApiError as err:
            response = error_response(err, request_id)
        response.headers["request-id"] = request_id
        return response

    def _dispatch(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> SimulatorResponse:
        name, item = route(method, path)
        limit = MAX_FILE_BYTES if name == "files" else MAX_REQUEST_BYTES
        if len(body) > limit:
            message = "Request exceeds the maximum allowed number of bytes."
            raise ApiError(413, "request_too_large", message)
        if method == "POST":
            self._record(body)  # before auth and validation: tests look at what was sent
        check_auth(headers)
        version = check_version(headers)
        if name == "messages":
            return self._messages(parse_json_object(body), version)
        if name == "count_tokens":
            return self._count_tokens(parse_json_object(body), version)
        if name == "models":
            return json_response(models_page())
        if name == "model":
            return json_response(model_json(find_model(str(item))))
        return self._files(method, name, str(item), headers, body)

    def _record(self, body: bytes) -> None:
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(parsed, dict):
            self.requests.append(parsed)

    def _files(
        self, method: str, name: str, file_id: str, headers: dict[str, str], body: bytes
    ) -> SimulatorResponse:
        if name == "files" and method == "POST":
            stored = self.files.upload(headers.get("content-type", ""), body)
            return json_response(stored.json())
        if name == "files":
            return json_response(self.files.page())
        if name == "file" and method == "DELETE":
            return json_response(self.files.delete(file_id))
        stored = self.files.get(file_id)
        if name == "file_content":
            raise invalid(f"File {file_id} is not downloadable")
        return json_response(stored.json())

    def _count_tokens(self, req: dict[str, Any], version: str) -> SimulatorResponse:
        checked = check_request(req, version, self.files)
        # Faults are for /v1/messages; only the pretend window applies to counting.
        check_window(checked, lenient_directives(checked.prompt.last_user_text).window)
        return json_response({"input_tokens": checked.prompt.tokens})

    def _messages(self, req: dict[str, Any], version: str) -> SimulatorResponse:
        checked = check_request(req, version, self.files)
        generation = check_generation(req, checked)
        directives = parse_directives(checked.prompt.last_user_text)
        window = check_window(checked, directives.window)
        self._fault(req, directives)
        cache = self._cache(req, checked)  # only a request that succeeds touches the cache
        prompt, thinking = checked.prompt, checked.thinking
        output = plan_output(
            Replier(prompt).reply(),
            thinking_text(prompt) if thinking else None,
            generation,
            stop=directives.stop,
            room=window - prompt.tokens,
            shown=thinking.shown if thinking else True,
        )
        usage = usage_json(prompt.tokens, cache, output, thinking=thinking)
        msg_id, model = new_id("msg_sim"), checked.model.id
        if not generation.stream:
            # Mid-stream faults and pacing only make sense for streams.
            return json_response(message_json(msg_id, model, usage, output))
        start_usage = usage_json(prompt.tokens, cache, None, thinking=thinking)
        start = message_json(msg_id, model, start_usage, None)
        first = self.first_token_delay if directives.first_delay is None else directives.first_delay
        later = self.token_delay if directives.delay is None else directives.delay
        steps = stream_steps(start, output, usage, directives, (first, later))
        completes = directives.error_after is None and directives.drop_after is None
        body = SseStream(steps, completes=completes, settle=self._settle)
        return SimulatorResponse(200, dict(SSE_HEADERS), body)

    def _fault(self, req: dict[str, Any], directives: Directives) -> None:
        if directives.error is None:
            return
        if directives.error_times is not None:
            key = fingerprint(req)
            with self._lock:
                sent = self._faults_sent.get(key, 0)
                if sent >= directives.error_times:
                    return  # the retry that finally succeeds
                self._faults_sent[key] = sent + 1
        status, error_type, message = FAULTS[directives.error]
        raise ApiError(status, error_type, message, directives.fault_headers(status))

    def _cache(self, req: dict[str, Any], checked: Checked) -> CacheUsage:
        if not checked.breakpoints:
            return CacheUsage()
        blocks = checked.prompt.blocks
        return self.cache.apply(
            model=checked.model.id,
            min_tokens=checked.model.min_cache_tokens,
            keys=prefix_keys(checked.model.id, req.get("tools"), blocks),
            blocks=blocks,
            breakpoints=checked.breakpoints,
        )

    def _settle(self, completed: bool) -> None:
        with self._lock:
            if completed:
                self.completed_streams += 1
            else:
                self.aborted_streams += 1
