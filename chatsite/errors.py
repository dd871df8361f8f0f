"""Error pages: the API's one error body for API paths, Django's pages elsewhere."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a program calling the API gets JSON it can parse, not an HTML page."""
    if request.path.startswith(API_PREFIX):
        body = {"error": {"code": "server_error", "message": "Something went wrong on our side."}}
        return JsonResponse(body, status=500)
    return defaults.server_error(request)
