"""drf-spectacular hooks (SPECTACULAR_SETTINGS): what its URL walk cannot see by itself.

- The upload is a plain async Django view (see uploads.py), which drf-spectacular skips: a
  preprocessing hook adds its route, described by a DRF class that is never routed.
- Every operation can fail with the API's one error body: a postprocessing hook says so once,
  as each operation's `default` response, rather than on every view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import EndpointEnumerator

from conversations.api.uploads import AttachmentUploadSchema, attachment_upload_view

Endpoint = tuple[str, str, str, Callable[..., Any]]

# Plain views and the DRF class that documents each (method, class).
DOCUMENTED_PLAIN_VIEWS: dict[Callable[..., Any], tuple[str, type[Any]]] = {
    attachment_upload_view: ("POST", AttachmentUploadSchema),
}
ERROR_COMPONENT = "Error"


def _routes(
    patterns: list[URLPattern | URLResolver], prefix: str = ""
) -> Iterator[tuple[str, Callable[..., Any]]]:
    """(route regex as drf-spectacular writes it, callback) for every URL pattern."""
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield route, pattern.callback


def add_plain_views(endpoints: list[Endpoint]) -> list[Endpoint]:
    """PREPROCESSING_HOOKS: the plain views in DOCUMENTED_PLAIN_VIEWS, as their DRF stand-in."""
    enumerator = EndpointEnumerator()
    added: list[Endpoint] = []
    for route, callback in _routes(get_resolver().url_patterns):
        documented = DOCUMENTED_PLAIN_VIEWS.get(callback)
        if documented is not None:
            method, schema_class = documented
            path = enumerator.get_path_from_regex(route)  # type: ignore[no-untyped-call]
            added.append((path, route, method, schema_class.as_view()))
    return [*endpoints, *added]


def add_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS: a `default` response with the error body on every operation."""
    if ERROR_COMPONENT not in result.get("components", {}).get("schemas", {}):
        return result  # nothing referenced the error serializer: no component to point at
    default = {
        "description": "An error: 400 invalid input (see `fields`), 401/403 not logged in, "
        "404 not found (or not yours), 405, 409 busy, 413 too large, 429 too fast.",
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}
        },
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("default", default)
    return result
