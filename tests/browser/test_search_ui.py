"""The sidebar search, in Debian's Chromium through Playwright."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_loop import _session_cookie
from tests.browser.test_engine_ui import watch_errors
from tests.factories import ConversationFactory, chain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_typing_a_word_finds_the_conversation_and_opens_it(
    asgi_server, browser, artifacts, user, other_user
):
    here = ConversationFactory(owner=user, title="Groceries")
    chain(here, ("user", "milk and bread"))
    target = ConversationFactory(owner=user, title="Spanish cooking")
    chain(
        target,
        ("user", "What makes paella yellow?"),
        ("assistant", "Saffron <b>threads</b>, steeped first; turmeric is a cheaper stand-in."),
    )
    chain(ConversationFactory(owner=other_user, title="Not yours"), ("user", "saffron"))
    context = browser.new_context()
    context.add_cookies(_session_cookie(user, asgi_server))
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(f"{asgi_server.url}/c/{here.uuid}/")
    conversation_list = page.locator(".sidebar .conversation-list")
    results = page.locator("#sidebar-search-results")

    box = page.get_by_label("Search conversations")
    box.press_sequentially("saffr", delay=30)

    hit = results.get_by_role("link")
    # Retrying assertions: on a slow machine an earlier, shorter query may answer first.
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text(["Saffron"])
    assert conversation_list.is_hidden()
    assert hit.locator(".search-title").inner_text() == "Spanish cooking"
    # The message's markup-looking text arrives as text, not as elements.
    assert "<b>threads</b>" in hit.locator(".search-snippet").inner_text()
    assert hit.locator(".search-snippet b").count() == 0
    page.screenshot(path=str(artifacts / "search-results.png"))

    box.fill("no such thing anywhere")
    results.get_by_text("No matches").wait_for()
    expect(page.locator("#sidebar-search-status")).to_have_text("No matches")

    # Escape gives the conversation list back.
    box.press("Escape")
    assert box.input_value() == ""
    conversation_list.wait_for()
    assert results.is_hidden()

    # From the keyboard: type, move down to the result, open it.
    box.fill("paella")
    results.get_by_role("link", name="Spanish cooking").wait_for()
    box.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/c/{target.uuid}/")
    page.get_by_text("What makes paella yellow?").wait_for()
    assert errors == []
