from django.urls import path

from conversations.api import transcripts, uploads, views

urlpatterns = [
    path("models/", views.ModelListView.as_view(), name="api-models"),
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
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/",
        views.MessageDetailView.as_view(),
        name="api-message",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/continue/",
        views.MessageContinueView.as_view(),
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
]
