"""The REST API: thin views over the same selectors and services as the pages and sockets."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.api.serializers import (
    ChatModelSerializer,
    ConversationCreateSerializer,
    ConversationDetailSerializer,
    ConversationSerializer,
    ConversationUpdateSerializer,
    MessageSendSerializer,
    MessageSerializer,
    MessageUpdateSerializer,
    SummarySerializer,
    SummaryUpdateSerializer,
)
from conversations.api.streaming import continued_reply_event_response, reply_event_response
from conversations.frames import message_data, model_data, path_data
from conversations.llm.catalog import models_available
from conversations.models import Conversation, Message, Summary
from conversations.selectors import (
    conversation_context,
    conversation_get_for_user,
    conversation_list_for_user,
    conversation_usage,
    message_get_for_conversation,
    summary_get_for_conversation,
    summary_list_for_conversation,
)
from conversations.services.attachments import attachment_delete
from conversations.services.conversations import (
    conversation_create,
    conversation_update,
    message_pin,
    summary_update,
)
from conversations.services.generation import generation_run_blocking
from conversations.services.history import conversation_path
from conversations.services.messages import message_continue, message_send

STREAM_PARAMETER = OpenApiParameter(
    "stream",
    OpenApiTypes.BOOL,
    description="Answer text/event-stream with the WebSocket frames of this reply.",
)


def _conversation(request: Request, conversation_id: Any) -> Conversation:
    try:
        return conversation_get_for_user(user=request.user, conversation_uuid=conversation_id)
    except Conversation.DoesNotExist:
        # Someone else's conversation is answered exactly like a missing one.
        raise NotFound("No such conversation.") from None


def _message(conversation: Conversation, message_id: Any) -> Message:
    try:
        return message_get_for_conversation(conversation=conversation, message_uuid=message_id)
    except Message.DoesNotExist:
        raise NotFound("No such message.") from None


def _summary(conversation: Conversation, summary_id: Any) -> Summary:
    try:
        return summary_get_for_conversation(conversation=conversation, summary_uuid=summary_id)
    except Summary.DoesNotExist:
        raise NotFound("No such summary.") from None


def _wants_stream(request: Request) -> bool:
    return request.query_params.get("stream") in ("1", "true")


def conversation_detail_data(conversation: Conversation) -> dict[str, Any]:
    """`ConversationDetailSerializer`'s shape. Queries: 3 (usage: 2, context: 1)."""
    return {
        **ConversationSerializer(conversation).data,
        "usage": conversation_usage(conversation=conversation),
        "context": conversation_context(conversation=conversation),
    }


