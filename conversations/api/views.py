"""The REST API: thin views over the same selectors and services as the pages and sockets."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.api.serializers import (
    ConversationCreateSerializer,
    ConversationSerializer,
    MessageSendSerializer,
    MessageSerializer,
)
from conversations.api.streaming import reply_event_response
from conversations.frames import message_data, path_data
from conversations.models import Conversation, Message
from conversations.selectors import conversation_get_for_user, conversation_list_for_user
from conversations.services.conversations import conversation_create
from conversations.services.generation import generation_run_blocking
from conversations.services.history import conversation_path
from conversations.services.messages import message_send
from conversations.services.transcripts import transcript_export_json, transcript_filename


def _conversation(request: Request, conversation_id: Any) -> Conversation:
    try:
        return conversation_get_for_user(user=request.user, conversation_uuid=conversation_id)
    except Conversation.DoesNotExist:
        # Someone else's conversation is answered exactly like a missing one.
        raise NotFound("No such conversation.") from None


class ConversationListCreateView(generics.ListAPIView[Conversation]):
    serializer_class = ConversationSerializer

    def get_queryset(self) -> Any:
        include_archived = self.request.query_params.get("archived") in ("1", "true")
        return conversation_list_for_user(user=self.request.user, include_archived=include_archived)

    @extend_schema(request=ConversationCreateSerializer, responses={201: ConversationSerializer})
    def post(self, request: Request) -> Response:
        serializer = ConversationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        conversation = conversation_create(
            owner=request.user,  # type: ignore[arg-type]
            title=data["title"],
            system_prompt=data["system"],
            model=data["model"],
        )
        return Response(ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetailView(APIView):
    @extend_schema(responses=ConversationSerializer)
    def get(self, request: Request, conversation_id: str) -> Response:
        return Response(ConversationSerializer(_conversation(request, conversation_id)).data)


class MessageListCreateView(APIView):
    @extend_schema(responses=MessageSerializer(many=True))
    def get(self, request: Request, conversation_id: str) -> Response:
        """The messages of the active branch, oldest first."""
        conversation = _conversation(request, conversation_id)
        return Response(path_data(conversation_path(conversation=conversation)))

    @extend_schema(
        request=MessageSendSerializer,
        parameters=[
            OpenApiParameter(
                "stream",
                OpenApiTypes.BOOL,
                description="Answer text/event-stream with the WebSocket frames of this reply.",
            )
        ],
        responses={201: MessageSerializer, (200, "text/event-stream"): OpenApiTypes.STR},
    )
    def post(self, request: Request, conversation_id: str) -> HttpResponseBase:
        """Send a message and wait for Claude's complete reply (or stream it with ?stream=true)."""
        conversation = _conversation(request, conversation_id)
        serializer = MessageSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = message_send(
            conversation=conversation,
            text=serializer.validated_data["content"],
            client_id=serializer.validated_data["client_id"],
        )
        if request.query_params.get("stream") in ("1", "true"):
            return reply_event_response(result=result, group=conversation.group_name)
        if result.created:
            generation_run_blocking(reply=result.assistant_message)
        reply = Message.objects.get(pk=result.assistant_message.pk)
        response_status = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(
            message_data(reply, parent_uuid=result.user_message.uuid), status=response_status
        )


class ConversationExportView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=["json"], default="json")],
        responses={(200, "application/json"): OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, conversation_id: str) -> HttpResponse:
        conversation = _conversation(request, conversation_id)
        export_format = request.query_params.get("format", "json")
        if export_format != "json":
            raise ValidationError(
                {"format": [f"Unknown export format {export_format[:20]!r}; use json."]}
            )
        body = json.dumps(
            transcript_export_json(conversation=conversation), indent=2, ensure_ascii=False
        )
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        filename = transcript_filename(conversation=conversation, extension="json")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
