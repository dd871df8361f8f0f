"""Unexpected errors: JSON in the API's error shape under /api/, Django's page elsewhere."""

from __future__ import annotations

import json

from django.test import RequestFactory
from django.urls import get_resolver

from chatsite.errors import server_error


def test_a_server_error_under_the_api_has_the_one_error_body():
    response = server_error(RequestFactory().post("/api/conversations/"))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"]["code"] == "server_error"


def test_a_server_error_on_a_page_is_an_html_page():
    response = server_error(RequestFactory().get("/c/whatever/"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def test_the_handler_is_installed():
    handler = get_resolver().resolve_error_handler(500)
    assert handler is server_error
