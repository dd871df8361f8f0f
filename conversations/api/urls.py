from django.urls import path

from conversations.api import views

urlpatterns = [
    path("conversations/", views.ConversationListCreateView.as_view(), name="api-conversations"),
    path(
        "conversations/<uuid:conversation_id>/",
        views.ConversationDetailView.as_view(),
        name="api-conversation",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/",
        views.MessageListCreateView.as_view(),
        name="api-messages",
    ),
    path(
        "conversations/<uuid:conversation_id>/export/",
        views.ConversationExportView.as_view(),
        name="api-export",
    ),
]
