"""Account creation: the very first account administers the site."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import connection, transaction


class FirstAccountExistsError(Exception):
    """Someone else created the first account in the meantime."""


def account_exists() -> bool:
    return get_user_model().objects.exists()


def account_create_first(*, username: str, password: str) -> AbstractUser:
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
        user: AbstractUser = User.objects.create_superuser(  # type: ignore[attr-defined]
            username=username, email="", password=password
        )
    return user


def account_create(*, username: str, password: str) -> AbstractUser:
    user: AbstractUser = get_user_model().objects.create_user(  # type: ignore[attr-defined]
        username=username, password=password
    )
    return user
