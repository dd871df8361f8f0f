from django.urls import path

from conversations import views

urlpatterns = [
    path("", views.home, name="home"),
    path("c/new/", views.conversation_new, name="conversation-new"),
    path("c/<uuid:conversation_uuid>/", views.conversation_detail, name="conversation"),
    path("attachments/<uuid:attachment_uuid>/", views.attachment_image, name="attachment"),
    path(
        "attachments/<uuid:attachment_uuid>/thumbnail/",
        views.attachment_thumbnail,
        name="attachment-thumbnail",
    ),
    path(
        "c/<uuid:conversation_uuid>/delete/",
        views.conversation_remove,
        name="conversation-delete",
    ),
]
