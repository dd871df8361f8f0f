from typing import Any

from django.urls import path

from conversations.consumers import ConversationConsumer

# Channels routes ASGI applications through Django's `path`, whose stubs expect views.
websocket_urlpatterns: list[Any] = [
    path("ws/conversations/<uuid:conversation_uuid>/", ConversationConsumer.as_asgi()),  # type: ignore[arg-type]
]
