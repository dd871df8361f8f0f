"""Reads of accounts data, always scoped to the person asking."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from chatsite.accounts.models import ApiToken


def api_token_list_for_user(*, user: User) -> QuerySet[ApiToken]:
    """`user`'s tokens, newest first (expired ones too, marked by their expires_at)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")
