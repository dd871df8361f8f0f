"""Images in the chat page, as a person uses them: attach (file picker, paste, drop), see the
tray, remove, send, reload; in Debian's Chromium through Playwright, against the real server."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from conversations.llm.models import IMAGE_TILE_PIXELS
from conversations.models import Attachment, Conversation, Message
from tests.browser.test_chat_loop import _session_cookie
from tests.browser.test_engine_ui import watch_errors
from tests.factories import chain

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPLY_TIMEOUT = 20_000


def tokens_for(width: int, height: int) -> int:
    """What an image costs: one token per started tile of IMAGE_TILE_PIXELS² pixels."""
    return -(-width // IMAGE_TILE_PIXELS) * -(-height // IMAGE_TILE_PIXELS)


def png(width: int, height: int, color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def png_file(name: str, width: int = 600, height: int = 400, color: str = "teal") -> dict:
    return {"name": name, "mimeType": "image/png", "buffer": png(width, height, color)}


def open_conversation(browser, server, user, viewport=None):
    conversation = Conversation.objects.create(owner=user, model="claude-sonnet-4-6")
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    context.add_cookies(_session_cookie(user, server))
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(f"{server.url}/c/{conversation.uuid}/")
    page.wait_for_function("() => document.getElementById('connection').hidden")
    return page, conversation, errors


def tray(page):
    return page.get_by_role("list", name="Images to send")


def tray_item(page, name: str):
    return tray(page).get_by_role("listitem").filter(has_text=name)


def wait_uploaded(page, name: str):
    item = tray_item(page, name)
    item.and_(page.locator('[data-state="ready"]')).wait_for()
    return item


def attach(page, *files: dict) -> None:
    page.locator("#attach-input").set_input_files(list(files))


def thumbnail_loaded(locator) -> bool:
    return locator.evaluate("img => img.complete && img.naturalWidth > 0")


def last_reply(page):
    return page.locator(".message.assistant").last


def wait_reply(page):
    reply = last_reply(page)
    reply.locator(".details", has_text="out tokens").wait_for(timeout=REPLY_TIMEOUT)
    return reply


def wait_until(condition, timeout: float = 5.0) -> None:
    """Poll a database condition (the server acts on its own thread)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


# A PNG made in the page (canvas) as a File in a DataTransfer, as paste and drop deliver it.
MAKE_TRANSFER = """
async ([name, width, height]) => {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext('2d');
  g.fillStyle = '#c15f3c';
  g.fillRect(0, 0, width, height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  const transfer = new DataTransfer();
  transfer.items.add(new File([blob], name, {type: 'image/png'}));
  return transfer;
}
"""

# Fires a paste or drag event carrying `transfer` at the composer; false when it was taken.
DISPATCH = """
([type, transfer]) => document.getElementById('composer-text').dispatchEvent(
  type === 'paste'
    ? new ClipboardEvent(type, {clipboardData: transfer, bubbles: true, cancelable: true})
    : new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}))
"""


def test_an_attached_image_is_sent_shown_and_still_there_after_a_reload(
    asgi_server, browser, user, artifacts
):
    page, _, errors = open_conversation(browser, asgi_server, user)
    page.get_by_role("button", name="Attach images").wait_for()
    attach(page, png_file("photo.png"))

    item = wait_uploaded(page, "photo.png")
    expected = tokens_for(600, 400)
    assert f"≈ {expected:,} tokens" in item.inner_text()
    thumb = item.locator("img")
    page.wait_for_function(
        "img => img.getAttribute('src').endsWith('/thumbnail/') && img.naturalWidth > 0",
        arg=thumb.element_handle(),
    )
    total = page.locator("#attachment-total").inner_text()
    assert total == f"≈ {expected:,} tokens for attachments"
    assert item.get_by_role("button", name="Remove photo.png").is_visible()
    page.screenshot(path=str(artifacts / "images-tray.png"))

    composer = page.get_by_label("Message")
    composer.fill("What is in this picture?")
    composer.press("Enter")
    reply = wait_reply(page)
    # The simulator describes the request it received: the image went with it.
    assert "1 images" in reply.inner_text()
    assert "You said: “What is in this picture?”" in reply.inner_text()
    assert tray(page).get_by_role("listitem").count() == 0
    assert page.locator("#attachments").is_hidden()

    stored = Attachment.objects.get()
    user_message = Message.objects.get(role="user")
    assert stored.message_id == user_message.pk

    shown = page.locator(".message.user .message-attachments img")
    assert shown.get_attribute("alt") == "photo.png"
    # Fitted into the 200 px box with the image's proportions: no jump when it loads.
    assert (shown.get_attribute("width"), shown.get_attribute("height")) == ("200", "133")
    link = page.locator(".message.user .message-attachments a")
    assert link.get_attribute("href") == f"/attachments/{stored.uuid}/"
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener"
    page.screenshot(path=str(artifacts / "images-sent.png"))

    page.reload()
    shown = page.locator(".message.user .message-attachments img")
    shown.wait_for()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=shown.element_handle()
    )
    # The image comes before the text.
    order = page.evaluate(
        "() => [...document.querySelector('.message.user').children].map(e => e.className)"
    )
    assert order.index("message-attachments") < order.index("text")
    # Nothing left in the tray: sent images are not offered again.
    assert tray(page).get_by_role("listitem").count() == 0
    assert errors == []


