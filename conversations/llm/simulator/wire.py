"""What every route shares: the response object, error answers, JSON and SSE encoding, ids."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

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


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found_error", message)


def new_id(prefix: str) -> str:
    # Random rather than sequential: ids get stored, and a restarted simulator must not reuse them.
    return f"{prefix}_{secrets.token_hex(12)}"


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> SimulatorResponse:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return SimulatorResponse(status, {**JSON_HEADERS, **(headers or {})}, body)


def error_response(err: ApiError, request_id: str) -> SimulatorResponse:
    error = {"type": err.error_type, "message": err.message}
    payload = {"type": "error", "error": error, "request_id": request_id}
    return json_response(payload, err.status, err.headers)


def sse(event: dict[str, Any]) -> bytes:
    """One SSE event: the SDK drops events without an `event:` line, so it is always there."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"There was an error parsing the body of your request: {exc}") from None
    if not isinstance(data, dict):
        raise invalid("Request body must be a JSON object")
    return data


def fingerprint(value: object) -> str:
    """A stable digest of a JSON value: key order and spacing do not change it."""
    canonical = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
