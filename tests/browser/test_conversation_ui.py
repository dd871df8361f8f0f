"""The conversation view's per-message actions, versions, details, totals and composer, in
Debian's Chromium through Playwright: edit, regenerate and move between versions, Retry,
Stop, the details line, the context meter and the model's capabilities."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Message
from tests.browser.test_engine_ui import _open, last_reply
from tests.factories import MessageFactory, chain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPLY_TIMEOUT = 20_000


def new_conversation(user, **fields) -> Conversation:
    return Conversation.objects.create(owner=user, model="claude-sonnet-4-6", **fields)


def send(page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")


def wait_for_complete_replies(page, count: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('.message.assistant[data-status=\"complete\"]')"
        '.length === n && !document.querySelector(\'.message[data-status="pending"], '
        '.message[data-status="streaming"]\')',
        arg=count,
        timeout=REPLY_TIMEOUT,
    )


def shown_ids(page) -> list[str]:
    return page.eval_on_selector_all(".message", "all => all.map(m => m.dataset.messageId)")


def versions_of(message) -> str:
    return message.locator(".version-position").text_content()


def test_an_edit_makes_a_version_to_move_back_and_forth_to(asgi_server, browser, user, artifacts):
    conversation = new_conversation(user)
    page, errors = _open(browser, asgi_server, user, conversation)
    send(page, "[sim:echo=1]The first version")
    wait_for_complete_replies(page, 1)
    question = page.locator(".message.user").first
    assert question.locator(".versions").is_hidden()  # one version: nothing to move between

    # Escape puts the message back as it was, sending nothing.
    question.hover()
    question.get_by_role("button", name="Edit").click()
    editor = question.get_by_label("Edit your message")
    assert editor.input_value() == "[sim:echo=1]The first version"
    editor.fill("never sent")
    editor.press("Escape")
    assert question.locator(".message-editor").count() == 0
    assert question.locator(".text").text_content() == "[sim:echo=1]The first version"

    question.get_by_role("button", name="Edit").click()
    editor.fill("[sim:echo=1]The second version")
    page.screenshot(path=str(artifacts / "conversation-editing.png"))
    editor.press("Control+Enter")
    page.locator(".message.assistant .markdown", has_text="The second version").wait_for(
        timeout=REPLY_TIMEOUT
    )
    wait_for_complete_replies(page, 1)
    question = page.locator(".message.user").first
    question.locator(".version-position", has_text="2/2").wait_for()
    assert question.locator(".text").text_content() == "[sim:echo=1]The second version"
    assert last_reply(page).locator(".versions").is_hidden()  # the reply has no sibling
    page.screenshot(path=str(artifacts / "conversation-version-2-of-2.png"))

    question.get_by_role("button", name="Previous version").click()
    page.locator(".message.user .text", has_text="The first version").wait_for()
    assert versions_of(page.locator(".message.user").first) == "1/2"
    assert "The first version" in last_reply(page).locator(".text").text_content()
    assert page.get_by_role("button", name="Previous version").is_disabled()
    page.screenshot(path=str(artifacts / "conversation-version-1-of-2.png"))

    page.get_by_role("button", name="Next version").click()
    page.locator(".message.user .text", has_text="The second version").wait_for()
    assert versions_of(page.locator(".message.user").first) == "2/2"
    assert "The second version" in last_reply(page).locator(".text").text_content()
    # Nothing was lost: both versions and both replies are stored; the shown one is active.
    assert Message.objects.filter(conversation=conversation).count() == 4
    conversation.refresh_from_db()
    assert conversation.active_leaf.text.strip() == "The second version"
    assert errors == []


def test_regenerate_makes_a_second_reply_and_the_first_stays_reachable(
    asgi_server, browser, user, artifacts
):
    conversation = new_conversation(user)
    page, errors = _open(browser, asgi_server, user, conversation)
    send(page, "Tell me something")
    wait_for_complete_replies(page, 1)
    first_id = last_reply(page).get_attribute("data-message-id")

    last_reply(page).hover()
    last_reply(page).get_by_role("button", name="Regenerate").click()
    page.locator(".message.assistant .version-position", has_text="2/2").wait_for(
        timeout=REPLY_TIMEOUT
    )
    wait_for_complete_replies(page, 1)
    second_id = last_reply(page).get_attribute("data-message-id")
    assert second_id != first_id
    assert page.locator(".message.user").count() == 1
    page.screenshot(path=str(artifacts / "conversation-regenerated.png"))

    last_reply(page).get_by_role("button", name="Previous version").click()
    page.locator(f'.message.assistant[data-message-id="{first_id}"]').wait_for()
    assert versions_of(last_reply(page)) == "1/2"
    last_reply(page).get_by_role("button", name="Next version").click()
    page.locator(f'.message.assistant[data-message-id="{second_id}"]').wait_for()
    assert versions_of(last_reply(page)) == "2/2"
    assert errors == []


def test_the_chosen_version_survives_a_reload_and_reaches_another_tab(asgi_server, browser, user):
    conversation = new_conversation(user)
    question, first = chain(conversation, ("user", "Which one?"), ("assistant", "The old answer"))
    second = MessageFactory(
        conversation=conversation, parent=question, role="assistant", text="The new answer"
    )
    conversation.active_leaf = second
    conversation.save()
    page, errors = _open(browser, asgi_server, user, conversation)
    other, other_errors = _open(browser, asgi_server, user, conversation)
    last_reply(page).locator(".version-position", has_text="2/2").wait_for()

    last_reply(page).get_by_role("button", name="Previous version").click()
    page.locator(".message.assistant .markdown", has_text="The old answer").wait_for()
    # The other tab follows without a reload.
    other.locator(".message.assistant .markdown", has_text="The old answer").wait_for()
    assert versions_of(last_reply(other)) == "1/2"
    conversation.refresh_from_db()
    assert conversation.active_leaf_id == first.id

    page.reload()
    last_reply(page).locator(".version-position", has_text="1/2").wait_for()
    assert last_reply(page).locator(".text").text_content() == "The old answer"
    assert shown_ids(page) == [str(question.uuid), str(first.uuid)]
    assert errors == other_errors == []


def test_retry_after_an_overloaded_error_answers_and_keeps_the_message(
    asgi_server, browser, user, artifacts
):
    conversation = new_conversation(user)
    page, errors = _open(browser, asgi_server, user, conversation)
    # Overloaded for the first three attempts: the SDK's own two retries fail too.
    text = "[sim:error=overloaded][sim:error_times=3] Are you there?"
    send(page, text)
    failed = page.locator('.message.assistant[data-status="error"]')
    failed.wait_for(timeout=REPLY_TIMEOUT)
    assert "overloaded" in failed.locator(".details").text_content()
    retry = failed.get_by_role("button", name="Retry")
    assert retry.is_visible()
    page.screenshot(path=str(artifacts / "conversation-error-retry.png"))

    retry.click()
    wait_for_complete_replies(page, 1)
    reply = last_reply(page)
    assert reply.get_attribute("data-status") == "complete"
    assert not reply.get_by_role("button", name="Retry").is_visible()
    assert versions_of(reply) == "2/2"
    assert page.locator(".message.user .text").all_text_contents() == [text]
    assert [m.text for m in Message.objects.filter(role="user")] == [text]
    assert Message.objects.filter(role="assistant", status="error").count() == 1
    page.screenshot(path=str(artifacts / "conversation-retried.png"))
    assert errors == []


def test_the_details_line_shows_tokens_cost_stop_reason_and_timings(
    asgi_server, browser, user, settings, artifacts
):
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0.01
    conversation = new_conversation(
        user, parameters={"max_tokens": 1024, "stop_sequences": ["dolor"]}
    )
    page, errors = _open(browser, asgi_server, user, conversation)
    send(page, "[sim:words=40]")
    wait_for_complete_replies(page, 1)
    details = last_reply(page).locator(".details")
    line = details.text_content()
    stored = Message.objects.get(role="assistant")
    assert stored.stop_reason == "stop_sequence"
    assert "Stopped at “dolor”" in line
    assert f"{stored.output_tokens} out tokens" in line
    for part in [" in ", "$", "to first token", " total", "tokens/s"]:
        assert part in line
    # The full figures, in the line's tooltip.
    tooltip = details.get_attribute("title")
    assert f"Output: {stored.output_tokens} tokens" in tooltip
    assert f"Time to first token: {stored.time_to_first_token_ms:,} ms" in tooltip
    assert f"Total time: {stored.duration_ms:,} ms" in tooltip
    assert "Stop reason: a stop sequence “dolor” (stop_sequence)" in tooltip
    assert f"Cost: ${stored.cost_usd}" in tooltip
    page.screenshot(path=str(artifacts / "conversation-details.png"))
    assert errors == []


def test_the_context_meter_shows_the_last_request_against_the_budget(
    asgi_server, browser, user, artifacts
):
    conversation = new_conversation(user, parameters={"max_tokens": 1024, "context_budget": 50_000})
    page, errors = _open(browser, asgi_server, user, conversation)
    words = page.locator("#context-words")
    words.wait_for()
    assert words.text_content() == "Context budget 50,000 tokens"
    send(page, "Hello there")
    wait_for_complete_replies(page, 1)
    stored = Message.objects.get(role="assistant")
    assert stored.context_tokens
    percent = round(stored.context_tokens / 50_000 * 100)
    expected = f"Context {stored.context_tokens:,} / 50,000 tokens ({percent}%) · 0% cached"
    page.locator("#context-words", has_text=expected).wait_for()
    meter = page.locator("#context-meter")
    assert meter.evaluate("m => [m.value, m.max]") == [stored.context_tokens, 50_000]
    assert page.locator("#conversation-totals .total-cost").text_content().startswith("Total $")
    page.locator(".conversation-header").screenshot(path=str(artifacts / "conversation-meter.png"))
    assert errors == []


def test_the_capabilities_line_follows_the_chosen_model(asgi_server, browser, user, artifacts):
    conversation = new_conversation(user)
    page, errors = _open(browser, asgi_server, user, conversation)
    page.locator("#settings > summary").click()
    page.wait_for_function("() => document.querySelectorAll('#settings-model option').length > 1")
    line = page.locator("#settings-model-capabilities")
    assert line.text_content() == (
        "1M context · 128k max output · images up to 1568 px · thinking · effort low–max · "
        "sampling (temperature, top p, top k) · $3 in / $15 out per MTok, cache reads $0.30"
    )
    page.get_by_label("Model", exact=True).select_option("claude-haiku-4-5")
    assert line.text_content() == (
        "200k context · 64k max output · images up to 1568 px · thinking · "
        "sampling (temperature, top p, top k) · prefill · $1 in / $5 out per MTok, "
        "cache reads $0.10"
    )
    page.locator("#settings").screenshot(path=str(artifacts / "conversation-capabilities.png"))
    page.get_by_label("Model", exact=True).select_option("claude-opus-4-8")
    assert "sampling" not in line.text_content()
    assert "images up to 2576 px" in line.text_content()
    assert errors == []


def test_stop_ends_the_reply_as_stopped_with_its_partial_text(
    asgi_server, browser, user, settings, artifacts
):
    settings.CHATSITE_STREAM_SAVE_SECONDS = 0.2
    conversation = new_conversation(user)
    page, errors = _open(browser, asgi_server, user, conversation)
    send(page, "[sim:words=400][sim:delay=0.02]")
    page.locator('.message.assistant[data-status="streaming"]').wait_for(timeout=REPLY_TIMEOUT)
    stop = page.get_by_role("button", name="Stop")
    assert stop.is_visible()
    assert not page.get_by_role("button", name="Send").is_visible()
    page.wait_for_timeout(400)
    stop.click()
    stopped = page.locator('.message.assistant[data-status="stopped"]')
    stopped.wait_for(timeout=REPLY_TIMEOUT)
    assert stopped.locator(".details").text_content().startswith("Stopped")
    shown = stopped.locator(".text").text_content()
    stored = Message.objects.get(role="assistant")
    assert stored.status == "stopped"
    assert shown == stored.text
    assert 0 < len(shown.split()) < 400
    assert page.get_by_role("button", name="Send").is_visible()
    assert stopped.get_by_role("button", name="Continue").is_visible()
    page.screenshot(path=str(artifacts / "conversation-stopped.png"))
    assert errors == []


def test_the_composer_sends_on_enter_breaks_lines_on_shift_enter_and_grows(
    asgi_server, browser, user
):
    conversation = new_conversation(user)
    page, errors = _open(browser, asgi_server, user, conversation)
    composer = page.get_by_label("Message")
    start = composer.bounding_box()["height"]
    composer.click()
    for line in ["one", "two", "three", "four", "five"]:
        composer.press_sequentially(line)
        composer.press("Shift+Enter")
    assert composer.input_value() == "one\ntwo\nthree\nfour\nfive\n"
    grown = composer.bounding_box()["height"]
    assert grown > start + 40
    # Never past 40% of the window: it scrolls from there.
    composer.fill("line\n" * 200)
    viewport = page.viewport_size["height"]
    assert composer.bounding_box()["height"] <= viewport * 0.4 + 1
    composer.fill("[sim:echo=1]two\nlines")
    composer.press("Enter")
    last_reply(page).locator(".details", has_text="out tokens").wait_for(timeout=REPLY_TIMEOUT)
    assert page.locator(".message.user .text").text_content() == "[sim:echo=1]two\nlines"
    assert composer.input_value() == ""
    assert composer.bounding_box()["height"] < grown  # back to its size
    assert errors == []


def test_a_second_tab_follows_the_same_stream(asgi_server, browser, user, settings):
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0.01
    conversation = new_conversation(user)
    page, errors = _open(browser, asgi_server, user, conversation)
    other, other_errors = _open(browser, asgi_server, user, conversation)
    send(page, "[sim:words=120]")
    other.locator('.message.assistant[data-status="streaming"]').wait_for(timeout=REPLY_TIMEOUT)
    assert other.get_by_role("button", name="Stop").is_visible()
    wait_for_complete_replies(other, 1)
    stored = Message.objects.get(role="assistant").text
    assert last_reply(other).locator(".text").text_content() == stored
    assert other.locator(".message.user .text").text_content() == "[sim:words=120]"
    assert errors == other_errors == []


def test_the_tools_of_a_message_show_on_hover_and_keyboard_focus(asgi_server, browser, user):
    conversation = new_conversation(user)
    chain(conversation, ("user", "Hi"), ("assistant", "Hello!"))
    page, errors = _open(browser, asgi_server, user, conversation)
    edit = page.locator(".message.user").get_by_role("button", name="Edit")
    page.mouse.move(0, 0)
    opacity = "e => getComputedStyle(e).opacity"
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('.edit-button')).opacity === '0'"
    )
    edit.focus()
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('.edit-button')).opacity === '1'"
    )
    # Reached by Tab from the message's Pin/Copy, like any button.
    page.locator(".message.user .copy-button").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Edit"
    assert edit.evaluate(opacity) == "1"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == page.get_by_label(
        "Edit your message"
    ).get_attribute("id")
    assert errors == []