def test_images_are_attached_by_paste_and_by_drop(asgi_server, browser, user):
    page, _, errors = open_conversation(browser, asgi_server, user)
    composer = page.get_by_label("Message")
    composer.fill("draft stays")

    pasted = page.evaluate_handle(MAKE_TRANSFER, ["pasted.png", 300, 200])
    kept_default = page.evaluate(DISPATCH, ["paste", pasted])
    assert kept_default is False  # the image was taken; nothing to paste as text
    item = wait_uploaded(page, "pasted.png")
    assert f"≈ {tokens_for(300, 200):,} tokens" in item.inner_text()

    # Text in the clipboard stays an ordinary paste.
    words = page.evaluate_handle(
        "() => { const t = new DataTransfer(); t.setData('text/plain', 'just words'); return t; }"
    )
    assert page.evaluate(DISPATCH, ["paste", words]) is True

    dropped = page.evaluate_handle(MAKE_TRANSFER, ["dropped.png", 100, 80])
    page.evaluate(DISPATCH, ["dragenter", dropped])
    assert "dropping" in page.locator("#composer").get_attribute("class")
    assert page.evaluate(DISPATCH, ["drop", dropped]) is False
    item = wait_uploaded(page, "dropped.png")
    assert f"≈ {tokens_for(100, 80):,} tokens" in item.inner_text()
    assert "dropping" not in page.locator("#composer").get_attribute("class")

    names = tray(page).locator(".attachment-name").all_inner_texts()
    assert names == ["pasted.png", "dropped.png"]
    total = tokens_for(300, 200) + tokens_for(100, 80)
    assert page.locator("#attachment-total").inner_text() == f"≈ {total:,} tokens for attachments"
    assert composer.input_value() == "draft stays"

    composer.press("Enter")
    reply = wait_reply(page)
    assert "2 images" in reply.inner_text()
    shown = page.locator(".message.user .message-attachments img")
    assert [shown.nth(i).get_attribute("alt") for i in range(2)] == ["pasted.png", "dropped.png"]
    assert errors == []


def test_a_removed_image_is_forgotten_by_the_server(asgi_server, browser, user):
    page, _, errors = open_conversation(browser, asgi_server, user)
    attach(page, png_file("first.png", color="red"), png_file("second.png", color="blue"))
    wait_uploaded(page, "first.png")
    wait_uploaded(page, "second.png")
    first = Attachment.objects.get(original_name="first.png")

    page.get_by_role("button", name="Remove first.png").click()
    tray_item(page, "first.png").wait_for(state="detached")
    wait_until(lambda: not Attachment.objects.filter(pk=first.pk).exists())
    assert Attachment.objects.filter(original_name="second.png").exists()
    # The keyboard stays in the tray: focus moves to the next Remove button.
    focused = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert focused == "Remove second.png"

    page.keyboard.press("Enter")  # removes the focused one
    tray_item(page, "second.png").wait_for(state="detached")
    wait_until(lambda: not Attachment.objects.exists())
    assert page.locator("#attachments").is_hidden()
    assert page.evaluate("() => document.activeElement.id") == "attach-button"
    assert errors == []


