from django.urls import path

from conversations.consumers import ConversationConsumer

websocket_urlpatterns = [
    path("ws/conversations/<uuid:conversation_uuid>/", ConversationConsumer.as_asgi()),
]
