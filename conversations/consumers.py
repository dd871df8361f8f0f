"""The conversation socket: one per open tab, joined to the conversation's group.

Thin by design: authenticate in `connect`, re-check ownership on every client frame, call
services, and relay group events unchanged. The protocol is documented in docs/websocket.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from conversations.asyncdb import database_sync_to_async
from conversations.frames import (
    ConversationStateFrame,
    ErrorFrame,
    MessageData,
    active_path_data,
    message_data,
)
from conversations.models import Conversation, Message
from conversations.selectors import conversation_get_for_user
from conversations.services.cancellation import generation_request_stop
from conversations.services.generation import generation_start
from conversations.services.message_rules import ChatError
from conversations.services.messages import (
    branch_select,
    message_continue,
    message_edit,
    message_regenerate,
    message_send,
)
from conversations.signals import session_group

logger = logging.getLogger(__name__)

# Close codes in the application range (4000-4999), so the browser can tell why.
ServiceResult = TypeVar("ServiceResult")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_LARGE = 1009


class ConversationConsumer(AsyncWebsocketConsumer):
    conversation_uuid: str
    group: str
    session_group: str | None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.conversation_uuid = str(self.scope["url_route"]["kwargs"]["conversation_uuid"])
        if not isinstance(await self._access(), Conversation):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = f"conversation.{self.conversation_uuid}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        session_key = self.scope["session"].session_key
        self.session_group = session_group(session_key) if session_key else None
        if self.session_group:
            await self.channel_layer.group_add(self.session_group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        session_group_name = getattr(self, "session_group", None)
        if session_group_name:
            await self.channel_layer.group_discard(session_group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._send_error("invalid_frame", "Frames must be JSON text, not binary.")
            return
        if len(text_data) > settings.CHATSITE_MAX_FRAME_CHARS:
            await self.close(code=CLOSE_TOO_LARGE)
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._send_error("invalid_frame", "The frame is not valid JSON.")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._send_error("invalid_frame", 'A frame is a JSON object with a "type".')
            return
        handler = self._handlers.get(frame["type"])
        if handler is None:
            await self._send_error("unknown_type", f"Unknown frame type: {frame['type'][:40]!r}.")
            return
        # Access can be lost while a socket is open (conversation deleted, user deactivated).
        access = await self._access()
        if access == CLOSE_UNAUTHENTICATED:
            await self._send_error("unauthenticated", "Your session has ended. Log in again.")
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not isinstance(access, Conversation):
            await self._send_error("not_found", "This conversation no longer exists.")
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await handler(self, frame, access)

    # --- client frames -------------------------------------------------------------------------
    async def on_send(self, frame: dict[str, Any], conversation: Conversation) -> None:
        client_id = frame.get("client_id", "")
        result = await self._call(
            message_send,
            client_id=client_id,
            conversation=conversation,
            text=frame.get("text"),
            prefill=frame.get("prefill", ""),
            attachments=frame.get("attachments"),
        )
        if result is None:
            return
        if result.created:
            generation_start(reply=result.assistant_message)
        else:
            # A repeated client_id: the turn exists; show it to the sender, start nothing.
            turn = (result.user_message, result.assistant_message)
            for data in await database_sync_to_async(_turn_data)(turn):
                await self.send(text_data=json.dumps({"type": "message.created", "message": data}))

    async def on_edit(self, frame: dict[str, Any], conversation: Conversation) -> None:
        result = await self._call(
            message_edit,
            client_id=frame.get("client_id", ""),
            conversation=conversation,
            message_uuid=frame.get("message_id"),
            text=frame.get("text"),
            prefill=frame.get("prefill", ""),
        )
        if result is not None and result.created:
            generation_start(reply=result.assistant_message)

    async def on_continue(self, frame: dict[str, Any], conversation: Conversation) -> None:
        reply = await self._call(
            message_continue, conversation=conversation, message_uuid=frame.get("message_id")
        )
        if reply is not None:
            generation_start(reply=reply)

    async def on_regenerate(self, frame: dict[str, Any], conversation: Conversation) -> None:
        reply = await self._call(
            message_regenerate, conversation=conversation, message_uuid=frame.get("message_id")
        )
        if reply is not None:
            generation_start(reply=reply)

    async def on_stop(self, frame: dict[str, Any], conversation: Conversation) -> None:
        message_id = frame.get("message_id")
        await generation_request_stop(
            conversation_uuid=self.conversation_uuid,
            message_uuid=message_id if isinstance(message_id, str) else None,
        )

    async def on_select(self, frame: dict[str, Any], conversation: Conversation) -> None:
        # Answered by the broadcast `branch.selected`: every tab then shows the new path.
        await self._call(
            branch_select, conversation=conversation, message_uuid=frame.get("message_id")
        )

    async def on_resync(self, frame: dict[str, Any], conversation: Conversation) -> None:
        state: ConversationStateFrame = {
            "type": "conversation.state",
            "messages": await database_sync_to_async(_path_data)(conversation),
        }
        await self.send(text_data=json.dumps(state))

    _handlers = {
        "send": on_send,
        "edit": on_edit,
        "regenerate": on_regenerate,
        "continue": on_continue,
        "stop": on_stop,
        "resync": on_resync,
        "select": on_select,
    }

    # --- group events, relayed as they are ------------------------------------------------------
    async def relay(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event))

    async def session_ended(self, event: dict[str, Any]) -> None:
        await self._send_error("unauthenticated", "You logged out. Log in again to continue.")
        await self.close(code=CLOSE_UNAUTHENTICATED)

    message_created = relay
    message_updated = relay
    chat_delta = relay
    chat_thinking = relay
    chat_status = relay
    chat_done = relay
    chat_error = relay
    conversation_updated = relay
    summary_updated = relay
    summary_created = relay
    message_pinned = relay
    branch_selected = relay

    # --- helpers -------------------------------------------------------------------------------
    async def _call(
        self, service: Callable[..., ServiceResult], *, client_id: Any = "", **kwargs: Any
    ) -> ServiceResult | None:
        """Run a message service in the sync thread; a refusal becomes an error frame (naming
        the send's client_id when there is one) and None."""
        if client_id:
            kwargs["client_id"] = client_id
        try:
            return await database_sync_to_async(service)(**kwargs)
        except ChatError as exc:
            await self._send_error(exc.code, exc.message, client_id=client_id)
            return None

    async def _send_error(self, code: str, message: str, *, client_id: Any = "") -> None:
        frame: ErrorFrame = {"type": "error", "code": code, "message": message}
        if isinstance(client_id, str) and client_id:
            frame["client_id"] = client_id
        await self.send(text_data=json.dumps(frame))

    async def _access(self) -> Conversation | int:
        return await database_sync_to_async(_access)(
            self.scope["user"], self.scope.get("session"), self.conversation_uuid
        )


def _access(user: Any, session: Any, conversation_uuid: str) -> Conversation | int:
    """The conversation, or the close code that ends the socket.

    The user in the scope is a snapshot from connect: the session and the account are checked
    again on every frame, so a logout or a deactivation ends access at once.
    """
    if session is None or not session.session_key or not session.exists(session.session_key):
        return CLOSE_UNAUTHENTICATED
    try:
        conversation = conversation_get_for_user(user=user, conversation_uuid=conversation_uuid)
    except Conversation.DoesNotExist:
        return CLOSE_NOT_FOUND
    if not conversation.owner.is_active:
        return CLOSE_UNAUTHENTICATED
    return conversation


def _path_data(conversation: Conversation) -> list[MessageData]:
    return active_path_data(conversation=conversation)


def _turn_data(messages: tuple[Message, ...]) -> list[MessageData]:
    # Sync: a user message's attachments are read from the database.
    return [
        message_data(message, parent_uuid=message.parent.uuid if message.parent else None)
        for message in messages
    ]
