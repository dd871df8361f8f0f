"""Export and import of transcripts: thin views over services/transcript*.py."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.models import Conversation
from conversations.selectors import conversation_get_for_user, conversation_list_for_user
from conversations.services.transcript_formats import transcript_render
from conversations.services.transcript_import import (
    TranscriptImportError,
    transcript_import,
    transcript_import_limit,
    transcript_import_size_check,
)
from conversations.services.transcripts import (
    IMAGE_EXPORTS,
    TranscriptExportError,
    transcript_export_anthropic,
    transcript_export_zip,
    transcript_filename,
)

EXPORT_FORMATS = ("json", "markdown", "html", "anthropic")
BULK_FORMATS = ("json", "markdown")
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "anthropic": "application/json; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
# Where RawJSONParser puts the body in `request.data`.
RAW_JSON = "raw_json"
EXTENSIONS = {"json": "json", "anthropic": "request.json", "markdown": "md", "html": "html"}

IMAGES_PARAMETER = OpenApiParameter(
    "images",
    OpenApiTypes.STR,
    enum=list(IMAGE_EXPORTS),
    default="link",
    description="json and html: images as base64 bytes, as links to this server, or left out.",
)
ERROR_RESPONSE = OpenApiResponse(OpenApiTypes.OBJECT, description='{"error": {code, message}}')


def _choice(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.query_params.get(name, default)
    if value not in choices:
        raise ValidationError({name: [f"Unknown choice {value[:20]!r}; use {', '.join(choices)}."]})
    return value


def _error(exc: TranscriptExportError | TranscriptImportError) -> Response:
    too_large = exc.code == "too_large"
    body: dict[str, Any] = {"error": {"code": exc.code, "message": exc.message}}
    if isinstance(exc, TranscriptImportError) and not too_large:
        body["error"]["fields"] = {"file": [exc.message]}
    code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if too_large else status.HTTP_400_BAD_REQUEST
    return Response(body, status=code)


def _download(body: str | bytes, *, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    # Django quotes or RFC 5987-encodes the name; transcript_filename already removed anything
    # that could break out of the header or mislead (controls, quotes, bidi overrides).
    response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
    return response


class ConversationExportView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=list(EXPORT_FORMATS),
                default="json",
                description="json: the whole tree; markdown, html: the active branch to read; "
                "anthropic: the Messages API body that writes the last reply.",
            ),
            IMAGES_PARAMETER,
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/markdown"): OpenApiTypes.STR,
            (200, "text/html"): OpenApiTypes.STR,
            400: ERROR_RESPONSE,
            404: ERROR_RESPONSE,
        },
    )
    def get(self, request: Request, conversation_id: str) -> HttpResponse | Response:
        """Download the conversation as a file."""
        try:
            conversation = conversation_get_for_user(
                user=request.user, conversation_uuid=conversation_id
            )
        except Conversation.DoesNotExist:
            raise NotFound("No such conversation.") from None
        export_format = _choice(request, "format", EXPORT_FORMATS, "json")
        images = _choice(request, "images", IMAGE_EXPORTS, "link")
        try:
            if export_format == "anthropic":
                body = json.dumps(
                    transcript_export_anthropic(conversation=conversation),
                    indent=2,
                    ensure_ascii=False,
                )
            else:
                body = transcript_render(
                    conversation=conversation,
                    export_format=export_format,
                    images=images,  # type: ignore[arg-type]
                )
        except TranscriptExportError as exc:
            return _error(exc)
        filename = transcript_filename(
            conversation=conversation, extension=EXTENSIONS[export_format]
        )
        return _download(body, content_type=CONTENT_TYPES[export_format], filename=filename)


class BulkExportView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(BULK_FORMATS), default="json"),
            IMAGES_PARAMETER,
            OpenApiParameter(
                "archived", OpenApiTypes.BOOL, description="Include archived conversations."
            ),
        ],
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            400: ERROR_RESPONSE,
            413: ERROR_RESPONSE,
        },
    )
    def get(self, request: Request) -> HttpResponse | Response:
        """Every conversation of yours in one zip, one file each."""
        export_format = _choice(request, "format", BULK_FORMATS, "json")
        images = _choice(request, "images", IMAGE_EXPORTS, "link")
        include_archived = request.query_params.get("archived", "1") in ("1", "true")
        conversations = conversation_list_for_user(
            user=request.user, include_archived=include_archived
        )
        try:
            archive = transcript_export_zip(
                conversations=conversations.iterator(chunk_size=100),
                render=lambda c: transcript_render(
                    conversation=c,
                    export_format=export_format,
                    images=images,  # type: ignore[arg-type]
                ),
                extension=EXTENSIONS[export_format],
            )
        except TranscriptExportError as exc:
            return _error(exc)
        return _download(
            archive, content_type="application/zip", filename=f"conversations-{export_format}.zip"
        )


class RawJSONParser(BaseParser):
    """A JSON body as bytes (under RAW_JSON): the import service checks its size and parses
    it itself, so a bad file gets the same errors however it was sent."""

    media_type = "application/json"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> dict[str, bytes]:
        if stream is None:
            return {RAW_JSON: b""}
        # One byte more than the limit is enough to tell "too large".
        return {RAW_JSON: stream.read(transcript_import_limit() + 1)}


class TranscriptImportView(APIView):
    parser_classes = [MultiPartParser, RawJSONParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "TranscriptImportUpload", fields={"file": serializers.FileField()}
            ),
            "application/json": OpenApiTypes.OBJECT,
        },
        responses={
            201: inline_serializer(
                "TranscriptImportResult",
                fields={
                    "conversations": inline_serializer(
                        "ImportedConversation",
                        fields={
                            "id": serializers.UUIDField(),
                            "title": serializers.CharField(),
                            "messages": serializers.IntegerField(),
                        },
                        many=True,
                    ),
                    "warnings": serializers.ListField(child=serializers.CharField()),
                },
            ),
            400: ERROR_RESPONSE,
            413: ERROR_RESPONSE,
        },
    )
    def post(self, request: Request) -> Response:
        """Import our JSON export, claude.ai's or ChatGPT's conversations.json: all or nothing."""
        data = request.data.get(RAW_JSON)
        try:
            if not isinstance(data, bytes):
                upload = request.data.get("file")
                if upload is None or isinstance(upload, str):
                    message = "Send the export as a JSON body or as the multipart field file."
                    raise ValidationError({"file": [message]})
                transcript_import_size_check(size=upload.size or 0)
                data = upload.read()
            result = transcript_import(owner=request.user, data=data)  # type: ignore[arg-type]
        except TranscriptImportError as exc:
            return _error(exc)
        imported = [
            {"id": str(c.uuid), "title": c.title, "messages": count}
            for c, count in zip(result.conversations, result.message_counts, strict=True)
        ]
        return Response(
            {"conversations": imported, "warnings": result.warnings},
            status=status.HTTP_201_CREATED,
        )
