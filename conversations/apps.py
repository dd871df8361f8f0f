from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConversationsConfig(AppConfig):
    name = "conversations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conversations import signals  # noqa: F401  (connects the receivers)
        from conversations.services.search_index import search_index_after_migrate

        # SQLite rebuilds a table for most schema changes, and its search triggers go with it.
        post_migrate.connect(search_index_after_migrate, sender=self)
