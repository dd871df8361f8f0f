"""The settings page's API tokens as a person uses them, in Chromium through Playwright."""

from __future__ import annotations

import pytest

from chatsite.accounts.models import ApiToken
from chatsite.accounts.tokens import api_token_authenticate
from tests.browser.test_chat_loop import _session_cookie
from tests.browser.test_engine_ui import watch_errors

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_token_is_created_shown_once_copied_and_revoked(asgi_server, browser, user, artifacts):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    context.add_cookies(_session_cookie(user, asgi_server))
    page = context.new_page()
    errors = watch_errors(page)
    settings_url = f"{asgi_server.url}/accounts/settings/"
    page.goto(settings_url)
    page.get_by_text("You have no API tokens.").wait_for()

    page.get_by_label("Name").fill("browser script")
    page.get_by_label("Expires").select_option(label="30 days")
    page.get_by_role("button", name="Create token").click()
    field = page.get_by_label("New API token")
    field.wait_for()
    key = field.input_value()
    assert key.startswith("chs_")
    assert field.get_attribute("readonly") is not None
    assert api_token_authenticate(key=key) == user
    # The answer to the POST became a plain entry of the settings page.
    assert page.url == settings_url
    row = page.get_by_role("row").filter(has_text="browser script")
    assert f"{key[:12]}…" in row.inner_text()
    page.screenshot(path=str(artifacts / "settings-new-token.png"), full_page=True)

    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == key

    # A reload shows the list, not the token, and does not post the form again.
    page.reload()
    row.wait_for()
    assert page.get_by_label("New API token").count() == 0
    assert key not in page.content()
    assert ApiToken.objects.count() == 1

    # Revoking asks first: dismissing keeps the token, accepting revokes it.
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Revoke").click()
    page.wait_for_timeout(300)
    assert ApiToken.objects.count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    page.get_by_text("Revoked the token “browser script”").wait_for()
    page.get_by_text("You have no API tokens.").wait_for()
    assert not ApiToken.objects.exists()
    assert api_token_authenticate(key=key) is None
    assert errors == []
