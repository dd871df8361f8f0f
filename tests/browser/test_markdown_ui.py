"""Claude's replies rendered as Markdown in Debian's Chromium: formatting, highlighted code
and Copy, hostile output that runs and loads nothing, image placeholders, autoscroll, and
the streaming renderer that renders finished blocks once.

The simulator's `[sim:echo=1]` makes the reply exactly the Markdown typed (directives taken
out), streamed token by token like any reply.
"""

from __future__ import annotations

import time

import pytest

from conversations.models import Conversation, Message
from tests.browser.test_chat_loop import _session_cookie
from tests.browser.test_engine_ui import watch_errors

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPLY_TIMEOUT = 20_000
EVIL = "evil.example"

FORMATTED = """[sim:echo=1]# Plan for today

Some *emphasis*, `inline code` and a [link](https://example.org/docs).

- first item
- second item

| name | count |
|:-----|------:|
| apples | 3 |

```python
def greet(name):
    return f"hello {name}"
```

> a quoted line"""

HOSTILE_LINES = [
    "<script>alert(1)</script>",
    "<script >alert(2)</script >",  # split across deltas: `<script`, ` >alert(2)</script`, ` >`
    "<img src=x onerror=alert(3)>",
    "[a](javascript:alert(4))",
    "[b](JaVaScRiPt:alert(5))",
    "[c](&#106;avascript:alert(6))",
    "[d](data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==)",
    "[e](vbscript:msgbox(8))",
    "![t](https://evil.example/p.png)",
    "![t][r]",
    "",
    "[r]: https://evil.example/q.png",
    "",
    '```"><img src=x onerror=alert(9)>',
    "code under a hostile info string",
    "```",
    "",
    "> " * 40 + "deep",
    "",
    "`" * 10_000,
]
HOSTILE = "[sim:echo=1]" + "\n".join(HOSTILE_LINES)

# Everything suspicious that ever appears under #messages, while streaming and after.
RECORD_DANGER = """() => {
  window.__danger = [];
  const banned = ['script', 'img', 'iframe', 'object', 'embed', 'svg', 'math', 'style', 'form'];
  const check = (node) => {
    if (node.nodeType !== 1) return;
    for (const el of [node, ...node.querySelectorAll('*')]) {
      const tag = el.tagName.toLowerCase();
      if (banned.includes(tag)) {
        window.__danger.push(tag);
      }
      for (const attr of el.attributes) {
        if (attr.name.startsWith('on') || attr.name === 'style' || attr.name === 'src') {
          window.__danger.push(`${tag}[${attr.name}]`);
        }
      }
    }
  };
  new MutationObserver((records) => {
    for (const r of records) r.addedNodes.forEach(check);
  }).observe(document.getElementById('messages'), {childList: true, subtree: true});
}"""


def open_page(browser, server, user, **context_options):
    conversation = Conversation.objects.create(owner=user, model="claude-sonnet-4-6")
    context = browser.new_context(**context_options)
    context.add_cookies(_session_cookie(user, server))
    # Nothing may reach another origin; should anything try, it is recorded and refused.
    outside: list[str] = []

    def refuse(route):
        outside.append(route.request.url)
        route.abort()

    context.route(f"**://{EVIL}/**", refuse)
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(f"{server.url}/c/{conversation.uuid}/")
    page.wait_for_function("() => document.getElementById('connection').hidden")
    return page, errors, outside


def send(page, text: str) -> None:
    composer = page.get_by_label("Message")
    composer.fill(text)
    composer.press("Enter")


def wait_done(page):
    done = page.locator('.message.assistant[data-status="complete"]').last
    done.wait_for(timeout=REPLY_TIMEOUT)
    return done


