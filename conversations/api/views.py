"""The REST API: thin views over the same selectors and services as the pages and sockets.

Messages (send, edit, regenerate, continue, stop) are in `messages.py`, transcripts in
`transcripts.py`, uploads in `uploads.py`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend  # type: ignore[import-untyped]
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.api.filters import ConversationFilter
from conversations.api.serializers import (
    AttachmentDetailSerializer,
    ChatModelSerializer,
    ConversationCreateSerializer,
    ConversationDetailSerializer,
    ConversationSerializer,
    ConversationUpdateSerializer,
    ConversationUsageSerializer,
    SummarySerializer,
    SummaryUpdateSerializer,
    UsageQuerySerializer,
    UsageReportSerializer,
)
from conversations.frames import attachment_data, model_data
from conversations.llm.catalog import model_resolve, models_available
from conversations.models import Attachment, Conversation, Message, Summary
from conversations.selectors import (
    attachment_get_owned,
    conversation_context,
    conversation_get_for_user,
    conversation_list_for_user,
    conversation_usage,
    message_get_for_conversation,
    summary_get_for_conversation,
    summary_list_for_conversation,
    usage_by_day_for_user,
    usage_totals,
)
from conversations.services.attachments import attachment_delete, attachment_token_estimate
from conversations.services.conversations import (
    conversation_create,
    conversation_delete,
    conversation_update,
    summary_update,
)


def conversation_or_404(request: Request, conversation_id: Any) -> Conversation:
    try:
        return conversation_get_for_user(user=request.user, conversation_uuid=conversation_id)
    except Conversation.DoesNotExist:
        # Someone else's conversation is answered exactly like a missing one.
        raise NotFound("No such conversation.") from None


def message_or_404(conversation: Conversation, message_id: Any) -> Message:
    try:
        return message_get_for_conversation(conversation=conversation, message_uuid=message_id)
    except Message.DoesNotExist:
        raise NotFound("No such message.") from None


def _summary(conversation: Conversation, summary_id: Any) -> Summary:
    try:
        return summary_get_for_conversation(conversation=conversation, summary_uuid=summary_id)
    except Summary.DoesNotExist:
        raise NotFound("No such summary.") from None


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


# --- conversations ------------------------------------------------------------------------------
class ConversationPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


class ConversationListCreateView(generics.ListAPIView[Conversation]):
    """Your conversations, pinned first then the most recently updated, 50 a page.

    Queries: 2 (the count, the page).
    """

    serializer_class = ConversationSerializer
    pagination_class = ConversationPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = ConversationFilter

    def get_queryset(self) -> Any:
        # Archived ones are the filter's to leave out (by default) or keep.
        return conversation_list_for_user(user=self.request.user, include_archived=True)

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
        return Response(conversation_detail_data(conversation_or_404(request, conversation_id)))

    @extend_schema(request=ConversationUpdateSerializer, responses=ConversationDetailSerializer)
    def patch(self, request: Request, conversation_id: str) -> Response:
        """Rename, change the model, system prompt or settings, archive or pin (checked
        together: on any error nothing is stored). Every open tab is told."""
        conversation = conversation_or_404(request, conversation_id)
        serializer = ConversationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        conversation_update(
            conversation=conversation,
            title=data.get("title"),
            model=data.get("model"),
            system_prompt=data.get("system"),
            parameters=data.get("parameters"),
            is_archived=data.get("is_archived"),
            is_pinned=data.get("is_pinned"),
        )
        return Response(conversation_detail_data(conversation))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, conversation_id: str) -> Response:
        """Delete the conversation with every message, summary and file. A reply still being
        written is stopped (it would go on costing tokens for nothing)."""
        conversation_delete(conversation=conversation_or_404(request, conversation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- usage --------------------------------------------------------------------------------------
class ConversationUsageView(APIView):
    @extend_schema(responses=ConversationUsageSerializer)
    def get(self, request: Request, conversation_id: str) -> Response:
        """What the conversation has cost: every reply of every branch, and every summary."""
        conversation = conversation_or_404(request, conversation_id)
        return Response(conversation_usage(conversation=conversation))


class UsageView(APIView):
    @extend_schema(parameters=[UsageQuerySerializer], responses=UsageReportSerializer)
    def get(self, request: Request) -> Response:
        """Your tokens and cost per UTC day, replies and summaries of all your conversations
        (at most 366 days; by default the last 30). Queries: 2."""
        query = UsageQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start"], query.validated_data["end"]
        days = usage_by_day_for_user(user=request.user, start=start, end=end)
        total = usage_totals(days=days)
        return Response({"start": start, "end": end, "days": days, "total": total})


# --- summaries ----------------------------------------------------------------------------------
class SummaryListView(APIView):
    @extend_schema(responses=SummarySerializer(many=True))
    def get(self, request: Request, conversation_id: str) -> Response:
        """Every summary of the conversation (all branches), oldest first."""
        conversation = conversation_or_404(request, conversation_id)
        summaries = summary_list_for_conversation(conversation=conversation)
        return Response(SummarySerializer(summaries, many=True).data)


class SummaryDetailView(APIView):
    @extend_schema(responses=SummarySerializer)
    def get(self, request: Request, conversation_id: str, summary_id: str) -> Response:
        summary = _summary(conversation_or_404(request, conversation_id), summary_id)
        return Response(SummarySerializer(summary).data)

    @extend_schema(request=SummaryUpdateSerializer, responses=SummarySerializer)
    def patch(self, request: Request, conversation_id: str, summary_id: str) -> Response:
        """Rewrite a summary: the next requests send it as written."""
        summary = _summary(conversation_or_404(request, conversation_id), summary_id)
        serializer = SummaryUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        summary = summary_update(summary=summary, text=serializer.validated_data["text"])
        return Response(SummarySerializer(summary).data)


# --- attachments --------------------------------------------------------------------------------
def attachment_detail_data(attachment: Attachment) -> dict[str, Any]:
    """`AttachmentDetailSerializer`'s shape: no query beyond the selector's."""
    data: dict[str, Any] = {**attachment_data(attachment), "byte_size": attachment.byte_size}
    conversation = attachment.conversation
    if conversation is not None:
        # What it costs with the conversation's model, as the upload answered.
        spec = model_resolve(conversation.model, fetch=False)
        data["token_estimate"] = attachment_token_estimate(
            attachment, long_edge=spec.image_long_edge
        )
    message = attachment.message
    data["conversation_id"] = str(conversation.uuid) if conversation is not None else None
    data["message_id"] = str(message.uuid) if message is not None else None
    data["created_at"] = attachment.created_at
    return data


class AttachmentDetailView(APIView):
    @extend_schema(responses=AttachmentDetailSerializer)
    def get(self, request: Request, attachment_id: str) -> Response:
        """An upload's description; `url` serves its content (`thumbnail_url` a preview)."""
        try:
            attachment = attachment_get_owned(user=request.user, attachment_uuid=attachment_id)
        except Attachment.DoesNotExist:
            raise NotFound("No such attachment.") from None
        return Response(AttachmentDetailSerializer(attachment_detail_data(attachment)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, attachment_id: str) -> Response:
        """Remove an image that was uploaded but never sent (sent ones stay with their message)."""
        owner_id = request.user.pk
        assert owner_id is not None  # IsAuthenticated
        if not attachment_delete(owner_id=owner_id, attachment_uuid=attachment_id):
            raise NotFound("No such unsent attachment.")
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- everything else ----------------------------------------------------------------------------
@csrf_exempt  # nothing to protect, and a CSRF refusal would hide the real answer
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any path under /api/ that no endpoint matches: the API's error body, not a page."""
    message = "No such endpoint."
    if not request.path_info.endswith("/"):
        try:
            matched = resolve(request.path_info + "/").func is not api_not_found
        except Resolver404:
            matched = False
        if matched:
            message = "No such endpoint. API paths end with a slash."
    return JsonResponse({"error": {"code": "not_found", "message": message}}, status=404)
