"""Fault directives: `[sim:key=value]` in the last user text makes the simulator misbehave.

They let a person trigger the failure paths from a browser, and tests exercise the SDK's
own error handling (retries, mid-stream errors, dropped connections) against real wire data.
The full list is in the package docstring.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from conversations.llm.simulator.wire import ApiError, invalid

DIRECTIVE_RE = re.compile(r"\[sim:([A-Za-z_]+)=([^\]]*)\]")
MAX_SIM_WORDS = 200_000
MAX_DELAY_SECONDS = 60.0
STOP_REASONS = ("refusal", "pause_turn")

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
# The statuses the SDK retries; these are the faults that carry retry-after.
RETRYABLE_STATUSES = (429, 500, 529)

_WHOLE_NUMBERS = ("error_after", "drop_after", "words", "error_times", "window")
_SECONDS = ("delay", "first_delay", "retry_after")
_SWITCHES = ("echo",)
DIRECTIVE_KEYS = ("error", "stop", *_WHOLE_NUMBERS, *_SECONDS, *_SWITCHES)


@dataclass(frozen=True)
class Directives:
    error: str | None = None
    error_times: int | None = None  # None: the error fault applies to every request
    retry_after: float = 0.0
    error_after: int | None = None
    drop_after: int | None = None
    delay: float | None = None
    first_delay: float | None = None
    words: int | None = None
    stop: str | None = None
    window: int | None = None
    echo: bool = False

    def fault_headers(self, status: int) -> dict[str, str]:
        """retry-after for the statuses the SDK retries.

        The SDK ignores a retry-after of 0 and falls back to its own back-off (0.5 s, 1 s...),
        so retry-after-ms (which it reads first) says at least 1 ms: retries stay fast.
        """
        if status not in RETRYABLE_STATUSES:
            return {}
        seconds = f"{self.retry_after:g}"
        millis = max(1, math.ceil(self.retry_after * 1000))
        return {"retry-after": seconds, "retry-after-ms": str(millis)}


def parse_directives(text: str, *, strict: bool = True) -> Directives:
    """Every directive in `text`. Strict (the last user turn): an unknown key or a bad value
    is a 400, so typos show. Lenient (an older turn, a count_tokens body): bad ones are skipped."""
    found: dict[str, Any] = {}
    for key, raw in DIRECTIVE_RE.findall(text):
        try:
            found[key] = _value(key, raw)
        except ApiError:
            if strict:
                raise
    return Directives(**found)


def lenient_directives(text: str) -> Directives:
    return parse_directives(text, strict=False)


def without_directives(text: str) -> str:
    """`text` with every `[sim:...]` directive taken out; everything else, spaces and line
    breaks included, stays as it was."""
    return DIRECTIVE_RE.sub("", text)


def _value(key: str, raw: str) -> str | int | float | bool:
    if key == "error":
        if raw not in FAULTS:
            raise invalid(
                f"[sim:error={raw}]: unknown simulated error; use one of {', '.join(FAULTS)}"
            )
        return raw
    if key == "stop":
        if raw not in STOP_REASONS:
            raise invalid(f"[sim:stop={raw}]: use one of {', '.join(STOP_REASONS)}")
        return raw
    if key in _WHOLE_NUMBERS:
        if not raw.isdigit() or (key == "words" and int(raw) > MAX_SIM_WORDS):
            raise invalid(f"[sim:{key}={raw}]: expected a whole number")
        if key == "window" and int(raw) == 0:
            raise invalid("[sim:window=0]: expected a positive number of tokens")
        return int(raw)
    if key in _SWITCHES:
        if raw not in ("0", "1"):
            raise invalid(f"[sim:{key}={raw}]: expected 1 (on) or 0 (off)")
        return raw == "1"
    if key in _SECONDS:
        try:
            seconds = float(raw)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= MAX_DELAY_SECONDS:
            raise invalid(f"[sim:{key}={raw}]: expected seconds between 0 and 60")
        return seconds
    raise invalid(f"[sim:{key}=...]: unknown directive; use {', '.join(DIRECTIVE_KEYS)}")
