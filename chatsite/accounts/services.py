"""Account creation: the very first account administers the site."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection, transaction


class FirstAccountExistsError(Exception):
    """Someone else created the first account in the meantime."""


def account_exists() -> bool:
    return get_user_model().objects.exists()


def account_create_first(*, username: str, password: str) -> User:
    """Create the superuser that owns a fresh installation; refuse once any account exists."""
    User = get_user_model()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Two visitors racing through the set-up page must not both become superusers.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {User._meta.db_table} IN EXCLUSIVE MODE")
        # SQLite transactions here BEGIN IMMEDIATE, which serializes writers the same way.
        if User.objects.exists():
            raise FirstAccountExistsError
        user = User.objects.create_superuser(username=username, email="", password=password)
    return user


def account_create(*, username: str, password: str) -> User:
    return get_user_model().objects.create_user(username=username, password=password)
