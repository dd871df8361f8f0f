"""The active path as a document to read: Markdown, or one self-contained HTML file.

Model output is hostile and so is anything a person typed: in Markdown the person's text is
fenced (nothing in it is read as Markdown) and Claude's is kept as Markdown; in HTML every text
is escaped, shown with its line breaks, and a CSP meta tag forbids scripts and remote resources
(markdown-it-py is not a dependency, so Claude's Markdown is shown as written, not rendered).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from decimal import Decimal

from django.db.models import prefetch_related_objects

from conversations.models import Attachment, Conversation, Message
from conversations.services.history import conversation_path
from conversations.services.transcripts import (
    ImageExport,
    attachment_base64,
    inline_images_check,
    transcript_json_text,
)

# Only our own re-encodes become data: URIs (never, say, SVG, which can carry script).
INLINE_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
# Characters that make Markdown syntax anywhere in a line, and what does only at its start.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~&])")
_MARKDOWN_LINE_START = re.compile(r"^([-+=]|\d+[.)])")
STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;
color:#1f2328;background:#fff}
h1{font-size:1.6rem}article{border-top:1px solid #d0d7de;padding:.5rem 0}
h2{font-size:1rem;margin:.5rem 0}.user h2{color:#0550ae}.assistant h2{color:#8250df}
.text{white-space:pre-wrap;overflow-wrap:anywhere}.meta{color:#57606a;font-size:.85rem}
img{max-width:100%;height:auto;display:block;margin:.5rem 0}
"""


def _path(conversation: Conversation) -> list[Message]:
    """The active path with its attachments. Queries: 2."""
    path = conversation_path(conversation=conversation)
    prefetch_related_objects(path, "attachments")
    return path


def _speaker(message: Message) -> str:
    return "You" if message.role == Message.Role.USER else "Claude"


def _reply_details(message: Message) -> str:
    """One line about a reply: model, tokens, cost, and how it ended if not normally."""
    parts = [message.model] if message.model else []
    if message.input_tokens is not None or message.output_tokens is not None:
        parts.append(
            f"{message.input_tokens or 0:,} in / {message.output_tokens or 0:,} out tokens"
        )
    if message.cost_usd is not None:
        parts.append(f"${Decimal(message.cost_usd):.4f}")
    if message.status != Message.Status.COMPLETE:
        parts.append(message.status)
    return " · ".join(parts)


def _attachment_name(attachment: Attachment) -> str:
    return attachment.original_name or attachment.source_url or "attachment"


# --- Markdown ----------------------------------------------------------------------------------
def markdown_escape(text: str) -> str:
    """One line of plain text that Markdown shows as written."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))
    return _MARKDOWN_LINE_START.sub(r"\\\1", escaped)


def _fenced(text: str) -> str:
    # A fence longer than any run of backticks inside cannot be closed by the text.
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def transcript_export_markdown(*, conversation: Conversation) -> str:
    """Queries: 2 (the path, its attachments)."""
    lines = [f"# {markdown_escape(conversation.display_title)}", ""]
    if conversation.system_prompt.strip():
        lines += ["## System prompt", "", _fenced(conversation.system_prompt), ""]
    for message in _path(conversation):
        lines += [f"## {_speaker(message)}", ""]
        if message.role == Message.Role.USER:
            if message.text:
                lines += [_fenced(message.text), ""]
            names = [markdown_escape(_attachment_name(a)) for a in message.attachments.all()]
            if names:
                lines += ["Attachments: " + ", ".join(names), ""]
        else:
            lines += [message.text, ""]
            details = _reply_details(message)
            if details:
                lines += [f"*{markdown_escape(details)}*", ""]
    return "\n".join(lines)


# --- HTML --------------------------------------------------------------------------------------
def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _html_attachment(attachment: Attachment, images: ImageExport) -> str:
    name = _escape(_attachment_name(attachment))
    if images == "base64" and attachment.media_type in INLINE_IMAGE_TYPES:
        data = attachment_base64(attachment)
        if data is not None:
            uri = f"data:{attachment.media_type};base64,{data}"
            return f'<li><img alt="{name}" src="{uri}"><span class="meta">{name}</span></li>'
    return f"<li>{name}</li>"


def _html_message(message: Message, images: ImageExport) -> str:
    role = "user" if message.role == Message.Role.USER else "assistant"
    parts = [f'<article class="{role}">', f"<h2>{_speaker(message)}</h2>"]
    if message.text:
        parts.append(f'<div class="text">{_escape(message.text)}</div>')
    attachments = list(message.attachments.all())
    if attachments:
        items = "".join(_html_attachment(a, images) for a in attachments)
        parts.append(f'<ul class="attachments">{items}</ul>')
    if role == "assistant":
        details = _reply_details(message)
        if details:
            parts.append(f'<p class="meta">{_escape(details)}</p>')
    parts.append("</article>")
    return "".join(parts)


def transcript_export_html(*, conversation: Conversation, images: ImageExport = "link") -> str:
    """One file that opens anywhere and runs nothing. Queries: 2 (the path, its attachments)."""
    title = _escape(conversation.display_title)
    body = [f"<h1>{title}</h1>"]
    if conversation.system_prompt.strip():
        body.append(
            '<article class="system"><h2>System prompt</h2>'
            f'<div class="text">{_escape(conversation.system_prompt)}</div></article>'
        )
    body += [_html_message(message, images) for message in _path(conversation)]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style></head>\n"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def transcript_render(
    *, conversation: Conversation, export_format: str, images: ImageExport = "link"
) -> str:
    """The conversation in a text format (see EXPORT_TEXT_FORMATS)."""
    if images == "base64":
        inline_images_check(conversation=conversation)
    if export_format == "markdown":
        return transcript_export_markdown(conversation=conversation)
    if export_format == "html":
        return transcript_export_html(conversation=conversation, images=images)
    return transcript_json_text(conversation=conversation, images=images)


EXPORT_TEXT_FORMATS: Sequence[str] = ("json", "markdown", "html")
