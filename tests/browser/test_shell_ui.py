"""The chat page's shell in Debian's Chromium through Playwright: the grouped sidebar and its
menus, dark mode, the 375 px drawer, keyboard shortcuts, accessible names, and a draft that
outlives its session. Screenshots of the main states go to test-artifacts/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone

from conversations.models import Conversation, Message
from tests.browser.test_chat_loop import _session_cookie
from tests.browser.test_engine_ui import watch_errors
from tests.factories import ConversationFactory, chain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPLY_TIMEOUT = 20_000
PHONE = {"width": 375, "height": 740}
LIGHT_BG = "rgb(251, 250, 248)"  # theme.css --bg
DARK_BG = "rgb(29, 28, 26)"


def _open(browser, server, user, path: str = "/", **context_options):
    context = browser.new_context(**context_options)
    context.add_cookies(_session_cookie(user, server))
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(server.url + path)
    return page, errors


def _aged(user, title: str, age: timedelta, **fields) -> Conversation:
    conversation = ConversationFactory(owner=user, title=title, **fields)
    # auto_now would overwrite a saved value: set the row directly.
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now() - age)
    return conversation


def _groups(page) -> list[tuple[str, list[str]]]:
    """(heading, titles) of each group of the sidebar, top to bottom."""
    groups = page.eval_on_selector_all(
        "#conversation-list .conversation-group",
        """all => all.map(g => [g.querySelector('h2').textContent,
            [...g.querySelectorAll('li a')].map(a => a.textContent.trim())])""",
    )
    return [(label, titles) for label, titles in groups]


def _menu(page, title: str):
    """Open the conversation's menu from its button; the menu's locator."""
    # The buttons are rendered by the server: a click before sidebar.js has run does nothing.
    page.locator('#sidebar[data-ready="true"]').wait_for(state="attached")
    page.get_by_role("button", name=f"Options for {title}", exact=True).click()
    return page.get_by_role("menu", name=f"Options for {title}")


def _background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_the_list_is_grouped_by_date_and_rename_pin_and_archive_regroup_it(
    asgi_server, browser, user, artifacts
):
    month_ago = (timezone.localtime() - timedelta(days=61)).strftime("%B %Y")
    _aged(user, "Two months back", timedelta(days=61))
    _aged(user, "Ten days back", timedelta(days=10))
    _aged(user, "Yesterday's", timedelta(days=1))
    today = _aged(user, "This morning", timedelta(minutes=5))
    page, errors = _open(browser, asgi_server, user, f"/c/{today.uuid}/")

    assert _groups(page) == [
        ("Today", ["This morning"]),
        ("Yesterday", ["Yesterday's"]),
        ("Previous 30 days", ["Ten days back"]),
        (month_ago, ["Two months back"]),
    ]
    page.screenshot(path=str(artifacts / "shell-light.png"))

    # Rename from the keyboard: the menu opens on ArrowDown, Enter picks Rename.
    button = page.get_by_role("button", name="Options for Ten days back", exact=True)
    button.focus()
    page.keyboard.press("ArrowDown")
    menu = page.get_by_role("menu", name="Options for Ten days back")
    assert button.get_attribute("aria-expanded") == "true"
    assert menu.get_by_role("menuitem", name="Rename").evaluate("e => e === document.activeElement")
    page.keyboard.press("Enter")
    title_box = page.get_by_role("textbox", name="New title for “Ten days back”")
    assert title_box.evaluate("e => e === document.activeElement")
    # An empty title is refused with a message and nothing is stored; Escape keeps the old one.
    title_box.fill("   ")
    title_box.press("Enter")
    assert "cannot be empty" in page.locator("#sidebar-message").inner_text()
    assert title_box.get_attribute("aria-invalid") == "true"
    title_box.press("Escape")
    assert title_box.count() == 0
    assert Conversation.objects.get(title="Ten days back")
    # Enter saves: a rename is activity, so it moves to Today.
    _menu(page, "Ten days back").get_by_role("menuitem", name="Rename").click()
    title_box.fill("Trip to Porto")
    title_box.press("Enter")
    page.get_by_role("link", name="Trip to Porto").wait_for()
    assert _groups(page)[0] == ("Today", ["Trip to Porto", "This morning"])
    assert Conversation.objects.filter(title="Trip to Porto").exists()
    assert page.get_by_role("button", name="Options for Trip to Porto").evaluate(
        "e => e === document.activeElement"
    )

    # Pin: it moves to a Pinned group on top, from where unpinning puts it back.
    _menu(page, "Two months back").get_by_role("menuitem", name="Pin").click()
    page.locator('[data-group="pinned"]').get_by_role("link", name="Two months back").wait_for()
    assert _groups(page)[0] == ("Pinned", ["Two months back"])
    assert Conversation.objects.get(title="Two months back").is_pinned
    # Another tab changed a title (chat.js passes the socket's frame on as this event).
    page.evaluate(
        """id => document.dispatchEvent(new CustomEvent('chatsite:conversation-updated',
            {detail: {id, title: 'Morning notes', is_pinned: false, is_archived: false}}))""",
        str(today.uuid),
    )
    assert page.locator(f'li[data-id="{today.uuid}"] a').inner_text() == "Morning notes"
    _menu(page, "Two months back").get_by_role("menuitem", name="Unpin").click()
    page.locator('[data-group="pinned"]').wait_for(state="detached")
    assert _groups(page)[-1] == (month_ago, ["Two months back"])

    # Archive: gone from the list, listed under Archived, and back from there.
    _menu(page, "Yesterday's").get_by_role("menuitem", name="Archive").click()
    page.get_by_role("link", name="Yesterday's").wait_for(state="detached")
    assert "Archived “Yesterday's”" in page.locator("#sidebar-message").inner_text()
    assert Conversation.objects.get(title="Yesterday's").is_archived
    page.get_by_role("link", name="Archived conversations").click()
    page.get_by_role("heading", name="Archived").wait_for()
    assert _groups(page) == [("Yesterday", ["Yesterday's"])]
    _menu(page, "Yesterday's").get_by_role("menuitem", name="Unarchive").click()
    page.get_by_text("No archived conversations.").wait_for()
    assert not Conversation.objects.get(title="Yesterday's").is_archived
    page.get_by_role("link", name="All conversations").click()
    page.get_by_role("link", name="Yesterday's").wait_for()
    assert errors == []


def test_a_menu_far_down_a_long_list_opens_beside_its_button(asgi_server, browser, user):
    for number in range(40):
        ConversationFactory(owner=user, title=f"Chat {number}")
    page, errors = _open(browser, asgi_server, user, "/")
    # Clicking scrolls the button into view first: the menu must follow it, not vanish.
    menu = _menu(page, "Chat 1")
    menu.wait_for()
    button = page.get_by_role("button", name="Options for Chat 1", exact=True).bounding_box()
    box = menu.bounding_box()
    assert box["y"] + box["height"] <= 720
    assert abs(box["y"] - (button["y"] + button["height"])) < 8 or box["y"] < button["y"]
    assert errors == []


def test_delete_asks_first_naming_the_conversation(asgi_server, browser, user):
    keep = ConversationFactory(owner=user, title="Keep me")
    ConversationFactory(owner=user, title="Old notes")
    page, errors = _open(browser, asgi_server, user, f"/c/{keep.uuid}/")

    _menu(page, "Old notes").get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete “Old notes”?")
    dialog.wait_for()
    # Modal: the safe button has the focus, and Cancel keeps everything.
    assert dialog.get_by_role("button", name="Cancel").evaluate("e => e === document.activeElement")
    dialog.get_by_role("button", name="Cancel").click()
    assert dialog.is_hidden()
    assert page.get_by_role("link", name="Old notes").is_visible()
    assert Conversation.objects.filter(title="Old notes").exists()
    # Escape cancels too.
    _menu(page, "Old notes").get_by_role("menuitem", name="Delete").click()
    dialog.wait_for()
    page.keyboard.press("Escape")
    assert dialog.is_hidden()
    assert Conversation.objects.filter(title="Old notes").exists()

    _menu(page, "Old notes").get_by_role("menuitem", name="Delete").click()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("link", name="Old notes").wait_for(state="detached")
    assert not Conversation.objects.filter(title="Old notes").exists()
    assert page.url.endswith(f"/c/{keep.uuid}/")

    # Deleting the conversation on screen goes home.
    _menu(page, "Keep me").get_by_role("menuitem", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete “Keep me”?")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    page.wait_for_url(asgi_server.url + "/")
    assert page.get_by_text("No conversations yet.").is_visible()
    assert not Conversation.objects.exists()
    assert errors == []


def test_the_theme_follows_the_system_until_a_choice_is_made_and_kept(
    asgi_server, browser, user, artifacts
):
    conversation = ConversationFactory(owner=user, title="Colours")
    chain(conversation, ("user", "Show code"), ("assistant", "```python\nprint('hi')\n```"))
    page, errors = _open(
        browser, asgi_server, user, f"/c/{conversation.uuid}/", color_scheme="dark"
    )
    # System (the default) follows the system's dark preference, highlight.js theme included.
    assert page.get_by_role("radio", name="System").is_checked()
    assert _background(page) == DARK_BG
    assert page.evaluate("matchMedia(document.getElementById('hljs-dark').media).matches")
    assert not page.evaluate("matchMedia(document.getElementById('hljs-light').media).matches")
    page.screenshot(path=str(artifacts / "shell-dark.png"))
    page.emulate_media(color_scheme="light")
    assert _background(page) == LIGHT_BG

    # A choice overrides the system, and survives a reload without a flash of the other one.
    page.emulate_media(color_scheme="light")
    page.get_by_text("Dark", exact=True).click()
    assert page.get_by_role("radio", name="Dark").is_checked()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert _background(page) == DARK_BG
    assert page.evaluate("matchMedia(document.getElementById('hljs-dark').media).matches")
    page.add_init_script(
        """document.addEventListener('DOMContentLoaded', () => {
             window.__firstBackground = getComputedStyle(document.body).backgroundColor;
           });"""
    )
    page.reload()
    assert page.evaluate("window.__firstBackground") == DARK_BG
    assert _background(page) == DARK_BG
    assert page.get_by_role("radio", name="Dark").is_checked()

    # Light while the system is dark; then back to following the system.
    page.emulate_media(color_scheme="dark")
    page.get_by_role("radio", name="Light").check()
    assert _background(page) == LIGHT_BG
    assert page.evaluate("matchMedia(document.getElementById('hljs-light').media).matches")
    page.get_by_role("radio", name="System").check()
    assert _background(page) == DARK_BG
    assert page.evaluate("localStorage.getItem('chatsite:theme')") is None
    assert errors == []


def test_a_375px_screen_has_a_drawer_and_nothing_scrolls_sideways(
    asgi_server, browser, user, artifacts
):
    other = ConversationFactory(owner=user, title="Another conversation with a long title")
    conversation = ConversationFactory(owner=user, title="Phone")
    chain(
        conversation,
        ("user", "A long word: " + "x" * 120),
        ("assistant", "| a | b | c |\n|---|---|---|\n| " + "wide " * 40 + "| 2 | 3 |"),
    )
    # Reduced motion: the drawer appears at once, so the screenshots show it in place.
    page, errors = _open(
        browser,
        asgi_server,
        user,
        f"/c/{conversation.uuid}/",
        viewport=PHONE,
        reduced_motion="reduce",
    )
    sidebar = page.get_by_role("navigation", name="Conversations")
    toggle = page.get_by_role("button", name="Conversations", exact=True)
    assert toggle.is_visible()
    assert toggle.get_attribute("aria-controls") == "sidebar"
    assert toggle.get_attribute("aria-expanded") == "false"
    assert sidebar.is_hidden()
    assert _scroll_width(page) <= 375
    page.screenshot(path=str(artifacts / "shell-375.png"))

    # Opens with focus inside; Escape closes it and gives focus back to the button.
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    sidebar.get_by_role("link", name=other.title).wait_for()
    assert page.evaluate("document.getElementById('sidebar').contains(document.activeElement)")
    assert _scroll_width(page) <= 375
    page.screenshot(path=str(artifacts / "shell-375-drawer.png"))
    page.keyboard.press("Escape")
    sidebar.wait_for(state="hidden")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert toggle.evaluate("e => e === document.activeElement")

    # A press outside closes it too; the menu inside works as on a wide screen.
    toggle.click()
    sidebar.get_by_role("link", name=other.title).wait_for()
    page.mouse.click(360, 400)
    sidebar.wait_for(state="hidden")
    toggle.click()
    menu = _menu(page, other.title)
    assert menu.is_visible()
    page.keyboard.press("Escape")  # the menu first ...
    assert menu.is_hidden()
    assert sidebar.is_visible()
    page.keyboard.press("Escape")  # ... then the drawer
    sidebar.wait_for(state="hidden")

    # The settings panel and the composer fit as well.
    page.locator("#settings > summary").click()
    page.get_by_label("System prompt").wait_for()
    assert _scroll_width(page) <= 375
    page.get_by_label("Message").fill("word " * 200)
    assert _scroll_width(page) <= 375
    assert errors == []


def _scroll_width(page) -> int:
    return page.evaluate("document.scrollingElement.scrollWidth")


def test_keyboard_shortcuts(asgi_server, browser, user, settings, artifacts):
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0.02
    conversation = ConversationFactory(owner=user, title="Shortcuts")
    page, errors = _open(browser, asgi_server, user, f"/c/{conversation.uuid}/")
    page.wait_for_function("() => document.getElementById('connection').hidden")
    composer = page.get_by_label("Message")
    search = page.get_by_label("Search conversations")

    # Ctrl+K: the search box, from anywhere (even while typing); Shift+Escape: the composer.
    composer.click()
    page.keyboard.press("Control+k")
    assert search.evaluate("e => e === document.activeElement")
    page.keyboard.press("Shift+Escape")
    assert composer.evaluate("e => e === document.activeElement")

    # "?" opens the list of shortcuts, but not while typing.
    page.keyboard.type("what?")
    assert composer.input_value() == "what?"
    assert page.locator("#shortcuts-dialog").is_hidden()
    page.locator("body").click(position={"x": 700, "y": 300})
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    help_dialog.wait_for()
    assert "Search conversations" in help_dialog.inner_text()
    page.screenshot(path=str(artifacts / "shell-shortcuts.png"))
    page.keyboard.press("Escape")
    assert help_dialog.is_hidden()

    # Escape while a reply streams stops it.
    composer.fill("[sim:words=400][sim:delay=0.02]")
    composer.press("Enter")
    page.locator('.message.assistant[data-status="streaming"]').wait_for(timeout=REPLY_TIMEOUT)
    page.wait_for_timeout(300)
    composer.press("Escape")
    page.locator('.message.assistant[data-status="stopped"]').wait_for(timeout=REPLY_TIMEOUT)
    assert Message.objects.get(role="assistant").status == "stopped"

    # Ctrl+Shift+O: a new chat.
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(re.compile(r".*/c/(?!" + str(conversation.uuid) + r")[0-9a-f-]+/$"))
    assert Conversation.objects.count() == 2
    assert errors == []


def test_every_control_has_a_name_and_the_page_has_landmarks(asgi_server, browser, user):
    conversation = ConversationFactory(owner=user, title="Names")
    chain(conversation, ("user", "Hello"), ("assistant", "Hi there"))
    page, errors = _open(browser, asgi_server, user, f"/c/{conversation.uuid}/")
    page.locator(".message.assistant .markdown").wait_for()
    # The skip link comes first in the Tab order, shows when focused, and leads to the composer
    # (the composer has autofocus, so a first Tab from the top is not what this page starts with).
    first = page.evaluate(
        """[...document.querySelectorAll('a[href], button, input, textarea, select')]
             .find(e => e.tabIndex >= 0 && !e.disabled).textContent"""
    )
    assert first == "Skip to the message box"
    skip = page.get_by_role("link", name="Skip to the message box")
    skip.focus()
    assert skip.is_visible()
    page.keyboard.press("Enter")
    assert page.get_by_label("Message").evaluate("e => e === document.activeElement")

    assert page.get_by_role("navigation", name="Conversations").count() == 1
    assert page.get_by_role("main").count() == 1
    assert page.locator("#messages").get_attribute("aria-live") == "polite"
    assert _unnamed_controls(page) == []
    menu = _menu(page, "Names")
    assert menu.get_by_role("menuitem").all_inner_texts() == ["Rename", "Pin", "Archive", "Delete…"]
    page.keyboard.press("Escape")
    # The same on a phone, with the drawer open (the conversation behind it is inert).
    page.set_viewport_size(PHONE)
    page.get_by_role("button", name="Conversations", exact=True).click()
    page.get_by_role("button", name="Close conversations").wait_for()
    assert page.evaluate(
        "() => { const send = document.getElementById('send-button'); send.focus();"
        " return document.activeElement !== send && document.querySelector('main').inert; }"
    )
    assert _unnamed_controls(page) == []
    page.get_by_role("button", name="Close conversations").click()
    assert not page.evaluate("document.querySelector('main').inert")
    assert errors == []


def _unnamed_controls(page) -> list[str]:
    """Lines of the accessibility tree with a control that has no accessible name."""
    controls = [
        match
        for line in page.locator("body").aria_snapshot().splitlines()
        if (
            match := re.match(
                r"\s*- (button|link|textbox|searchbox|combobox|checkbox|radio|menuitem)\b(.*)",
                line,
            )
        )
    ]
    assert len(controls) > 10, "the tree lists the page's controls"
    return [m.group(0).strip() for m in controls if not m.group(2).lstrip().startswith('"')]


def test_a_draft_outlives_a_lapsed_session(asgi_server, browser, user):
    conversation = ConversationFactory(owner=user, title="Drafting")
    page, errors = _open(browser, asgi_server, user, f"/c/{conversation.uuid}/")
    page.get_by_label("Message").fill("A long thought I have not sent yet")

    # The session ends elsewhere (logged out in another place, or expired).
    Session.objects.all().delete()
    page.reload()
    page.wait_for_url(re.compile(r".*/accounts/login/\?next="))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password", exact=True).fill("correct horse battery staple")
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    page.wait_for_url(f"**/c/{conversation.uuid}/")
    assert page.get_by_label("Message").input_value() == "A long thought I have not sent yet"
    assert errors == []
