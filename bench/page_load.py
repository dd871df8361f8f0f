"""How long a long conversation's page takes: on the server, and in Chromium until it is live.

Run: `.venv/bin/python -m bench.page_load` (writes bench/results/page_load.json; needs Debian's
chromium, like the browser tests).

The target (issue #6/#8): a 1,000-message conversation opens and becomes interactive in about a
second. The baseline is an empty conversation measured in the same run, so a busy machine shows
in both. Figures are medians of several loads:
- server: the page's HTML, over loopback HTTP (Django renders every stored message);
- rendered: from navigation start until chat.js has put the stored messages on the page
  (its `chatsite:rendered` User Timing mark): the replies in view rendered as Markdown, the
  others showing their text until they come near the view or the page is idle;
- live: until the page's socket has delivered the conversation's state (`chatsite:live`),
  after which every action works;
- all rendered: until every reply is rendered as Markdown (`chatsite:all-rendered`): the
  work the page puts off, done in idle time once it is live (not part of the target).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

LOADS = 5
MESSAGES = 1000
TARGET_MS = 1000
RESULTS = Path(__file__).resolve().parent / "results" / "page_load.json"
# A reply like Claude's: a paragraph, a list, a code block (what the page renders as Markdown).
REPLY = (
    "Here is how it works, step by step:\n\n"
    "1. **Read** the input and check it.\n2. Transform it with `map`.\n3. Write the result.\n\n"
    "```python\nfor item in items:\n    print(item)\n```\n\n"
    "That is all; ask again if something is unclear."
)


def _django() -> None:
    data = tempfile.mkdtemp(prefix="chatsite-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ["CHATSITE_DATA_DIR"] = data
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    # The page's server thread and this thread share the SQLite file.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _conversation(owner: Any, messages: int) -> Any:
    from conversations.models import Conversation, Message

    conversation = Conversation.objects.create(owner=owner, title=f"{messages} messages")
    parent = None
    for n in range(messages):
        role = Message.Role.USER if n % 2 == 0 else Message.Role.ASSISTANT
        text = f"Question {n}: how does step {n} work?" if role == Message.Role.USER else REPLY
        parent = Message.objects.create(
            conversation=conversation,
            parent=parent,
            role=role,
            text=text,
            status=Message.Status.COMPLETE,
            output_tokens=60 if role == Message.Role.ASSISTANT else 0,
        )
    conversation.active_leaf = parent
    conversation.save(update_fields=["active_leaf"])
    return conversation


def _session_cookie(user: Any) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _server_ms(url: str, cookie: str) -> float:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def _browser_ms(browser: Any, url: str, cookie: str, host: str) -> dict[str, float]:
    # Playwright's polling is evaluated JavaScript, which the page's CSP forbids.
    context = browser.new_context(bypass_csp=True)
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": host}])
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(
        "performance.getEntriesByName('chatsite:live').length > 0", timeout=60_000
    )
    page.wait_for_function(
        "performance.getEntriesByName('chatsite:all-rendered').length > 0", timeout=60_000
    )
    marks = page.evaluate(
        "['chatsite:rendered', 'chatsite:live', 'chatsite:all-rendered'].map("
        "name => performance.getEntriesByName(name)[0].startTime)"
    )
    context.close()
    return {"rendered": marks[0], "live": marks[1], "all_rendered": marks[2]}


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def main() -> None:
    _django()
    from django.contrib.auth.models import User
    from playwright.sync_api import sync_playwright

    from chatsite.asgi import application
    from tests.asgi_server import AsgiTestServer

    user = User.objects.create_user("bench", password="bench-password-123")
    cookie = _session_cookie(user)
    conversations = {"empty": _conversation(user, 0), "long": _conversation(user, MESSAGES)}
    server = AsgiTestServer(application).start()
    figures: dict[str, dict[str, float]] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, conversation in conversations.items():
                url = f"{server.url}/c/{conversation.uuid}/"
                _browser_ms(browser, url, cookie, server.url)  # warm: imports, caches
                server_ms, rendered, live, all_rendered = [], [], [], []
                for _ in range(LOADS):
                    server_ms.append(_server_ms(url, cookie))
                    timings = _browser_ms(browser, url, cookie, server.url)
                    rendered.append(timings["rendered"])
                    live.append(timings["live"])
                    all_rendered.append(timings["all_rendered"])
                figures[name] = {
                    "server_ms": _median(server_ms),
                    "rendered_ms": _median(rendered),
                    "live_ms": _median(live),
                    "all_rendered_ms": _median(all_rendered),
                }
            browser.close()
    finally:
        server.stop()
    long, empty = figures["long"], figures["empty"]
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "messages": MESSAGES,
        "loads": LOADS,
        "empty": empty,
        "long": long,
        "added_by_messages_ms": {k: round(long[k] - empty[k], 1) for k in long},
        "target_ms": TARGET_MS,
        "target_met": long["live_ms"] <= TARGET_MS,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{'':>8} {'server':>10} {'rendered':>10} {'live':>10} {'all md':>10}"
        f"   (ms, median of {LOADS})"
    )
    for name in ("empty", "long"):
        row = figures[name]
        label = "empty" if name == "empty" else f"{MESSAGES} msgs"
        print(
            f"{label:>8} {row['server_ms']:>10} {row['rendered_ms']:>10} {row['live_ms']:>10}"
            f" {row['all_rendered_ms']:>10}"
        )
    verdict = "met" if result["target_met"] else "NOT met"
    print(f"target: {MESSAGES} messages live in <= {TARGET_MS} ms: {verdict}")


if __name__ == "__main__":
    main()