def test_a_streamed_reply_shows_formatting_highlighted_code_and_copies(
    asgi_server, browser, user, settings, artifacts
):
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0.005
    page, errors, outside = open_page(browser, asgi_server, user)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=asgi_server.url)
    send(page, FORMATTED)
    done = wait_done(page)
    reply = done.locator(".markdown")

    assert reply.locator("h1").inner_text() == "Plan for today"
    assert reply.locator("em").inner_text() == "emphasis"
    assert reply.locator("p code").inner_text() == "inline code"
    assert reply.locator("ul > li").all_inner_texts() == ["first item", "second item"]
    assert reply.locator("table th").all_inner_texts() == ["name", "count"]
    assert reply.locator("td.md-align-right").inner_text() == "3"
    assert reply.locator("blockquote").inner_text() == "a quoted line"
    link = reply.get_by_role("link", name="link")
    assert link.get_attribute("href") == "https://example.org/docs"
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    code = reply.locator(".md-code")
    assert code.locator(".md-code-lang").inner_text() == "python"
    assert "language-python" in code.locator("pre code").get_attribute("class")
    assert code.locator(".hljs-keyword").first.inner_text() == "def"
    assert code.locator(".hljs-string").count() >= 1
    # The person's text is shown as typed, not as Markdown.
    mine = page.locator(".message.user .text")
    assert mine.text_content() == FORMATTED
    assert page.locator(".message.user h1").count() == 0
    page.screenshot(path=str(artifacts / "markdown-formatted.png"), full_page=True)

    code.get_by_role("button", name="Copy").click()
    code.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == (
        'def greet(name):\n    return f"hello {name}"\n'
    )
    assert page.locator("#copy-status").text_content() == "Copied to the clipboard"
    # The message's own Copy gives the Markdown as Claude wrote it.
    done.locator(".message-head").get_by_role("button", name="Copy").click()
    done.locator(".message-head").get_by_role("button", name="Copied").wait_for()
    stored = Message.objects.get(role="assistant").text
    assert stored == FORMATTED.removeprefix("[sim:echo=1]")
    assert page.evaluate("navigator.clipboard.readText()") == stored

    # Source shows the text as written; the rendered view comes back.
    done.get_by_role("button", name="Source").click()
    assert done.locator(".text").is_visible()
    assert done.locator(".text").inner_text() == stored
    assert not reply.is_visible()
    done.get_by_role("button", name="Source").click()
    assert reply.is_visible()

    # A fresh page renders the stored reply exactly as the stream left it.
    code.get_by_role("button", name="Copy", exact=True).wait_for()
    streamed_html = reply.inner_html()
    page.reload()
    again = wait_done(page).locator(".markdown")
    assert again.inner_html() == streamed_html
    assert errors == []
    assert outside == []


def test_hostile_output_runs_nothing_and_loads_nothing(
    asgi_server, browser, user, settings, artifacts
):
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0.002
    settings.CHATSITE_STREAM_FLUSH_SECONDS = 0  # a frame per token: payloads split across them
    page, errors, outside = open_page(browser, asgi_server, user)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.evaluate(RECORD_DANGER)
    send(page, HOSTILE)
    page.locator('.message.assistant[data-status="streaming"]').wait_for(timeout=REPLY_TIMEOUT)
    done = wait_done(page)
    reply = done.locator(".markdown")
    page.screenshot(path=str(artifacts / "markdown-hostile.png"), full_page=True)

    # Still responsive: a script round trip and typing are immediate.
    started = time.monotonic()
    page.evaluate("() => 1 + 1")
    page.get_by_label("Message").fill("still here")
    assert time.monotonic() - started < 2

    assert dialogs == []
    assert outside == []
    assert page.evaluate("window.__danger") == []
    assert page.locator("#messages script, #messages img, #messages [onerror]").count() == 0
    text = reply.inner_text()
    # Raw HTML and refused links are shown as text, nothing lost.
    for shown in ("<script>alert(1)</script>", "<img src=x onerror=alert(3)>"):
        assert shown in text
    refused = ("[a](javascript:alert(4))", "[b](JaVaScRiPt:alert(5))", "[e](vbscript:msgbox(8))")
    for label in refused:
        assert label in text
    for href in reply.locator("a").evaluate_all("(links) => links.map((a) => a.href)"):
        assert href.startswith("https://"), href
    # Images, inline and by reference: placeholders showing the address, not loaded.
    placeholders = reply.locator("a.md-image")
    assert placeholders.count() == 2
    assert placeholders.first.text_content() == "Image: t https://evil.example/p.png"
    assert placeholders.last.get_attribute("href") == "https://evil.example/q.png"
    # The info string is escaped, shortened text; the code gets no class from it.
    code = reply.locator(".md-code").first
    assert code.locator(".md-code-lang").inner_text() == '"><img'
    assert code.locator("pre code").get_attribute("class") == "hljs"
    assert code.locator("pre code").inner_text() == "code under a hostile info string\n"
    # Nesting beyond the limit falls back to plain text, which keeps every character.
    assert reply.locator(".md-plain", has_text="deep").inner_text().count(">") == 40
    # 10,000 backticks open a (last, empty) code fence, rendered at once.
    assert reply.locator(".md-code").count() == 2
    assert errors == []


