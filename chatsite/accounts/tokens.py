"""Personal API tokens: create, revoke, and resolve a presented token to its person.

A token is `chs_` + 43 URL-safe characters (256 random bits). Only its sha256 is stored, so a
copy of the database cannot be replayed against the API; the token itself exists once, in the
answer to its creation.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chatsite.accounts.models import PREFIX_LENGTH, TOKEN_MARKER, ApiToken

NAME_MAX_LENGTH = 100
MAX_EXPIRY_DAYS = 3650
# Ours are 47 characters, imported authtoken keys 40: anything much longer is not a token, and
# is refused before it is hashed.
MAX_KEY_LENGTH = 100
# last_used_at is a hint for people reviewing their tokens, not an audit log: writing it at most
# this often keeps reads from writing on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# How long an expired token stays listed (so its person sees why a script stopped working).
EXPIRED_KEPT = timedelta(days=30)
# Line and paragraph separators and the bidirectional overrides/isolates can make a name display
# as something else (or over several lines) in lists.
_INVISIBLE = {
    "\u2028",
    "\u2029",
    *map(chr, range(0x202A, 0x202F)),
    *map(chr, range(0x2066, 0x206A)),
}


class ApiTokenError(Exception):
    """A request the token services refuse; `field` names the input at fault, if any."""

    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ApiTokenLimitError(ApiTokenError):
    code = "too_many_tokens"


def api_token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_clean_name(name: str) -> str:
    """The name without control characters and with whitespace runs made single spaces."""
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in name
        if ch not in _INVISIBLE and (ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cs"))
    )
    cleaned = " ".join(kept.split())
    if not cleaned:
        raise ApiTokenError("Give the token a name, to recognize it later.", field="name")
    if len(cleaned) > NAME_MAX_LENGTH:
        raise ApiTokenError(
            f"A token's name has at most {NAME_MAX_LENGTH} characters.", field="name"
        )
    return cleaned


def _validate_expiry(expires_in_days: int | None) -> None:
    if expires_in_days is None:
        return
    if isinstance(expires_in_days, bool) or not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise ApiTokenError(
            f"A token expires after 1 to {MAX_EXPIRY_DAYS} days, or never.",
            field="expires_in_days",
        )


def api_token_create(
    *, user: User, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new token for `user`: the row, and the token itself (shown once, never stored)."""
    name = api_token_clean_name(name)
    _validate_expiry(expires_in_days)
    now = timezone.now()
    limit = settings.CHATSITE_MAX_API_TOKENS
    with transaction.atomic():
        # Serializes one person's concurrent creations so both cannot pass the cap (SQLite's
        # IMMEDIATE transactions already do; PostgreSQL needs the row lock).
        get_user_model().objects.select_for_update().filter(pk=user.pk).exists()
        # Tokens long expired only clutter the person's list: they go as new ones are made.
        ApiToken.objects.filter(user=user, expires_at__lte=now - EXPIRED_KEPT).delete()
        live = ApiToken.objects.filter(user=user).exclude(expires_at__lte=now).count()
        if live >= limit:
            raise ApiTokenLimitError(
                f"You have {live} API tokens, the most allowed ({limit}). "
                "Revoke one you no longer use first."
            )
        key = TOKEN_MARKER + secrets.token_urlsafe(32)
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=key[: len(TOKEN_MARKER) + PREFIX_LENGTH],
            key_hash=api_token_hash(key),
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        )
    return token, key


def api_token_revoke(*, user: User, token_id: int) -> ApiToken:
    """Delete one of `user`'s tokens (the returned row is no longer stored). Someone else's
    token raises ApiToken.DoesNotExist, exactly like a missing one."""
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise ApiToken.DoesNotExist("No such token.")
    token.delete()
    return token


def api_token_revoke_all(*, user: User) -> int:
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


def _plausible(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable() and " " not in key


def api_token_resolve(*, key: str) -> ApiToken | None:
    """The live token `key` is (its `user` loaded), or None: unknown, revoked, expired, or its
    person deactivated. Records the use, at most once per LAST_USED_RESOLUTION.

    Queries: 1 (the token and its user), plus 1 UPDATE when last_used_at is stale.
    """
    if not _plausible(key):
        return None
    # A lookup by hash: equal hashes mean equal tokens, and timing reveals nothing about a
    # stored token's characters, so no constant-time comparison is needed.
    token = ApiToken.objects.select_related("user").filter(key_hash=api_token_hash(key)).first()
    now = timezone.now()
    if token is None or token.is_expired(now=now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional, so concurrent requests of the same minute write it once.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_authenticate(*, key: str) -> User | None:
    token = api_token_resolve(key=key)
    return token.user if token is not None else None