class ModelListView(APIView):
    @extend_schema(responses=ChatModelSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The models a conversation can use, with their limits and prices."""
        return Response([model_data(spec) for spec in models_available()])


class ConversationListCreateView(generics.ListAPIView[Conversation]):
    serializer_class = ConversationSerializer

    def get_queryset(self) -> Any:
        include_archived = self.request.query_params.get("archived") in ("1", "true")
        return conversation_list_for_user(user=self.request.user, include_archived=include_archived)

    @extend_schema(
        request=ConversationCreateSerializer, responses={201: ConversationDetailSerializer}
    )
    def post(self, request: Request) -> Response:
        serializer = ConversationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        conversation = conversation_create(
            owner=request.user,  # type: ignore[arg-type]
            title=data["title"],
            system_prompt=data["system"],
            model=data["model"],
            parameters=data["parameters"],
        )
        return Response(conversation_detail_data(conversation), status=status.HTTP_201_CREATED)


class ConversationDetailView(APIView):
    @extend_schema(responses=ConversationDetailSerializer)
    def get(self, request: Request, conversation_id: str) -> Response:
        return Response(conversation_detail_data(_conversation(request, conversation_id)))

    @extend_schema(request=ConversationUpdateSerializer, responses=ConversationDetailSerializer)
    def patch(self, request: Request, conversation_id: str) -> Response:
        """Rename, or change the model, system prompt or settings (checked together: on any
        error nothing is stored)."""
        conversation = _conversation(request, conversation_id)
        serializer = ConversationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        conversation_update(
            conversation=conversation,
            title=data.get("title"),
            model=data.get("model"),
            system_prompt=data.get("system"),
            parameters=data.get("parameters"),
        )
        return Response(conversation_detail_data(conversation))


class MessageListCreateView(APIView):
    @extend_schema(responses=MessageSerializer(many=True))
    def get(self, request: Request, conversation_id: str) -> Response:
        """The messages of the active branch, oldest first."""
        conversation = _conversation(request, conversation_id)
        return Response(path_data(conversation_path(conversation=conversation)))

    @extend_schema(
        request=MessageSendSerializer,
        parameters=[STREAM_PARAMETER],
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
            prefill=serializer.validated_data["prefill"],
            attachments=[str(key) for key in serializer.validated_data["attachments"]],
        )
        if _wants_stream(request):
            return reply_event_response(result=result, group=conversation.group_name)
        if result.created:
            generation_run_blocking(reply=result.assistant_message)
        reply = Message.objects.get(pk=result.assistant_message.pk)
        response_status = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(
            message_data(reply, parent_uuid=result.user_message.uuid), status=response_status
        )


class MessageDetailView(APIView):
    @extend_schema(request=MessageUpdateSerializer, responses=MessageSerializer)
    def patch(self, request: Request, conversation_id: str, message_id: str) -> Response:
        """Pin a message (kept word for word when older turns are summarized), or unpin it."""
        message = _message(_conversation(request, conversation_id), message_id)
        serializer = MessageUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = message_pin(message=message, pinned=serializer.validated_data["is_pinned"])
        parent_uuid = message.parent.uuid if message.parent is not None else None
        return Response(message_data(message, parent_uuid=parent_uuid))


class MessageContinueView(APIView):
    @extend_schema(
        request=None,
        parameters=[STREAM_PARAMETER],
        responses={200: MessageSerializer, (200, "text/event-stream"): OpenApiTypes.STR},
    )
    def post(self, request: Request, conversation_id: str, message_id: str) -> HttpResponseBase:
        """Continue a reply that was cut short, in place; wait for it (or stream it)."""
        conversation = _conversation(request, conversation_id)
        message = _message(conversation, message_id)
        pending = message_continue(conversation=conversation, message_uuid=message.uuid)
        if _wants_stream(request):
            return continued_reply_event_response(reply=pending, group=conversation.group_name)
        generation_run_blocking(reply=pending)
        reply = Message.objects.get(pk=pending.pk)
        parent_uuid = pending.parent.uuid if pending.parent is not None else None
        return Response(message_data(reply, parent_uuid=parent_uuid))


class SummaryListView(APIView):
    @extend_schema(responses=SummarySerializer(many=True))
    def get(self, request: Request, conversation_id: str) -> Response:
        """Every summary of the conversation (all branches), oldest first."""
        conversation = _conversation(request, conversation_id)
        summaries = summary_list_for_conversation(conversation=conversation)
        return Response(SummarySerializer(summaries, many=True).data)


class SummaryDetailView(APIView):
    @extend_schema(request=SummaryUpdateSerializer, responses=SummarySerializer)
    def patch(self, request: Request, conversation_id: str, summary_id: str) -> Response:
        """Rewrite a summary: the next requests send it as written."""
        summary = _summary(_conversation(request, conversation_id), summary_id)
        serializer = SummaryUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        summary = summary_update(summary=summary, text=serializer.validated_data["text"])
        return Response(SummarySerializer(summary).data)


class AttachmentDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, attachment_id: str) -> Response:
        """Remove an image that was uploaded but never sent (sent ones stay with their message)."""
        owner_id = request.user.pk
        assert owner_id is not None  # IsAuthenticated
        if not attachment_delete(owner_id=owner_id, attachment_uuid=attachment_id):
            raise NotFound("No such unsent attachment.")
        return Response(status=status.HTTP_204_NO_CONTENT)
