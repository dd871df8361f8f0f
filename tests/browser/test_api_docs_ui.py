"""The API documentation pages render from our own static files under the site's CSP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open_docs(asgi_server, browser, path: str) -> tuple[object, list[str], list[str]]:
    page = browser.new_page()
    foreign: list[str] = []
    problems: list[str] = []
    origin = urlsplit(asgi_server.url).netloc

    def refuse_foreign(route) -> None:
        # Only what the browser really tried to fetch reaches a route: the CSP stops the rest.
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https") and url.netloc != origin:
            foreign.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/*", refuse_foreign)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(asgi_server.url + path)
    return page, foreign, problems


def test_swagger_ui_lists_the_api_without_cdn_or_csp_violations(asgi_server, browser, artifacts):
    page, foreign, problems = _open_docs(asgi_server, browser, "/api/docs/")
    page.get_by_text("/api/conversations/", exact=True).first.wait_for(timeout=20_000)
    page.screenshot(path=str(artifacts / "api-docs-swagger.png"))
    assert foreign == []
    assert problems == [], "\n".join(problems)


def test_redoc_lists_the_api_without_cdn_or_csp_violations(asgi_server, browser, artifacts):
    page, foreign, problems = _open_docs(asgi_server, browser, "/api/redoc/")
    page.get_by_text("chatsite API").first.wait_for(timeout=20_000)
    page.locator("text=/api/conversations/").first.wait_for(timeout=20_000)
    page.screenshot(path=str(artifacts / "api-docs-redoc.png"))
    assert foreign == []
    # ReDoc's "powered by" logo is a remote image: the CSP refuses it and ReDoc then hides it.
    refused_logo = [p for p in problems if "cdn.redoc.ly/redoc/logo-mini.svg" in p]
    others = [p for p in problems if p not in refused_logo]
    assert others == [], "\n".join(others)
