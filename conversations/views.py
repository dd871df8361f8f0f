"""The chat pages. Thin: read through selectors, write through services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST, require_safe

from conversations.frames import active_path_data, model_data
from conversations.llm.catalog import model_resolve
from conversations.models import Attachment, Conversation
from conversations.selectors import attachment_get_for_user, conversation_get_for_user
from conversations.services.attachments import EXTENSIONS
from conversations.services.conversations import conversation_create, conversation_delete
from conversations.services.documents import PDF_MEDIA_TYPE
from conversations.services.sweeper import generations_sweep_stale
from conversations.sidebar import sidebar_groups_for_user, sidebar_time_zone


def _conversation_or_404(request: HttpRequest, conversation_uuid: str) -> Conversation:
    try:
        return conversation_get_for_user(user=request.user, conversation_uuid=conversation_uuid)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "conversations/chat.html", _sidebar_context(request))


@login_required
@require_GET
def conversation_detail(request: HttpRequest, conversation_uuid: str) -> HttpResponse:
    """Queries: session, user, the conversation, the sidebar list, the message path."""
    conversation = _conversation_or_404(request, conversation_uuid)
    generations_sweep_stale(conversation=conversation)
    chat_messages = active_path_data(conversation=conversation)
    # The settings panel and the prefill field start from these, and chat.js then loads the
    # whole model list. No query: the model comes from the registry or the cached listing.
    conversation_settings = {
        "model": conversation.model,
        "system": conversation.system_prompt,
        "parameters": conversation.parameters or {},
        # The same shape as an entry of GET /api/models/.
        "model_info": model_data(model_resolve(conversation.model, fetch=False)),
    }
    return render(
        request,
        "conversations/chat.html",
        {
            **_sidebar_context(request),
            "conversation": conversation,
            # Not "messages": that name belongs to django.contrib.messages in templates.
            "chat_messages": chat_messages,
            "conversation_settings": conversation_settings,
        },
    )


def _sidebar_context(request: HttpRequest) -> dict[str, object]:
    """The sidebar's date groups; `?archived=1` lists the archived conversations instead."""
    archived = request.GET.get("archived") == "1"
    return {
        "sidebar_groups": sidebar_groups_for_user(
            user=request.user, archived=archived, tz=sidebar_time_zone(request=request)
        ),
        "archived_view": archived,
    }


@login_required
@require_POST
def conversation_new(request: HttpRequest) -> HttpResponse:
    conversation = conversation_create(owner=request.user)  # type: ignore[arg-type]
    return redirect("conversation", conversation_uuid=conversation.uuid)


@login_required
@require_POST
def conversation_remove(request: HttpRequest, conversation_uuid: str) -> HttpResponse:
    conversation_delete(conversation=_conversation_or_404(request, conversation_uuid))
    return redirect("home")


# Served images can never run anything, be sniffed as another type or be framed.
IMAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=31536000, immutable",
}


@login_required
@require_safe
def attachment_image(request: HttpRequest, attachment_uuid: str) -> HttpResponse:
    return _image_response(request, attachment_uuid, thumbnail=False)


@login_required
@require_safe
def attachment_thumbnail(request: HttpRequest, attachment_uuid: str) -> HttpResponse:
    return _image_response(request, attachment_uuid, thumbnail=True)


def _image_response(request: HttpRequest, attachment_uuid: str, *, thumbnail: bool) -> HttpResponse:
    try:
        attachment = attachment_get_for_user(user=request.user, attachment_uuid=attachment_uuid)
    except Attachment.DoesNotExist:
        raise Http404("No such image.") from None
    stored = attachment.thumbnail if thumbnail else attachment.file
    if not stored:
        raise Http404("No such image.")  # an image by URL: we hold no bytes
    try:
        with stored.open("rb") as source:
            data = source.read()  # at most a few MB: our own re-encodes, or a checked PDF
    except OSError:
        raise Http404("This file is missing.") from None
    media_type = _media_type_of(data) if thumbnail else attachment.media_type
    response = HttpResponse(data, content_type=media_type)
    for header, value in IMAGE_HEADERS.items():
        response[header] = value
    stem = attachment.original_name.rsplit(".", 1)[0] or "image"
    # A PDF is only ever downloaded: a browser's PDF viewer on our origin runs its scripts.
    disposition = content_disposition_header(
        as_attachment=media_type == PDF_MEDIA_TYPE, filename=stem + EXTENSIONS.get(media_type, "")
    )
    response.headers["Content-Disposition"] = disposition or "inline"
    return response


def _media_type_of(data: bytes) -> str:
    # Thumbnails are our own encodes: the signature tells which of the three it is.
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"
