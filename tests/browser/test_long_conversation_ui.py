"""A long conversation in Debian's Chromium: it opens at its end with the replies in view
rendered as Markdown, renders the others when they come near (and in idle time), shows every
reply's text meanwhile, and a resync of an unchanged path replaces nothing.

How fast it opens is measured in bench/page_load.py, not here: these tests prove the lazy
rendering is correct.
"""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Message
from tests.browser.test_chat_loop import _session_cookie
from tests.browser.test_engine_ui import _open, watch_errors
from tests.factories import chain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TURNS = 100  # 200 messages


def reply_text(n: int) -> str:
    return (
        f"Reply {n}, in steps:\n\n1. **Read** it.\n2. Change it.\n3. Write it.\n\n"
        f"```python\nfor item in range({n}):\n    print(item)\n```\n\nDone with {n}."
    )


@pytest.fixture
def long_conversation(user) -> Conversation:
    conversation = Conversation.objects.create(owner=user, model="claude-sonnet-4-6")
    turns = []
    for n in range(TURNS):
        turns += [("user", f"Question {n}"), ("assistant", reply_text(n))]
    chain(conversation, *turns)
    return conversation


def reply(page, n: int):
    return page.locator(".message.assistant").nth(n)


def assert_rendered(message, n: int) -> None:
    rendered = message.locator(".markdown")
    assert rendered.is_visible()
    assert message.locator(".text").is_hidden()
    assert rendered.locator("ol > li").count() == 3
    assert rendered.locator("strong").text_content() == "Read"
    code = rendered.locator("code.hljs.language-python")
    assert code.locator(".hljs-keyword").first.text_content() == "for"  # highlighted
    assert f"range({n})" in code.text_content()


# Every reply shows exactly one of its source (waiting for its rendering) and its rendering,
# and what it shows holds its text: nothing is blank, nothing is doubled.
SHOWN_TEXTS = """() => [...document.querySelectorAll('.message.assistant')].map((m) => {
  const source = m.querySelector('.text');
  const rendered = m.querySelector('.markdown');
  if (source.hidden === rendered.hidden) return 'both or neither';
  return (source.hidden ? rendered : source).textContent;
})"""

LIST_POSITION = """() => {
  const list = document.getElementById('messages');
  return {gap: list.scrollHeight - list.scrollTop - list.clientHeight, top: list.scrollTop};
}"""


