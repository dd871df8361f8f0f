"""The whole loop as a person lives it, in Debian's Chromium through Playwright."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Message
from tests.asgi_server import AsgiTestServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a sturdy passphrase 42"

# Every change of the reply's text, recorded in the page: proves it grew in steps.
RECORD_GROWTH = """
window.__replyLengths = [];
new MutationObserver(() => {
  const replies = document.querySelectorAll('.message.assistant .text');
  const last = replies[replies.length - 1];
  if (last) window.__replyLengths.push(last.textContent.length);
}).observe(
  document.getElementById('messages'), {childList: true, subtree: true, characterData: true}
);
"""


def test_first_account_streamed_conversation_survives_a_server_restart(
    asgi_server, browser, artifacts, settings
):
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0.02
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # A fresh site: the first visit offers to create the first account.
    page.goto(asgi_server.url + "/")
    page.get_by_role("heading", name="Welcome to chatsite").wait_for()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create the first account").click()
    page.get_by_text("Offline simulator").first.wait_for()

    page.get_by_role("button", name="+ New chat").first.click()
    page.wait_for_url("**/c/*/")
    page.evaluate(RECORD_GROWTH)
    composer = page.get_by_label("Message")
    composer.fill("Hello from the browser")
    composer.press("Enter")

    reply = page.locator(".message.assistant").last
    reply.locator(".details", has_text="out tokens").wait_for(timeout=20_000)
    page.screenshot(path=str(artifacts / "chat-loop-reply.png"), full_page=True)
    reply_text = reply.locator(".text").inner_text()
    assert "You said: “Hello from the browser”" in reply_text
    lengths = page.evaluate("window.__replyLengths")
    distinct = sorted(set(lengths))
    assert len(distinct) >= 3, f"the reply arrived in one piece: {lengths}"
    assert composer.input_value() == ""
    # The provisional title from the first message reaches the open page.
    assert page.locator("#conversation-title").inner_text() == "Hello from the browser"

    conversation = Conversation.objects.get()
    stored = Message.objects.get(role="assistant")
    assert stored.status == "complete"
    assert stored.text.strip() == reply_text.strip()
    assert conversation.title == "Hello from the browser"

    # Restart the server: everything comes back from the database.
    asgi_server.stop()
    from chatsite.asgi import application

    restarted = AsgiTestServer(application).start()
    try:
        page.goto(f"{restarted.url}/c/{conversation.uuid}/")
        page.get_by_text("Hello from the browser").first.wait_for()
        texts = page.locator(".message .text").all_inner_texts()
        assert texts[0] == "Hello from the browser"
        assert texts[1].strip() == reply_text.strip()
        sidebar = page.get_by_role("navigation", name="Conversations")
        assert sidebar.get_by_role("link", name="Hello from the browser").is_visible()
        page.screenshot(path=str(artifacts / "chat-loop-after-restart.png"), full_page=True)
    finally:
        restarted.stop()
    assert errors == []


def test_an_error_reply_is_shown_and_the_message_kept(asgi_server, browser, user, artifacts):
    page = open_new_conversation(browser, asgi_server, user)
    composer = page.get_by_label("Message")
    composer.fill("please fail [sim:error=auth]")
    page.get_by_role("button", name="Send").click()
    error = page.locator('.message.assistant[data-status="error"] .details')
    error.wait_for(timeout=20_000)
    assert "API key" in error.inner_text()
    assert page.locator(".message.user .text").inner_text() == "please fail [sim:error=auth]"
    page.screenshot(path=str(artifacts / "chat-error.png"))


def open_new_conversation(browser, server: AsgiTestServer, user):
    """A logged-in page on a new, empty conversation of `user`."""
    conversation = Conversation.objects.create(owner=user, model="claude-sonnet-4-6")
    context = browser.new_context()
    context.add_cookies(_session_cookie(user, server))
    page = context.new_page()
    page.goto(f"{server.url}/c/{conversation.uuid}/")
    return page


def _session_cookie(user, server: AsgiTestServer) -> list[dict[str, str]]:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return [
        {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": server.url,
        }
    ]


def test_text_beyond_the_basic_plane_streams_intact(asgi_server, browser, user, settings):
    """Offsets count code points; a client counting UTF-16 units would drop characters."""
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0.01
    settings.CHATSITE_STREAM_FLUSH_SECONDS = 0  # one frame per word: many offsets to get right
    page = open_new_conversation(browser, asgi_server, user)
    page.get_by_label("Message").fill("🎉 emoji 😀😀 𓀀𓀁 CJK 𠀀𠀁 and more 🚀 words")
    page.get_by_label("Message").press("Enter")
    reply = page.locator(".message.assistant").last
    reply.locator(".details", has_text="out tokens").wait_for(timeout=20_000)
    shown = page.evaluate(
        "() => { const t = document.querySelectorAll('.message.assistant .text'); "
        "return t[t.length - 1].textContent; }"
    )
    assert shown == Message.objects.get(role="assistant").text
    assert "😀😀 𓀀𓀁 CJK 𠀀𠀁" in shown


def test_a_message_sent_while_the_socket_reconnects_goes_out_once_it_is_back(
    asgi_server, browser, user
):
    conversation = Conversation.objects.create(owner=user, model="claude-sonnet-4-6")
    context = browser.new_context()
    context.add_cookies(_session_cookie(user, asgi_server))
    attempts: list[str] = []
    server_back = False

    def route(socket):
        attempts.append(socket.url)
        if server_back:
            socket.connect_to_server()
        else:
            socket.close(code=4000, reason="the server is away")

    context.route_web_socket("**/ws/conversations/**", route)
    page = context.new_page()
    page.goto(f"{asgi_server.url}/c/{conversation.uuid}/")
    page.get_by_text("Reconnecting").wait_for()
    page.get_by_label("Message").fill("sent while away")
    page.get_by_label("Message").press("Enter")

    # Taken from the composer, waiting for the socket rather than lost.
    assert page.get_by_label("Message").input_value() == ""
    assert not Message.objects.filter(conversation=conversation).exists()
    server_back = True
    reply = page.locator(".message.assistant").last
    reply.locator(".details", has_text="out tokens").wait_for(timeout=20_000)
    assert [m.text for m in Message.objects.filter(role="user")] == ["sent while away"]
    assert len(attempts) >= 2


def test_a_tab_learns_that_its_session_ended(asgi_server, browser, user):
    page = open_new_conversation(browser, asgi_server, user)
    page.wait_for_function("() => document.getElementById('connection').hidden")
    # Log out in another tab of the same browser, then cut this tab's socket.
    other = page.context.new_page()
    other.goto(f"{asgi_server.url}/")
    other.get_by_role("button", name="Log out").click()
    other.wait_for_url("**/accounts/login/")
    asgi_server.stop()
    from chatsite.asgi import application

    restarted = AsgiTestServer(application, port=asgi_server.port).start()
    try:
        page.get_by_text("Your session has ended").wait_for(timeout=20_000)
    finally:
        restarted.stop()


def test_a_reload_mid_stream_resumes_and_ends_with_the_stored_text(
    asgi_server, browser, user, settings
):
    settings.CHATSITE_STREAM_SAVE_SECONDS = 0.2
    page = open_new_conversation(browser, asgi_server, user)
    page.get_by_label("Message").fill("[sim:words=150] [sim:delay=0.02] keep going")
    page.get_by_label("Message").press("Enter")
    page.locator('.message.assistant[data-status="streaming"]').wait_for(timeout=10_000)
    page.wait_for_timeout(600)
    page.reload()
    # After the reload the page shows the saved part and follows the live stream to its end.
    page.locator('.message.assistant[data-status="streaming"]').wait_for(timeout=10_000)
    page.evaluate(RECORD_GROWTH)
    done = page.locator('.message.assistant[data-status="complete"]')
    done.wait_for(timeout=20_000)
    growth = page.evaluate("window.__replyLengths")
    assert len(set(growth)) >= 3, f"the reloaded page did not follow the stream: {growth}"
    shown = done.locator(".text").text_content()
    assert shown == Message.objects.get(role="assistant").text
    assert len(shown.split()) == 150
