"""The messages of a conversation: read the branch or the whole tree, send, edit, regenerate,
continue, stop and select a branch, as the socket does. Each reply is waited for, or streamed with
`?stream=true` (see streaming.py).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.api.serializers import (
    MessageEditSerializer,
    MessageSendSerializer,
    MessageSerializer,
    MessageTreeSerializer,
    MessageUpdateSerializer,
    StopResultSerializer,
    StopSerializer,
)
from conversations.api.streaming import reply_answer, started_reply, started_turn
from conversations.api.views import conversation_or_404, message_or_404
from conversations.frames import active_path_data, message_data
from conversations.selectors import TreeMessage, message_tree_for_conversation
from conversations.services.conversations import generation_stop, message_pin
from conversations.services.messages import (
    branch_select,
    message_continue,
    message_edit,
    message_regenerate,
    message_send,
)

STREAM_PARAMETER = OpenApiParameter(
    "stream",
    OpenApiTypes.BOOL,
    description="Answer text/event-stream with the WebSocket frames of this reply (the "
    "opening `message.created`/`message.updated`, then `chat.delta`..., then `chat.done` or "
    "`chat.error`) instead of waiting for its end.",
)
STREAMED = (200, "text/event-stream")


def _parent_uuid(message: Any) -> Any:
    return message.parent.uuid if message.parent is not None else None


class MessageListCreateView(APIView):
    @extend_schema(responses=MessageSerializer(many=True))
    def get(self, request: Request, conversation_id: str) -> Response:
        """The messages of the active branch, oldest first, each with its place among its
        versions (`sibling_index`, `sibling_count`, `previous_sibling_id`, `next_sibling_id`).
        Queries: 3."""
        conversation = conversation_or_404(request, conversation_id)
        return Response(active_path_data(conversation=conversation))

    @extend_schema(
        request=MessageSendSerializer,
        parameters=[STREAM_PARAMETER],
        responses={201: MessageSerializer, STREAMED: OpenApiTypes.STR},
    )
    def post(self, request: Request, conversation_id: str) -> HttpResponseBase:
        """Send a message and wait for Claude's complete reply (or stream it). A repeated
        `client_id` answers the reply it already has (200), starting nothing."""
        conversation = conversation_or_404(request, conversation_id)
        serializer = MessageSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = message_send(
            conversation=conversation,
            text=data["content"],
            client_id=data["client_id"],
            prefill=data["prefill"],
            attachments=[str(key) for key in data["attachments"]],
        )
        return reply_answer(request, conversation, started_turn(result), created=True)


class MessageTreeView(APIView):
    @extend_schema(responses=MessageTreeSerializer(many=True))
    def get(self, request: Request, conversation_id: str) -> Response:
        """Every message of every branch in tree order: depth-first, each reply under its
        question, later versions (edits, regenerations) after earlier ones. Queries: 3."""
        conversation = conversation_or_404(request, conversation_id)
        tree = message_tree_for_conversation(conversation=conversation)
        # Each version's neighbours, as the active branch gives them.
        versions: dict[object, list[TreeMessage]] = {}
        for node in sorted(tree, key=lambda n: n.sibling_index):
            versions.setdefault(node.parent_uuid, []).append(node)

        def neighbour(node: TreeMessage, step: int) -> str | None:
            index = node.sibling_index + step
            siblings = versions[node.parent_uuid]
            return str(siblings[index].message.uuid) if 0 <= index < len(siblings) else None

        return Response(
            [
                {
                    **message_data(node.message, parent_uuid=node.parent_uuid),
                    "depth": node.depth,
                    "sibling_index": node.sibling_index,
                    "sibling_count": node.sibling_count,
                    "previous_sibling_id": neighbour(node, -1),
                    "next_sibling_id": neighbour(node, 1),
                    "on_active_path": node.on_active_path,
                }
                for node in tree
            ]
        )


class MessageDetailView(APIView):
    @extend_schema(responses=MessageSerializer)
    def get(self, request: Request, conversation_id: str, message_id: str) -> Response:
        """One message, on any branch."""
        message = message_or_404(conversation_or_404(request, conversation_id), message_id)
        return Response(message_data(message, parent_uuid=_parent_uuid(message)))

    @extend_schema(request=MessageUpdateSerializer, responses=MessageSerializer)
    def patch(self, request: Request, conversation_id: str, message_id: str) -> Response:
        """Pin a message (kept word for word when older turns are summarized), or unpin it."""
        message = message_or_404(conversation_or_404(request, conversation_id), message_id)
        serializer = MessageUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = message_pin(message=message, pinned=serializer.validated_data["is_pinned"])
        return Response(message_data(message, parent_uuid=_parent_uuid(message)))


class MessageEditView(APIView):
    @extend_schema(
        request=MessageEditSerializer,
        parameters=[STREAM_PARAMETER],
        responses={201: MessageSerializer, STREAMED: OpenApiTypes.STR},
    )
    def post(self, request: Request, conversation_id: str, message_id: str) -> HttpResponseBase:
        """Edit one of your messages: a new version beside it (a new branch, now active) and
        a new reply, waited for (or streamed), as for a send."""
        conversation = conversation_or_404(request, conversation_id)
        message = message_or_404(conversation, message_id)
        serializer = MessageEditSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = message_edit(
            conversation=conversation,
            message_uuid=message.uuid,
            text=data["content"],
            client_id=data["client_id"],
            prefill=data["prefill"],
            attachments=[str(key) for key in data["attachments"]],
        )
        return reply_answer(request, conversation, started_turn(result), created=True)


class MessageRegenerateView(APIView):
    @extend_schema(
        request=None,
        parameters=[STREAM_PARAMETER],
        responses={201: MessageSerializer, STREAMED: OpenApiTypes.STR},
    )
    def post(self, request: Request, conversation_id: str, message_id: str) -> HttpResponseBase:
        """Ask again: a new reply beside this one (a new branch, now active), waited for (or
        streamed)."""
        conversation = conversation_or_404(request, conversation_id)
        message = message_or_404(conversation, message_id)
        reply = message_regenerate(conversation=conversation, message_uuid=message.uuid)
        started = started_reply(reply, frame_type="message.created")
        return reply_answer(request, conversation, started, created=True)


class MessageContinueView(APIView):
    @extend_schema(
        request=None,
        parameters=[STREAM_PARAMETER],
        responses={200: MessageSerializer, STREAMED: OpenApiTypes.STR},
    )
    def post(self, request: Request, conversation_id: str, message_id: str) -> HttpResponseBase:
        """Continue a reply that was cut short, in place; wait for it (or stream it)."""
        conversation = conversation_or_404(request, conversation_id)
        message = message_or_404(conversation, message_id)
        pending = message_continue(conversation=conversation, message_uuid=message.uuid)
        started = started_reply(pending, frame_type="message.updated")
        return reply_answer(request, conversation, started, created=False)


class MessageSelectView(APIView):
    @extend_schema(request=None, responses=MessageSerializer(many=True))
    def post(self, request: Request, conversation_id: str, message_id: str) -> Response:
        """Show another version of a message (an edit, a regeneration): the newest message
        under it (itself when nothing follows) becomes the active leaf, in every open tab.
        Answers the new active branch, as GET .../messages/ does. Refused (409 `busy`) while
        a reply is generating. Queries: 12."""
        conversation = conversation_or_404(request, conversation_id)
        message = message_or_404(conversation, message_id)
        branch_select(conversation=conversation, message_uuid=message.uuid)
        return Response(active_path_data(conversation=conversation))


class ConversationStopView(APIView):
    @extend_schema(request=StopSerializer, responses=StopResultSerializer)
    def post(self, request: Request, conversation_id: str) -> Response:
        """Stop the reply being written (whichever server process writes it), as the socket's
        Stop does, and answer it as saved, partial text kept. Nothing running is not an
        error: `stopped` is false and `message` null (a Stop may cross the reply's end)."""
        conversation = conversation_or_404(request, conversation_id)
        serializer = StopSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        message_id = serializer.validated_data.get("message_id")
        message = message_or_404(conversation, message_id) if message_id else None
        result = generation_stop(conversation=conversation, message=message)
        reply = result.reply
        data = message_data(reply, parent_uuid=_parent_uuid(reply)) if reply else None
        return Response({"stopped": result.stopped, "message": data})
