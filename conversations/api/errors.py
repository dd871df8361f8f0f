"""One error body for the whole API: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from conversations.services.conversations import ConversationValidationError
from conversations.services.message_rules import (
    ChatError,
    ConversationBusyError,
    RateLimitedError,
    TooManyGenerationsError,
)


def _error(code: str, message: str, http_status: int, fields: Any = None) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return Response(body, status=http_status)


# The fields of a conversation request; the service names any other field after the setting
# (max_tokens, ...), which the API reports inside `parameters`, as DRF nests a dict's errors.
REQUEST_FIELDS = ("title", "model", "system", "parameters", "text", "is_archived", "is_pinned")


def _conversation_fields(exc: ConversationValidationError) -> dict[str, Any]:
    if exc.field in REQUEST_FIELDS:
        return {exc.field: [str(exc)]}
    return {"parameters": {exc.field: [str(exc)]}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ConversationBusyError | TooManyGenerationsError):
        return _error(exc.code, exc.message, status.HTTP_409_CONFLICT)
    if isinstance(exc, RateLimitedError):
        return _error(exc.code, exc.message, status.HTTP_429_TOO_MANY_REQUESTS)
    if isinstance(exc, ChatError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return _error(exc.code, exc.message, status.HTTP_400_BAD_REQUEST, fields)
    if isinstance(exc, ConversationValidationError):
        return _error("invalid", str(exc), status.HTTP_400_BAD_REQUEST, _conversation_fields(exc))
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "error": {
                "code": "invalid",
                "message": "The request is not valid.",
                "fields": exc.detail,
            }
        }
    elif isinstance(exc, exceptions.APIException):
        detail, codes = exc.detail, exc.get_codes()
        message = str(detail) if not isinstance(detail, dict | list) else "The request failed."
        code = codes if isinstance(codes, str) else "error"
        response.data = {"error": {"code": code, "message": message}}
    return response
