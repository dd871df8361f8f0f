"""SDK exceptions -> a short code and a sentence a person can act on.

Matched on exception types and the API's error `type`, never on message text, which varies.
"""

from __future__ import annotations

import anthropic

_BY_ERROR_TYPE: dict[str, tuple[str, str]] = {
    "overloaded_error": ("overloaded", "Claude is overloaded right now. Try again in a moment."),
    "rate_limit_error": (
        "rate_limited",
        "Rate limited by the Anthropic API. Wait a little, then retry.",
    ),
    "authentication_error": (
        "authentication",
        "The Anthropic API rejected the API key. Check ANTHROPIC_API_KEY.",
    ),
    "permission_error": ("permission", "This API key may not use this model or feature."),
    "billing_error": ("billing", "The Anthropic account has a billing problem."),
    "not_found_error": ("not_found", "The API did not find that model or resource."),
    "request_too_large": ("too_large", "The request is too large for the API."),
    "api_error": ("api_error", "The Anthropic API had an internal error. Try again."),
    "timeout_error": ("timeout", "The Anthropic API timed out. Try again."),
}


def _error_type(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("type"), str):
            return str(error["type"])
        if isinstance(body.get("type"), str) and body["type"] != "error":
            return str(body["type"])
    return getattr(exc, "type", None) or ""


def _api_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        if isinstance(message, str) and message:
            return message
    return str(exc.message)


def describe_api_error(exc: anthropic.APIError) -> tuple[str, str]:
    """(code, readable explanation) for an SDK exception."""
    if isinstance(exc, anthropic.APITimeoutError):
        return "timeout", "Claude took too long to answer. Try again."
    if isinstance(exc, anthropic.APIConnectionError):
        return "connection", "Could not reach the Anthropic API (connection lost). Try again."
    if isinstance(exc, anthropic.APIStatusError):
        error_type = _error_type(exc)
        if error_type == "invalid_request_error" or isinstance(exc, anthropic.BadRequestError):
            return "invalid_request", f"The API refused the request: {_api_message(exc)}"
        if error_type in _BY_ERROR_TYPE:
            return _BY_ERROR_TYPE[error_type]
        if isinstance(exc, anthropic.RateLimitError):
            return _BY_ERROR_TYPE["rate_limit_error"]
        if isinstance(exc, anthropic.AuthenticationError):
            return _BY_ERROR_TYPE["authentication_error"]
        if exc.status_code >= 500:
            return _BY_ERROR_TYPE["api_error"]
        return (
            "api_error",
            f"The API answered with an error ({exc.status_code}): {_api_message(exc)}",
        )
    return "api_error", "The Anthropic API call failed."