def test_an_image_placeholder_opens_its_address_only_when_clicked(
    asgi_server, browser, user, settings
):
    page, errors, _ = open_page(browser, asgi_server, user)
    opened: list[str] = []
    page.context.unroute(f"**://{EVIL}/**")

    def serve(route):
        opened.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="the picture")

    page.context.route(f"**://{EVIL}/**", serve)
    send(page, "[sim:echo=1]Look: ![a red square](https://evil.example/square.png)")
    placeholder = wait_done(page).locator("a.md-image")
    assert placeholder.text_content() == "Image: a red square https://evil.example/square.png"
    page.wait_for_timeout(300)
    assert opened == []

    with page.context.expect_page() as popup_info:
        placeholder.click()
    popup = popup_info.value
    popup.wait_for_load_state()
    assert popup.url == "https://evil.example/square.png"
    assert opened == ["https://evil.example/square.png"]
    assert page.locator("#messages img").count() == 0
    assert errors == []


def test_autoscroll_follows_the_stream_only_while_at_the_end(asgi_server, browser, user):
    page, errors, _ = open_page(browser, asgi_server, user, viewport={"width": 900, "height": 560})
    send(page, "[sim:words=600][sim:delay=0.01]")
    page.wait_for_function(
        "() => { const l = document.getElementById('messages');"
        " return l.scrollHeight > l.clientHeight + 150; }",
        timeout=REPLY_TIMEOUT,
    )
    position = """() => { const l = document.getElementById('messages');
      return {top: l.scrollTop, height: l.scrollHeight,
              gap: l.scrollHeight - l.scrollTop - l.clientHeight}; }"""
    assert page.evaluate(position)["gap"] < 48

    # The person scrolls up to read: the page stays where they are while the reply grows.
    page.locator("#messages").hover()
    page.mouse.wheel(0, -5000)
    page.wait_for_function(f"() => ({position})().gap > 100")
    held = page.evaluate(position)
    page.wait_for_timeout(700)
    later = page.evaluate(position)
    assert page.locator('.message.assistant[data-status="streaming"]').count() == 1
    assert later["height"] > held["height"]  # it grew meanwhile
    assert later["top"] == held["top"]

    # Back at the end, it follows again.
    page.mouse.wheel(0, 100_000)
    page.wait_for_function(f"() => ({position})().gap < 48")
    grown_from = page.evaluate(position)["height"]
    page.wait_for_function(f"(h) => ({position})().height > h + 50", arg=grown_from)
    assert page.evaluate(position)["gap"] < 48
    assert page.locator('.message.assistant[data-status="streaming"]').count() == 1
    wait_done(page)
    assert page.evaluate(position)["gap"] < 48
    assert errors == []


# Finished blocks removed from the reply while it still streams (none should be).
RECORD_BLOCK_REMOVALS = """() => {
  window.__removedWhileStreaming = 0;
  new MutationObserver((records) => {
    for (const r of records) {
      const message = r.target.closest && r.target.closest('.message');
      for (const node of r.removedNodes) {
        if (node.nodeType === 1 && node.classList.contains('md-block')
            && !node.classList.contains('md-tail') && message?.dataset.status === 'streaming') {
          window.__removedWhileStreaming++;
        }
      }
    }
  }).observe(document.getElementById('messages'), {childList: true, subtree: true});
}"""


def test_finished_blocks_render_once_while_the_tail_grows(asgi_server, browser, user, settings):
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0.004
    settings.CHATSITE_STREAM_FLUSH_SECONDS = 0
    paragraphs = [f"Paragraph {n} has a few words to stream one by one." for n in range(12)]
    paragraphs[5] = "```python\nfirst = 1\n\n\nsecond = 2  # blank lines inside a fence\n```"
    paragraphs[8] = "1. a list\n2. that continues\n\n3. after a blank line"
    text = "\n\n".join(paragraphs)
    page, errors, _ = open_page(browser, asgi_server, user)
    page.evaluate(RECORD_BLOCK_REMOVALS)
    send(page, "[sim:echo=1]" + text)
    streaming = page.locator('.message.assistant[data-status="streaming"] .markdown')
    streaming.locator(".md-block:not(.md-tail)").first.wait_for(timeout=REPLY_TIMEOUT)
    done = wait_done(page)
    rendered = done.locator(".markdown")

    # The fence's blank lines and the list's do not end a block: 12 paragraphs, 11 blocks.
    assert rendered.locator(":scope > .md-block").count() == 11
    counts = rendered.evaluate("(el) => ({...el.dataset})")
    # While streaming each finished block was rendered once (all but the last, the tail);
    # the tail was rendered on many frames; at the end the whole text once more.
    assert counts["blockRenders"] == "10"
    assert int(counts["tailRenders"]) > 20
    assert counts["fullRenders"] == "1"
    assert page.evaluate("window.__removedWhileStreaming") == 0
    assert rendered.locator("ol > li").count() == 3
    assert "second = 2" in rendered.locator(".md-code code").inner_text()
    assert errors == []