def test_a_file_that_is_no_image_shows_the_servers_reason_and_text_still_sends(
    asgi_server, browser, user, artifacts
):
    page, _, errors = open_conversation(browser, asgi_server, user)
    composer = page.get_by_label("Message")
    composer.fill("my notes follow")
    with page.expect_response("**/attachments/") as answer:
        attach(page, {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just text\n"})
    assert answer.value.status == 400
    reason = answer.value.json()["error"]["message"]

    item = tray_item(page, "notes.txt")
    item.and_(page.locator('[data-state="failed"]')).wait_for()
    assert reason in item.inner_text()
    assert reason in page.locator("#attachment-status").inner_text()  # said to screen readers
    assert composer.input_value() == "my notes follow"
    page.screenshot(path=str(artifacts / "images-upload-error.png"))

    # An SVG too (it could carry script): refused, and a good image beside it still goes.
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    attach(
        page,
        {"name": "drawing.svg", "mimeType": "image/svg+xml", "buffer": svg},
        png_file("fine.png", 56, 56),
    )
    tray_item(page, "drawing.svg").and_(page.locator('[data-state="failed"]')).wait_for()
    wait_uploaded(page, "fine.png")

    # A failed item can be dismissed.
    page.get_by_role("button", name="Remove notes.txt").click()
    tray_item(page, "notes.txt").wait_for(state="detached")

    composer.press("Enter")
    reply = wait_reply(page)
    assert "1 images" in reply.inner_text()
    assert page.locator(".message.user .text").inner_text() == "my notes follow"
    assert tray(page).get_by_role("listitem").count() == 0
    assert [a.original_name for a in Attachment.objects.exclude(message=None)] == ["fine.png"]
    assert errors == []


def test_an_image_alone_is_a_message(asgi_server, browser, user):
    page, _, errors = open_conversation(browser, asgi_server, user)
    attach(page, png_file("alone.png", 280, 280))
    wait_uploaded(page, "alone.png")
    page.get_by_role("button", name="Send").click()
    reply = wait_reply(page)
    assert "1 images" in reply.inner_text()
    assert Message.objects.get(role="user").text == ""
    user_message = page.locator(".message.user")
    assert user_message.locator("img").get_attribute("alt") == "alone.png"
    assert user_message.locator(".text").is_hidden()  # no empty bubble
    assert page.locator("#composer-error").is_hidden()
    assert errors == []


def test_the_tray_survives_a_reload_and_drops_images_gone_from_the_server(
    asgi_server, browser, user
):
    page, _, errors = open_conversation(browser, asgi_server, user)
    page.get_by_label("Message").fill("about these")
    attach(page, png_file("kept.png", color="green"), png_file("deleted.png", color="gray"))
    wait_uploaded(page, "kept.png")
    wait_uploaded(page, "deleted.png")
    # Gone on the server meanwhile (e.g. deleted from another tab).
    Attachment.objects.filter(original_name="deleted.png").delete()

    page.reload()
    item = wait_uploaded(page, "kept.png")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=item.locator("img").element_handle()
    )
    tray_item(page, "deleted.png").wait_for(state="detached")
    assert tray(page).get_by_role("listitem").count() == 1
    assert page.get_by_label("Message").input_value() == "about these"

    page.get_by_label("Message").press("Enter")
    reply = wait_reply(page)
    assert "1 images" in reply.inner_text()
    assert Attachment.objects.get(original_name="kept.png").message is not None
    # Sent: a reload does not offer it again.
    page.reload()
    page.locator(".message.user img").wait_for()
    assert tray(page).get_by_role("listitem").count() == 0
    assert errors == []


def test_sending_waits_for_an_upload_in_progress(asgi_server, browser, user):
    page, conversation, errors = open_conversation(browser, asgi_server, user)
    held = []
    page.route("**/attachments/", lambda route: held.append(route))
    attach(page, png_file("slow.png"))
    tray_item(page, "slow.png").and_(page.locator('[data-state="uploading"]')).wait_for()
    page.get_by_label("Message").fill("with the slow one")
    page.get_by_label("Message").press("Enter")
    page.get_by_text("Waiting for images to upload…").wait_for()
    page.wait_for_timeout(300)
    assert not Message.objects.filter(conversation=conversation).exists()

    while not held:  # the route handler runs while Playwright is called
        page.wait_for_timeout(50)
    assert len(held) == 1
    held[0].continue_()
    reply = wait_reply(page)
    assert "1 images" in reply.inner_text()
    assert Message.objects.get(role="user").text == "with the slow one"
    assert page.locator("#composer-error").is_hidden()
    assert errors == []


def test_a_refused_send_gives_back_the_text_and_the_images(asgi_server, browser, user, settings):
    settings.CHATSITE_SIMULATOR_TOKEN_DELAY = 0.02
    page, _, errors = open_conversation(browser, asgi_server, user)
    composer = page.get_by_label("Message")
    composer.fill("[sim:words=400] a long one")
    composer.press("Enter")
    page.locator('.message.assistant[data-status="streaming"]').wait_for(timeout=10_000)

    # Claude is still replying: the server refuses the next send with an `error` frame.
    attach(page, png_file("again.png"))
    wait_uploaded(page, "again.png")
    composer.fill("and this picture")
    composer.press("Enter")
    page.locator("#composer-error", has_text="still replying").wait_for()
    wait_uploaded(page, "again.png")
    assert composer.input_value() == "and this picture"
    assert Attachment.objects.get().message is None
    assert errors == []


def test_the_tray_fits_a_phone_and_scrolls_sideways(asgi_server, browser, user, artifacts):
    page, _, errors = open_conversation(
        browser, asgi_server, user, viewport={"width": 375, "height": 740}
    )
    attach(page, *(png_file(f"photo-{n}.png", 200 + 40 * n, 150) for n in range(5)))
    for n in range(5):
        wait_uploaded(page, f"photo-{n}.png")
    sizes = page.evaluate(
        """() => {
             const tray = document.getElementById('attachment-tray');
             const box = tray.getBoundingClientRect();
             return {page: document.documentElement.scrollWidth, scroll: tray.scrollWidth,
                     client: tray.clientWidth, left: box.left, right: box.right};
           }"""
    )
    assert sizes["page"] <= 375, sizes  # nothing sticks out of the page
    assert sizes["scroll"] > sizes["client"], sizes  # the tray scrolls instead
    assert sizes["left"] >= 0, sizes
    assert sizes["right"] <= 375, sizes
    # The last Remove button (just before the composer row) is reached by the keyboard and
    # scrolled into view.
    page.locator("#attach-button").focus()
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    assert focused == "Remove photo-4.png"
    box = page.get_by_role("button", name="Remove photo-4.png").bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 375
    page.screenshot(path=str(artifacts / "images-tray-phone.png"))
    assert errors == []


def test_a_replys_notice_is_shown_in_its_details(asgi_server, browser, user):
    conversation = Conversation.objects.create(owner=user, model="claude-sonnet-4-6")
    notice = "2 older images were left out of this request: the limit is 100 per request."
    _, reply = chain(conversation, ("user", "look"), ("assistant", "I looked."))
    reply.notice = notice
    reply.save(update_fields=["notice"])
    context = browser.new_context()
    context.add_cookies(_session_cookie(user, asgi_server))
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(f"{asgi_server.url}/c/{conversation.uuid}/")
    assert notice in last_reply(page).locator(".details").inner_text()
    assert errors == []


def test_a_pdf_is_attached_sent_and_shown_as_a_download_link(asgi_server, browser, user):
    from pypdf import PdfWriter

    from conversations.services.documents import PDF_TOKENS_PER_PAGE

    writer = PdfWriter()
    for _ in range(2):
        writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    page, _, errors = open_conversation(browser, asgi_server, user)
    attach(page, {"name": "report.pdf", "mimeType": "application/pdf", "buffer": buffer.getvalue()})
    item = wait_uploaded(page, "report.pdf")
    assert f"≈ {2 * PDF_TOKENS_PER_PAGE:,} tokens" in item.inner_text()
    page.get_by_label("Message").fill("Summarize this")
    page.get_by_label("Message").press("Enter")
    wait_reply(page)
    link = page.locator(".message.user a", has_text="report.pdf")
    attachment = Attachment.objects.get()
    assert link.get_attribute("href") == f"/attachments/{attachment.uuid}/"
    assert errors == []
