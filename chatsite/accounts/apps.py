from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "chatsite.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # drf-spectacular finds authentication extensions by subclass registration: the module
        # must be imported before the first schema is generated.
        from chatsite.accounts import schema  # noqa: F401
