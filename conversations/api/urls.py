from django.urls import path, re_path

from chatsite.accounts import api as token_api
from conversations.api import messages, transcripts, uploads, views
from conversations.api.search import ConversationSearchView

urlpatterns = [
    path("tokens/", token_api.ApiTokenListCreateView.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", token_api.ApiTokenDetailView.as_view(), name="api-token"),
    path("models/", views.ModelListView.as_view(), name="api-models"),
    path("search/", ConversationSearchView.as_view(), name="api-search"),
    path("conversations/", views.ConversationListCreateView.as_view(), name="api-conversations"),
    path(
        "conversations/<uuid:conversation_id>/",
        views.ConversationDetailView.as_view(),
        name="api-conversation",
    ),
    path(
        "conversations/<uuid:conversation_id>/usage/",
        views.ConversationUsageView.as_view(),
        name="api-conversation-usage",
    ),
    path(
        "conversations/<uuid:conversation_id>/stop/",
        messages.ConversationStopView.as_view(),
        name="api-conversation-stop",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/",
        messages.MessageListCreateView.as_view(),
        name="api-messages",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/tree/",
        messages.MessageTreeView.as_view(),
        name="api-message-tree",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/",
        messages.MessageDetailView.as_view(),
        name="api-message",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/edit/",
        messages.MessageEditView.as_view(),
        name="api-message-edit",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/regenerate/",
        messages.MessageRegenerateView.as_view(),
        name="api-message-regenerate",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/select/",
        messages.MessageSelectView.as_view(),
        name="api-message-select",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/continue/",
        messages.MessageContinueView.as_view(),
        name="api-message-continue",
    ),
    path(
        "conversations/<uuid:conversation_id>/summaries/",
        views.SummaryListView.as_view(),
        name="api-summaries",
    ),
    path(
        "conversations/<uuid:conversation_id>/summaries/<uuid:summary_id>/",
        views.SummaryDetailView.as_view(),
        name="api-summary",
    ),
    path(
        "conversations/<uuid:conversation_id>/attachments/",
        uploads.attachment_upload_view,
        name="api-attachments",
    ),
    path(
        "attachments/<uuid:attachment_id>/",
        views.AttachmentDetailView.as_view(),
        name="api-attachment",
    ),
    path(
        "conversations/<uuid:conversation_id>/export/",
        transcripts.ConversationExportView.as_view(),
        name="api-export",
    ),
    path("export/", transcripts.BulkExportView.as_view(), name="api-export-all"),
    path("import/", transcripts.TranscriptImportView.as_view(), name="api-import"),
    path("usage/", views.UsageView.as_view(), name="api-usage"),
    # Add new routes ABOVE this line: anything below the catch-all is never reached.
    re_path(r"", views.api_not_found, name="api-not-found"),
]
