"""The engine's controls on the page: stop reasons, Continue, settings, prefill, thinking,
pins, summaries and totals, in Debian's Chromium through Playwright."""

from __future__ import annotations

import pytest
from django.conf import settings

from conversations.models import Conversation, Message, Summary
from tests.browser.test_chat_loop import _session_cookie, open_new_conversation
from tests.factories import chain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPLY_TIMEOUT = 20_000


def watch_errors(page) -> list[str]:
    """Script errors and Content-Security-Policy violations of `page`, as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return errors


def save_settings(page, **values: str) -> None:
    """Open the settings panel, type `values` into the fields and save."""
    panel = page.locator("#settings")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    labels = {
        "max_tokens": "Max tokens per reply",
        "temperature": "Temperature (0 to 1)",
        "context_budget": "Context budget (tokens)",
    }
    for name, value in values.items():
        page.get_by_label(labels[name]).fill(value)
    page.get_by_role("button", name="Save settings").click()


def close_settings(page) -> None:
    page.locator("#settings-status", has_text="Saved.").wait_for()
    page.locator("#settings > summary").click()


def last_reply(page):
    return page.locator(".message.assistant").last


def _open(browser, server, user, conversation):
    """A logged-in page on `conversation`, connected, and the errors it reports."""
    context = browser.new_context()
    context.add_cookies(_session_cookie(user, server))
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(f"{server.url}/c/{conversation.uuid}/")
    page.wait_for_function("() => document.getElementById('connection').hidden")
    return page, errors


RECORD_DETAILS = """
window.__details = [];
new MutationObserver(() => {
  for (const d of document.querySelectorAll('.message.assistant .details')) {
    window.__details.push(d.textContent);
  }
}).observe(
  document.getElementById('messages'), {childList: true, subtree: true, characterData: true}
);
"""

# The types of the frames the page sends from now on.
RECORD_SENT_FRAMES = """() => {
  window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    window.__sent.push(JSON.parse(data).type);
    return send.call(this, data);
  };
}"""


def test_a_reply_cut_at_max_tokens_is_continued_into_one_complete_reply(
    asgi_server, browser, user, artifacts
):
    page = open_new_conversation(browser, asgi_server, user)
    errors = watch_errors(page)
    save_settings(page, max_tokens="50")
    close_settings(page)
    assert Conversation.objects.get().parameters["max_tokens"] == 50

    page.get_by_label("Message").fill("[sim:words=300]")
    page.get_by_label("Message").press("Enter")
    reply = last_reply(page)
    reply.locator(".details", has_text="Cut off at the token limit").wait_for(timeout=REPLY_TIMEOUT)
    continue_button = reply.get_by_role("button", name="Continue")
    assert continue_button.is_visible()
    cut_text = reply.locator(".text").text_content()
    assert 0 < len(cut_text.split()) < 300
    page.screenshot(path=str(artifacts / "engine-cut-off.png"), full_page=True)

    # Room for the rest, then Continue: the same reply grows to its end.
    save_settings(page, max_tokens="4000")
    close_settings(page)
    continue_button.click()
    done = page.locator('.message.assistant[data-status="complete"]')
    done.locator(".details", has_text="Continued once").wait_for(timeout=REPLY_TIMEOUT)

    assert page.locator(".message.assistant").count() == 1
    assert "Cut off" not in done.locator(".details").text_content()
    assert not continue_button.is_visible()
    shown = done.locator(".text").text_content()
    stored = Message.objects.get(role="assistant")
    assert stored.status == "complete"
    assert stored.continuations == 1
    assert shown == stored.text
    assert shown.startswith(cut_text.rstrip())
    assert len(shown.split()) == 300
    # The header's totals follow the reply.
    page.locator("#conversation-totals", has_text="tokens").wait_for()
    budget = f"/ {settings.CHATSITE_CONTEXT_BUDGET:,} tokens"  # the default budget
    assert budget in page.locator("#conversation-totals").text_content()
    page.screenshot(path=str(artifacts / "engine-continued.png"), full_page=True)
    assert errors == []


def test_the_settings_panel_refuses_a_bad_value_next_to_its_field(
    asgi_server, browser, user, artifacts
):
    page = open_new_conversation(browser, asgi_server, user)
    errors = watch_errors(page)
    before = Conversation.objects.get().parameters

    save_settings(page, temperature="1.5", max_tokens="2000")
    field_error = page.locator('[data-error-for="temperature"]')
    field_error.wait_for()
    assert "between 0 and 1" in field_error.text_content()
    assert page.get_by_label("Temperature (0 to 1)").get_attribute("aria-invalid") == "true"
    assert "Nothing was saved" in page.locator("#settings-error").text_content()
    assert Conversation.objects.get().parameters == before
    page.screenshot(path=str(artifacts / "engine-settings-refused.png"))

    # Fixed, it saves, and the field's message goes away.
    save_settings(page, temperature="0.5")
    page.locator("#settings-status", has_text="Saved.").wait_for()
    assert field_error.text_content() == ""
    assert Conversation.objects.get().parameters == {"max_tokens": 2000, "temperature": 0.5}
    assert errors == []


def test_settings_show_only_what_the_chosen_model_takes(asgi_server, browser, user):
    page = open_new_conversation(browser, asgi_server, user)
    page.locator("#settings summary").click()
    model = page.get_by_label("Model", exact=True)
    # The full list arrives from /api/models/.
    page.wait_for_function("() => document.querySelectorAll('#settings-model option').length > 1")
    assert page.get_by_label("Temperature (0 to 1)").is_visible()
    assert page.get_by_label("Extended thinking").is_visible()
    model.select_option("claude-opus-4-8")
    assert not page.get_by_label("Temperature (0 to 1)").is_visible()
    assert not page.get_by_label("Top k").is_visible()
    effort_levels = page.locator("#settings-effort option").all_text_contents()
    assert effort_levels == ["Default", "low", "medium", "high", "xhigh", "max"]
    page.get_by_role("button", name="Save settings").click()
    page.locator("#settings-status", has_text="Saved.").wait_for()
    assert Conversation.objects.get().model == "claude-opus-4-8"
    assert page.locator("#conversation-model").text_content() == "Claude Opus 4.8"


def test_a_prefill_on_opus_4_5_starts_the_reply(asgi_server, browser, user):
    page = open_new_conversation(browser, asgi_server, user)
    errors = watch_errors(page)
    prefill = page.get_by_label("Start Claude's answer with…")
    assert not prefill.is_visible()  # Sonnet 4.6 takes no prefill
    # Choosing a model that takes one shows the field, without a reload.
    page.locator("#settings > summary").click()
    page.wait_for_function("() => document.querySelectorAll('#settings-model option').length > 1")
    page.get_by_label("Model", exact=True).select_option("claude-opus-4-5")
    page.get_by_role("button", name="Save settings").click()
    close_settings(page)
    prefill.wait_for(state="visible")

    prefill.fill("Certainly! Here is my take:")
    page.get_by_label("Message").fill("What do you think?")
    page.get_by_label("Message").press("Enter")
    done = page.locator('.message.assistant[data-status="complete"]')
    done.wait_for(timeout=REPLY_TIMEOUT)
    shown = done.locator(".text").text_content()
    assert shown.startswith("Certainly! Here is my take:")
    assert len(shown) > len("Certainly! Here is my take:")
    assert done.locator(".text .prefill").text_content() == "Certainly! Here is my take:"
    assert prefill.input_value() == ""
    stored = Message.objects.get(role="assistant")
    assert stored.text == shown
    assert stored.prefill_length == len("Certainly! Here is my take:")
    assert errors == []


def test_thinking_is_shown_collapsed_above_the_reply(asgi_server, browser, user, artifacts):
    page = open_new_conversation(browser, asgi_server, user)
    Conversation.objects.update(
        model="claude-opus-4-5", parameters={"max_tokens": 4000, "thinking": True}
    )
    page.reload()
    page.get_by_label("Message").fill("Think first, please")
    page.get_by_label("Message").press("Enter")
    done = page.locator('.message.assistant[data-status="complete"]')
    done.wait_for(timeout=REPLY_TIMEOUT)
    thinking = done.locator("details.thinking")
    assert thinking.is_visible()
    assert thinking.get_attribute("open") is None
    stored = Message.objects.get(role="assistant")
    assert stored.thinking
    thinking.locator("summary", has_text="Thinking").click()
    assert thinking.locator(".thinking-text").text_content() == stored.thinking
    page.screenshot(path=str(artifacts / "engine-thinking.png"))


def test_a_stop_sequence_is_named_in_the_details(asgi_server, browser, user):
    conversation = Conversation.objects.create(
        owner=user,
        model="claude-sonnet-4-6",
        parameters={"max_tokens": 1024, "stop_sequences": ["dolor"]},
    )
    chain(conversation, ("user", "[sim:words=40]"))
    reply = chain(conversation, ("assistant", "lorem ipsum "), status="complete")[0]
    Message.objects.filter(pk=reply.pk).update(stop_reason="stop_sequence", stop_sequence="dolor")
    page, errors = _open(browser, asgi_server, user, conversation)
    details = last_reply(page).locator(".details")
    assert details.text_content() == "Stopped at “dolor”"
    assert not last_reply(page).get_by_role("button", name="Continue").is_visible()
    assert errors == []


def test_pinning_a_message_is_stored_and_shown(asgi_server, browser, user):
    conversation = Conversation.objects.create(owner=user, model="claude-sonnet-4-6")
    question, answer = chain(conversation, ("user", "Remember this"), ("assistant", "Noted."))
    page, errors = _open(browser, asgi_server, user, conversation)
    pin = page.locator(f'[data-message-id="{question.uuid}"]').get_by_role("button", name="Pin")
    assert pin.get_attribute("aria-pressed") == "false"
    pin.click()
    page.wait_for_function(
        "id => document.querySelector(`[data-message-id='${id}'] .pin-button`)"
        ".getAttribute('aria-pressed') === 'true'",
        arg=str(question.uuid),
    )
    assert Message.objects.get(pk=question.pk).is_pinned
    assert not Message.objects.get(pk=answer.pk).is_pinned
    page.reload()
    assert pin.get_attribute("aria-pressed") == "true"
    assert errors == []


def test_a_summary_on_the_path_is_shown_and_can_be_edited(asgi_server, browser, user, artifacts):
    conversation = Conversation.objects.create(owner=user, model="claude-sonnet-4-6")
    turns = chain(
        conversation,
        ("user", "first"),
        ("assistant", "one"),
        ("user", "second"),
        ("assistant", "two"),
    )
    Summary.objects.create(
        conversation=conversation, covers_up_to=turns[1], text="They counted to one.", token_count=7
    )
    page, errors = _open(browser, asgi_server, user, conversation)
    block = page.locator("details.summary-block")
    block.wait_for()
    # Right after the message it covers up to.
    assert page.evaluate(
        "() => document.querySelector('details.summary-block').previousElementSibling"
        ".dataset.messageId"
    ) == str(turns[1].uuid)
    block.locator("summary", has_text="Earlier messages summarized").click()
    assert block.locator(".summary-text").text_content() == "They counted to one."

    block.get_by_role("button", name="Edit summary").click()
    editor = block.get_by_label("Summary sent to Claude in place of the earlier messages")
    editor.fill("   ")
    block.get_by_role("button", name="Save summary").click()
    block.locator(".form-errors", has_text="empty").wait_for()
    page.screenshot(path=str(artifacts / "engine-summary-edit.png"))
    assert Summary.objects.get().text == "They counted to one."

    editor.fill("They counted to one, slowly.")
    block.get_by_role("button", name="Save summary").click()
    block.locator(".summary-text", has_text="slowly").wait_for()
    assert "edited" in block.locator(".summary-meta").text_content()
    summary = Summary.objects.get()
    assert summary.text == "They counted to one, slowly."
    assert summary.is_edited
    assert errors == []


def test_a_long_conversation_is_summarized_first_and_the_summary_shown(
    asgi_server, browser, user, settings
):
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0.01
    conversation = Conversation.objects.create(
        owner=user,
        model="claude-sonnet-4-6",
        parameters={"max_tokens": 1024, "context_budget": 3000},
    )
    long_text = "word " * 600  # about 860 tokens by the estimate
    chain(conversation, *[(("user", "assistant")[i % 2], f"{i} {long_text}") for i in range(8)])
    page, errors = _open(browser, asgi_server, user, conversation)
    page.evaluate(RECORD_DETAILS)
    page.get_by_label("Message").fill("And now?")
    page.get_by_label("Message").press("Enter")
    page.locator('.message.assistant[data-status="complete"]').last.locator(
        ".details", has_text="out tokens"
    ).wait_for(timeout=REPLY_TIMEOUT)
    shown = page.evaluate("window.__details")
    assert any(text == "Summarizing earlier messages…" for text in shown), shown
    block = page.locator("details.summary-block")
    block.wait_for()
    summary = Summary.objects.get()
    covered = page.evaluate(
        "() => document.querySelector('details.summary-block').previousElementSibling"
        ".dataset.messageId"
    )
    assert covered == str(summary.covers_up_to.uuid)
    block.locator("summary").click()
    assert block.locator(".summary-text").text_content() == summary.text
    assert errors == []


def test_a_continued_reply_with_thinking_matches_the_stored_one(asgi_server, browser, user):
    conversation = Conversation.objects.create(
        owner=user,
        model="claude-sonnet-4-6",
        parameters={"max_tokens": 1100, "thinking": True, "thinking_budget": 1024},
    )
    page, errors = _open(browser, asgi_server, user, conversation)
    page.get_by_label("Message").fill("[sim:words=1500]")
    page.get_by_label("Message").press("Enter")
    reply = last_reply(page)
    reply.locator(".details", has_text="Cut off at the token limit").wait_for(timeout=REPLY_TIMEOUT)
    first_thinking = Message.objects.get(role="assistant").thinking
    assert first_thinking
    Conversation.objects.update(parameters={"max_tokens": 8000, "thinking": True})
    page.evaluate(RECORD_SENT_FRAMES)
    reply.get_by_role("button", name="Continue").click()
    # A reply cut at max_tokens is "complete" too: wait for the continued one.
    done = page.locator('.message.assistant[data-status="complete"]')
    done.locator(".details", has_text="Continued once").wait_for(timeout=REPLY_TIMEOUT)
    stored = Message.objects.get(role="assistant")
    assert stored.continuations == 1
    assert len(stored.text.split()) == 1500
    assert done.locator(".text").text_content() == stored.text
    # The new thinking follows the earlier one after a blank line (carried by the first new
    # thinking frame), without a resync.
    assert stored.thinking.startswith(first_thinking + "\n\n")
    assert done.locator(".thinking-text").text_content() == stored.thinking
    assert page.evaluate("window.__sent") == ["continue"]
    assert errors == []


def test_another_tab_follows_settings_pins_and_summary_edits(asgi_server, browser, user):
    conversation = Conversation.objects.create(owner=user, model="claude-sonnet-4-6")
    turns = chain(conversation, ("user", "first"), ("assistant", "one"), ("user", "second"))
    Summary.objects.create(conversation=conversation, covers_up_to=turns[1], text="Counted.")
    page, errors = _open(browser, asgi_server, user, conversation)
    # A window of its own: a background tab of the same window gets no animation frames, which
    # Playwright's clicks wait for.
    other, other_errors = _open(browser, asgi_server, user, conversation)
    other.locator("details.summary-block").wait_for(state="attached")

    page.locator("#settings summary").click()
    page.wait_for_function("() => document.querySelectorAll('#settings-model option').length > 1")
    page.get_by_label("Model", exact=True).select_option("claude-opus-4-5")
    page.get_by_role("button", name="Save settings").click()
    other.locator("#conversation-model", has_text="Claude Opus 4.5").wait_for()
    other.get_by_label("Start Claude's answer with…").wait_for()
    assert other.locator("#settings-model").input_value() == "claude-opus-4-5"

    page.locator(f'[data-message-id="{turns[0].uuid}"]').get_by_role("button", name="Pin").click()
    other.locator(
        f'[data-message-id="{turns[0].uuid}"] .pin-button[aria-pressed="true"]'
    ).wait_for()

    block = page.locator("details.summary-block")
    block.locator("summary").click()
    block.get_by_role("button", name="Edit summary").click()
    block.get_by_label("Summary sent to Claude in place of the earlier messages").fill("Recounted.")
    block.get_by_role("button", name="Save summary").click()
    other.locator("details.summary-block .summary-text", has_text="Recounted.").wait_for(
        state="attached"
    )
    assert errors == other_errors == []