def test_it_opens_at_the_end_rendered_and_renders_the_rest_as_it_comes_near(
    asgi_server, browser, user, long_conversation
):
    page, errors = _open(browser, asgi_server, user, long_conversation)

    # At the end, the replies in view rendered as Markdown, code highlighted.
    assert page.evaluate(LIST_POSITION)["gap"] < 48
    assert_rendered(reply(page, TURNS - 1), TURNS - 1)
    assert_rendered(reply(page, TURNS - 2), TURNS - 2)

    # Halfway up: what comes into view is rendered, and stays where it is while the replies
    # above it get their rendering (heights change above the view, the view does not move).
    middle = reply(page, TURNS // 2)
    middle.scroll_into_view_if_needed()
    for n in range(TURNS // 2 - 1, TURNS // 2 + 2):
        reply(page, n).locator(".markdown code.hljs").wait_for()
    page.wait_for_timeout(100)  # a frame or two for what the view brought
    held = middle.evaluate("(m) => m.getBoundingClientRect().top")
    page.wait_for_function(
        "() => !document.querySelector('.message.assistant .markdown[hidden]')", timeout=20_000
    )
    assert abs(middle.evaluate("(m) => m.getBoundingClientRect().top") - held) < 2
    assert_rendered(middle, TURNS // 2)

    # The top: rendered there too (shown once the browser lays out what came into view).
    page.evaluate("document.getElementById('messages').scrollTop = 0")
    reply(page, 0).locator(".markdown code.hljs").wait_for()
    assert_rendered(reply(page, 0), 0)
    assert page.locator(".message.assistant .markdown code.hljs").count() == TURNS
    assert errors == []


def test_a_reply_waiting_for_its_rendering_shows_its_text(
    asgi_server, browser, user, long_conversation
):
    context = browser.new_context()
    context.add_cookies(_session_cookie(user, asgi_server))
    page = context.new_page()
    page.goto(f"{asgi_server.url}/c/{long_conversation.uuid}/")
    # As soon as the stored messages are on the page: far replies may still wait.
    page.wait_for_function("() => performance.getEntriesByName('chatsite:rendered').length > 0")
    shown = page.evaluate(SHOWN_TEXTS)
    assert len(shown) == TURNS
    for n, text in enumerate(shown):
        assert f"Done with {n}." in text, (n, text)
    # The Source button of a far reply shows its text as stored, rendered or not.
    first = reply(page, 0)
    first.scroll_into_view_if_needed()
    first.hover()
    first.get_by_role("button", name="Source").click()
    assert first.locator(".text").text_content() == reply_text(0)
    assert first.locator(".markdown").is_hidden()
    first.get_by_role("button", name="Source").click()
    assert_rendered(first, 0)


# The page's socket (to send frames as the page would), and how many conversation.state frames
# the page has handled (counted in a task after the page's own listeners ran).
CAPTURE_SOCKET = """(() => {
  window.__states = 0;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__socket = this;
      this.addEventListener('message', (event) => {
        const state = JSON.parse(event.data).type === 'conversation.state';
        if (state) setTimeout(() => window.__states++);
      });
    }
  };
})()"""

# Marks every rendered reply's nodes, and records every change under #messages from now on
# (nodes added or removed, attributes set, text changed): the id of the message it was in.
MARK_AND_WATCH = """() => {
  for (const rendered of document.querySelectorAll('.message.assistant .markdown')) {
    rendered.__kept = true;
    for (const block of rendered.children) block.__kept = true;
  }
  window.__changed = [];
  const record = (records) => {
    for (const r of records) {
      const target = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      window.__changed.push(target.closest('.message')?.dataset.messageId || '?');
    }
  };
  const watch = new MutationObserver(record);
  watch.observe(document.getElementById('messages'), {
    childList: true, subtree: true, attributes: true, characterData: true,
  });
  window.__changedNow = () => {
    record(watch.takeRecords());
    return window.__changed;
  };
}"""

KEPT = """() => [...document.querySelectorAll('.message.assistant .markdown')].map(
  (r) => r.__kept === true && [...r.children].every((block) => block.__kept === true)
)"""


def test_a_resync_replaces_no_rendered_reply_and_updates_only_what_changed(
    asgi_server, browser, user, long_conversation
):
    context = browser.new_context()
    context.add_cookies(_session_cookie(user, asgi_server))
    context.add_init_script(CAPTURE_SOCKET)
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(f"{asgi_server.url}/c/{long_conversation.uuid}/")
    page.wait_for_function("() => window.__states === 1")  # the state the page opened with
    page.wait_for_function(
        "() => !document.querySelector('.message.assistant .markdown[hidden]')", timeout=20_000
    )
    page.evaluate(MARK_AND_WATCH)

    # The stored path as it is: nothing on the page changes, not even to the same value.
    page.evaluate("window.__socket.send(JSON.stringify({type: 'resync'}))")
    page.wait_for_function("() => window.__states === 2")
    assert page.evaluate("window.__changedNow()") == []
    assert all(page.evaluate(KEPT))
    counts = page.locator(".message.assistant .markdown").evaluate_all(
        "all => all.map(r => r.dataset.fullRenders)"
    )
    assert set(counts) == {"1"}  # each reply rendered once, ever
    assert page.evaluate(LIST_POSITION)["gap"] < 48

    # One stored reply changed meanwhile (another tab, an admin): only it is shown anew.
    replies = Message.objects.filter(conversation=long_conversation, role="assistant")
    changed = replies.order_by("created_at", "id")[TURNS // 2]
    Message.objects.filter(pk=changed.pk).update(text="Now **only** this.")
    page.evaluate("window.__socket.send(JSON.stringify({type: 'resync'}))")
    page.wait_for_function("() => window.__states === 3")
    target = page.locator(f'.message[data-message-id="{changed.uuid}"]')
    target.locator(".markdown strong", has_text="only").wait_for(state="attached")
    assert target.locator(".text").text_content() == "Now **only** this."
    assert set(page.evaluate("window.__changedNow()")) == {str(changed.uuid)}
    kept = page.evaluate(KEPT)
    assert kept.count(False) == 1
    assert kept.index(False) == TURNS // 2
    assert errors == []
