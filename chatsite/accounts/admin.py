"""Staff see who holds which API tokens and can revoke (delete) them; nobody sees a token."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from chatsite.accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at"]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["user", "prefix", "created_at", "last_used_at"]
    exclude = ["key_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token is shown once to the person it belongs to: made on their settings page.
        return False
