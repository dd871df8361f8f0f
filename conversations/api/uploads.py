"""Uploads: an async view, so a request waiting on the decoding child (seconds, at worst) holds
no thread meanwhile.

Authentication is DRF's (token, or session with its CSRF check), run in a worker thread; the
answer has the API's one error body shape. drf-spectacular only reads DRF views: the schema
describes this one through `AttachmentUploadSchema` (added by `schema.py`'s hook).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from django.contrib.auth.models import AnonymousUser, User
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from conversations.api.serializers import (
    AttachmentUploadRequestSerializer,
    AttachmentUploadSerializer,
    ErrorSerializer,
)
from conversations.asyncdb import database_sync_to_async
from conversations.frames import attachment_data
from conversations.llm.catalog import model_resolve
from conversations.models import Conversation
from conversations.selectors import conversation_get_for_user
from conversations.services.attachments import (
    AttachmentError,
    AttachmentTooLargeError,
    attachment_from_url,
    attachment_token_estimate,
    attachment_upload,
)
from conversations.services.message_rules import RateLimitedError


def _error(code: str, message: str, status: int, field: str | None = None) -> JsonResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if field:
        body["error"]["fields"] = {field: [message]}
    return JsonResponse(body, status=status)


def _authenticate(request: HttpRequest) -> User | AnonymousUser:
    # The setting holds classes once DRF has imported them (the stubs say strings).
    classes = cast(list[type[BaseAuthentication]], api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    # The CSRF check of session authentication reads the form, so the parsers must be there.
    drf_request = Request(
        request,
        authenticators=[c() for c in classes],
        parsers=[MultiPartParser(), FormParser()],
    )
    user: User | AnonymousUser = drf_request.user
    return user


def _unauthenticated(request: HttpRequest, code: str, message: str) -> JsonResponse:
    """401 with the scheme to use, as DRF answers for every other endpoint."""
    response = _error(code, message, 401)
    classes = cast(list[type[BaseAuthentication]], api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    # DRF's authenticators read only the headers of the request they are given.
    scheme = classes[0]().authenticate_header(request)  # type: ignore[arg-type]
    if scheme:
        response["WWW-Authenticate"] = scheme
    return response


@csrf_exempt  # SessionAuthentication enforces CSRF for cookie-authenticated requests
async def attachment_upload_view(request: HttpRequest, conversation_id: str) -> JsonResponse:
    if request.method != "POST":
        return _error("method_not_allowed", f'Method "{request.method}" not allowed.', 405)
    try:
        user = await database_sync_to_async(_authenticate)(request)
    except exceptions.AuthenticationFailed as exc:
        return _unauthenticated(request, "authentication_failed", str(exc.detail))
    except exceptions.APIException as exc:  # the session's CSRF check
        code = exc.get_codes()
        return _error(code if isinstance(code, str) else "error", str(exc.detail), exc.status_code)
    if not user.is_authenticated:
        return _unauthenticated(
            request, "not_authenticated", "Authentication credentials were not provided."
        )
    try:
        conversation = await database_sync_to_async(conversation_get_for_user)(
            user=user, conversation_uuid=conversation_id
        )
    except Conversation.DoesNotExist:
        return _error("not_found", "No such conversation.", 404)
    # Parsing a multipart body is CPU work on up to 20 MB: not on the event loop.
    files, form = await asyncio.to_thread(lambda: (request.FILES, request.POST))
    try:
        upload = files.get("file")
        if isinstance(upload, UploadedFile):
            attachment = await attachment_upload(
                owner_id=user.pk,
                conversation=conversation,
                name=upload.name,
                data=await asyncio.to_thread(upload.read),
            )
        elif form.get("url"):
            attachment = await attachment_from_url(
                owner_id=user.pk, conversation=conversation, url=form["url"]
            )
        else:
            return _error("invalid", "Attach an image file (the form field `file`).", 400, "file")
    except AttachmentTooLargeError as exc:
        return _error(exc.code, exc.message, 413, exc.field)
    except RateLimitedError as exc:
        return _error(exc.code, exc.message, 429)
    except AttachmentError as exc:
        return _error(exc.code, exc.message, 400, exc.field)
    spec = await database_sync_to_async(model_resolve)(conversation.model, fetch=False)
    body = {
        **attachment_data(attachment),
        "byte_size": attachment.byte_size,
        # What it costs with this conversation's model (high-res models take the larger size).
        "token_estimate": attachment_token_estimate(attachment, long_edge=spec.image_long_edge),
    }
    return JsonResponse(body, status=201)


class AttachmentUploadSchema(APIView):
    """What the schema says about `attachment_upload_view`; never routed, never called."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="conversations_attachments_create",
        request={"multipart/form-data": AttachmentUploadRequestSerializer},
        responses={
            201: AttachmentUploadSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
            413: ErrorSerializer,
            429: ErrorSerializer,
        },
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        """Upload an image (or a PDF) to send with your next message in this conversation:
        pass its `id` in the send's `attachments`. Stored as our own re-encode; unsent uploads
        are forgotten after a day. 413 past the size limit, 429 when uploading too fast."""
        raise NotImplementedError("documentation only: the route serves attachment_upload_view")
